/* Text scans in C for the detection path, each table-driven from Python definitions:
 *
 * - ``fold``: monitor.core.text.normalize for a whole text (tables: monitor/core/fold_tables.py);
 * - ``Phrases``: the rule terms' trie (phrases.c);
 * - ``scan``: every occurrence of a few literals, a deterministic automaton built in Python
 *   (monitor/core/literals.py; the countdown's anchor words).
 *
 * Why native code: these were most of the detector's time in CPython (bench/README.md,
 * "Detection speed"), each a few C scans plus Python work per word or per hit.
 *
 * The fold, table-driven: each character is looked up once in tables that Python builds from
 * its own definition (``fold_tables.build``), so the data of the fold lives in one place; this
 * file only knows the order of the steps.
 *
 * ``fold(text)`` returns the folded text, or None when the text holds a character the tables do
 * not mark as handled (one that NFKC would change or compose, a combining mark that is kept, a
 * character past the tables): the caller then folds it in Python. Steps, as in ``_fold_text``:
 *   1. each character mapped (dropped, or folded: letter variants, digits, punctuation);
 *   2. in the run of word characters after each '#', a space at each a-z/A-Z boundary;
 *      then '#' becomes a space;
 *   3. case folded, '_' becomes a space;
 *   4. a space between a run of digits and a letter touching it on either side;
 *   5. runs of three or more equal letters made one;
 *   6. whitespace collapsed to single spaces, stripped.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#include "native.h"

#define HANDLED 1u
#define DROP 2u
#define SPACE 4u
#define WORD 8u   /* \w */
#define LETTER 16u /* [^\W\d_] */
#define DIGIT 32u  /* \d */

static uint32_t *pre_tab = NULL;  /* the character after step 1 */
static uint32_t *post_tab = NULL; /* the character after case folding */
static uint8_t *flag_tab = NULL;
static Py_ssize_t tab_size = 0;

static PyObject *set_tables(PyObject *self, PyObject *args) {
    Py_buffer pre, post, flags;
    if (!PyArg_ParseTuple(args, "y*y*y*", &pre, &post, &flags)) return NULL;
    Py_ssize_t n = flags.len;
    if (pre.len != n * 4 || post.len != n * 4 || n <= 0) {
        PyBuffer_Release(&pre);
        PyBuffer_Release(&post);
        PyBuffer_Release(&flags);
        PyErr_SetString(PyExc_ValueError, "fold tables of unequal sizes");
        return NULL;
    }
    uint32_t *a = PyMem_Malloc(n * 4), *b = PyMem_Malloc(n * 4);
    uint8_t *c = PyMem_Malloc(n);
    if (!a || !b || !c) {
        PyMem_Free(a);
        PyMem_Free(b);
        PyMem_Free(c);
        PyBuffer_Release(&pre);
        PyBuffer_Release(&post);
        PyBuffer_Release(&flags);
        return PyErr_NoMemory();
    }
    memcpy(a, pre.buf, n * 4);
    memcpy(b, post.buf, n * 4);
    memcpy(c, flags.buf, n);
    PyBuffer_Release(&pre);
    PyBuffer_Release(&post);
    PyBuffer_Release(&flags);
    PyMem_Free(pre_tab);
    PyMem_Free(post_tab);
    PyMem_Free(flag_tab);
    pre_tab = a;
    post_tab = b;
    flag_tab = c;
    tab_size = n;
    Py_RETURN_NONE;
}

static inline uint8_t flags_of(uint32_t ch) { return ch < (uint32_t)tab_size ? flag_tab[ch] : 0; }

static inline int camel_at(const uint32_t *a, Py_ssize_t j, Py_ssize_t first) {
    return j > first && a[j - 1] >= 'a' && a[j - 1] <= 'z' && a[j] >= 'A' && a[j] <= 'Z';
}

/* Each step that adds characters counts them first and writes into a buffer of that size (a
 * hostile 10 MB post costs its own size a few times over, not a worst case for every step);
 * steps that only replace or drop characters work in place. */
static PyObject *fold(PyObject *self, PyObject *arg) {
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "fold() takes a str");
        return NULL;
    }
    if (tab_size == 0) {
        PyErr_SetString(PyExc_RuntimeError, "fold tables not set");
        return NULL;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(arg);
    int kind = PyUnicode_KIND(arg);
    const void *data = PyUnicode_DATA(arg);
    uint32_t *a = PyMem_Malloc((n + 1) * sizeof(uint32_t)), *b;
    if (!a) return PyErr_NoMemory();
    Py_ssize_t m = 0, i, j, k, extra = 0;
    /* 1. the per-character fold, and 3. case and '_' as a space, in one pass up to the first '#':
     * step 2 needs the case of what follows a '#', so from there on the characters are written
     * as step 1 leaves them and step 3 runs over them after step 2. */
    Py_ssize_t raw_from = -1; /* where the characters step 3 has not seen start (-1: none) */
    int digits = 0;
#define STEP1(T)                                                   \
    {                                                              \
        const T *src = (const T *)data;                            \
        for (i = 0; i < n; i++) {                                  \
            uint32_t ch = src[i];                                  \
            uint8_t f = flags_of(ch);                              \
            if (!(f & HANDLED)) {                                  \
                PyMem_Free(a);                                     \
                Py_RETURN_NONE;                                    \
            }                                                      \
            if (f & DROP) continue;                                \
            ch = pre_tab[ch];                                      \
            if (raw_from < 0) {                                    \
                if (ch == '#') {                                   \
                    raw_from = m;                                  \
                } else {                                           \
                    ch = ch == '_' ? ' ' : post_tab[ch];           \
                    digits |= (flags_of(ch) & DIGIT) != 0;         \
                }                                                  \
            }                                                      \
            a[m++] = ch;                                           \
        }                                                          \
    }
    if (kind == PyUnicode_1BYTE_KIND)
        STEP1(Py_UCS1)
    else if (kind == PyUnicode_2BYTE_KIND)
        STEP1(Py_UCS2)
    else
        STEP1(Py_UCS4)
#undef STEP1
    if (raw_from >= 0) {
        /* 2. camel-case hashtags opened up, '#' as a space (no '#' before raw_from) */
        extra = 0;
        for (i = raw_from; i < m; i++) {
            if (a[i] != '#') continue;
            for (j = i + 1; j < m && (flags_of(a[j]) & WORD); j++) extra += camel_at(a, j, i + 1);
            i = j - 1;
        }
        if (!extra) { /* no camel case: each '#' becomes a space where it is */
            for (i = raw_from; i < m; i++)
                if (a[i] == '#') a[i] = ' ';
        } else {
            b = PyMem_Malloc((m + extra + 1) * sizeof(uint32_t));
            if (!b) {
                PyMem_Free(a);
                return PyErr_NoMemory();
            }
            memcpy(b, a, raw_from * sizeof(uint32_t));
            k = raw_from;
            for (i = raw_from; i < m; i++) {
                if (a[i] != '#') {
                    b[k++] = a[i];
                    continue;
                }
                b[k++] = ' ';
                for (j = i + 1; j < m && (flags_of(a[j]) & WORD); j++) {
                    if (camel_at(a, j, i + 1)) b[k++] = ' ';
                    b[k++] = a[j];
                }
                i = j - 1;
            }
            PyMem_Free(a);
            a = b;
            m = k;
        }
        /* 3. for the rest: case, '_' as a space */
        for (i = raw_from; i < m; i++) {
            uint32_t ch = a[i] == '_' ? ' ' : post_tab[a[i]];
            digits |= (flags_of(ch) & DIGIT) != 0;
            a[i] = ch;
        }
    }
    /* 4. digits spaced from the letters they touch */
    if (digits) {
        extra = 0;
        for (i = 0; i < m;) {
            if (!(flags_of(a[i]) & DIGIT)) {
                i++;
                continue;
            }
            extra += i > 0 && (flags_of(a[i - 1]) & LETTER);
            while (i < m && (flags_of(a[i]) & DIGIT)) i++;
            extra += i < m && (flags_of(a[i]) & LETTER);
        }
    }
    if (digits && extra) { /* (most numbers stand alone: nothing to space) */
        b = PyMem_Malloc((m + extra + 1) * sizeof(uint32_t));
        if (!b) {
            PyMem_Free(a);
            return PyErr_NoMemory();
        }
        k = 0;
        for (i = 0; i < m;) {
            if (!(flags_of(a[i]) & DIGIT)) {
                b[k++] = a[i++];
                continue;
            }
            if (i > 0 && (flags_of(a[i - 1]) & LETTER)) b[k++] = ' ';
            while (i < m && (flags_of(a[i]) & DIGIT)) b[k++] = a[i++];
            if (i < m && (flags_of(a[i]) & LETTER)) b[k++] = ' ';
        }
        PyMem_Free(a);
        a = b;
        m = k;
    }
    /* 5. runs of 3+ equal letters as one, and 6. whitespace collapsed and stripped, in place:
     * the write position never passes the read position. */
    k = 0;
    int pending = 0; /* a space to write before the next character kept */
    uint32_t maxch = 0;
    for (i = 0; i < m;) {
        uint32_t ch = a[i];
        uint8_t f = flags_of(ch);
        if (f & SPACE) {
            pending = k > 0;
            i++;
            continue;
        }
        if (pending) {
            a[k++] = ' ';
            pending = 0;
        }
        j = i + 1;
        if ((f & LETTER) && j + 1 < m && a[j] == ch && a[j + 1] == ch) { /* a run of 3 or more */
            j += 2;
            while (j < m && a[j] == ch) j++;
        }
        a[k++] = ch;
        maxch |= ch;
        i = j;
    }
    /* the str at once in its canonical kind: the OR of the characters is below 0x80, 0x100 or
     * 0x10000 exactly when the largest of them is, which is all PyUnicode_New looks at */
    PyObject *out = PyUnicode_New(k, maxch > 0x10ffff ? 0x10ffff : maxch);
    if (out) {
        void *dst = PyUnicode_DATA(out);
        switch (PyUnicode_KIND(out)) {
            case PyUnicode_1BYTE_KIND:
                for (i = 0; i < k; i++) ((Py_UCS1 *)dst)[i] = (Py_UCS1)a[i];
                break;
            case PyUnicode_2BYTE_KIND:
                for (i = 0; i < k; i++) ((Py_UCS2 *)dst)[i] = (Py_UCS2)a[i];
                break;
            default:
                memcpy(dst, a, k * sizeof(Py_UCS4));
        }
    }
    PyMem_Free(a);
    return out;
}

/* Every occurrence of a set of literals: a deterministic automaton (Aho-Corasick with every
 * failure resolved), built by monitor/core/literals.py. ``classes``: uint16 per code point
 * (0: a character in no literal); ``delta``: int32 [state][class]; ``accept``: uint8 per state
 * (1: some literal ends there). Returns [end, state, end, state...] for each position where a
 * literal ends (end: the index of its last character), in text order. */
static PyObject *scan(PyObject *self, PyObject *args) {
    PyObject *text;
    Py_buffer classes, delta, accept;
    Py_ssize_t width;
    if (!PyArg_ParseTuple(args, "Uy*y*y*n", &text, &classes, &delta, &accept, &width)) return NULL;
    PyObject *out = PyList_New(0);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text), i, nclasses = classes.len / 2, nstates = accept.len;
    int kind = PyUnicode_KIND(text);
    const void *data = PyUnicode_DATA(text);
    const uint16_t *cls = classes.buf;
    const int32_t *next = delta.buf;
    const uint8_t *acc = accept.buf;
    int32_t state = 0;
    if (!out) goto done;
    if (width <= 0 || delta.len != nstates * width * 4) {
        PyErr_SetString(PyExc_ValueError, "scan tables of unequal sizes");
        Py_CLEAR(out);
        goto done;
    }
    /* one loop per kind of str: PyUnicode_READ's switch per character was a third of the scan */
#define SCAN(T)                                                                                   \
    {                                                                                             \
        const T *src = (const T *)data;                                                           \
        for (i = 0; i < n; i++) {                                                                 \
            Py_UCS4 ch = src[i];                                                                  \
            uint16_t c = ch < (Py_UCS4)nclasses ? cls[ch] : 0;                                    \
            state = next[state * width + (c < width ? c : 0)];                                    \
            if (acc[state]) {                                                                     \
                PyObject *end = PyLong_FromSsize_t(i), *at = PyLong_FromLong(state);              \
                int failed = !end || !at || PyList_Append(out, end) < 0 || PyList_Append(out, at) < 0; \
                Py_XDECREF(end);                                                                  \
                Py_XDECREF(at);                                                                   \
                if (failed) {                                                                     \
                    Py_CLEAR(out);                                                                \
                    goto done;                                                                    \
                }                                                                                 \
            }                                                                                     \
        }                                                                                         \
    }
    if (kind == PyUnicode_1BYTE_KIND)
        SCAN(Py_UCS1)
    else if (kind == PyUnicode_2BYTE_KIND)
        SCAN(Py_UCS2)
    else
        SCAN(Py_UCS4)
#undef SCAN
done:
    PyBuffer_Release(&classes);
    PyBuffer_Release(&delta);
    PyBuffer_Release(&accept);
    return out;
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS,
     "scan(text, classes, delta, accept, width) -> [end, state, ...] where a literal ends (literals.py)."},
    {"set_tables", set_tables, METH_VARARGS,
     "set_tables(pre, post, flags): the fold's tables, built by monitor.core.text."},
    {"fold", fold, METH_O, "fold(text) -> the folded text, or None when a character is not handled."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_native", "Text scans of monitor.core.text and alerts in C (see _native.c).", -1,
    methods,
};

PyMODINIT_FUNC PyInit__native(void) {
    PyObject *made = PyModule_Create(&module);
    if (made && native_add_phrases(made) < 0) Py_CLEAR(made);
    return made;
}
