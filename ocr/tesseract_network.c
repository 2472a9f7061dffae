/* The bookkeeping of Tesseract's LSTM network done without a call per number, with the same results.
 *
 * Part of ocr._tesseract_calls (ocr/_tesseract_calls.c says how it comes before libtesseract in the
 * global symbol scope, so that libtesseract's calls to its own exported functions bind here).
 *
 * Why: ``perf`` of a ``check --image`` showed a fifth of the samples not in the network's arithmetic
 * but around it, in functions that each handle one number or one pixel and are called through the
 * PLT (Debian builds libtesseract without -fno-semantic-interposition, so not one of them is
 * inlined):
 *
 *   - StrideMap::Index (MaxIndexOfDim, IsValid, AddOffset, SetTFromIndices, ...): 15 % of the
 *     samples. Convolve::Forward (the first layer, a 3x3 window over the line image) asks for 12
 *     offsets per pixel, each AddOffset calling SetTFromIndices and IsValid, which calls
 *     MaxIndexOfDim three times: five calls through the PLT per offset.
 *   - Convolve::Forward itself, and the one-byte CopyTimeStepGeneral (a memcpy) per window cell.
 *   - NetworkIO::WriteTimeStepPart: every output of every LSTM time step turned into int8 one
 *     float at a time (6.5 %).
 *   - NetworkIO::MaxpoolTimeStep: the max-pool layer, one byte at a time (3 %).
 *   - FullyConnected::ForwardTimeStep: a tanh layer's activation, one table lookup at a time (5 %).
 *   - The LSTM's gates (LSTM::Forward's OpenMP sections, which ocr/_tesseract_calls.c's
 *     GOMP_parallel_sections hands here): after each gate's weight product, its tanh or logistic,
 *     one table lookup at a time (about 12 %).
 *
 * Here the Index methods are one function each (they call each other inline), Convolve::Forward
 * works the window out per pixel from the batch's bounds and copies the cells itself, and the two
 * NetworkIO loops and the activations use AVX2 where the processor has it (the arithmetic of
 * Tesseract's own loops, lane by lane: multiply by 127, add or subtract one half, truncate, clip;
 * a table's two entries interpolated in the same order; no fused multiply-add). The randomised
 * cells outside the image still come from Tesseract's own NetworkIO::Randomize, in the same
 * order, so its random stream is the same. Measured on 15 real images in ``check --image``: a
 * quarter less CPU and wall time, then 7 % less with the tanh layer and 15 % less with the gates;
 * the same JSON on every image.
 *
 * These functions read the members of Tesseract's classes at fixed offsets, which only the build
 * they were read from has: Debian's libtesseract 5.3.0 (tesseract-ocr 5.3.0-2, x86-64; offsets taken
 * from its machine code). So the first call checks that the functions replaced here are, byte for
 * byte, that build's (a hash of each one's code, found through libtesseract's own symbol table; the
 * gates, which have no symbol, at their place before LSTM::Forward).
 * With any other build every call goes on to Tesseract's own function and nothing changes but the
 * speed. tests/ocr/test_library.py holds the library's pages against the ``tesseract`` command's,
 * which runs Tesseract's own code, and checks that the check passes on the Tesseract ./dev installs.
 */
#define _GNU_SOURCE /* dladdr1, dl_iterate_phdr, RTLD_NEXT */
#include "tesseract_network.h"

#include <dlfcn.h>
#include <immintrin.h>
#include <link.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <stdlib.h>

/* --- Tesseract's classes, as the checked build lays them out -------------------------------- */

/* (StrideMap and its Index: tesseract_network.h) */

/* (NetworkIO's members and MEMBER: tesseract_network.h) */
/* Convolve: ni_ at 0x18, no_ at 0x1c, randomizer_ at 0x58, half_x_ at 0x60, half_y_ at 0x64. */

/* --- The functions replaced, and the build they were read from -------------------------------- */

static const struct {
    const char *name;
    uint64_t code; /* FNV-1a of the function's machine code in the checked build */
} known[FUNCTIONS] = {
    [MAX_INDEX_OF_DIM] =
        {"_ZNK9tesseract9StrideMap5Index13MaxIndexOfDimENS_14FlexDimensionsE",
         0xc8fb20df49ad2d9eULL},
    [IS_VALID] = {"_ZNK9tesseract9StrideMap5Index7IsValidEv", 0xdb0ebfbc8f4c6ebaULL},
    [IS_LAST] = {"_ZNK9tesseract9StrideMap5Index6IsLastENS_14FlexDimensionsE", 0x48164c26f686c509ULL},
    [ADD_OFFSET] = {"_ZN9tesseract9StrideMap5Index9AddOffsetEiNS_14FlexDimensionsE", 0x3599812ef80319ffULL},
    [INCREMENT] = {"_ZN9tesseract9StrideMap5Index9IncrementEv", 0x4d4efa208e9a7d8eULL},
    [DECREMENT] = {"_ZN9tesseract9StrideMap5Index9DecrementEv", 0x842084760a09f12aULL},
    [INIT_TO_LAST_OF_BATCH] = {"_ZN9tesseract9StrideMap5Index17InitToLastOfBatchEi", 0x2b2af08111719fb5ULL},
    [SET_T_FROM_INDICES] = {"_ZN9tesseract9StrideMap5Index15SetTFromIndicesEv", 0x9e0118c762bab7eaULL},
    [WRITE_TIME_STEP_PART] = {"_ZN9tesseract9NetworkIO17WriteTimeStepPartEiiiPKf", 0xb880bce8ba81f4d3ULL},
    [MAXPOOL_TIME_STEP] = {"_ZN9tesseract9NetworkIO15MaxpoolTimeStepEiRKS0_iPi", 0x5576a65161816ec6ULL},
    [CONVOLVE_FORWARD] =
        {"_ZN9tesseract8Convolve7ForwardEbRKNS_9NetworkIOEPKNS_15TransposedArrayEPNS_14NetworkScratchEPS1_",
         0x8149d318593b1520ULL},
    [FULLY_CONNECTED_STEP] = {"_ZN9tesseract14FullyConnected15ForwardTimeStepEiPf", 0x36f317f9969572b0ULL},
    [COPY_TIME_STEP_GENERAL] = {"_ZN9tesseract9NetworkIO19CopyTimeStepGeneralEiiiRKS0_ii", 0x2af4f95c4f8c433cULL},
    [RANDOMIZE] = {"_ZN9tesseract9NetworkIO9RandomizeEiiiPNS_5TRandE", 0xfe8195b5ad2d3195ULL},
    [RESIZE_TO_MAP] = {"_ZN9tesseract9NetworkIO11ResizeToMapEbRKNS_9StrideMapEi", 0xc5959f7332ae260fULL},
    [TANH_TABLE] = {"_ZN9tesseract9TanhTableE", 0x009395b575a0c253ULL},
    [LSTM_FORWARD] =
        {"_ZN9tesseract4LSTM7ForwardEbRKNS_9NetworkIOEPKNS_15TransposedArrayEPNS_14NetworkScratchEPS1_",
         0xd9721089a71b0df7ULL},
    [LSTM_GATES] = {"LSTM::Forward's gates (LSTM::Forward - 0x21f0, 0x750 bytes)", 0x3555120a5be0bbd1ULL},
    [MATRIX_DOT_VECTOR] = {"_ZNK9tesseract12WeightMatrix15MatrixDotVectorEPKaPf", 0xa20d2c217832a26aULL},
    [LOGISTIC_TABLE] = {"_ZN9tesseract13LogisticTableE", 0x1cd784464497b69cULL},
    [HISTOGRAM_RECT] = {"_ZN9tesseract13HistogramRectENS_5ImageEiiiiiPi", 0x49393be01a86f75dULL},
    [THRESHOLD_RECT_TO_PIX] =
        {"_ZNK9tesseract16ImageThresholder18ThresholdRectToPixENS_5ImageEiRKSt6vectorIiSaIiEES6_PS1_",
         0xd74f61533293ed13ULL},
    [LSTM_RESIZE_FORWARD] = {"_ZN9tesseract4LSTM13ResizeForwardERKNS_9NetworkIOE", 0x8e6f91ed133071f0ULL},
    [RESIZE_X_TO_1] = {"_ZN9tesseract9NetworkIO10ResizeXTo1ERKS0_i", 0xc4a7e770f1608416ULL},
    [WRITE_TIME_STEP] = {"_ZN9tesseract9NetworkIO13WriteTimeStepEiPKf", 0xc0ec100ea5208268ULL},
    [MAXPOOL_FORWARD] =
        {"_ZN9tesseract7Maxpool7ForwardEbRKNS_9NetworkIOEPKNS_15TransposedArrayEPNS_14NetworkScratchEPS1_",
         0xe99469ce2ec0920aULL},
    [RESIZE_SCALED] = {"_ZN9tesseract9NetworkIO12ResizeScaledERKS0_iii", 0x39e807bc7d4231adULL},
    [COPY_TIME_STEP_FROM] = {"_ZN9tesseract9NetworkIO16CopyTimeStepFromEiRKS0_i", 0xbe880cdbd8e02fb3ULL},
    [INT_SIMD_AVX2] = {"IntSimdMatrix::intSimdMatrixAVX2 (its sizes, and its kernel: 0x8d0 bytes from 0x380 before its "
                       "function)",
                       0xe61c4f987784d3b9ULL},
};

static void *original[FUNCTIONS];  /* libtesseract's own functions */
static uint64_t found_code[FUNCTIONS];
/* 0: not yet (libtesseract not loaded); 1: the known build, ours run; 2: Tesseract's own run */
static int checked;
static int with_avx2, with_vnni;
static pthread_mutex_t checking = PTHREAD_MUTEX_INITIALIZER;
static __thread unsigned long windows_run, gates_run;

/* --- Where libtesseract is ------------------------------------------------------------------- */

typedef struct {
    const char *path;
    uintptr_t code_start, code_end; /* its executable segments */
} Library;

static int note_library(struct dl_phdr_info *info, size_t size, void *found) {
    (void)size;
    if (info->dlpi_name == NULL || strstr(info->dlpi_name, "libtesseract.so") == NULL) {
        return 0;
    }
    Library *library = found;
    library->path = info->dlpi_name;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *segment = &info->dlpi_phdr[i];
        if (segment->p_type == PT_LOAD && (segment->p_flags & PF_X)) {
            uintptr_t start = info->dlpi_addr + segment->p_vaddr, end = start + segment->p_memsz;
            if (library->code_end == 0 || start < library->code_start) {
                library->code_start = start;
            }
            if (end > library->code_end) {
                library->code_end = end;
            }
        }
    }
    return 1;
}

int libtesseract_loaded(const char **path, uintptr_t *code_start, uintptr_t *code_end) {
    Library found = {NULL, 0, 0};
    if (!dl_iterate_phdr(note_library, &found) || found.path == NULL) {
        return 0;
    }
    if (path != NULL) {
        *path = found.path;
    }
    if (code_start != NULL && code_end != NULL) {
        *code_start = found.code_start;
        *code_end = found.code_end;
    }
    return 1;
}

static uint64_t bytes_hash_on(uint64_t hash, const void *start, size_t size) {
    const unsigned char *byte = (const unsigned char *)start;
    for (size_t i = 0; i < size; i++) {
        hash = (hash ^ byte[i]) * 1099511628211ULL;
    }
    return hash;
}

static uint64_t bytes_hash(const void *start, size_t size) {
    return bytes_hash_on(1469598103934665603ULL, start, size); /* FNV-1a */
}

/* The size of the code of the function at ``function`` (its ELF symbol's), 0 if unknown. */
static size_t code_size(const void *function) {
    Dl_info info;
    const ElfW(Sym) *symbol = NULL;
    if (function == NULL || !dladdr1(function, &info, (void **)&symbol, RTLD_DL_SYMENT) || symbol == NULL) {
        return 0;
    }
    return symbol->st_size;
}

static uint64_t code_hash(const void *function) {
    const size_t size = code_size(function);
    return size != 0 ? bytes_hash(function, size) : 0;
}

void *tesseract_own(const char *name, size_t *size) {
    const char *path = NULL;
    void *library = libtesseract_loaded(&path, NULL, NULL) ? dlopen(path, RTLD_NOLOAD | RTLD_LAZY) : NULL;
    void *found = NULL;
    if (library != NULL) { /* dlsym in its own scope: its own definition */
        found = dlsym(library, name);
        dlclose(library); /* the reference RTLD_NOLOAD took; tesserocr keeps it loaded */
    }
    if (found == NULL) {
        found = dlsym(RTLD_NEXT, name);
    }
    if (size != NULL) {
        *size = code_size(found);
    }
    return found;
}

/* LSTM::Forward's gates: the function GCC outlined for its OpenMP sections, local to libtesseract
 * (no symbol), at a fixed distance before LSTM::Forward in the checked build. */
enum { GATES_BEFORE_FORWARD = 0x21f0, GATES_SIZE = 0x750 };

/* IntSimdMatrix (intsimdmatrix.h): its kernel's address, then num_outputs_per_register_,
 * max_output_registers_, num_inputs_per_register_ and num_inputs_per_group_ (8, 8, 32, 4 for AVX2).
 * The AVX2 kernel and the partial products it calls, local to libtesseract (no symbol), lie from
 * 0x380 before the kernel's address, 0x8d0 bytes in the checked build. */
enum { AVX2_KERNEL_BEFORE = 0x380, AVX2_KERNEL_SIZE = 0x8d0 };

static uint64_t int_simd_hash(const void *shape) {
    const char *kernel = *(char *const *)shape;
    uintptr_t code_start = 0, code_end = 0;
    if (kernel == NULL || !libtesseract_loaded(NULL, &code_start, &code_end) ||
        (uintptr_t)kernel < code_start + AVX2_KERNEL_BEFORE ||
        (uintptr_t)kernel - AVX2_KERNEL_BEFORE + AVX2_KERNEL_SIZE > code_end) {
        return 0; /* another build: its code may not reach that far */
    }
    return bytes_hash_on(bytes_hash((const char *)shape + 8, 16), kernel - AVX2_KERNEL_BEFORE, AVX2_KERNEL_SIZE);
}

static const void *const *int_simd_in_use; /* &IntSimdMatrix::intSimdMatrix */

/* Finds libtesseract's own functions and compares their code with the known build's. Asked by
 * Python before libtesseract is loaded, it decides nothing. Called from a libtesseract it cannot
 * find by name, it leaves every call to whatever function comes after this module. */
static void check_network(int from_tesseract) {
    pthread_mutex_lock(&checking);
    const char *path = NULL;
    void *library = NULL;
    if (checked == 0 && libtesseract_loaded(&path, NULL, NULL)) {
        library = dlopen(path, RTLD_NOLOAD | RTLD_LAZY); /* dlsym in its own scope: its own definitions */
    }
    if (library != NULL) {
        int same = 1;
        for (int i = 0; i < FUNCTIONS; i++) {
            if (i == LSTM_GATES) {
                char *forward = (char *)original[LSTM_FORWARD];
                original[i] = forward != NULL && found_code[LSTM_FORWARD] == known[LSTM_FORWARD].code
                                  ? forward - GATES_BEFORE_FORWARD
                                  : NULL;
                found_code[i] = original[i] != NULL ? bytes_hash(original[i], GATES_SIZE) : 0;
            } else if (i == INT_SIMD_AVX2) {
                original[i] = dlsym(library, "_ZN9tesseract13IntSimdMatrix17intSimdMatrixAVX2E");
                found_code[i] = original[i] != NULL ? int_simd_hash(original[i]) : 0;
            } else {
                original[i] = dlsym(library, known[i].name);
                found_code[i] = original[i] != NULL ? code_hash(original[i]) : 0;
            }
            same = same && found_code[i] != 0 && found_code[i] == known[i].code;
        }
        int_simd_in_use = dlsym(library, "_ZN9tesseract13IntSimdMatrix13intSimdMatrixE");
        same = same && int_simd_in_use != NULL;
        /* TGMONITOR_TESSERACT_NETWORK=scalar: ours without AVX2; =avx2: without VNNI (the weight
         * products Tesseract's own); =tesseract: Tesseract's own, as with another build (the tests
         * run them against the command) */
        const char *asked = getenv("TGMONITOR_TESSERACT_NETWORK");
        with_avx2 = __builtin_cpu_supports("avx2") && !(asked != NULL && strcmp(asked, "scalar") == 0);
        with_vnni = with_avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                    __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") &&
                    !(asked != NULL && strcmp(asked, "avx2") == 0);
        same = same && !(asked != NULL && strcmp(asked, "tesseract") == 0);
        __atomic_store_n(&checked, same ? 1 : 2, __ATOMIC_RELEASE);
        dlclose(library); /* the reference RTLD_NOLOAD took; tesserocr keeps it loaded */
    } else if (checked == 0 && from_tesseract) {
        for (int i = 0; i < FUNCTIONS; i++) {
            original[i] = i == LSTM_GATES || i == INT_SIMD_AVX2 ? NULL : dlsym(RTLD_NEXT, known[i].name);
        }
        __atomic_store_n(&checked, 2, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&checking);
}

static inline int ours(void);

/* For ocr/tesseract_threshold.c and ocr/tesseract_matrix.c (tesseract_network.h): the check, the
 * originals, AVX2 or VNNI or not, the weight shape in use. */
int tesseract_is_known(void) { return ours(); }

void *tesseract_original(int which) { return which >= 0 && which < FUNCTIONS ? original[which] : NULL; }

int tesseract_with_avx2(void) { return with_avx2; } /* set by the check, before ``checked`` */

int tesseract_with_vnni(void) { return with_vnni; }

int tesseract_int_simd_is_avx2(void) {
    return ours() && *int_simd_in_use == original[INT_SIMD_AVX2]; /* read at each call: see the header */
}

/* Whether ours run (the known build); the first call from libtesseract checks. */
static inline int ours(void) {
    int state = __atomic_load_n(&checked, __ATOMIC_ACQUIRE);
    if (__builtin_expect(state == 0, 0)) {
        check_network(1);
        state = __atomic_load_n(&checked, __ATOMIC_ACQUIRE);
    }
    return state == 1;
}

/* --- StrideMap::Index ------------------------------------------------------------------------ */

int _ZNK9tesseract9StrideMap5Index13MaxIndexOfDimENS_14FlexDimensionsE(const Index *index, int dim) {
    if (!ours()) {
        return ((int (*)(const Index *, int))original[MAX_INDEX_OF_DIM])(index, dim);
    }
    return max_index_of_dim(index, dim);
}

int _ZNK9tesseract9StrideMap5Index7IsValidEv(const Index *index) {
    if (!ours()) {
        return ((int (*)(const Index *))original[IS_VALID])(index);
    }
    return is_valid(index);
}

int _ZNK9tesseract9StrideMap5Index6IsLastENS_14FlexDimensionsE(const Index *index, int dim) {
    if (!ours()) {
        return ((int (*)(const Index *, int))original[IS_LAST])(index, dim);
    }
    return max_index_of_dim(index, dim) == index->indices[dim];
}

int _ZN9tesseract9StrideMap5Index9AddOffsetEiNS_14FlexDimensionsE(Index *index, int offset, int dim) {
    if (!ours()) {
        return ((int (*)(Index *, int, int))original[ADD_OFFSET])(index, offset, dim);
    }
    index->indices[dim] += offset;
    set_t_from_indices(index);
    return is_valid(index);
}

int _ZN9tesseract9StrideMap5Index9IncrementEv(Index *index) {
    if (!ours()) {
        return ((int (*)(Index *))original[INCREMENT])(index);
    }
    return increment(index);
}

int _ZN9tesseract9StrideMap5Index9DecrementEv(Index *index) {
    if (!ours()) {
        return ((int (*)(Index *))original[DECREMENT])(index);
    }
    for (int d = 2; d >= 0; d--) {
        if (index->indices[d] > 0) {
            index->indices[d]--;
            if (d == BATCH) { /* the other dimensions' bounds change with the batch */
                init_to_last_of_batch(index, index->indices[BATCH]);
            } else {
                index->t -= index->map->increments[d];
            }
            return 1;
        }
        index->indices[d] = max_index_of_dim(index, d);
        index->t += index->map->increments[d] * index->indices[d];
    }
    return 0;
}

void _ZN9tesseract9StrideMap5Index17InitToLastOfBatchEi(Index *index, int batch) {
    if (!ours()) {
        ((void (*)(Index *, int))original[INIT_TO_LAST_OF_BATCH])(index, batch);
        return;
    }
    init_to_last_of_batch(index, batch);
}

void _ZN9tesseract9StrideMap5Index15SetTFromIndicesEv(Index *index) {
    if (!ours()) {
        ((void (*)(Index *))original[SET_T_FROM_INDICES])(index);
        return;
    }
    set_t_from_indices(index);
}

/* --- NetworkIO ------------------------------------------------------------------------------- */

/* Tesseract's ClipToRange(IntCastRounded(input * INT8_MAX), -INT8_MAX, INT8_MAX), as built. */
static inline int8_t to_int8(float value) {
    float x = value * 127.0f;
    int rounded = x >= 0.0f ? (int)(x + 0.5f) : -(int)(0.5f - x);
    return (int8_t)(rounded > 127 ? 127 : rounded < -127 ? -127 : rounded);
}

__attribute__((target("avx2"))) static void to_int8_avx2(int8_t *line, const float *input, int count) {
    const __m256 scale = _mm256_set1_ps(127.0f), half = _mm256_set1_ps(0.5f), zero = _mm256_setzero_ps();
    const __m256i top = _mm256_set1_epi32(127), bottom = _mm256_set1_epi32(-127);
    int i = 0;
    for (; i + 8 <= count; i += 8) {
        __m256 x = _mm256_mul_ps(_mm256_loadu_ps(input + i), scale);
        __m256 positive = _mm256_cmp_ps(x, zero, _CMP_GE_OQ); /* false for NaN, as x >= 0.0f */
        __m256i up = _mm256_cvttps_epi32(_mm256_add_ps(x, half));
        __m256i down = _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_cvttps_epi32(_mm256_sub_ps(half, x)));
        __m256i rounded = _mm256_blendv_epi8(down, up, _mm256_castps_si256(positive));
        rounded = _mm256_max_epi32(_mm256_min_epi32(rounded, top), bottom);
        __m128i words = _mm_packs_epi32(_mm256_castsi256_si128(rounded), _mm256_extracti128_si256(rounded, 1));
        _mm_storel_epi64((__m128i *)(line + i), _mm_packs_epi16(words, words));
    }
    for (; i < count; i++) {
        line[i] = to_int8(input[i]);
    }
}

/* void NetworkIO::WriteTimeStepPart(int t, int offset, int num_features, const float *input) */
void _ZN9tesseract9NetworkIO17WriteTimeStepPartEiiiPKf(void *io, int t, int offset, int count, const float *input) {
    if (!ours()) {
        ((void (*)(void *, int, int, int, const float *))original[WRITE_TIME_STEP_PART])(io, t, offset, count, input);
        return;
    }
    if (INT_MODE(io)) {
        int8_t *line = INTS(io) + t * INT_WIDTH(io) + offset;
        if (with_avx2) {
            to_int8_avx2(line, input, count);
        } else {
            for (int i = 0; i < count; i++) {
                line[i] = to_int8(input[i]);
            }
        }
    } else {
        float *line = FLOATS(io) + t * FLOAT_WIDTH(io) + offset;
        for (int i = 0; i < count; i++) {
            line[i] = input[i];
        }
    }
}

__attribute__((target("avx2"))) static void maxpool_avx2(int8_t *dest, const int8_t *src, int count, int src_t,
                                                         int *max_line) {
    const __m256i from = _mm256_set1_epi32(src_t);
    int i = 0;
    for (; i + 8 <= count; i += 8) {
        __m128i old = _mm_loadl_epi64((const __m128i *)(dest + i));
        __m128i new = _mm_loadl_epi64((const __m128i *)(src + i));
        __m128i greater = _mm_cmpgt_epi8(new, old);
        if (_mm_movemask_epi8(greater) & 0xff) {
            _mm_storel_epi64((__m128i *)(dest + i), _mm_max_epi8(old, new));
            _mm256_maskstore_epi32(max_line + i, _mm256_cvtepi8_epi32(greater), from);
        }
    }
    for (; i < count; i++) {
        if (dest[i] < src[i]) {
            dest[i] = src[i];
            max_line[i] = src_t;
        }
    }
}

/* void NetworkIO::MaxpoolTimeStep(int dest_t, const NetworkIO &src, int src_t, int *max_line) */
void _ZN9tesseract9NetworkIO15MaxpoolTimeStepEiRKS0_iPi(void *io, int dest_t, const void *src, int src_t,
                                                         int *max_line) {
    /* Tesseract asserts that both are in the same mode; with a mismatch its own function says so */
    if (!ours() || INT_MODE(io) != INT_MODE(src)) {
        void (*own)(void *, int, const void *, int, int *) = original[MAXPOOL_TIME_STEP];
        own(io, dest_t, src, src_t, max_line);
        return;
    }
    if (INT_MODE(io)) {
        int count = INT_WIDTH(io);
        int8_t *dest = INTS(io) + dest_t * count;
        const int8_t *from = INTS(src) + src_t * INT_WIDTH(src);
        if (with_avx2) {
            maxpool_avx2(dest, from, count, src_t, max_line);
            return;
        }
        for (int i = 0; i < count; i++) {
            if (dest[i] < from[i]) {
                dest[i] = from[i];
                max_line[i] = src_t;
            }
        }
    } else {
        int count = FLOAT_WIDTH(io);
        float *dest = FLOATS(io) + dest_t * count;
        const float *from = FLOATS(src) + src_t * FLOAT_WIDTH(src);
        for (int i = 0; i < count; i++) {
            if (dest[i] < from[i]) {
                dest[i] = from[i];
                max_line[i] = src_t;
            }
        }
    }
}

/* --- Convolve -------------------------------------------------------------------------------- */

/* void Convolve::Forward(bool debug, const NetworkIO &input, const TransposedArray *input_transpose,
 *                        NetworkScratch *scratch, NetworkIO *output)
 * Each output pixel stacks the (2 half_x + 1) x (2 half_y + 1) window of input pixels around it,
 * x outer, y inner; a window cell outside the image gets random values (a column outside, all its
 * cells at once), in this order, from the layer's own random stream. The pixels of a row whose
 * whole window is inside (no random cell) are copied in one loop, their bounds not worked out per
 * pixel: 1.1-1.7 % less wall time on 15 real images (the same JSON). */
void _ZN9tesseract8Convolve7ForwardEbRKNS_9NetworkIOEPKNS_15TransposedArrayEPNS_14NetworkScratchEPS1_(
    void *layer, _Bool debug, const void *input, const void *input_transpose, void *scratch, void *output) {
    if (!ours() || debug) { /* debug draws the layer: Tesseract's own does it */
        ((void (*)(void *, _Bool, const void *, const void *, void *, void *))original[CONVOLVE_FORWARD])(
            layer, debug, input, input_transpose, scratch, output);
        return;
    }
    void (*randomize)(void *, int, int, int, void *) = (void (*)(void *, int, int, int, void *))original[RANDOMIZE];
    const int ni = MEMBER(layer, int, 0x18), no = MEMBER(layer, int, 0x1c);
    void *randomizer = MEMBER(layer, void *, 0x58);
    const int half_x = MEMBER(layer, int, 0x60), half_y = MEMBER(layer, int, 0x64);
    ((void (*)(void *, int, const void *, int))original[RESIZE_TO_MAP])(output, INT_MODE(input), MAP_OF(input), no);
    windows_run++;
    const int y_scale = 2 * half_y + 1;
    const int int_mode = INT_MODE(output);
    const StrideMap *map = MAP_OF(output);
    const int step_y = map->increments[HEIGHT], step_x = map->increments[WIDTH];
    int8_t *const out_ints = INTS(output);
    const int8_t *const in_ints = INTS(input);
    float *const out_floats = FLOATS(output);
    const float *const in_floats = FLOATS(input);
    const int out_width = int_mode ? INT_WIDTH(output) : FLOAT_WIDTH(output);
    const int in_width = int_mode ? INT_WIDTH(input) : FLOAT_WIDTH(input);
    Index dest = {map, 0, {0, 0, 0}};
    do {
        const int t = dest.t, batch = dest.indices[BATCH], y0 = dest.indices[HEIGHT], x0 = dest.indices[WIDTH];
        const int last_batch = max_index_of_dim(&dest, BATCH), last_y = max_index_of_dim(&dest, HEIGHT),
                  last_x = max_index_of_dim(&dest, WIDTH);
        /* what Index::AddOffset's IsValid checks, the bounds worked out once for the pixel */
        const int row_valid = batch >= 0 && batch <= last_batch && y0 >= 0 && y0 <= last_y;
        if (int_mode && row_valid && y0 >= half_y && y0 + half_y <= last_y && x0 >= half_x) {
            /* the rest of the row's pixels whose whole window is inside: no random cells */
            const int end_x = last_x - half_x;
            int x = x0;
            for (; x <= end_x; x++) {
                const int pixel_t = t + (x - x0) * step_x;
                int8_t *to = out_ints + pixel_t * out_width;
                for (int dx = -half_x; dx <= half_x; dx++) {
                    for (int dy = -half_y; dy <= half_y; dy++, to += ni) {
                        const int8_t *from = in_ints + (pixel_t + dx * step_x + dy * step_y) * in_width;
                        if (ni == 1) {
                            *to = *from;
                        } else {
                            memcpy(to, from, (size_t)ni);
                        }
                    }
                }
            }
            if (x > x0) { /* the pixels done: on to the next one (or the loop's end) */
                dest.indices[WIDTH] = x - 1;
                set_t_from_indices(&dest);
                continue;
            }
        }
        int out_ix = 0;
        for (int x = -half_x; x <= half_x; x++, out_ix += y_scale * ni) {
            if (!(row_valid && x0 + x >= 0 && x0 + x <= last_x)) {
                randomize(output, t, out_ix, y_scale * ni, randomizer);
                continue;
            }
            int out_iy = out_ix;
            for (int y = -half_y; y <= half_y; y++, out_iy += ni) {
                if (!(y0 + y >= 0 && y0 + y <= last_y)) {
                    randomize(output, t, out_iy, ni, randomizer);
                    continue;
                }
                const int src_t = t + x * step_x + y * step_y;
                if (int_mode) {
                    int8_t *to = out_ints + t * out_width + out_iy;
                    const int8_t *from = in_ints + src_t * in_width;
                    if (ni == 1) {
                        *to = *from;
                    } else {
                        memcpy(to, from, (size_t)ni);
                    }
                } else {
                    memcpy(out_floats + t * out_width + out_iy, in_floats + src_t * in_width,
                           (size_t)ni * sizeof(float));
                }
            }
        }
    } while (increment(&dest));
}

/* --- FullyConnected ------------------------------------------------------------------------- */

enum { NT_TANH = 19 }; /* tesseract::NetworkType */

/* Tesseract's Tanh(x) and Logistic(x) as built: negative x as -Tanh(-x) or 1 - Logistic(-x); x * 256
 * truncated to an index into the function's 4096-entry table (an index past 4094 gives 1), and the
 * two entries around it interpolated. */
static inline float table_function(const float *table, int logistic, float value) {
    int negative = value < 0.0f;
    float x = (negative ? -value : value) * 256.0f;
    unsigned index = (unsigned)(long long)x; /* the build converts to 64 bits and keeps the low 32 */
    float result;
    if (index > 4094) {
        result = 1.0f;
    } else {
        float low = table[index], high = table[index + 1];
        result = low + (high - low) * (x - (float)(int)index);
    }
    return !negative ? result : logistic ? 1.0f - result : -result;
}

__attribute__((target("avx2"))) static void table_function_avx2(const float *table, int logistic, float *line,
                                                                 int count) {
    const __m256 sign = _mm256_set1_ps(-0.0f), zero = _mm256_setzero_ps(), scale = _mm256_set1_ps(256.0f);
    const __m256 one = _mm256_set1_ps(1.0f), limit = _mm256_set1_ps(2147483648.0f);
    const __m256i last = _mm256_set1_epi32(4094), step = _mm256_set1_epi32(1);
    int i = 0;
    for (; i + 8 <= count; i += 8) {
        __m256 value = _mm256_loadu_ps(line + i);
        __m256 negative = _mm256_cmp_ps(value, zero, _CMP_LT_OQ);
        __m256 x = _mm256_mul_ps(_mm256_xor_ps(value, _mm256_and_ps(negative, sign)), scale);
        if (_mm256_movemask_ps(_mm256_cmp_ps(x, limit, _CMP_NLT_UQ))) { /* NaN, or past 32 bits */
            for (int j = i; j < i + 8; j++) {
                line[j] = table_function(table, logistic, line[j]);
            }
            continue;
        }
        __m256i index = _mm256_cvttps_epi32(x);
        __m256i past = _mm256_cmpgt_epi32(index, last);
        __m256i safe = _mm256_andnot_si256(past, index); /* 0 where past the table: not read */
        __m256 low = _mm256_i32gather_ps(table, safe, 4);
        __m256 high = _mm256_i32gather_ps(table, _mm256_add_epi32(safe, step), 4);
        __m256 fraction = _mm256_sub_ps(x, _mm256_cvtepi32_ps(index));
        __m256 result = _mm256_add_ps(low, _mm256_mul_ps(_mm256_sub_ps(high, low), fraction));
        result = _mm256_blendv_ps(result, one, _mm256_castsi256_ps(past));
        __m256 mirrored = logistic ? _mm256_sub_ps(one, result) : _mm256_xor_ps(result, sign);
        _mm256_storeu_ps(line + i, _mm256_blendv_ps(result, mirrored, negative));
    }
    for (; i < count; i++) {
        line[i] = table_function(table, logistic, line[i]);
    }
}

/* void FullyConnected::ForwardTimeStep(int t, float *output_line): the layer's activation, after
 * its weights. Its tanh in AVX2; every other activation (softmax, logistic, ...) Tesseract's own. */
void _ZN9tesseract14FullyConnected15ForwardTimeStepEiPf(void *layer, int t, float *line) {
    if (!ours() || !with_avx2 || MEMBER(layer, int, 0x08) != NT_TANH) {
        ((void (*)(void *, int, float *))original[FULLY_CONNECTED_STEP])(layer, t, line);
        return;
    }
    table_function_avx2((const float *)original[TANH_TABLE], 0, line, MEMBER(layer, int, 0x1c));
}

/* --- LSTM ------------------------------------------------------------------------------------ */

/* ocr/tesseract_layers.c runs the time steps of our 1-D LSTM layers and their gates (network_gates_step)
 * itself. Tesseract's own LSTM::Forward (every other layer, and ours when the tests ask):
 *
 * LSTM::Forward hands each time step's four gates to GOMP_parallel_sections as OpenMP sections: for
 * each, the gate's weights times the step's input (WeightMatrix::MatrixDotVector), then the gate's
 * activation (tanh for the cell input, the logistic for the three others) over ns_ numbers, inline
 * in the outlined function, one table lookup at a time (19 % of the samples). Here: the same
 * products, in the same order, and the activations in AVX2. ``data`` is what LSTM::Forward passes:
 * the layer, its gates' scratch lines, and the step. A 2-D LSTM, a float model or a processor
 * without AVX2 is left to Tesseract's own sections. */
int network_lstm_gates(void (*body)(void *), void *data) {
    if (!ours() || !with_avx2 || (void *)body != original[LSTM_GATES]) {
        return 0;
    }
    char *layer = *(char **)data;
    const char *scratch = *(char *const *)((char *)data + 0x08); /* NetworkScratch::FloatVec[5], 0x18 bytes each */
    const int t = *(const int *)((char *)data + 0x18);
    if (MEMBER(layer, unsigned char, 0x6c) || !MEMBER(layer, unsigned char, 0x590)) { /* Is2D(); !source_.int_mode() */
        return 0;
    }
    float *lines[4];
    for (int gate = 0; gate < 4; gate++) {
        lines[gate] = *(float *const *)(scratch + gate * 0x18 + 0x08);
    }
    network_gates_step(layer, lines, t);
    return 1;
}

void network_gates_step(char *layer, float *const lines[4], int t) {
    static const struct {
        int weights; /* gate_weights_[gate] in the layer */
        int logistic;
    } gates[4] = {{0x70, 0}, {0x168, 1}, {0x260, 1}, {0x358, 1}}; /* CI (tanh), GI, GF1, GO */
    const int8_t *input = MEMBER(layer, int8_t *, 0x578) + t * MEMBER(layer, int, 0x588); /* source_.i(t) */
    const int ns = MEMBER(layer, int, 0x64);
    for (int gate = 0; gate < 4; gate++) {
        _ZNK9tesseract12WeightMatrix15MatrixDotVectorEPKaPf(layer + gates[gate].weights, input, lines[gate]);
        table_function_avx2((const float *)original[gates[gate].logistic ? LOGISTIC_TABLE : TANH_TABLE],
                            gates[gate].logistic, lines[gate], ns);
    }
    gates_run++;
}

void network_tanh_line(float *line, int count) {
    table_function_avx2((const float *)original[TANH_TABLE], 0, line, count);
}

/* --- For ocr/_tesseract_calls.c's Python functions ------------------------------------------- */

int network_is_ours(void) {
    if (__atomic_load_n(&checked, __ATOMIC_ACQUIRE) == 0) {
        check_network(0);
    }
    return __atomic_load_n(&checked, __ATOMIC_ACQUIRE) == 1;
}

unsigned long network_windows_run(void) { return windows_run; }

unsigned long network_gates_run(void) { return gates_run; }

int network_code(int i, const char **name, uint64_t *found, uint64_t *expected) {
    if (i < 0 || i >= FUNCTIONS) {
        return 0;
    }
    network_is_ours();
    *name = known[i].name;
    *found = found_code[i];
    *expected = known[i].code;
    return 1;
}
