/* Four of libtesseract's calls made cheaper, with the same results (and, in
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
 * 2. Line images kept uncompressed. Tesseract keeps the image of each line it recognises as a
 *    PNG (ImageData::SetPixInternal writes it with pixWriteMem, and the recogniser decodes it
 *    again at once with pixReadMem), compressed by zlib at its default level: 2 % of a run's
 *    CPU was zlib. For libtesseract's own calls, pixWriteMem here asks Leptonica for the same
 *    PNG at zlib level 0 (``pixSetSpecial(pix, 10)``, Leptonica's way to pass the level; the pix
 *    is destroyed right after): the same pixels come back, stored instead of deflated. Every
 *    other caller (tesserocr, Leptonica itself) gets Leptonica's pixWriteMem untouched.
 *    Measured on the same 15 images: 2.3 % less CPU, 1.8 % less wall time.
 *
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
 * ``regions()``, ``stored_lines()``, ``pads_set()`` and ``universal_skipped()`` (Python) count, on
 * the calling thread, the OpenMP regions run here, the line images written at level 0, the images
 * whose pad bits were set here and the universal tables not built; ``network_is_ours()``,
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
#include <string.h>

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

l_ok pixWriteMem(l_uint8 **pdata, size_t *psize, PIX *pix, l_int32 format) {
    pthread_once(&leptonica_found, find_leptonica_write);
    if (leptonica_write == NULL) {
        return 1; /* Leptonica's failure value: no image written */
    }
    if (format == IFF_PNG && pix != NULL && in_tesseract(__builtin_return_address(0))) {
        pixSetSpecial(pix, 10); /* Leptonica's way to ask for zlib level 10 - 10 = 0 */
        lines_stored++;
    }
    return leptonica_write(pdata, psize, pix, format);
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
ANSWER(pads_set, PyLong_FromUnsignedLong, pads_written)
ANSWER(universal_skipped, PyLong_FromUnsignedLong, universal_not_built)
ANSWER(network_is_ours_py, PyBool_FromLong, network_is_ours())
ANSWER(convolutions, PyLong_FromUnsignedLong, network_windows_run())
ANSWER(lstm_steps, PyLong_FromUnsignedLong, network_gates_run())
ANSWER(pages_cut, PyLong_FromUnsignedLong, threshold_pages_cut())
ANSWER(matrix_products, PyLong_FromUnsignedLong, matrix_products_run())
ANSWER(lstm_lines, PyLong_FromUnsignedLong, lstm_lines_run())
ANSWER(maxpool_lines, PyLong_FromUnsignedLong, maxpool_lines_run())

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
    {"pads_set", pads_set, METH_NOARGS, "Images whose pad bits were set here on the calling thread."},
    {"universal_skipped", universal_skipped, METH_NOARGS,
     "Universal ambiguity tables not built on the calling thread."},
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
