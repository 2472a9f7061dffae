/* Text scans in C for the detection path (the first three, each table-driven from Python
 * definitions) and the OCR's dictionary:
 *
 * - ``fold``: monitor.core.text.normalize for a whole text (tables: monitor/core/fold_tables.py);
 * - ``Phrases``: the rule terms' trie (phrases.c);
 * - ``scan``: every occurrence of a few literals, a deterministic automaton built in Python
 *   (monitor/core/literals.py; the countdown's anchor words);
 * - ``in_sorted_lines``: whether a word is one of the lines of sorted UTF-8 text (the OCR's
 *   dictionary, ocr/lexicon.py), searched in place: splitting its 290,000 lines into Python
 *   strings took 23 ms of every one-image process, for about a thousand lookups.
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

/* The fold as one pass: each character goes through the steps in turn, each step keeping the
 * little it needs of what came before (whether a hashtag is open, the previous character, a
 * pending space, the run of equal letters), so the text is read once and written once. The steps
 * are those of the module docstring, in that order; the tests hold the result to the Python fold
 * (tests/core/test_text_native.py).
 *
 * STEP56: steps 5 (runs of 3+ equal letters as one) and 6 (whitespace collapsed and stripped) of
 * ``ch`` with flags ``fl``; the state is fold()'s locals (macros, so that it stays in registers). */
#define STEP56(ch, fl)                                                         \
    do {                                                                       \
        if ((fl) & SPACE) {                                                    \
            pending = k > 0;                                                   \
            run_len = 0;                                                       \
            break;                                                             \
        }                                                                      \
        if (k + 2 > cap) {                                                     \
            uint32_t *grown = PyMem_Realloc(out, (cap + cap / 2 + 16) * sizeof(uint32_t)); \
            if (!grown) goto nomem;                                            \
            out = grown;                                                       \
            cap += cap / 2 + 16;                                               \
        }                                                                      \
        if (pending) {                                                         \
            out[k++] = ' ';                                                    \
            pending = 0;                                                       \
        }                                                                      \
        if (((fl) & LETTER) && run_len && (ch) == run_ch) {                    \
            run_len++;                                                         \
            if (run_len == 2)                                                  \
                out[k++] = (ch); /* two equal letters stay two */              \
            else if (run_len == 3)                                             \
                k--; /* a third: the run is one letter */                      \
            break;                                                             \
        }                                                                      \
        out[k++] = (ch);                                                       \
        run_ch = (ch);                                                         \
        run_len = ((fl) & LETTER) ? 1 : 0;                                     \
    } while (0)

/* steps 3 (case folded, '_' as a space) and 4 (a space between digits and a letter touching
 * them), then 5 and 6 */
#define STEP34(c)                                                                        \
    do {                                                                                 \
        uint32_t c3 = (c) == '_' ? ' ' : post[(c)];                                      \
        uint8_t f3 = FLAGS(c3);                                                          \
        if (((f3 & DIGIT) && (last4 & LETTER)) || ((f3 & LETTER) && (last4 & DIGIT))) { \
            STEP56(' ', space_flags);                                                    \
        }                                                                                \
        last4 = f3;                                                                      \
        STEP56(c3, f3);                                                                  \
    } while (0)

static PyObject *fold(PyObject *self, PyObject *arg) {
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "fold() takes a str");
        return NULL;
    }
    if (tab_size == 0) {
        PyErr_SetString(PyExc_RuntimeError, "fold tables not set");
        return NULL;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(arg), i;
    int kind = PyUnicode_KIND(arg);
    const void *data = PyUnicode_DATA(arg);
    Py_ssize_t k = 0, cap = n + 16, run_len = 0;
    uint32_t *out = PyMem_Malloc(cap * sizeof(uint32_t));
    if (!out) return PyErr_NoMemory();
    int pending = 0;           /* step 6: a space to write before the next character kept */
    uint32_t run_ch = 0;       /* step 5: the letter of the current run (run_len: its length) */
    uint8_t last4 = 0;         /* step 4: the flags of the previous character */
    const uint8_t space_flags = flags_of(' ');
    /* the tables in locals: the compiler need not load them again after each write */
    const uint8_t *ftab = flag_tab;
    const uint32_t *pre = pre_tab, *post = post_tab, tsize = (uint32_t)tab_size;
#define FLAGS(c) ((c) < tsize ? ftab[(c)] : 0)
    /* step 2's state: inside the word after a '#' (its first character: no space before it), and
     * the character before (as step 1 left it: a capital after a small letter opens a word) */
    int in_tag = 0, tag_first = 0;
    uint32_t before = 0;
#define FOLD(T)                                                                      \
    {                                                                                \
        const T *src = (const T *)data;                                              \
        for (i = 0; i < n; i++) {                                                    \
            uint32_t ch = src[i];                                                    \
            uint8_t fl = FLAGS(ch);                                                  \
            if (!(fl & HANDLED)) goto unhandled;                                     \
            if (fl & DROP) continue;                                                 \
            ch = pre[ch]; /* step 1 */                                               \
            if (in_tag) { /* step 2: camel-case hashtags opened up */                \
                if (FLAGS(ch) & WORD) {                                              \
                    if (!tag_first && before >= 'a' && before <= 'z' && ch >= 'A' && ch <= 'Z') \
                        STEP34(' ');                                                 \
                    tag_first = 0;                                                   \
                    before = ch;                                                     \
                    STEP34(ch);                                                      \
                    continue;                                                        \
                }                                                                    \
                in_tag = 0;                                                          \
            }                                                                        \
            if (ch == '#') { /* '#' as a space */                                    \
                in_tag = tag_first = 1;                                              \
                ch = ' ';                                                            \
            }                                                                        \
            STEP34(ch);                                                              \
        }                                                                            \
    }
    BY_KIND(kind, FOLD);
#undef FOLD
#undef FLAGS
    PyObject *str = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, out, k); /* (its kind: the narrowest) */
    PyMem_Free(out);
    return str;
unhandled:
    PyMem_Free(out);
    Py_RETURN_NONE;
nomem:
    PyMem_Free(out);
    return PyErr_NoMemory();
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
    BY_KIND(kind, SCAN);
#undef SCAN
done:
    PyBuffer_Release(&classes);
    PyBuffer_Release(&delta);
    PyBuffer_Release(&accept);
    return out;
}

/* in_sorted_lines(lines, word): whether ``word`` (a str) is one of the lines of ``lines`` (bytes:
 * UTF-8 lines joined by '\n', sorted by code point, which is their byte order in UTF-8). A binary
 * search over byte offsets, each probe on the line around it; [low, high) always starts at a line. */
static PyObject *in_sorted_lines(PyObject *self, PyObject *args) {
    (void)self;
    Py_buffer lines;
    PyObject *word;
    if (!PyArg_ParseTuple(args, "y*U", &lines, &word)) {
        return NULL;
    }
    Py_ssize_t key_size;
    const char *key = PyUnicode_AsUTF8AndSize(word, &key_size);
    if (key == NULL) { /* a lone surrogate: no line of valid UTF-8 is that word */
        PyErr_Clear();
        PyBuffer_Release(&lines);
        Py_RETURN_FALSE;
    }
    const char *text = lines.buf;
    const size_t size = (size_t)lines.len;
    size_t low = 0, high = size;
    int found = 0;
    while (low < high && !found) {
        const size_t middle = low + (high - low) / 2;
        const char *before = memrchr(text + low, '\n', middle - low);
        const size_t start = before != NULL ? (size_t)(before - text) + 1 : low;
        const char *after = memchr(text + start, '\n', size - start);
        const size_t end = after != NULL ? (size_t)(after - text) : size;
        const size_t line_size = end - start, common = line_size < (size_t)key_size ? line_size : (size_t)key_size;
        int order = memcmp(key, text + start, common);
        if (order == 0) {
            order = (size_t)key_size < line_size ? -1 : (size_t)key_size > line_size ? 1 : 0;
        }
        if (order == 0) {
            found = 1;
        } else if (order < 0) {
            high = start;
        } else {
            low = end + 1;
        }
    }
    PyBuffer_Release(&lines);
    return PyBool_FromLong(found);
}

static PyMethodDef methods[] = {
    {"in_sorted_lines", in_sorted_lines, METH_VARARGS,
     "in_sorted_lines(lines, word) -> whether word is one of the sorted UTF-8 lines (joined by newlines)."},
    {"scan", scan, METH_VARARGS,
     "scan(text, classes, delta, accept, width) -> [end, state, ...] where a literal ends (literals.py)."},
    {"set_tables", set_tables, METH_VARARGS,
     "set_tables(pre, post, flags): the fold's tables, built by monitor.core.text."},
    {"fold", fold, METH_O, "fold(text) -> the folded text, or None when a character is not handled."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_native", "Text scans of monitor.core.text, alerts and ocr.lexicon in C (see _native.c).", -1,
    methods,
};

PyMODINIT_FUNC PyInit__native(void) {
    PyObject *made = PyModule_Create(&module);
    if (made && native_add_phrases(made) < 0) Py_CLEAR(made);
    return made;
}
