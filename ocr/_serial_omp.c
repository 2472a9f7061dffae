/* Tesseract's OpenMP regions run on the thread that enters them, without libgomp's team of one.
 *
 * Why: Tesseract's LSTM enters an OpenMP region (``parallel sections``, ``parallel for``) at
 * every time step of every layer of every line it reads. We read with OMP_THREAD_LIMIT=1 (our
 * own threads run the passes side by side, ocr/library.py says why), so libgomp makes a team of
 * one thread for each region and, at its end, wakes the team's waiters with a futex system call
 * although there are none: 370,000-650,000 system calls for one poster, a tenth of a second of
 * system time, and the team's allocations. Measured on 15 real images in ``check --image``: 4.7 %
 * less CPU and 4.6 % less wall time, with the same output.
 *
 * How: ocr/library.py loads this module with RTLD_GLOBAL before tesserocr loads libtesseract, so
 * the dynamic linker binds libtesseract's calls to GOMP_parallel, GOMP_parallel_sections,
 * GOMP_sections_next and GOMP_sections_end_nowait here (the global scope is searched before a
 * library's own dependencies). These do what libgomp does for a team of one: run the region's
 * body once, on this thread, and hand it the sections in order. The arithmetic is the same, in
 * the same order, so the readings are the same (tests/ocr/test_library.py holds the library's
 * pages against the ``tesseract`` command's, which uses libgomp itself). omp_get_num_threads and
 * omp_get_thread_num stay libgomp's: outside a team they say 1 and 0, as inside a team of one.
 * A library loaded later that uses OpenMP has its regions run the same way, which is what
 * OMP_THREAD_LIMIT=1 already made of them.
 *
 * ``regions()`` (Python) counts the regions run here on the calling thread: the tests use it to
 * see that Tesseract's calls really come here.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

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

static PyObject *regions(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    return PyLong_FromUnsignedLong(regions_run);
}

static PyMethodDef methods[] = {
    {"regions", regions, METH_NOARGS, "OpenMP regions run here on the calling thread."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_serial_omp", NULL, -1, methods};

PyMODINIT_FUNC PyInit__serial_omp(void) { return PyModule_Create(&module); }
