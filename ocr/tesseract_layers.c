/* Two of Tesseract's network layers over a line, run here with the same results: the LSTM layer
 * (its state update in AVX2) and the max-pool layer (its window's bounds worked out inline).
 *
 * Part of ocr._tesseract_calls (ocr/_tesseract_calls.c says how libtesseract's calls to its own
 * exported functions bind here; LSTM::Forward and Maxpool::Forward are virtual, and their vtables
 * bind to them by name too). The layers' members are read at the offsets of the checked build
 * (ocr/tesseract_network.c hashes the functions replaced and the functions called here with the
 * others); any other build, layer or processor runs Tesseract's own.
 *
 * 1. LSTM::Forward. ocr/tesseract_network.c already runs each time step's four gates (the weight
 * products and their activations). What LSTM::Forward does around them stayed Tesseract's: at
 * every step of every line, for each of the layer's ns_ cells, the state times the forget gate
 * plus the cell input times the input gate, clipped to +-100, then tanh of the state times the
 * output gate, each a scalar loop inline in LSTM::Forward, the tanh a table lookup behind a branch
 * on the state's sign. ``perf`` of 15 real images in ``check --image`` put 9 % of all samples in
 * LSTM::Forward's own code, the most after the weight products.
 *
 * Here, for the layers our models have (1-D, int8, no softmax of their own, not training; plain
 * or summarising, ``Lfx``/``Lfys``): the same steps in the same order, each number with the same
 * float operations (no fused multiply-add: -ffp-contract=off), eight cells at a time; the tanh is
 * ocr/tesseract_network.c's, which gives Tesseract's table values. Everything else is Tesseract's
 * own, called as LSTM::Forward calls it: the layer's copy of the input's map and width, the
 * output's size (ResizeXTo1 or ResizeToMap), LSTM::ResizeForward, the copy of each step's input
 * (CopyTimeStepGeneral), the recurrent output (WriteTimeStepPart), the output's write
 * (WriteTimeStep). The scratch lines come from malloc instead of the NetworkScratch: storage
 * only. Any other layer (2-D, float, with a softmax, training, debug display), another build or
 * a processor without AVX2 runs Tesseract's own LSTM::Forward.
 *
 * Measured: the same words, boxes and confidences as Tesseract's own code on 15 real images read
 * with each model the passes use (ara+eng, eng, Arabic, ara) at psm 11 and 6 (1229 lines), both
 * kinds of layer run here; ``check --image`` on the 15 images, interleaved with the code before:
 * the same JSON, 5.7 % less wall time and 7.7 % less CPU. The clip at +-100 is not reached in
 * those readings (taking it out failed no test): it is here because Tesseract's loop has it.
 *
 * 2. Maxpool::Forward (``Mp3,3``, after the convolution): for each output pixel the max of its 3x3
 * window, each window cell through StrideMap::Index::AddOffset twice (validity checked over all
 * three dimensions each time) and NetworkIO::MaxpoolTimeStep, through the PLT: 5 % of all samples,
 * more than half of them AddOffset. Here the same cells in the same order (x outer, y inner), their
 * bounds checked inline, and MaxpoolTimeStep as ocr/tesseract_network.c runs it; the layer's
 * record for the backward pass (maxes_, back_map_) is kept as Tesseract keeps it (no reading
 * depends on it: a wrong record failed no test). Float input and debug display run Tesseract's
 * own. Measured: the same words as Tesseract's own code on the 1229 lines above; ``check --image``
 * on the 15 images, interleaved: the same JSON, 2.9 % less wall time, 2.5 % less CPU (a first
 * version that kept AddOffset's two validity checks per cell, inline, saved nothing).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <immintrin.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tesseract_network.h"

/* LSTM: type_ at 0x08, training_ at 0x0c, ni_ at 0x18, no_ at 0x1c, na_ at 0x60, ns_ at 0x64, nf_ at
 * 0x68, is_2d_ at 0x6c, softmax_ at 0x548, source_ (NetworkIO) at 0x550, input_map_ (StrideMap) at
 * 0x960, input_width_ at 0x9a8. (NetworkIO's members: tesseract_network.h.) */
enum { NT_LSTM = 14, NT_LSTM_SUMMARY = 15, TS_ENABLED = 1 };
enum { SOURCE = 0x550, INPUT_MAP = 0x960, INPUT_WIDTH = 0x9a8 };

static __thread unsigned long lines_run, pools_run;

unsigned long lstm_lines_run(void) { return lines_run; }

unsigned long maxpool_lines_run(void) { return pools_run; }

/* std::vector<int>'s operator= for the map's heights and widths, with libstdc++'s own operator new
 * and delete (libtesseract frees them). */
static void *(*new_bytes)(size_t), *(*new_array)(size_t);
static void (*delete_bytes)(void *, size_t), (*delete_array)(void *);
static pthread_once_t allocator_found = PTHREAD_ONCE_INIT;

static void find_allocator(void) {
    new_bytes = (void *(*)(size_t))dlsym(RTLD_DEFAULT, "_Znwm");
    delete_bytes = (void (*)(void *, size_t))dlsym(RTLD_DEFAULT, "_ZdlPvm");
    new_array = (void *(*)(size_t))dlsym(RTLD_DEFAULT, "_Znam");
    delete_array = (void (*)(void *))dlsym(RTLD_DEFAULT, "_ZdaPv");
}

static int have_allocator(void) {
    pthread_once(&allocator_found, find_allocator);
    return new_bytes != NULL && delete_bytes != NULL && new_array != NULL && delete_array != NULL;
}

static void assign_ints(int **begin, int **end, int **capacity, const int *from, const int *from_end) {
    size_t count = (size_t)(from_end - from);
    if (count > (size_t)(*capacity - *begin)) {
        int *fresh = new_bytes(count * sizeof(int));
        if (*begin != NULL) {
            delete_bytes(*begin, (size_t)(*capacity - *begin) * sizeof(int));
        }
        *begin = fresh;
        *capacity = fresh + count;
    }
    if (count) {
        memmove(*begin, from, count * sizeof(int));
    }
    *end = *begin + count;
}

static void copy_map(StrideMap *to, const StrideMap *from) {
    memcpy(to->shape, from->shape, sizeof to->shape);
    memcpy(to->increments, from->increments, sizeof to->increments);
    assign_ints(&to->heights, &to->heights_end, &to->heights_capacity, from->heights, from->heights_end);
    assign_ints(&to->widths, &to->widths_end, &to->widths_capacity, from->widths, from->widths_end);
}

/* state = state * forget + cell * input, clipped to [-100, 100] (a NaN stays, as in ClipVector);
 * then output = tanh(state) * output gate. */
__attribute__((target("avx2"))) static void update(float *state, float *output, float *const gates[4], int ns) {
    const float *cell = gates[0], *input = gates[1], *forget = gates[2], *out_gate = gates[3];
    const __m256 low = _mm256_set1_ps(-100.0f), high = _mm256_set1_ps(100.0f);
    int i = 0;
    for (; i + 8 <= ns; i += 8) {
        __m256 s = _mm256_mul_ps(_mm256_loadu_ps(state + i), _mm256_loadu_ps(forget + i));
        s = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(cell + i), _mm256_loadu_ps(input + i)), s);
        s = _mm256_blendv_ps(s, low, _mm256_cmp_ps(s, low, _CMP_LT_OQ));
        s = _mm256_blendv_ps(s, high, _mm256_cmp_ps(s, high, _CMP_GT_OQ));
        _mm256_storeu_ps(state + i, s);
    }
    for (; i < ns; i++) {
        float s = state[i] * forget[i];
        s = cell[i] * input[i] + s;
        state[i] = s < -100.0f ? -100.0f : s > 100.0f ? 100.0f : s;
    }
    memcpy(output, state, (size_t)ns * sizeof(float));
    network_tanh_line(output, ns);
    i = 0;
    for (; i + 8 <= ns; i += 8) {
        _mm256_storeu_ps(output + i, _mm256_mul_ps(_mm256_loadu_ps(output + i), _mm256_loadu_ps(out_gate + i)));
    }
    for (; i < ns; i++) {
        output[i] = output[i] * out_gate[i];
    }
}

typedef void (*ForwardFunction)(void *, _Bool, const void *, const void *, void *, void *);

/* void LSTM::Forward(bool debug, const NetworkIO &input, const TransposedArray *input_transpose,
 *                    NetworkScratch *scratch, NetworkIO *output) */
void _ZN9tesseract4LSTM7ForwardEbRKNS_9NetworkIOEPKNS_15TransposedArrayEPNS_14NetworkScratchEPS1_(
    char *layer, _Bool debug, const char *input, const void *transpose, void *scratch, char *output) {
    const int type = MEMBER(layer, int, 0x08);
    if (!tesseract_is_known() || !tesseract_with_avx2() || debug || !INT_MODE(input) ||
        MEMBER(layer, void *, 0x548) != NULL || MEMBER(layer, unsigned char, 0x6c) ||
        MEMBER(layer, int, 0x0c) == TS_ENABLED || (type != NT_LSTM && type != NT_LSTM_SUMMARY)) {
        ((ForwardFunction)tesseract_original(LSTM_FORWARD))(layer, debug, input, transpose, scratch, output);
        return;
    }
    if (!have_allocator()) {
        ((ForwardFunction)tesseract_original(LSTM_FORWARD))(layer, debug, input, transpose, scratch, output);
        return;
    }
    StrideMap *input_map = (StrideMap *)(layer + INPUT_MAP);
    copy_map(input_map, MAP_OF(input));
    MEMBER(layer, int, INPUT_WIDTH) = INT_STEPS(input); /* input.Width() */
    const int no = MEMBER(layer, int, 0x1c);
    if (type == NT_LSTM_SUMMARY) {
        ((void (*)(void *, const void *, int))tesseract_original(RESIZE_X_TO_1))(output, input, no);
    } else {
        ((void (*)(void *, int, const void *, int))tesseract_original(RESIZE_TO_MAP))(output, 1, MAP_OF(input), no);
    }
    ((void (*)(void *, const void *))tesseract_original(LSTM_RESIZE_FORWARD))(layer, input);

    const int ns = MEMBER(layer, int, 0x64), ni = MEMBER(layer, int, 0x18), nf = MEMBER(layer, int, 0x68);
    const int rounded = (ns + 7) / 8 * 8 + 8; /* the weight products write whole registers of 8 */
    float *block = calloc((size_t)(4 * rounded + 2 * ns + 2), sizeof(float));
    if (block == NULL) {
        ((ForwardFunction)tesseract_original(LSTM_FORWARD))(layer, debug, input, transpose, scratch, output);
        return;
    }
    float *gates[4] = {block, block + rounded, block + 2 * rounded, block + 3 * rounded};
    float *state = block + 4 * rounded, *out = state + ns + 1;
    void *source = layer + SOURCE;
    void (*copy_step)(void *, int, int, int, const void *, int, int) =
        (void (*)(void *, int, int, int, const void *, int, int))tesseract_original(COPY_TIME_STEP_GENERAL);
    void (*write_step)(void *, int, const float *) = (void (*)(void *, int, const float *))tesseract_original(WRITE_TIME_STEP);
    Index src = {input_map, 0, {0, 0, 0}};
    Index dest = {MAP_OF(output), 0, {0, 0, 0}};
    do {
        const int t = src.t;
        copy_step(source, t, 0, ni, input, t, 0);
        _ZN9tesseract9NetworkIO17WriteTimeStepPartEiiiPKf(source, t, ni + nf, ns, out);
        network_gates_step(layer, gates, t);
        update(state, out, gates, ns);
        const int row_ends = _ZNK9tesseract9StrideMap5Index6IsLastENS_14FlexDimensionsE(&src, WIDTH);
        if (type == NT_LSTM_SUMMARY) {
            if (row_ends) {
                write_step(output, dest.t, out);
                _ZN9tesseract9StrideMap5Index9IncrementEv(&dest);
            }
        } else {
            write_step(output, t, out);
        }
        if (row_ends) {
            memset(state, 0, (size_t)ns * sizeof(float));
            memset(out, 0, (size_t)ns * sizeof(float));
        }
    } while (_ZN9tesseract9StrideMap5Index9IncrementEv(&src));
    free(block);
    lines_run++;
}

/* --- Maxpool --------------------------------------------------------------------------------- */

/* Maxpool: ni_ at 0x18, no_ at 0x1c, back_map_ (StrideMap) at 0x60, x_scale_ at 0xa8, y_scale_ at
 * 0xac, maxes_ (GENERIC_2D_ARRAY<int>): array_ at 0xb8, dim1_ at 0xc4, dim2_ at 0xc8, size_allocated_
 * at 0xcc. */

/* void Maxpool::Forward(bool debug, const NetworkIO &input, const TransposedArray *input_transpose,
 *                       NetworkScratch *scratch, NetworkIO *output) */
void _ZN9tesseract7Maxpool7ForwardEbRKNS_9NetworkIOEPKNS_15TransposedArrayEPNS_14NetworkScratchEPS1_(
    char *layer, _Bool debug, const char *input, const void *transpose, void *scratch, char *output) {
    if (!tesseract_is_known() || debug || !INT_MODE(input) || !have_allocator()) {
        ((ForwardFunction)tesseract_original(MAXPOOL_FORWARD))(layer, debug, input, transpose, scratch, output);
        return;
    }
    const int x_scale = MEMBER(layer, int, 0xa8), y_scale = MEMBER(layer, int, 0xac), ni = MEMBER(layer, int, 0x18);
    ((void (*)(void *, const void *, int, int, int))tesseract_original(RESIZE_SCALED))(
        output, input, x_scale, y_scale, MEMBER(layer, int, 0x1c));
    /* maxes_.ResizeNoInit(output->Width(), ni_) */
    const int width = INT_STEPS(output), size = width * ni;
    if (size > MEMBER(layer, int, 0xcc)) {
        if (MEMBER(layer, int *, 0xb8) != NULL) {
            delete_array(MEMBER(layer, int *, 0xb8));
        }
        MEMBER(layer, int *, 0xb8) = new_array((size_t)size * sizeof(int));
        MEMBER(layer, int, 0xcc) = size;
    }
    MEMBER(layer, int, 0xc4) = width;
    MEMBER(layer, int, 0xc8) = ni;
    copy_map((StrideMap *)(layer + 0x60), MAP_OF(input)); /* back_map_ */
    void (*copy_step)(void *, int, const void *, int) =
        (void (*)(void *, int, const void *, int))tesseract_original(COPY_TIME_STEP_FROM);
    const StrideMap *in_map = MAP_OF(input);
    int *const maxes = MEMBER(layer, int *, 0xb8);
    Index dest = {MAP_OF(output), 0, {0, 0, 0}};
    const int step_x = in_map->increments[WIDTH], step_y = in_map->increments[HEIGHT];
    do {
        const int out_t = dest.t;
        Index src = {in_map, 0, {dest.indices[BATCH], dest.indices[HEIGHT] * y_scale, dest.indices[WIDTH] * x_scale}};
        set_t_from_indices(&src);
        int *max_line = maxes + (size_t)out_t * ni;
        copy_step(output, out_t, input, src.t);
        for (int i = 0; i < ni; i++) {
            max_line[i] = src.t;
        }
        /* A cell (x, y) of the window is what AddOffset(x, FD_WIDTH) && AddOffset(y, FD_HEIGHT) accept:
         * the source pixel and both offsets non-negative, so the bounds of its batch decide. */
        const int batch_ok = src.indices[BATCH] >= 0 && src.indices[BATCH] <= max_index_of_dim(&src, BATCH);
        const int last_y = max_index_of_dim(&src, HEIGHT) - src.indices[HEIGHT];
        const int last_x = max_index_of_dim(&src, WIDTH) - src.indices[WIDTH];
        if (!batch_ok || src.indices[HEIGHT] < 0 || src.indices[WIDTH] < 0) {
            continue; /* no cell is valid (increment below, through the loop's condition) */
        }
        for (int x = 0; x < x_scale && x <= last_x; x++) {
            for (int y = 0; y < y_scale && y <= last_y; y++) {
                _ZN9tesseract9NetworkIO15MaxpoolTimeStepEiRKS0_iPi(output, out_t, input, src.t + x * step_x + y * step_y,
                                                                  max_line);
            }
        }
    } while (increment(&dest));
    pools_run++;
}
