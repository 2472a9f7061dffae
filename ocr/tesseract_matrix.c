/* Tesseract's int8 weights times a line's int8 inputs, with the processor's dot-product instruction.
 *
 * Part of ocr._tesseract_calls (ocr/_tesseract_calls.c says how libtesseract's calls to its own
 * exported functions bind here). Every layer of the LSTM network that has weights (the LSTM's four
 * gates at every time step, the fully connected layers) multiplies them by its input in
 * WeightMatrix::MatrixDotVector, which hands the work to IntSimdMatrix's kernel for the processor.
 * Debian's Tesseract 5.3 has kernels for SSE and AVX2 only: for every 4 weights and 4 inputs of 8
 * outputs the AVX2 kernel makes the weights positive and moves their signs to the inputs, multiplies
 * byte pairs into 16 bits, adds those pairs into 32 bits and adds the result: five instructions per
 * 32 products. ``perf`` of 15 real images in ``check --image`` put 15 % of all samples there.
 *
 * Processors with AVX-512 VNNI multiply 32 unsigned bytes by 32 signed bytes and add each group of
 * four into 32 bits in one instruction (vpdpbusd, 256-bit form). The weights are signed, so each weight byte is
 * read with its top bit flipped (w + 128, unsigned) and the sum has 128 times the sum of the inputs
 * too much, which is taken off at the end: integer sums, exact, whatever their order. Then, as
 * Tesseract does: the bias times 127 added, the sum turned into a float and multiplied by the
 * output's scale. The same numbers, bit for bit.
 *
 * The weights are read in the order IntSimdMatrix::Init shaped them for the AVX2 kernel: outputs in
 * sets of 64, then one of 32, 16 and 8 for the rest; in a set, for each group of 4 inputs, the 4
 * weights of each output in turn; after the inputs, each output's bias. So this runs only while that
 * shape is the one in use (IntSimdMatrix::intSimdMatrix points at intSimdMatrixAVX2, whose kernel and
 * sizes ocr/tesseract_network.c hashes with the other functions of the checked build), on a
 * processor with AVX-512 VNNI (its 256-bit form), and not when the tests ask for the scalar code
 * or for AVX2 alone. Otherwise Tesseract's own MatrixDotVector runs.
 *
 * Measured (15 real images in ``check --image``, interleaved with the code before): the same JSON
 * on all, 4.5 % less wall time and CPU; the kernel went from 13.8 % of the samples to 8.6 %. A first
 * version that summed the inputs in a loop of its own and kept the sums in memory (no unrolling)
 * was slower than Tesseract's kernel.
 */
#define _GNU_SOURCE
#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "tesseract_network.h"

/* WeightMatrix, as the checked build lays it out (MEMBER: tesseract_network.h): wi_.dim1_ (outputs)
 * at 0x34, wi_.dim2_ (inputs and the bias) at 0x38, scales_'s data at 0x68, shaped_w_'s data at 0xe0. */

#define VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni")))

static __thread unsigned long products_run;

unsigned long matrix_products_run(void) { return products_run; }

/* One set of 8 x ``registers`` outputs (1, 2, 4 or 8 registers of 8): ``weights`` is the set's
 * shaped weights, ``groups`` groups of 4 inputs, then the set's biases. ``taken`` sums 128 times
 * each input read, which the flipped weights added to every output. */
VNNI __attribute__((always_inline)) static inline void set_of_8s(int registers, const int8_t *weights, const float *scales, const int8_t *inputs,
                                  int groups, float *out) {
    __m256i sums[8], taken = _mm256_setzero_si256();
#pragma GCC unroll 8
    for (int r = 0; r < registers; r++) {
        sums[r] = _mm256_setzero_si256();
    }
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    for (int group = 0; group < groups; group++) {
        int32_t four;
        memcpy(&four, inputs + 4 * group, 4);
        const __m256i repeated = _mm256_set1_epi32(four);
        taken = _mm256_dpbusd_epi32(taken, flip, repeated);
#pragma GCC unroll 8
        for (int r = 0; r < registers; r++) {
            __m256i flipped = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(weights + 32 * r)), flip);
            sums[r] = _mm256_dpbusd_epi32(sums[r], flipped, repeated);
        }
        weights += 32 * registers;
    }
#pragma GCC unroll 8
    for (int r = 0; r < registers; r++) {
        __m256i bias = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(weights + 8 * r)));
        bias = _mm256_sub_epi32(_mm256_slli_epi32(bias, 7), bias); /* times 127 */
        __m256i sum = _mm256_add_epi32(_mm256_sub_epi32(sums[r], taken), bias);
        _mm256_storeu_ps(out + 8 * r, _mm256_mul_ps(_mm256_cvtepi32_ps(sum), _mm256_loadu_ps(scales + 8 * r)));
    }
}

/* matrixDotVector of Tesseract's AVX2 IntSimdMatrix, on its shape: ``outputs`` rounded up to 8 are
 * written, as there. */
VNNI static void dot_vnni(int outputs, int inputs_and_bias, const int8_t *weights, const float *scales,
                          const int8_t *inputs, float *out) {
    const int rounded_in = (inputs_and_bias - 1 + 3) / 4 * 4, groups = rounded_in / 4;
    const int rounded_out = (outputs + 7) / 8 * 8;
    int done = 0;
    for (; done + 64 <= rounded_out; done += 64) {
        set_of_8s(8, weights, scales + done, inputs, groups, out + done);
        weights += (size_t)(rounded_in + 1) * 64;
    }
    if (done + 32 <= rounded_out) {
        set_of_8s(4, weights, scales + done, inputs, groups, out + done);
        weights += (size_t)(rounded_in + 1) * 32;
        done += 32;
    }
    if (done + 16 <= rounded_out) {
        set_of_8s(2, weights, scales + done, inputs, groups, out + done);
        weights += (size_t)(rounded_in + 1) * 16;
        done += 16;
    }
    if (done + 8 <= rounded_out) {
        set_of_8s(1, weights, scales + done, inputs, groups, out + done);
    }
}

/* void WeightMatrix::MatrixDotVector(const int8_t *u, float *v) const */
void _ZNK9tesseract12WeightMatrix15MatrixDotVectorEPKaPf(const void *matrix, const int8_t *inputs, float *out) {
    if (tesseract_is_known() && tesseract_with_vnni() && tesseract_int_simd_is_avx2()) {
        dot_vnni(MEMBER(matrix, int, 0x34), MEMBER(matrix, int, 0x38), MEMBER(matrix, const int8_t *, 0xe0),
                 MEMBER(matrix, const float *, 0x68), inputs, out);
        products_run++;
        return;
    }
    ((void (*)(const void *, const int8_t *, float *))tesseract_original(MATRIX_DOT_VECTOR))(matrix, inputs, out);
}
