/* Tesseract's LSTM layer forward over a line, its state update in AVX2, with the same results.
 *
 * Part of ocr._tesseract_calls (ocr/_tesseract_calls.c says how libtesseract's calls to its own
 * exported functions bind here; LSTM::Forward is virtual, and its vtables bind to it by name too).
 * ocr/tesseract_network.c already runs each time step's four gates (the weight products and their
 * activations). What LSTM::Forward does around them stayed Tesseract's: at every step of every
 * line, for each of the layer's ns_ cells, the state times the forget gate plus the cell input
 * times the input gate, clipped to +-100, then tanh of the state times the output gate, each a
 * scalar loop inline in LSTM::Forward, the tanh a table lookup behind a branch on the state's
 * sign. ``perf`` of 15 real images in ``check --image`` put 9 % of all samples in LSTM::Forward's
 * own code, the most after the weight products.
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
 * The layer's members are read at the offsets of the checked build (ocr/tesseract_network.c
 * hashes LSTM::Forward and the functions called here with the others).
 *
 * Measured: the same words, boxes and confidences as Tesseract's own code on 15 real images read
 * with each model the passes use (ara+eng, eng, Arabic, ara) at psm 11 and 6 (1229 lines), both
 * kinds of layer run here; ``check --image`` on the 15 images, interleaved with the code before:
 * the same JSON, 5.7 % less wall time and 7.7 % less CPU. The clip at +-100 is not reached in
 * those readings (taking it out failed no test): it is here because Tesseract's loop has it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <immintrin.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tesseract_network.h"

#define MEMBER(object, type, offset) (*(type *)((char *)(object) + (offset)))

/* LSTM: type_ at 0x08, training_ at 0x0c, ni_ at 0x18, no_ at 0x1c, na_ at 0x60, ns_ at 0x64, nf_ at
 * 0x68, is_2d_ at 0x6c, softmax_ at 0x548, source_ (NetworkIO) at 0x550, input_map_ (StrideMap) at
 * 0x960, input_width_ at 0x9a8. NetworkIO: int_mode_ at 0x40, stride_map_ at 0x48, i_.dim1_ at 0x34,
 * f_.dim1_ at 0x14. */
enum { NT_LSTM = 14, NT_LSTM_SUMMARY = 15, TS_ENABLED = 1 };
enum { SOURCE = 0x550, INPUT_MAP = 0x960, INPUT_WIDTH = 0x9a8, IO_INT_MODE = 0x40, IO_MAP = 0x48 };

static __thread unsigned long lines_run;

unsigned long lstm_lines_run(void) { return lines_run; }

/* std::vector<int>'s operator= for the map's heights and widths, with libstdc++'s own operator new
 * and delete (libtesseract frees them). */
static void *(*new_bytes)(size_t);
static void (*delete_bytes)(void *, size_t);
static pthread_once_t allocator_found = PTHREAD_ONCE_INIT;

static void find_allocator(void) {
    new_bytes = (void *(*)(size_t))dlsym(RTLD_DEFAULT, "_Znwm");
    delete_bytes = (void (*)(void *, size_t))dlsym(RTLD_DEFAULT, "_ZdlPvm");
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
    if (!tesseract_is_known() || !tesseract_with_avx2() || debug || !MEMBER(input, unsigned char, IO_INT_MODE) ||
        MEMBER(layer, void *, 0x548) != NULL || MEMBER(layer, unsigned char, 0x6c) ||
        MEMBER(layer, int, 0x0c) == TS_ENABLED || (type != NT_LSTM && type != NT_LSTM_SUMMARY)) {
        ((ForwardFunction)tesseract_original(LSTM_FORWARD))(layer, debug, input, transpose, scratch, output);
        return;
    }
    pthread_once(&allocator_found, find_allocator);
    if (new_bytes == NULL || delete_bytes == NULL) {
        ((ForwardFunction)tesseract_original(LSTM_FORWARD))(layer, debug, input, transpose, scratch, output);
        return;
    }
    StrideMap *input_map = (StrideMap *)(layer + INPUT_MAP);
    copy_map(input_map, (const StrideMap *)(input + IO_MAP));
    MEMBER(layer, int, INPUT_WIDTH) = MEMBER(input, int, 0x34); /* input.Width(), int8 */
    const int no = MEMBER(layer, int, 0x1c);
    if (type == NT_LSTM_SUMMARY) {
        ((void (*)(void *, const void *, int))tesseract_original(RESIZE_X_TO_1))(output, input, no);
    } else {
        ((void (*)(void *, int, const void *, int))tesseract_original(RESIZE_TO_MAP))(output, 1, input + IO_MAP, no);
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
    Index dest = {(const StrideMap *)(output + IO_MAP), 0, {0, 0, 0}};
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
