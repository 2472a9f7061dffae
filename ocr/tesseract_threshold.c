/* Tesseract's cut of a page into ink and paper (Otsu's threshold), with the same results, sooner.
 *
 * Part of ocr._tesseract_calls (ocr/_tesseract_calls.c says how libtesseract's calls to its own
 * exported functions bind here). Every pass begins by thresholding its whole image:
 * tesseract::HistogramRect counts the grey levels for Otsu's threshold and
 * ImageThresholder::ThresholdRectToPix cuts the page at it, one pixel at a time, each through
 * Leptonica's byte and bit macros. Our stacks of line crops and rows are mostly white paper (the
 * rows of a calligraphy poster: 2437 x 22370 pixels), so `perf` of 15 real images put 3.6 % of all
 * samples in the histogram, where every white pixel adds one to the same counter as the pixel
 * before it and waits for that addition, and 2 % in the cut.
 *
 * Here, for 8-bit grey pages (ours; other depths, and a cut of a rectangle that does not start on
 * a word of the image, go to Tesseract's own): the histogram counts a run of 32 equal pixels with
 * one addition (AVX2) and other pixels in four counters in turn; the cut compares 32 pixels at a
 * time and writes each 32-bit word of the binary page whole (AVX2). A histogram is the same
 * counts in any order, and the cut the same comparison per pixel: the pages are the same, bit for
 * bit. ThresholdRectToPix reads the thresholder's rectangle at fixed offsets, which only the
 * checked build has (ocr/tesseract_network.c hashes both functions' code with the others'); with
 * any other build both go on to Tesseract's own.
 */
#define _GNU_SOURCE
#include <immintrin.h>
#include <leptonica/allheaders.h>
#include <stdint.h>
#include <string.h>

#include "tesseract_network.h"

/* ImageThresholder: rect_left_ at 0x2c, rect_top_ at 0x30, rect_width_ at 0x34, rect_height_ at 0x38. */
#define RECT(thresholder, offset) (*(const int *)((const char *)(thresholder) + (offset)))

static __thread unsigned long pages_cut;

unsigned long threshold_pages_cut(void) { return pages_cut; }

/* Leptonica keeps a row's bytes in 32-bit words, the first byte in the word's high bits: byte x of
 * a row is at (x ^ 3) on a little-endian machine (GET_DATA_BYTE). */
static inline unsigned byte_at(const uint8_t *row, size_t x) { return row[x ^ 3]; }

__attribute__((target("avx2"))) static size_t count_runs_avx2(const uint8_t *bytes, size_t count,
                                                              uint32_t *histogram) {
    size_t done = 0;
    while (done + 32 <= count) {
        __m256i chunk = _mm256_loadu_si256((const __m256i *)(bytes + done));
        __m256i first = _mm256_set1_epi8((char)bytes[done]);
        if ((uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(chunk, first)) != 0xffffffffu) {
            return done; /* not a run: the caller counts from here */
        }
        histogram[bytes[done]] += 32;
        done += 32;
    }
    return done;
}

/* Adds the bytes of whole words [start, end) of a row (physical order: a word's bytes in any
 * order count the same) to four partial histograms. */
static void count_bytes(const uint8_t *bytes, size_t count, uint32_t partial[4][256], int avx2) {
    size_t i = 0;
    while (i < count) {
        if (avx2 && count - i >= 32) {
            size_t run = count_runs_avx2(bytes + i, count - i, partial[0]);
            i += run;
            if (run > 0) {
                continue;
            }
        }
        size_t stop = count - i >= 32 ? i + 32 : count;
        for (; i + 4 <= stop; i += 4) {
            partial[0][bytes[i]]++;
            partial[1][bytes[i + 1]]++;
            partial[2][bytes[i + 2]]++;
            partial[3][bytes[i + 3]]++;
        }
        for (; i < stop; i++) {
            partial[0][bytes[i]]++;
        }
    }
}

void _ZN9tesseract13HistogramRectENS_5ImageEiiiiiPi(PIX *pix, int channel, int left, int top, int width,
                                                      int height, int *histogram) {
    typedef void (*Own)(PIX *, int, int, int, int, int, int *);
    if (!tesseract_is_known() || pixGetDepth(pix) != 8 || left < 0 || top < 0 || width < 0 ||
        top + height > (int)pixGetHeight(pix) || left + width > (int)pixGetWidth(pix)) {
        ((Own)tesseract_original(HISTOGRAM_RECT))(pix, channel, left, top, width, height, histogram);
        return;
    }
    /* one channel: Tesseract clips ``channel`` to it */
    static __thread uint32_t partial[4][256];
    memset(partial, 0, sizeof(partial));
    const int avx2 = tesseract_with_avx2();
    const uint32_t *data = pixGetData(pix);
    const int wpl = pixGetWpl(pix);
    for (int y = top; y < top + height; y++) {
        const uint8_t *row = (const uint8_t *)(data + (size_t)y * wpl);
        size_t x = (size_t)left, end = (size_t)left + (size_t)width;
        for (; x < end && (x & 3) != 0; x++) { /* to the first whole word */
            partial[0][byte_at(row, x)]++;
        }
        size_t whole = (end - x) & ~(size_t)3;
        count_bytes(row + x, whole, partial, avx2);
        for (x += whole; x < end; x++) {
            partial[0][byte_at(row, x)]++;
        }
    }
    for (int level = 0; level < 256; level++) {
        histogram[level] = (int)(partial[0][level] + partial[1][level] + partial[2][level] + partial[3][level]);
    }
}

/* Pixel x of a row is ink when Tesseract's test says so: (pixel > threshold) == (hi_value == 0). */
static inline int is_ink(unsigned pixel, int threshold, int hi_value) {
    return hi_value >= 0 && ((int)pixel > threshold) == (hi_value == 0);
}

/* 32 pixels from ``bytes`` (a word-aligned run of Leptonica's row) as one word of a 1-bit row:
 * pixel 0 in the high bit. */
__attribute__((target("avx2"))) static uint32_t ink_word_avx2(const uint8_t *bytes, __m256i above,
                                                              __m256i reverse, uint32_t flip) {
    __m256i chunk = _mm256_loadu_si256((const __m256i *)bytes);
    /* physical byte (31 - j) ^ 3 to place j: the lanes swapped, then (15 - k) ^ 3 within each */
    chunk = _mm256_shuffle_epi8(_mm256_permute4x64_epi64(chunk, 0x4e), reverse);
    __m256i higher = _mm256_cmpeq_epi8(_mm256_max_epu8(chunk, above), chunk); /* pixel >= threshold + 1 */
    return (uint32_t)_mm256_movemask_epi8(higher) ^ flip;
}

__attribute__((target("avx2"))) static void cut_rows_avx2(const uint32_t *src, int src_wpl, uint32_t *out,
                                                          int out_wpl, int left, int top, int width,
                                                          int height, int threshold, int hi_value) {
    const __m256i reverse = _mm256_setr_epi8(12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3, 12, 13, 14,
                                             15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3);
    /* ink where pixel > threshold (hi_value 0) or pixel <= threshold (hi_value > 0); 0 <= threshold < 255 */
    const __m256i above = _mm256_set1_epi8((char)(uint8_t)(threshold + 1));
    const uint32_t flip = hi_value == 0 ? 0 : 0xffffffffu;
    const int words = width / 32;
    for (int y = 0; y < height; y++) {
        const uint8_t *row = (const uint8_t *)(src + (size_t)(y + top) * src_wpl) + left;
        uint32_t *line = out + (size_t)y * out_wpl;
        for (int w = 0; w < words; w++) {
            line[w] = ink_word_avx2(row + 32 * w, above, reverse, flip);
        }
        for (int x = 32 * words; x < width; x++) {
            if (is_ink(byte_at(row - left, (size_t)(x + left)), threshold, hi_value)) {
                line[x >> 5] |= 0x80000000u >> (x & 31);
            } else {
                line[x >> 5] &= ~(0x80000000u >> (x & 31));
            }
        }
    }
}

void _ZNK9tesseract16ImageThresholder18ThresholdRectToPixENS_5ImageEiRKSt6vectorIiSaIiEES6_PS1_(
    const void *thresholder, PIX *src, int channels, const int *const *thresholds, const int *const *hi_values,
    PIX **out) {
    typedef void (*Own)(const void *, PIX *, int, const int *const *, const int *const *, PIX **);
    if (!tesseract_is_known() || !tesseract_with_avx2()) { /* its members are read only in the known build */
        ((Own)tesseract_original(THRESHOLD_RECT_TO_PIX))(thresholder, src, channels, thresholds, hi_values, out);
        return;
    }
    const int left = RECT(thresholder, 0x2c), top = RECT(thresholder, 0x30);
    const int width = RECT(thresholder, 0x34), height = RECT(thresholder, 0x38);
    /* std::vector<int>: its first member points at its data */
    if (channels != 1 || pixGetDepth(src) != 8 || (left & 3) != 0 || left < 0 || top < 0 || width <= 0 || height <= 0 ||
        left + width > (int)pixGetWidth(src) || top + height > (int)pixGetHeight(src) ||
        (*thresholds)[0] < 0 || (*thresholds)[0] >= 255 || (*hi_values)[0] < 0) {
        ((Own)tesseract_original(THRESHOLD_RECT_TO_PIX))(thresholder, src, channels, thresholds, hi_values, out);
        return;
    }
    *out = pixCreate(width, height, 1);
    if (*out == NULL) {
        return;
    }
    pixSetXRes(*out, pixGetXRes(src));
    pixSetYRes(*out, pixGetYRes(src));
    cut_rows_avx2(pixGetData(src), pixGetWpl(src), pixGetData(*out), pixGetWpl(*out), left, top, width, height,
                  (*thresholds)[0], (*hi_values)[0]);
    pages_cut++;
}
