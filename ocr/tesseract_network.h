/* ocr/tesseract_network.c, as ocr/_tesseract_calls.c's Python functions and the other files of the
 * module (ocr/tesseract_threshold.c, ocr/tesseract_matrix.c, ocr/tesseract_layers.c) ask it. */
#ifndef TGMONITOR_TESSERACT_NETWORK_H
#define TGMONITOR_TESSERACT_NETWORK_H

#include <stddef.h>
#include <stdint.h>

/* The functions of libtesseract replaced or called here (ocr/tesseract_network.c checks each one's
 * code against the build they were read from; ocr/tesseract_threshold.c replaces HISTOGRAM_RECT and
 * THRESHOLD_RECT_TO_PIX, ocr/tesseract_matrix.c MATRIX_DOT_VECTOR, ocr/tesseract_layers.c
 * LSTM_FORWARD and MAXPOOL_FORWARD). */
enum {
    MAX_INDEX_OF_DIM,
    IS_VALID,
    IS_LAST,
    ADD_OFFSET,
    INCREMENT,
    DECREMENT,
    INIT_TO_LAST_OF_BATCH,
    SET_T_FROM_INDICES,
    WRITE_TIME_STEP_PART,
    MAXPOOL_TIME_STEP,
    CONVOLVE_FORWARD,
    FULLY_CONNECTED_STEP,
    COPY_TIME_STEP_GENERAL, /* not replaced: Convolve::Forward here does its copies as it does;
                               ocr/tesseract_layers.c's LSTM calls it */
    RANDOMIZE,              /* not replaced: called from here */
    RESIZE_TO_MAP,          /* not replaced: called from here */
    TANH_TABLE,             /* not a function: the table FULLY_CONNECTED_STEP's tanh reads */
    LSTM_FORWARD,           /* replaced in ocr/tesseract_layers.c; Tesseract's own (other layers) hands
                               its gates (LSTM_GATES) to GOMP_parallel_sections */
    LSTM_GATES,             /* replaced (network_lstm_gates): LSTM::Forward's OpenMP sections (local) */
    MATRIX_DOT_VECTOR,      /* replaced in ocr/tesseract_matrix.c (VNNI), which calls it otherwise */
    LOGISTIC_TABLE,         /* not a function: the table the gates' logistic reads */
    HISTOGRAM_RECT,         /* Otsu's histogram of a page (ocr/tesseract_threshold.c) */
    THRESHOLD_RECT_TO_PIX,  /* a page cut at its thresholds (ocr/tesseract_threshold.c) */
    LSTM_RESIZE_FORWARD,    /* not replaced: called from ocr/tesseract_layers.c */
    RESIZE_X_TO_1,          /* not replaced: called from ocr/tesseract_layers.c */
    WRITE_TIME_STEP,        /* not replaced: called from ocr/tesseract_layers.c */
    MAXPOOL_FORWARD,        /* replaced in ocr/tesseract_layers.c, which calls it otherwise */
    RESIZE_SCALED,          /* not replaced: called from ocr/tesseract_layers.c */
    COPY_TIME_STEP_FROM,    /* not replaced: called from ocr/tesseract_layers.c */
    INT_SIMD_AVX2,          /* not a function: the AVX2 weight shape and its kernel (ocr/tesseract_matrix.c) */
    FUNCTIONS
};

/* A member of one of Tesseract's objects, at its offset in the checked build. */
#define MEMBER(object, type, offset) (*(type *)((char *)(object) + (offset)))

/* NetworkIO: f_ (GENERIC_2D_ARRAY<float>) at 0, i_ (<int8_t>) at 0x20, int_mode_ at 0x40, stride_map_
 * at 0x48; a GENERIC_2D_ARRAY's array_ at +8, dim1_ (time steps) at +0x14 and dim2_ (features) at
 * +0x18. */
#define FLOATS(io) (*(float **)((char *)(io) + 0x08))
#define FLOAT_WIDTH(io) (*(const int *)((const char *)(io) + 0x18))
#define INTS(io) (*(int8_t **)((char *)(io) + 0x28))
#define INT_STEPS(io) (*(const int *)((const char *)(io) + 0x34))
#define INT_WIDTH(io) (*(const int *)((const char *)(io) + 0x38))
#define INT_MODE(io) (*(const unsigned char *)((const char *)(io) + 0x40))
#define MAP_OF(io) ((const StrideMap *)((const char *)(io) + 0x48))

/* StrideMap, as the checked build lays it out: the sizes of a NetworkIO's dimensions, and an index
 * into it (StrideMap::Index). */
typedef struct {
    int shape[3];      /* batch, height, width */
    int increments[3]; /* t per step of each dimension */
    int *heights, *heights_end, *heights_capacity; /* std::vector<int> */
    int *widths, *widths_end, *widths_capacity;
} StrideMap;

typedef struct {
    const StrideMap *map;
    int t;
    int indices[3];
} Index;

enum { BATCH, HEIGHT, WIDTH };

/* StrideMap::Index's methods as Tesseract defines them (inline here, for the loops over a line). */
static inline int max_index_of_dim(const Index *index, int dim) {
    const StrideMap *map = index->map;
    int max_index = map->shape[dim] - 1;
    if (dim == BATCH) {
        return max_index;
    }
    size_t batch = (size_t)index->indices[BATCH];
    const int *sizes = dim == HEIGHT ? map->heights : map->widths;
    size_t count = (size_t)((dim == HEIGHT ? map->heights_end : map->widths_end) - sizes);
    if (batch >= count || sizes[batch] > max_index) {
        return max_index;
    }
    return sizes[batch] - 1;
}

static inline int is_valid(const Index *index) {
    for (int d = 0; d < 3; d++) {
        if (index->indices[d] < 0) {
            return 0;
        }
    }
    for (int d = 0; d < 3; d++) {
        if (index->indices[d] > max_index_of_dim(index, d)) {
            return 0;
        }
    }
    return 1;
}

static inline void set_t_from_indices(Index *index) {
    const int *increments = index->map->increments;
    index->t = increments[0] * index->indices[0] + increments[1] * index->indices[1] +
               increments[2] * index->indices[2];
}

static inline void init_to_last_of_batch(Index *index, int batch) {
    index->indices[BATCH] = batch;
    for (int d = BATCH + 1; d < 3; d++) {
        index->indices[d] = max_index_of_dim(index, d);
    }
    set_t_from_indices(index);
}

static inline int increment(Index *index) {
    for (int d = 2; d >= 0; d--) {
        if (max_index_of_dim(index, d) != index->indices[d]) {
            index->t += index->map->increments[d];
            index->indices[d]++;
            return 1;
        }
        index->t -= index->map->increments[d] * index->indices[d];
        index->indices[d] = 0;
    }
    return 0;
}

/* Tesseract's own StrideMap::Index::IsLast and Increment, as ocr/tesseract_network.c runs them. */
int _ZNK9tesseract9StrideMap5Index6IsLastENS_14FlexDimensionsE(const Index *index, int dim);
int _ZN9tesseract9StrideMap5Index9IncrementEv(Index *index);
/* NetworkIO::WriteTimeStepPart, as ocr/tesseract_network.c runs it. */
void _ZN9tesseract9NetworkIO17WriteTimeStepPartEiiiPKf(void *io, int t, int offset, int count, const float *input);
/* One LSTM time step's four gates into ``lines`` (CI, GI, GF1, GO): the weights times the step's
 * int8 input, then tanh or the logistic (AVX2). For a 1-D LSTM of an int8 model, known build. */
void network_gates_step(char *layer, float *const lines[4], int t);
/* Tesseract's Tanh over ``count`` numbers in place (AVX2), known build. */
void network_tanh_line(float *line, int count);
/* LSTM layers ocr/tesseract_layers.c ran over a line on the calling thread. */
unsigned long lstm_lines_run(void);
/* Max-pool layers ocr/tesseract_layers.c ran over a line on the calling thread. */
unsigned long maxpool_lines_run(void);
/* NetworkIO::MaxpoolTimeStep, as ocr/tesseract_network.c runs it. */
void _ZN9tesseract9NetworkIO15MaxpoolTimeStepEiRKS0_iPi(void *io, int dest_t, const void *src, int src_t,
                                                         int *max_line);

/* Whether libtesseract is the build these functions were read from (checked on the first call). */
int tesseract_is_known(void);
/* libtesseract's own function ``which`` (one of the above), found by the check. */
void *tesseract_original(int which);
/* Whether the processor has AVX2 and the tests did not ask for the scalar code. */
int tesseract_with_avx2(void);
/* Whether it also has AVX-512 VNNI (256-bit) and the tests did not ask for AVX2 alone. */
int tesseract_with_vnni(void);
/* Whether the weights are shaped for Tesseract's AVX2 kernel (IntSimdMatrix::intSimdMatrix, which
 * the ``dotproduct`` parameter can change, points at intSimdMatrixAVX2): known build only. */
int tesseract_int_simd_is_avx2(void);

/* Whether libtesseract is loaded (a library named libtesseract.so*): its path and the bounds of its
 * code, each where asked (NULL: not asked). */
int libtesseract_loaded(const char **path, uintptr_t *code_start, uintptr_t *code_end);
/* libtesseract's own definition of the symbol ``name`` (looked up in its own scope, or, for a
 * libtesseract of another name, in whatever comes after this module), and the size of its code
 * where ``size`` is asked (0: unknown). NULL if there is none. */
void *tesseract_own(const char *name, size_t *size);
/* Whether the network's bookkeeping runs here: libtesseract is the build it was read from. */
int network_is_ours(void);
/* Convolve layers run here on the calling thread. */
unsigned long network_windows_run(void);
/* LSTM time steps whose gates ran here on the calling thread. */
unsigned long network_gates_run(void);
/* Runs LSTM::Forward's gates here when ``body`` is its OpenMP sections (1), or leaves them (0). */
int network_lstm_gates(void (*body)(void *), void *data);
/* The i-th function replaced or called: its name, its code's hash as loaded and as expected (0: not
 * found, or libtesseract not loaded yet). 0 past the last one. */
int network_code(int i, const char **name, uint64_t *found, uint64_t *expected);
/* Pages ocr/tesseract_threshold.c cut into ink and paper on the calling thread. */
unsigned long threshold_pages_cut(void);
/* Weight products ocr/tesseract_matrix.c ran (VNNI) on the calling thread. */
unsigned long matrix_products_run(void);
/* WeightMatrix::MatrixDotVector, as ocr/tesseract_matrix.c runs it (the LSTM's gates call it). */
void _ZNK9tesseract12WeightMatrix15MatrixDotVectorEPKaPf(const void *matrix, const int8_t *inputs, float *out);

#endif
