/* libtesseract's calls made cheaper in five ways, with the same results (and, in
 * ocr/tesseract_network.c, part of this module too, the bookkeeping of its LSTM network).
 *
 * ocr/library.py loads this module with RTLD_GLOBAL before tesserocr loads libtesseract, so the
 * dynamic linker binds libtesseract's calls to the functions below instead of libgomp's,
 * Leptonica's and its own (the global scope is searched first). The readings stay the command's:
 * tests/ocr/test_library.py holds the library's pages against the ``tesseract`` command's, which
 * runs the real ones.
 *
 * 1. OpenMP regions without libgomp's team of one. Tesseract's LSTM enters an OpenMP region
 *    (``parallel sections``, ``parallel for``) at every time step of every layer of every line.
 *    We read with OMP_THREAD_LIMIT=1 (our own threads run the passes side by side, ocr/library.py
 *    says why), so libgomp makes a team of one thread for each region and, at its end, wakes the
 *    team's waiters with a futex system call although there are none: 370,000-650,000 system
 *    calls for one poster, and the team's allocations. GOMP_parallel, GOMP_parallel_sections,
 *    GOMP_sections_next and GOMP_sections_end_nowait (every libgomp entry point libtesseract calls
 *    but omp_get_num_threads and omp_get_thread_num, which stay libgomp's and say 1 and 0 outside
 *    a team, as inside a team of one) run the region's body once, on this thread, and hand it the
 *    sections in order: the same arithmetic in the same order. A library loaded later that uses
 *    OpenMP has its regions run the same way, which is what OMP_THREAD_LIMIT=1 made of them.
 *    Measured on 15 real images in ``check --image``: 4.7 % less CPU, 4.6 % less wall time.
 *    (ocr/tesseract_layers.c now runs the 1-D LSTM layers' time steps without a region: what comes
 *    here is the rest, and every region of a layer it leaves to Tesseract.)
 *
 * 2. Line images kept raw. Tesseract keeps the image of each line it recognises as a PNG
 *    (ImageData::SetPixInternal writes it with pixWriteMem, and the recogniser decodes it again
 *    at once with pixReadMem, in ImageData::GetPixInternal). When SetPixInternal writes an 8 bpp
 *    grey line without a colormap or text (every line of our planes: GetRectImage makes them 8
 *    bpp), pixWriteMem here keeps its pixel words instead, behind a head with its size and the
 *    resolution the PNG would give back (pixels per metre and back, rounded as Leptonica 1.82
 *    rounds them); pixReadMem, called by GetPixInternal, makes of it the image Leptonica makes
 *    of the PNG: the same words with the pad bits clear, one sample per pixel, input format PNG
 *    (``raw_line_like_png()`` compares the two field by field and word by word for the tests).
 *    Any other line, and any other call from libtesseract, gets a PNG at zlib level 0
 *    (``pixSetSpecial(pix, 10)``, Leptonica's way to pass the level); every caller outside
 *    libtesseract (tesserocr, Leptonica itself) gets Leptonica's own functions untouched.
 *    Measured: the level-0 PNG saved 2.3 % of the CPU of 15 real images (zlib); the raw lines
 *    2.5 % more on the 43 real images and 4 % on seed 0's posters (libpng's rows, CRCs and
 *    copies: 3 % of the samples), the same JSON on all 67.
 * 3. No universal ambiguities. Every model set a TessBaseAPI loads (five for one ``check
 *    --image``) also builds the table of "universal" character ambiguities built into Tesseract
 *    (UnicharAmbigs::LoadUniversal), by a sorted insertion per entry: 74 % of a model load's CPU,
 *    0.2-0.25 s of every one-shot read. The table serves only the legacy engine (its classifier's
 *    adaption and the dictionary's "dangerous ambiguity" checks); we read with the LSTM engine
 *    alone (``OEM.LSTM_ONLY``, ocr/library.py), which never consults it, so LoadUniversal does
 *    nothing here. It is a C++ member function, named here by its mangled name (``this`` comes
 *    first, as in a C call); a Tesseract whose signature differs simply keeps its own. The
 *    language's own ambiguities (LoadUnicharAmbigs; none in Debian's LSTM models) still load.
 *    Measured on the 15 images: 9.5 % less CPU, 5.6 % less wall time.
 *
 * 4. The pad bits of a new image set without the zero page. Leptonica's pixCreate allocates an
 *    image's pixels and clears the unused low bits of each row's last word (pixSetPadBits: a read,
 *    then a write). On fresh memory the read maps the kernel's shared zero page and the write then
 *    copies it and flushes the page from every core running one of our threads, an interrupt to
 *    each (``perf``: 4.7 % of all samples on 15 real images, 13 % on a calligraphy poster, whose
 *    stacks of crops are tall: a page per row). Here each word is changed by one locked
 *    and/or, a write from the start: a fresh page, no copy, no flush. The same bits; for every
 *    caller (Leptonica, Tesseract, tesserocr), as the function is Leptonica's API. 24-bit images
 *    and bad arguments go to Leptonica's own.
 *
 * 5. No paragraphs for a pass already over its CPU seconds. Recognize looks for the page's
 *    paragraphs (TessBaseAPI::DetectParagraphs) once its words are read, with no deadline: 4.6 s
 *    of CPU on a page of grain, where the words took 0.3 s. ocr/library.py gives each pass with a
 *    CPU limit a budget on its thread (``cpu_budget``); a pass past it by then would be skipped
 *    anyway (its CPU can only grow), so its paragraphs are not looked for, and ocr/library.py
 *    skips it without reading its page (``paragraphs_skipped()``). Any other call is Tesseract's.
 *
 * ``regions()``, ``stored_lines()``, ``raw_lines()``, ``pads_set()`` and ``universal_skipped()``
 * (Python) count, on the calling thread, the OpenMP regions run here, the line images written at
 * level 0 and those kept raw, the images whose pad bits were set here and the universal tables
 * not built; ``network_is_ours()``,
 * ``convolutions()`` and ``network_code()`` say whether ocr/tesseract_network.c runs the network's
 * bookkeeping, how many convolution layers it ran on this thread, and the code it found: the tests
 * use them to see that libtesseract's calls really come here (and ``pages_cut()``, the pages
 * ocr/tesseract_threshold.c cut, ``matrix_products()``, the weight products
 * ocr/tesseract_matrix.c ran, ``lstm_lines()`` and ``maxpool_lines()``, the LSTM and max-pool
 * layers ocr/tesseract_layers.c ran).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <dlfcn.h>
#include <leptonica/allheaders.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tesseract_network.h"

/* --- OpenMP ---------------------------------------------------------------------------------- */

static __thread unsigned next_section, sections_count; /* the sections of this thread's region */
static __thread unsigned long regions_run;

void GOMP_parallel(void (*body)(void *), void *data, unsigned num_threads, unsigned flags) {
    (void)num_threads;
    (void)flags;
    regions_run++;
    body(data);
}

void GOMP_parallel_sections(void (*body)(void *), void *data, unsigned num_threads, unsigned count,
                            unsigned flags) {
    unsigned outer_next = next_section, outer_count = sections_count; /* a region inside a section */
    (void)num_threads;
    (void)flags;
    regions_run++;
    if (network_lstm_gates(body, data)) { /* ocr/tesseract_network.c: the LSTM's four gates */
        return;
    }
    next_section = 1;
    sections_count = count;
    body(data); /* it asks GOMP_sections_next for each section until it gets 0 */
    next_section = outer_next;
    sections_count = outer_count;
}

unsigned GOMP_sections_next(void) {
    if (next_section == 0 || next_section > sections_count) {
        return 0;
    }
    return next_section++;
}

void GOMP_sections_end_nowait(void) {}

/* --- Leptonica --------------------------------------------------------------------------------- */

static __thread unsigned long lines_stored;

/* Where libtesseract's code is (ocr/tesseract_network.c finds it), found once (dladdr on every
 * call cost 0.8 % of a run), and looked for again while libtesseract is not loaded yet (a first
 * caller from elsewhere). A libtesseract of another name is never found: nothing is changed then. */
static uintptr_t tesseract_code_start, tesseract_code_end;
static int tesseract_found;
static pthread_mutex_t tesseract_looking = PTHREAD_MUTEX_INITIALIZER;

static int in_tesseract(void *address) {
    if (!__atomic_load_n(&tesseract_found, __ATOMIC_ACQUIRE)) {
        pthread_mutex_lock(&tesseract_looking);
        if (!tesseract_found && libtesseract_loaded(NULL, &tesseract_code_start, &tesseract_code_end)) {
            __atomic_store_n(&tesseract_found, 1, __ATOMIC_RELEASE);
        }
        pthread_mutex_unlock(&tesseract_looking);
        if (!__atomic_load_n(&tesseract_found, __ATOMIC_ACQUIRE)) {
            return 0;
        }
    }
    return (uintptr_t)address >= tesseract_code_start && (uintptr_t)address < tesseract_code_end;
}

/* Leptonica's own pixWriteMem: this module links Leptonica, so it comes next in the global scope. */
static l_ok (*leptonica_write)(l_uint8 **, size_t *, PIX *, l_int32);
static pthread_once_t leptonica_found = PTHREAD_ONCE_INIT;

static void find_leptonica_write(void) {
    leptonica_write = (l_ok(*)(l_uint8 **, size_t *, PIX *, l_int32))dlsym(RTLD_NEXT, "pixWriteMem");
}

/* Where ImageData::SetPixInternal and GetPixInternal are: their pixWriteMem and pixReadMem calls
 * keep a line raw. Found once libtesseract has called (so it is loaded); a build without them, or
 * with other names, keeps every line a PNG. */
typedef struct {
    uintptr_t start, end;
} Range;
static Range set_pix, get_pix;
static pthread_once_t image_data_found = PTHREAD_ONCE_INIT;

static Range function_range(const char *name) {
    size_t size = 0;
    const uintptr_t start = (uintptr_t)tesseract_own(name, &size);
    return (Range){start, start + size};
}

static void find_image_data(void) {
    set_pix = function_range("_ZN9tesseract9ImageData14SetPixInternalENS_5ImageEPSt6vectorIcSaIcEE");
    get_pix = function_range("_ZN9tesseract9ImageData14GetPixInternalERKSt6vectorIcSaIcEE");
}

static int called_from(const Range *range, void *address) {
    if (!in_tesseract(address)) {
        return 0;
    }
    pthread_once(&image_data_found, find_image_data);
    return (uintptr_t)address >= range->start && (uintptr_t)address < range->end;
}

/* A line image kept raw: this head, then the pixel words as the PNG would give them back. */
static const char raw_magic[16] = "tgmonitor:raw8\n"; /* never the start of an image format */
typedef struct {
    char magic[16];
    int32_t width, height, xres, yres;
} RawHead;

static __thread unsigned long lines_raw;

/* The resolution pixReadMem gives back from the PNG pixWriteMem writes (Leptonica 1.82's pngio.c):
 * pixels per metre, rounded, or none when either is 0; then pixels per inch, rounded again. */
static void png_resolution(l_int32 xres, l_int32 yres, int32_t *back_x, int32_t *back_y) {
    uint32_t x_ppm = (uint32_t)(39.37 * (l_float32)xres + 0.5), y_ppm = (uint32_t)(39.37 * (l_float32)yres + 0.5);
    if (x_ppm == 0 || y_ppm == 0) {
        x_ppm = y_ppm = 0;
    }
    *back_x = (l_int32)((l_float32)x_ppm / 39.37 + 0.5);
    *back_y = (l_int32)((l_float32)y_ppm / 39.37 + 0.5);
}

/* ``pix`` as a raw line, if it is one the PNG gives back plainly: 8 bpp grey without a colormap
 * or text (Tesseract's line images: GetRectImage makes them 8 bpp, from a page never colormapped).
 * The pad bits are cleared, as in the image pixReadMem makes from the PNG. */
static int write_raw(l_uint8 **pdata, size_t *psize, PIX *pix) {
    l_int32 width, height, depth;
    if (pixGetDimensions(pix, &width, &height, &depth) != 0 || depth != 8 || pixGetColormap(pix) != NULL ||
        pixGetText(pix) != NULL || width <= 0 || height <= 0 || pixGetXRes(pix) < 0 || pixGetYRes(pix) < 0) {
        return 0;
    }
    const l_int32 wpl = pixGetWpl(pix);
    const size_t body = (size_t)height * (size_t)wpl * 4;
    RawHead head = {.width = width, .height = height};
    memcpy(head.magic, raw_magic, sizeof head.magic);
    png_resolution(pixGetXRes(pix), pixGetYRes(pix), &head.xres, &head.yres);
    l_uint8 *data = malloc(sizeof head + body); /* freed by the caller with lept_free (free) */
    if (data == NULL) {
        return 0;
    }
    memcpy(data, &head, sizeof head);
    l_uint32 *words = (l_uint32 *)(data + sizeof head);
    memcpy(words, pixGetData(pix), body);
    if (width % 4 != 0) { /* the low bits of each row's last word: Leptonica's pad */
        const uint32_t pad = (1u << (32 - (width * 8) % 32)) - 1;
        for (l_int32 row = 0; row < height; row++) {
            words[(size_t)row * wpl + wpl - 1] &= ~pad;
        }
    }
    *pdata = data;
    *psize = sizeof head + body;
    lines_raw++;
    return 1;
}

/* The image pixReadMem makes of the PNG of that line: the same words, size and resolution, one
 * sample per pixel, input format PNG. NULL if ``data`` is not a whole raw line. */
static PIX *read_raw(const l_uint8 *data, size_t size) {
    RawHead head;
    if (size < sizeof head) {
        return NULL;
    }
    memcpy(&head, data, sizeof head);
    if (memcmp(head.magic, raw_magic, sizeof head.magic) != 0 || head.width <= 0 || head.height <= 0) {
        return NULL;
    }
    PIX *pix = pixCreateNoInit(head.width, head.height, 8);
    if (pix == NULL) {
        return NULL;
    }
    const size_t body = (size_t)head.height * (size_t)pixGetWpl(pix) * 4;
    if (size != sizeof head + body) {
        pixDestroy(&pix);
        return NULL;
    }
    memcpy(pixGetData(pix), data + sizeof head, body);
    pixSetXRes(pix, head.xres);
    pixSetYRes(pix, head.yres);
    pixSetInputFormat(pix, IFF_PNG);
    return pix;
}

l_ok pixWriteMem(l_uint8 **pdata, size_t *psize, PIX *pix, l_int32 format) {
    pthread_once(&leptonica_found, find_leptonica_write);
    if (leptonica_write == NULL) {
        return 1; /* Leptonica's failure value: no image written */
    }
    if (format == IFF_PNG && pix != NULL && pdata != NULL && psize != NULL &&
        in_tesseract(__builtin_return_address(0))) {
        if (called_from(&set_pix, __builtin_return_address(0)) && write_raw(pdata, psize, pix)) {
            return 0;
        }
        pixSetSpecial(pix, 10); /* Leptonica's way to ask for zlib level 10 - 10 = 0 */
        lines_stored++;
    }
    return leptonica_write(pdata, psize, pix, format);
}

/* Leptonica's own pixReadMem, for everything but a raw line read back by GetPixInternal. */
static PIX *(*leptonica_read)(const l_uint8 *, size_t);
static pthread_once_t leptonica_read_found = PTHREAD_ONCE_INIT;

static void find_leptonica_read(void) {
    leptonica_read = (PIX * (*)(const l_uint8 *, size_t)) dlsym(RTLD_NEXT, "pixReadMem");
}

PIX *pixReadMem(const l_uint8 *data, size_t size) {
    if (data != NULL && called_from(&get_pix, __builtin_return_address(0))) {
        PIX *pix = read_raw(data, size);
        if (pix != NULL) {
            return pix;
        }
    }
    pthread_once(&leptonica_read_found, find_leptonica_read);
    return leptonica_read != NULL ? leptonica_read(data, size) : NULL;
}

/* Leptonica's pixSetPadBits, the same bits set, each row's last word changed by one write access. */
static __thread unsigned long pads_written;
static l_ok (*leptonica_pad)(PIX *, l_int32);
static pthread_once_t leptonica_pad_found = PTHREAD_ONCE_INIT;

static void find_leptonica_pad(void) { leptonica_pad = (l_ok(*)(PIX *, l_int32))dlsym(RTLD_NEXT, "pixSetPadBits"); }

l_ok pixSetPadBits(PIX *pix, l_int32 val) {
    l_int32 width, height, depth;
    if (pix == NULL || pixGetDimensions(pix, &width, &height, &depth) != 0 || depth == 24) {
        pthread_once(&leptonica_pad_found, find_leptonica_pad); /* its own messages and answers */
        return leptonica_pad != NULL ? leptonica_pad(pix, val) : 1;
    }
    if (depth == 32) { /* no padding at 32 bpp */
        return 0;
    }
    const int64_t row_bits = (int64_t)width * depth;
    const int pad = 32 - (int)(row_bits % 32);
    if (pad == 32) { /* the rows end on a word */
        return 0;
    }
    const uint32_t pad_mask = (1u << pad) - 1; /* Leptonica's rmask32[pad]: the word's low bits */
    l_uint32 *last = pixGetData(pix) + row_bits / 32;
    const l_int32 wpl = pixGetWpl(pix);
    for (l_int32 row = 0; row < height; row++, last += wpl) {
        if (val == 0) {
            __atomic_fetch_and(last, ~pad_mask, __ATOMIC_RELAXED);
        } else {
            __atomic_fetch_or(last, pad_mask, __ATOMIC_RELAXED);
        }
    }
    pads_written++;
    return 0;
}

/* --- Tesseract's universal ambiguities ------------------------------------------------------- */

static __thread unsigned long universal_not_built;

/* void tesseract::UnicharAmbigs::LoadUniversal(const UNICHARSET &encoder_set, UNICHARSET *unicharset) */
void _ZN9tesseract13UnicharAmbigs13LoadUniversalERKNS_10UNICHARSETEPS1_(void *self, const void *encoder_set,
                                                                      void *unicharset) {
    (void)self;
    (void)encoder_set;
    (void)unicharset;
    universal_not_built++;
}

/* --- Paragraphs of a pass already over its CPU seconds ----------------------------------------- */

/* The thread CPU time (seconds) past which this thread's Recognize is over its budget; 0: none.
 * ocr/library.py sets it around a Recognize with a CPU limit (``cpu_budget``). */
static __thread double budget_end;
static __thread unsigned long paragraphs_not_found;
static void (*tesseract_paragraphs)(void *, _Bool);
static pthread_once_t paragraphs_found = PTHREAD_ONCE_INIT;

static double thread_cpu_seconds(void) {
    struct timespec now;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

static void find_paragraphs(void) {
    tesseract_paragraphs = (void (*)(void *, _Bool))tesseract_own("_ZN9tesseract11TessBaseAPI16DetectParagraphsEb", NULL);
}

/* void TessBaseAPI::DetectParagraphs(bool after_text_recognition). Recognize runs it once every
 * word is read, and it looks at no deadline: on a page of grain (thousands of one-line "words")
 * it walks the page for 4.6 s of CPU. A pass whose thread is already past its CPU budget here is
 * skipped by ocr/library.py whatever its paragraphs (its CPU at the end can only be more), so they
 * are not looked for; ``paragraphs_skipped()`` counts it, and ocr/library.py then skips the pass
 * without reading its page. Every other call is Tesseract's own. */
void _ZN9tesseract11TessBaseAPI16DetectParagraphsEb(void *api, _Bool after_text_recognition) {
    if (budget_end > 0 && thread_cpu_seconds() > budget_end) {
        paragraphs_not_found++;
        return;
    }
    pthread_once(&paragraphs_found, find_paragraphs);
    if (tesseract_paragraphs != NULL) {
        tesseract_paragraphs(api, after_text_recognition);
    }
}

/* cpu_budget(seconds): this thread's Recognize calls from now on are over budget past ``seconds``
 * more of its CPU time; 0 or less: no budget. */
static PyObject *cpu_budget(PyObject *self, PyObject *arg) {
    (void)self;
    const double seconds = PyFloat_AsDouble(arg);
    if (seconds == -1.0 && PyErr_Occurred()) {
        return NULL;
    }
    budget_end = seconds > 0 ? thread_cpu_seconds() + seconds : 0;
    Py_RETURN_NONE;
}

/* --- Python ------------------------------------------------------------------------------------ */

/* A Python function of no arguments that returns ``value`` (a count, or a truth) */
#define ANSWER(function, make, value)                                                                  \
    static PyObject *function(PyObject *self, PyObject *unused) {                                      \
        (void)self;                                                                                    \
        (void)unused;                                                                                  \
        return make(value);                                                                            \
    }

ANSWER(regions, PyLong_FromUnsignedLong, regions_run)
ANSWER(stored_lines, PyLong_FromUnsignedLong, lines_stored)
ANSWER(raw_lines, PyLong_FromUnsignedLong, lines_raw)
ANSWER(pads_set, PyLong_FromUnsignedLong, pads_written)
ANSWER(universal_skipped, PyLong_FromUnsignedLong, universal_not_built)
ANSWER(paragraphs_skipped, PyLong_FromUnsignedLong, paragraphs_not_found)
ANSWER(network_is_ours_py, PyBool_FromLong, network_is_ours())
ANSWER(convolutions, PyLong_FromUnsignedLong, network_windows_run())
ANSWER(lstm_steps, PyLong_FromUnsignedLong, network_gates_run())
ANSWER(pages_cut, PyLong_FromUnsignedLong, threshold_pages_cut())
ANSWER(matrix_products, PyLong_FromUnsignedLong, matrix_products_run())
ANSWER(lstm_lines, PyLong_FromUnsignedLong, lstm_lines_run())
ANSWER(maxpool_lines, PyLong_FromUnsignedLong, maxpool_lines_run())

/* raw_line_like_png(width, height, xres, yres, seed): whether a line kept raw comes back as the
 * image Leptonica makes of its PNG (written at level 0 and read, as libtesseract's were): size,
 * depth, samples, resolution, input format, no colormap or text, and every word, pad bits too.
 * The line's words, pad bits included, are a pseudo-random pattern of ``seed``. */
static PyObject *raw_line_like_png(PyObject *self, PyObject *args) {
    (void)self;
    int width, height, xres, yres;
    unsigned int seed;
    if (!PyArg_ParseTuple(args, "iiiiI", &width, &height, &xres, &yres, &seed)) {
        return NULL;
    }
    pthread_once(&leptonica_found, find_leptonica_write);
    pthread_once(&leptonica_read_found, find_leptonica_read);
    PIX *line = width > 0 && height > 0 ? pixCreate(width, height, 8) : NULL;
    if (line == NULL || leptonica_write == NULL || leptonica_read == NULL) {
        pixDestroy(&line);
        PyErr_SetString(PyExc_ValueError, "no line of that size, or no Leptonica");
        return NULL;
    }
    l_uint32 *words = pixGetData(line);
    const size_t count = (size_t)height * (size_t)pixGetWpl(line);
    for (size_t i = 0; i < count; i++) {
        seed = seed * 1664525u + 1013904223u;
        words[i] = seed;
    }
    pixSetXRes(line, xres);
    pixSetYRes(line, yres);
    l_uint8 *png = NULL, *raw = NULL;
    size_t png_size = 0, raw_size = 0;
    /* raw first: Leptonica's PNG writer clears the line's own pad bits */
    PIX *from_raw = write_raw(&raw, &raw_size, line) ? read_raw(raw, raw_size) : NULL;
    pixSetSpecial(line, 10);
    PIX *from_png = leptonica_write(&png, &png_size, line, IFF_PNG) == 0 ? leptonica_read(png, png_size) : NULL;
    int same = from_png != NULL && from_raw != NULL && pixGetWidth(from_raw) == pixGetWidth(from_png) &&
               pixGetHeight(from_raw) == pixGetHeight(from_png) && pixGetDepth(from_raw) == pixGetDepth(from_png) &&
               pixGetSpp(from_raw) == pixGetSpp(from_png) && pixGetWpl(from_raw) == pixGetWpl(from_png) &&
               pixGetXRes(from_raw) == pixGetXRes(from_png) && pixGetYRes(from_raw) == pixGetYRes(from_png) &&
               pixGetInputFormat(from_raw) == pixGetInputFormat(from_png) && pixGetColormap(from_png) == NULL &&
               pixGetColormap(from_raw) == NULL && pixGetText(from_png) == NULL && pixGetText(from_raw) == NULL &&
               memcmp(pixGetData(from_raw), pixGetData(from_png), count * 4) == 0;
    free(png);
    free(raw);
    pixDestroy(&from_png);
    pixDestroy(&from_raw);
    pixDestroy(&line);
    return PyBool_FromLong(same);
}

static PyObject *network_code_py(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    PyObject *out = PyList_New(0);
    const char *name;
    uint64_t found, expected;
    for (int i = 0; out != NULL && network_code(i, &name, &found, &expected); i++) {
        PyObject *row = Py_BuildValue("(sKK)", name, (unsigned long long)found, (unsigned long long)expected);
        if (row == NULL || PyList_Append(out, row) < 0) {
            Py_XDECREF(row);
            Py_CLEAR(out);
            break;
        }
        Py_DECREF(row);
    }
    return out;
}

static PyMethodDef methods[] = {
    {"regions", regions, METH_NOARGS, "OpenMP regions run here on the calling thread."},
    {"stored_lines", stored_lines, METH_NOARGS,
     "Tesseract's line images written at zlib level 0 on the calling thread."},
    {"raw_lines", raw_lines, METH_NOARGS, "Tesseract's line images kept raw (no PNG) on the calling thread."},
    {"raw_line_like_png", raw_line_like_png, METH_VARARGS,
     "raw_line_like_png(width, height, xres, yres, seed): whether a line kept raw comes back as its PNG would."},
    {"pads_set", pads_set, METH_NOARGS, "Images whose pad bits were set here on the calling thread."},
    {"universal_skipped", universal_skipped, METH_NOARGS,
     "Universal ambiguity tables not built on the calling thread."},
    {"cpu_budget", cpu_budget, METH_O,
     "cpu_budget(seconds): this thread's passes are over budget past that much more CPU time (0: none)."},
    {"paragraphs_skipped", paragraphs_skipped, METH_NOARGS,
     "Paragraph detections skipped on the calling thread, its pass over its CPU budget."},
    {"network_is_ours", network_is_ours_py, METH_NOARGS,
     "Whether ocr/tesseract_network.c runs the LSTM network's bookkeeping (the build it knows)."},
    {"convolutions", convolutions, METH_NOARGS,
     "Convolution layers run by ocr/tesseract_network.c on the calling thread."},
    {"lstm_steps", lstm_steps, METH_NOARGS,
     "LSTM time steps whose gates ocr/tesseract_network.c ran on the calling thread."},
    {"pages_cut", pages_cut, METH_NOARGS,
     "Pages ocr/tesseract_threshold.c cut into ink and paper on the calling thread."},
    {"matrix_products", matrix_products, METH_NOARGS,
     "Weight products ocr/tesseract_matrix.c ran with VNNI on the calling thread."},
    {"lstm_lines", lstm_lines, METH_NOARGS,
     "LSTM layers ocr/tesseract_layers.c ran over a line on the calling thread."},
    {"maxpool_lines", maxpool_lines, METH_NOARGS,
     "Max-pool layers ocr/tesseract_layers.c ran over a line on the calling thread."},
    {"network_code", network_code_py, METH_NOARGS,
     "(name, hash of its code as loaded, as expected) of each libtesseract function "
     "ocr/tesseract_network.c replaces or calls."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_tesseract_calls", NULL, -1, methods};

PyMODINIT_FUNC PyInit__tesseract_calls(void) { return PyModule_Create(&module); }
