/* Connected components of a binary image, for line finding, the hollow-letter masks and the
 * digit reader (ocr/components.py wraps it).
 *
 * Why native code: scipy.ndimage did this, and importing it took 0.15 s of every
 * ``tgmonitor check --image`` (scipy's array-API layer imports numpy.f2py, numpy.testing...),
 * more than its labelling; one pass here also gives each component's box and area, which took
 * a second scan (``find_objects``, ``bincount``).
 *
 * ``label(mask, width, height, connectivity)``: ``mask`` is ``width * height`` bytes, row after
 * row, non-zero for a pixel that is set; ``connectivity`` 4 (edges) or 8 (edges and corners).
 * Returns ``(labels, count, stats)``: ``labels`` a bytearray of ``width * height`` int32, 0 for
 * the background and 1..count for the components, numbered in the order of their first pixel
 * row after row (scipy.ndimage.label's numbering); ``stats`` a bytearray of ``count * 5`` int64,
 * per component: top, bottom (exclusive), left, right (exclusive), area.
 *
 * Two passes over the runs of set pixels of each row, with union-find: provisional labels are made
 * in the order of the runs that start them, and a component's first pixel always starts one (no
 * earlier pixel of it is a neighbour), so the smallest provisional label of a component, kept as
 * its root, is its first run's; numbering the roots in order gives scipy's numbering. Runs, not
 * pixels: a mask of letters is mostly empty rows and gaps, skipped eight bytes at a time, and the
 * labels, boxes and areas are written a run at a time (5 -> 2 ms a mask of a 1600 px poster).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int32_t root_of(int32_t *parent, int32_t label) {
    int32_t root = label;
    while (parent[root] != root) {
        root = parent[root];
    }
    while (parent[label] != root) { /* path compression */
        int32_t next = parent[label];
        parent[label] = root;
        label = next;
    }
    return root;
}

/* The provisional label of the current pixel, joining the neighbours' sets: the smaller root wins. */
static int32_t join(int32_t *parent, int32_t a, int32_t b) {
    if (a == 0) {
        return b == 0 ? 0 : root_of(parent, b);
    }
    int32_t ra = root_of(parent, a);
    if (b == 0) {
        return ra;
    }
    int32_t rb = root_of(parent, b);
    if (ra < rb) {
        parent[rb] = ra;
        return ra;
    }
    parent[ra] = rb;
    return rb;
}

/* The next set byte of ``row`` at or after ``x`` (``width`` if none), eight bytes at a time. */
static Py_ssize_t next_set(const uint8_t *row, Py_ssize_t x, Py_ssize_t width) {
    while (x < width && ((uintptr_t)(row + x) & 7) != 0) {
        if (row[x]) {
            return x;
        }
        x++;
    }
    for (; x + 8 <= width; x += 8) {
        uint64_t word;
        memcpy(&word, row + x, 8);
        if (word != 0) {
            break;
        }
    }
    while (x < width && !row[x]) {
        x++;
    }
    return x;
}

static Py_ssize_t next_clear(const uint8_t *row, Py_ssize_t x, Py_ssize_t width) {
    while (x < width && row[x]) {
        x++;
    }
    return x;
}

typedef struct {
    int32_t start, end; /* [start, end) of one row */
    int32_t label;      /* provisional, then final */
} Run;

static PyObject *label(PyObject *self, PyObject *args) {
    Py_buffer mask;
    Py_ssize_t width, height;
    int connectivity;
    if (!PyArg_ParseTuple(args, "y*nni", &mask, &width, &height, &connectivity)) {
        return NULL;
    }
    if (connectivity != 4 && connectivity != 8) {
        PyBuffer_Release(&mask);
        return PyErr_Format(PyExc_ValueError, "connectivity must be 4 or 8, not %d", connectivity);
    }
    if (width < 0 || height < 0 || (height > 0 && width > INT32_MAX / height) ||
        mask.len != width * height) {
        PyBuffer_Release(&mask);
        return PyErr_Format(PyExc_ValueError, "a %zd x %zd mask needs %zd bytes, not %zd", width, height,
                            width * height, mask.len);
    }
    Py_ssize_t n = width * height;
    PyObject *labels_out = PyByteArray_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(int32_t));
    /* runs: at most one per two pixels of a row, plus one; each run at most one provisional label */
    size_t most = (size_t)n / 2 + (size_t)height + 1;
    Run *runs = malloc(most * sizeof(Run));
    Py_ssize_t *row_runs = malloc(((size_t)height + 1) * sizeof(Py_ssize_t)); /* first run of each row */
    int32_t *parent = malloc((most + 1) * sizeof(int32_t));
    int32_t *final = malloc((most + 1) * sizeof(int32_t));
    if (labels_out == NULL || runs == NULL || row_runs == NULL || parent == NULL || final == NULL) {
        Py_XDECREF(labels_out);
        free(runs);
        free(row_runs);
        free(parent);
        free(final);
        PyBuffer_Release(&mask);
        return PyErr_NoMemory();
    }
    const uint8_t *set = mask.buf;
    int32_t *labels = (int32_t *)PyByteArray_AS_STRING(labels_out);
    int32_t made = 0, count = 0;
    const int reach = connectivity == 8; /* a run touches the runs above it that far past its ends */
    Py_ssize_t total = 0;

    Py_BEGIN_ALLOW_THREADS
    /* Pass 1: the runs of set pixels of each row, each labelled as the runs above it that it
     * touches (their sets joined, the smaller root kept), or with a new label. A component's first
     * pixel (row after row) starts its first run, whose label is the smallest of the component:
     * numbering the roots in order gives scipy.ndimage.label's numbering, as pixel by pixel. */
    parent[0] = 0;
    for (Py_ssize_t y = 0; y < height; y++) {
        const uint8_t *row = set + y * width;
        row_runs[y] = total;
        Py_ssize_t above = y > 0 ? row_runs[y - 1] : total, above_end = y > 0 ? row_runs[y] : total;
        for (Py_ssize_t x = next_set(row, 0, width); x < width; x = next_set(row, x, width)) {
            Py_ssize_t end = next_clear(row, x, width);
            int32_t found = 0;
            /* runs above that end before this one begins (less the corner) touch no later run */
            while (above < above_end && runs[above].end + reach <= x) {
                above++;
            }
            for (Py_ssize_t a = above; a < above_end && runs[a].start < end + reach; a++) {
                found = join(parent, found, runs[a].label);
            }
            if (found == 0) {
                found = ++made;
                parent[found] = found;
            }
            runs[total++] = (Run){(int32_t)x, (int32_t)end, found};
            x = end;
        }
    }
    row_runs[height] = total;
    final[0] = 0;
    for (int32_t l = 1; l <= made; l++) {
        final[l] = parent[l] == l ? ++count : final[root_of(parent, l)];
    }
    /* Pass 2: the labels image, run by run */
    for (Py_ssize_t y = 0; y < height; y++) {
        int32_t *here = labels + y * width;
        memset(here, 0, (size_t)width * sizeof(int32_t));
        for (Py_ssize_t r = row_runs[y]; r < row_runs[y + 1]; r++) {
            runs[r].label = final[runs[r].label];
            for (int32_t x = runs[r].start; x < runs[r].end; x++) {
                here[x] = runs[r].label;
            }
        }
    }
    Py_END_ALLOW_THREADS

    free(parent);
    free(final);
    PyBuffer_Release(&mask);
    PyObject *stats_out = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)count * 5 * (Py_ssize_t)sizeof(int64_t));
    if (stats_out == NULL) {
        Py_DECREF(labels_out);
        free(runs);
        free(row_runs);
        return NULL;
    }
    int64_t *stats = (int64_t *)PyByteArray_AS_STRING(stats_out);
    Py_BEGIN_ALLOW_THREADS
    for (int32_t c = 0; c < count; c++) {
        int64_t *s = stats + 5 * (Py_ssize_t)c;
        s[0] = height;
        s[1] = 0;
        s[2] = width;
        s[3] = 0;
        s[4] = 0;
    }
    for (Py_ssize_t y = 0; y < height; y++) { /* each component's box and area, run by run */
        for (Py_ssize_t r = row_runs[y]; r < row_runs[y + 1]; r++) {
            int64_t *s = stats + 5 * (Py_ssize_t)(runs[r].label - 1);
            if (y < s[0]) s[0] = y;
            if (y + 1 > s[1]) s[1] = y + 1;
            if (runs[r].start < s[2]) s[2] = runs[r].start;
            if (runs[r].end > s[3]) s[3] = runs[r].end;
            s[4] += runs[r].end - runs[r].start;
        }
    }
    Py_END_ALLOW_THREADS
    free(runs);
    free(row_runs);
    return Py_BuildValue("(NiN)", labels_out, count, stats_out);
}

/* Whether piece b, ``gap`` pixels right of piece a, is on a's line: ``ocr.lines._linked``'s rules,
 * in the same double arithmetic, so the lines found are the same. */
static int linked(const int64_t *top, const int64_t *bottom, const uint8_t *flat, Py_ssize_t a,
                  Py_ssize_t b, double gap) {
    if (flat[a] || flat[b]) {
        if (flat[a] && flat[b]) {
            return 0;
        }
        Py_ssize_t bar = flat[a] ? a : b, other = flat[a] ? b : a;
        double middle = (double)(top[bar] + bottom[bar]) / 2;
        double height = (double)(bottom[other] - top[other]);
        double slack = 0.2 * height;
        return (double)top[other] - slack <= middle && middle <= (double)bottom[other] + slack &&
               gap <= 0.8 * height;
    }
    int64_t overlap = (bottom[a] < bottom[b] ? bottom[a] : bottom[b]) - (top[a] > top[b] ? top[a] : top[b]);
    int64_t ha = bottom[a] - top[a], hb = bottom[b] - top[b];
    int64_t low = ha <= hb ? ha : hb, high = ha <= hb ? hb : ha;
    return (double)overlap >= 0.3 * (double)low && high <= 3 * low;
}

/* ``chain(top, bottom, left, right, flat, min_height)``: the pieces of one mask (int64 arrays, and
 * a byte per piece, sorted by their left edge) grouped into lines: for each piece, the index of
 * the first piece of its group. ``ocr.lines._chain`` says why each rule. Why native: the pairs
 * tested are tens of thousands per mask on a grainy poster, 0.06 s of Python per image. */
static PyObject *chain(PyObject *self, PyObject *args) {
    Py_buffer top_b, bottom_b, left_b, right_b, flat_b;
    long long min_height;
    if (!PyArg_ParseTuple(args, "y*y*y*y*y*L", &top_b, &bottom_b, &left_b, &right_b, &flat_b, &min_height)) {
        return NULL;
    }
    Py_buffer *all[] = {&top_b, &bottom_b, &left_b, &right_b, &flat_b};
    Py_ssize_t n = flat_b.len;
    PyObject *out = NULL;
    if (top_b.len != n * 8 || bottom_b.len != n * 8 || left_b.len != n * 8 || right_b.len != n * 8 ||
        n > INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "chain needs four int64 arrays and one byte array of the same length");
        goto done;
    }
    out = PyByteArray_FromStringAndSize(NULL, n * (Py_ssize_t)sizeof(int32_t));
    if (out == NULL) {
        goto done;
    }
    int32_t *parent = (int32_t *)PyByteArray_AS_STRING(out);
    const int64_t *top = top_b.buf, *bottom = bottom_b.buf, *left = left_b.buf, *right = right_b.buf;
    const uint8_t *flat = flat_b.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        parent[i] = (int32_t)i;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        /* how far right a neighbour may start: half the width of a bar, else the height */
        double reach_a = flat[i] ? (double)(right[i] - left[i]) / 2 : (double)(bottom[i] - top[i]);
        double beyond = (double)right[i] + 4 * (reach_a > (double)min_height ? reach_a : (double)min_height);
        for (Py_ssize_t j = i + 1; j < n; j++) {
            double reach_b = flat[j] ? (double)(right[j] - left[j]) / 2 : (double)(bottom[j] - top[j]);
            double gap = (double)(left[j] - right[i]);
            if (gap > 1.5 * (reach_a >= reach_b ? reach_a : reach_b)) {
                if ((double)left[j] > beyond) {
                    break; /* sorted by left edge: no later piece starts nearer */
                }
                continue;
            }
            if (linked(top, bottom, flat, i, j, gap)) {
                int32_t ri = root_of(parent, (int32_t)i), rj = root_of(parent, (int32_t)j);
                if (ri != rj) {
                    parent[ri > rj ? ri : rj] = ri < rj ? ri : rj; /* the first piece stays the root */
                }
            }
        }
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        parent[i] = root_of(parent, (int32_t)i);
    }
    Py_END_ALLOW_THREADS
done:
    for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++) {
        PyBuffer_Release(all[k]);
    }
    return out;
}

static PyMethodDef methods[] = {
    {"label", label, METH_VARARGS, "label(mask, width, height, connectivity) -> (labels, count, stats)"},
    {"chain", chain, METH_VARARGS, "chain(top, bottom, left, right, flat, min_height) -> first piece of each one's line"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_components", NULL, -1, methods};

PyMODINIT_FUNC PyInit__components(void) { return PyModule_Create(&module); }
