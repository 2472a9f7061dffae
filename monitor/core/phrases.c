/* The rule terms' automaton in C: ``_native.Phrases`` (used by alerts/matcher.py).
 *
 * Why our own: with 10,000 terms (214,000 keys) pyahocorasick's walk cost 40 ms of every 2 MB
 * of posts and the Python loop over its hits (the suffix check, the mapping of positions back
 * past runs of spaces, the de-duplication) as much again, together 40% of the detector's time;
 * ahocorasick_rs measured the same as pyahocorasick on this text (it converts the text to UTF-8
 * and its offsets back). Here one call per text does the mask, the walk and the checks, and
 * returns the final hits.
 *
 * What the keys mean is decided in Python (alerts/matcher.py, ``PhraseMatcher``); this file
 * knows only its encoding:
 *
 * - ``keys``: the automaton's keys, sorted (by code point), each non-empty;
 * - ``readings[k]``: for key k, a tuple of ``(length, kind, entries)``; ``kind`` 0: the key ends
 *   with the space after the word; 1: it ends with the first letter after the word (which is part
 *   of what follows); 2: it ends where the word may go on. ``entries`` is a flat tuple
 *   ``(payload, mode, payload, mode, ...)``;
 * - ``modes[m]``: the endings (suffixes) a word may carry after the key in mode m;
 * - ``payloads``: what a hit gives back, by index.
 *
 * ``find(normalized)`` masks the text as ``_native.blank`` does (``" " + mask + " "``), makes each
 * run of spaces one space (a phrase matches across punctuation beside a space), walks the
 * automaton, checks each candidate's ending, and returns ``[(payload, start, end), ...]`` in
 * ``normalized`` positions (``end`` exclusive), in order of the key's last character, each
 * distinct hit once.
 *
 * The automaton: a trie over character classes (a class per distinct character of the keys;
 * class 0, a character of no key, sends the walk back to the root), with failure and output
 * links. A node with many children has a dense row (one entry per class); the others a short
 * sorted list of edges.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "native.h"

#define DENSE_FROM 8 /* children from which a node gets a dense row */
enum { CLOSED = 0, FOLLOWED = 1, OPEN = 2 };

typedef struct {
    int32_t length, kind, first, count; /* entries[first .. first + count) */
} Reading;

typedef struct {
    int32_t payload, mode;
} Entry;

/* A trie node, numbered breadth first (the shallow nodes that every word passes through are
 * together in memory) so that its children are consecutive: [first_child, first_child + children).
 * ``emit``: the first node on the failure chain (this one included) where keys end, 0 if none;
 * ``next_emit``: the same for the node's failure. One node is one look-up of 32 bytes. */
typedef struct {
    int32_t first_child, children, dense, fail, emit, next_emit, reading_first, reading_count;
} Node;

typedef struct {
    PyObject_HEAD
    uint16_t *classes; /* per code point below classes_for */
    Py_ssize_t classes_for;
    int32_t width; /* classes, 0 included */
    int32_t nodes;
    Node *node;
    uint16_t *via;  /* per node: the class of the edge into it */
    int32_t *rows; /* dense rows: ``width`` children (or -1) each */
    Reading *readings;
    Entry *entries;
    int32_t modes;
    int32_t *suffix_first;  /* per mode: suffixes [suffix_first[m], suffix_first[m + 1]) */
    int32_t *suffix_at, *suffix_len, *suffix_max;
    uint32_t *suffix_text;
    PyObject *payloads; /* a tuple */
} Phrases;

static void phrases_dealloc(Phrases *self) {
    PyMem_Free(self->classes);
    PyMem_Free(self->node);
    PyMem_Free(self->via);
    PyMem_Free(self->rows);
    PyMem_Free(self->readings);
    PyMem_Free(self->entries);
    PyMem_Free(self->suffix_first);
    PyMem_Free(self->suffix_at);
    PyMem_Free(self->suffix_len);
    PyMem_Free(self->suffix_max);
    PyMem_Free(self->suffix_text);
    Py_XDECREF(self->payloads);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static inline int32_t class_of(const Phrases *p, Py_UCS4 ch) {
    return ch < (Py_UCS4)p->classes_for ? p->classes[ch] : 0;
}

static inline int32_t child(const Phrases *p, const Node *node, int32_t cls) {
    if (node->dense >= 0) return p->rows[(Py_ssize_t)node->dense * p->width + cls];
    int32_t k = node->first_child, end = k + node->children;
    for (; k < end; k++) {
        int32_t c = p->via[k];
        if (c == cls) return k;
        if (c > cls) break;
    }
    return -1;
}

static int parse_modes(Phrases *p, PyObject *modes) {
    if (!PyList_Check(modes) && !PyTuple_Check(modes)) {
        PyErr_SetString(PyExc_TypeError, "modes must be a sequence of sequences of str");
        return -1;
    }
    Py_ssize_t nmodes = PySequence_Size(modes), total = 0, chars = 0, m, s;
    for (m = 0; m < nmodes; m++) {
        PyObject *mode = PySequence_Fast_GET_ITEM(modes, m);
        if (!PyTuple_Check(mode)) {
            PyErr_SetString(PyExc_TypeError, "each mode must be a tuple of str");
            return -1;
        }
        for (s = 0; s < PyTuple_GET_SIZE(mode); s++) {
            PyObject *suffix = PyTuple_GET_ITEM(mode, s);
            if (!PyUnicode_Check(suffix)) {
                PyErr_SetString(PyExc_TypeError, "a suffix must be a str");
                return -1;
            }
            chars += PyUnicode_GET_LENGTH(suffix);
        }
        total += PyTuple_GET_SIZE(mode);
    }
    p->modes = (int32_t)nmodes;
    p->suffix_first = PyMem_Calloc(nmodes + 1, sizeof(int32_t));
    p->suffix_max = PyMem_Calloc(nmodes + 1, sizeof(int32_t));
    p->suffix_at = PyMem_Calloc(total + 1, sizeof(int32_t));
    p->suffix_len = PyMem_Calloc(total + 1, sizeof(int32_t));
    p->suffix_text = PyMem_Calloc(chars + 1, sizeof(uint32_t));
    if (!p->suffix_first || !p->suffix_max || !p->suffix_at || !p->suffix_len || !p->suffix_text) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t k = 0, at = 0, i;
    for (m = 0; m < nmodes; m++) {
        PyObject *mode = PySequence_Fast_GET_ITEM(modes, m);
        p->suffix_first[m] = (int32_t)k;
        for (s = 0; s < PyTuple_GET_SIZE(mode); s++, k++) {
            PyObject *suffix = PyTuple_GET_ITEM(mode, s);
            Py_ssize_t len = PyUnicode_GET_LENGTH(suffix);
            p->suffix_at[k] = (int32_t)at;
            p->suffix_len[k] = (int32_t)len;
            if (len > p->suffix_max[m]) p->suffix_max[m] = (int32_t)len;
            for (i = 0; i < len; i++) p->suffix_text[at++] = PyUnicode_READ_CHAR(suffix, i);
        }
    }
    p->suffix_first[nmodes] = (int32_t)k;
    return 0;
}

/* Readings of every key, flattened; ``key_reading`` gets each key's first reading and count. */
static int parse_readings(Phrases *p, PyObject *readings, Py_ssize_t nkeys, Py_ssize_t npayloads,
                          int32_t *key_first, int32_t *key_count) {
    Py_ssize_t nreadings = 0, nentries = 0, k, r;
    for (k = 0; k < nkeys; k++) {
        PyObject *of_key = PyList_GET_ITEM(readings, k);
        if (!PyTuple_Check(of_key)) {
            PyErr_Format(PyExc_TypeError, "readings of key %zd must be a tuple", k);
            return -1;
        }
        for (r = 0; r < PyTuple_GET_SIZE(of_key); r++) {
            PyObject *reading = PyTuple_GET_ITEM(of_key, r);
            if (!PyTuple_Check(reading) || PyTuple_GET_SIZE(reading) != 3 ||
                !PyTuple_Check(PyTuple_GET_ITEM(reading, 2)) || PyTuple_GET_SIZE(PyTuple_GET_ITEM(reading, 2)) % 2) {
                PyErr_Format(PyExc_TypeError, "reading %zd of key %zd must be (length, kind, (payload, mode, ...))", r, k);
                return -1;
            }
            nentries += PyTuple_GET_SIZE(PyTuple_GET_ITEM(reading, 2)) / 2;
        }
        nreadings += PyTuple_GET_SIZE(of_key);
    }
    p->readings = PyMem_Calloc(nreadings + 1, sizeof(Reading));
    p->entries = PyMem_Calloc(nentries + 1, sizeof(Entry));
    if (!p->readings || !p->entries) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t at = 0, e = 0, i;
    for (k = 0; k < nkeys; k++) {
        PyObject *of_key = PyList_GET_ITEM(readings, k);
        key_first[k] = (int32_t)at;
        key_count[k] = (int32_t)PyTuple_GET_SIZE(of_key);
        for (r = 0; r < PyTuple_GET_SIZE(of_key); r++, at++) {
            PyObject *reading = PyTuple_GET_ITEM(of_key, r), *flat = PyTuple_GET_ITEM(reading, 2);
            long length = PyLong_AsLong(PyTuple_GET_ITEM(reading, 0));
            long kind = PyLong_AsLong(PyTuple_GET_ITEM(reading, 1));
            if (PyErr_Occurred()) return -1;
            if (length < 1 || length > INT32_MAX || kind < CLOSED || kind > OPEN) {
                PyErr_Format(PyExc_ValueError, "reading %zd of key %zd: bad length or kind", r, k);
                return -1;
            }
            p->readings[at] = (Reading){(int32_t)length, (int32_t)kind, (int32_t)e,
                                        (int32_t)(PyTuple_GET_SIZE(flat) / 2)};
            for (i = 0; i < PyTuple_GET_SIZE(flat); i += 2, e++) {
                long payload = PyLong_AsLong(PyTuple_GET_ITEM(flat, i));
                long mode = PyLong_AsLong(PyTuple_GET_ITEM(flat, i + 1));
                if (PyErr_Occurred()) return -1;
                if (payload < 0 || payload >= npayloads || mode < 0 || mode >= p->modes) {
                    PyErr_Format(PyExc_ValueError, "reading %zd of key %zd: payload or mode out of range", r, k);
                    return -1;
                }
                p->entries[e] = (Entry){(int32_t)payload, (int32_t)mode};
            }
        }
    }
    return 0;
}

/* The trie of the sorted keys: each key shares with the one before it their common prefix, so
 * nodes are made in order and each node's children in order of class. */
static int build(Phrases *p, PyObject *keys, const int32_t *key_first, const int32_t *key_count) {
    Py_ssize_t nkeys = PyList_GET_SIZE(keys), k, i, bound = 1, maxch = 0;
    for (k = 0; k < nkeys; k++) {
        PyObject *key = PyList_GET_ITEM(keys, k);
        if (!PyUnicode_Check(key) || PyUnicode_GET_LENGTH(key) == 0) {
            PyErr_Format(PyExc_ValueError, "key %zd must be a non-empty str", k);
            return -1;
        }
        if (k > 0 && PyUnicode_Compare(PyList_GET_ITEM(keys, k - 1), key) >= 0) {
            PyErr_Format(PyExc_ValueError, "keys must be sorted and distinct (key %zd)", k);
            return -1;
        }
        bound += PyUnicode_GET_LENGTH(key);
        for (i = 0; i < PyUnicode_GET_LENGTH(key); i++) {
            Py_UCS4 ch = PyUnicode_READ_CHAR(key, i);
            if ((Py_ssize_t)ch > maxch) maxch = ch;
        }
    }
    if (bound > INT32_MAX / 2) {
        PyErr_SetString(PyExc_OverflowError, "too many key characters");
        return -1;
    }
    p->classes_for = maxch + 1;
    p->classes = PyMem_Calloc(p->classes_for, sizeof(uint16_t));
    if (!p->classes) {
        PyErr_NoMemory();
        return -1;
    }
    for (k = 0; k < nkeys; k++) {
        PyObject *key = PyList_GET_ITEM(keys, k);
        for (i = 0; i < PyUnicode_GET_LENGTH(key); i++) p->classes[PyUnicode_READ_CHAR(key, i)] = 1;
    }
    int32_t width = 1;
    for (i = 0; i < p->classes_for; i++) {
        if (!p->classes[i]) continue;
        if (width == UINT16_MAX) {
            PyErr_SetString(PyExc_OverflowError, "too many distinct key characters");
            return -1;
        }
        p->classes[i] = (uint16_t)width++;
    }
    p->width = width;

    /* the trie in the order of the sorted keys: parent and class of each node */
    int32_t *parent = PyMem_Malloc(bound * sizeof(int32_t));
    int32_t *via = PyMem_Malloc(bound * sizeof(int32_t));
    int32_t *path = PyMem_Malloc(bound * sizeof(int32_t)); /* the previous key's nodes */
    int32_t *first = PyMem_Calloc(bound, sizeof(int32_t)), *count = PyMem_Calloc(bound, sizeof(int32_t));
    int32_t *edges = NULL, *order = NULL, *renamed = NULL;
    int failed = -1;
    if (!parent || !via || !path || !first || !count) goto nomem;
    int32_t nodes = 1, n, e;
    PyObject *previous = NULL;
    parent[0] = -1;
    via[0] = 0;
    path[0] = 0;
    for (k = 0; k < nkeys; k++) {
        PyObject *key = PyList_GET_ITEM(keys, k);
        Py_ssize_t len = PyUnicode_GET_LENGTH(key), common = 0;
        if (previous) {
            Py_ssize_t plen = PyUnicode_GET_LENGTH(previous);
            while (common < len && common < plen &&
                   PyUnicode_READ_CHAR(key, common) == PyUnicode_READ_CHAR(previous, common))
                common++;
        }
        for (i = common; i < len; i++) {
            parent[nodes] = path[i];
            via[nodes] = p->classes[PyUnicode_READ_CHAR(key, i)];
            path[i + 1] = nodes++;
        }
        first[path[len]] = key_first[k];
        count[path[len]] = key_count[k];
        previous = key;
    }
    p->nodes = nodes;

    /* children grouped by parent (made in order of class), then numbered breadth first */
    edges = PyMem_Calloc(nodes + 1, sizeof(int32_t));     /* first edge of each node, then fill */
    order = PyMem_Malloc((nodes + 1) * sizeof(int32_t));  /* children by parent, then BFS order */
    renamed = PyMem_Malloc((nodes + 1) * sizeof(int32_t));
    p->node = PyMem_Calloc(nodes, sizeof(Node));
    p->via = PyMem_Calloc(nodes, sizeof(uint16_t));
    if (!edges || !order || !renamed || !p->node || !p->via) goto nomem;
    for (n = 1; n < nodes; n++) edges[parent[n] + 1]++;
    for (n = 0; n < nodes; n++) edges[n + 1] += edges[n];
    memcpy(renamed, edges, (nodes + 1) * sizeof(int32_t)); /* fill positions */
    for (n = 1; n < nodes; n++) order[renamed[parent[n]]++] = n;
    int32_t *children = order; /* children[edges[n] .. edges[n + 1]): n's children, by class */
    int32_t *bfs = path;       /* the previous key's nodes are not needed any more */
    int32_t head = 0, tail = 0;
    bfs[tail++] = 0;
    while (head < tail) {
        n = bfs[head++];
        for (e = edges[n]; e < edges[n + 1]; e++) bfs[tail++] = children[e];
    }
    for (k = 0; k < nodes; k++) renamed[bfs[k]] = (int32_t)k;
    for (k = 0; k < nodes; k++) {
        int32_t old = bfs[k];
        Node *node = p->node + k;
        node->children = edges[old + 1] - edges[old];
        node->first_child = node->children ? renamed[children[edges[old]]] : 0;
        node->reading_first = first[old];
        node->reading_count = count[old];
        p->via[k] = (uint16_t)via[old];
    }

    /* dense rows for the nodes with many children */
    int32_t ndense = 0;
    for (n = 0; n < nodes; n++) p->node[n].dense = p->node[n].children >= DENSE_FROM ? ndense++ : -1;
    p->rows = PyMem_Malloc(((Py_ssize_t)ndense * width + 1) * sizeof(int32_t));
    if (!p->rows) goto nomem;
    for (n = 0; n < nodes; n++) {
        const Node *node = p->node + n;
        if (node->dense < 0) continue;
        int32_t *row = p->rows + (Py_ssize_t)node->dense * width;
        for (i = 0; i < width; i++) row[i] = -1;
        for (e = node->first_child; e < node->first_child + node->children; e++) row[p->via[e]] = e;
    }

    /* failure and emit links, breadth first (the node order): a node's failure is shallower, so
     * its own links are already made */
    for (n = 0; n < nodes; n++) {
        const Node *node = p->node + n;
        for (e = node->first_child; e < node->first_child + node->children; e++) {
            int32_t g = n == 0 ? -1 : node->fail, to = -1;
            while (g >= 0) {
                to = child(p, p->node + g, p->via[e]);
                if (to >= 0 || g == 0) break;
                g = p->node[g].fail;
            }
            Node *next = p->node + e;
            next->fail = to >= 0 ? to : 0;
            next->next_emit = p->node[next->fail].emit;
            next->emit = next->reading_count ? e : next->next_emit;
        }
    }
    failed = 0;
    goto done;
nomem:
    PyErr_NoMemory();
done:
    PyMem_Free(parent);
    PyMem_Free(via);
    PyMem_Free(path);
    PyMem_Free(first);
    PyMem_Free(count);
    PyMem_Free(edges);
    PyMem_Free(order);
    PyMem_Free(renamed);
    return failed;
}

static int phrases_init(Phrases *self, PyObject *args, PyObject *kwds) {
    PyObject *keys, *readings, *modes, *payloads;
    static char *names[] = {"keys", "readings", "modes", "payloads", NULL};
    if (self->nodes) {
        PyErr_SetString(PyExc_RuntimeError, "Phrases is already built");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!O!OO!", names, &PyList_Type, &keys, &PyList_Type, &readings,
                                     &modes, &PyTuple_Type, &payloads))
        return -1;
    Py_ssize_t nkeys = PyList_GET_SIZE(keys);
    if (PyList_GET_SIZE(readings) != nkeys) {
        PyErr_SetString(PyExc_ValueError, "one tuple of readings per key");
        return -1;
    }
    PyObject *fast = PySequence_Fast(modes, "modes must be a sequence");
    if (!fast) return -1;
    int failed = parse_modes(self, fast);
    Py_DECREF(fast);
    if (failed) return -1;
    int32_t *key_first = PyMem_Malloc((nkeys + 1) * sizeof(int32_t));
    int32_t *key_count = PyMem_Malloc((nkeys + 1) * sizeof(int32_t));
    if (!key_first || !key_count) {
        PyMem_Free(key_first);
        PyMem_Free(key_count);
        PyErr_NoMemory();
        return -1;
    }
    failed = parse_readings(self, readings, nkeys, PyTuple_GET_SIZE(payloads), key_first, key_count) ||
             build(self, keys, key_first, key_count);
    PyMem_Free(key_first);
    PyMem_Free(key_count);
    if (failed) return -1;
    Py_INCREF(payloads);
    self->payloads = payloads;
    return 0;
}

typedef struct {
    int32_t payload;
    Py_ssize_t start, end, order;
} Found;

static int found_order(const void *a, const void *b) {
    const Found *x = a, *y = b;
    if (x->payload != y->payload) return x->payload < y->payload ? -1 : 1;
    if (x->start != y->start) return x->start < y->start ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int by_order(const void *a, const void *b) {
    const Found *x = a, *y = b;
    return x->order < y->order ? -1 : x->order > y->order;
}

static inline int ends_with_suffix(const Phrases *p, int32_t mode, const uint32_t *text, Py_ssize_t len) {
    if (len > p->suffix_max[mode]) return 0;
    for (int32_t s = p->suffix_first[mode]; s < p->suffix_first[mode + 1]; s++)
        if (p->suffix_len[s] == len && !memcmp(p->suffix_text + p->suffix_at[s], text, len * sizeof(uint32_t)))
            return 1;
    return 0;
}

static PyObject *phrases_find(Phrases *self, PyObject *arg) {
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "find() takes a str");
        return NULL;
    }
    if (!self->nodes) {
        PyErr_SetString(PyExc_RuntimeError, "Phrases not built");
        return NULL;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(arg), i, m = 0;
    int kind = PyUnicode_KIND(arg);
    const void *data = PyUnicode_DATA(arg);
    /* " " + mask + " " with each run of spaces made one; first[j]: the first position of the
     * padded text that character j stands for (first[j + 1] - 1 its last) */
    uint32_t *text = PyMem_Malloc((n + 2) * sizeof(uint32_t));
    Py_ssize_t *first = PyMem_Malloc((n + 3) * sizeof(Py_ssize_t));
    Py_ssize_t cap = 16, nfound = 0;
    Found *found = PyMem_Malloc(cap * sizeof(Found));
    PyObject *result = NULL;
    if (!text || !first || !found) {
        PyErr_NoMemory();
        goto done;
    }
    text[m] = ' ';
    first[m++] = 0;
    {
        /* local copies: the stores below may alias the globals, which would be read again */
        const uint8_t *blanks = native_blank_table;
        const Py_UCS4 nblanks = (Py_UCS4)native_blank_size;
#define MASK(T)                                                \
    {                                                          \
        const T *src = (const T *)data;                        \
        for (i = 0; i < n; i++) {                              \
            Py_UCS4 ch = src[i];                               \
            if (ch < nblanks && blanks[ch]) ch = ' ';          \
            if (ch == ' ' && text[m - 1] == ' ') continue;     \
            text[m] = ch;                                      \
            first[m++] = i + 1;                                \
        }                                                      \
    }
        if (kind == PyUnicode_1BYTE_KIND)
            MASK(Py_UCS1)
        else if (kind == PyUnicode_2BYTE_KIND)
            MASK(Py_UCS2)
        else
            MASK(Py_UCS4)
#undef MASK
    }
    if (text[m - 1] != ' ') {
        text[m] = ' ';
        first[m++] = n + 1;
    }
    first[m] = n + 2;

    int32_t state = 0;
    Py_ssize_t space = -1; /* the first space at or after the last position asked for */
    const uint16_t *classes = self->classes;
    const Py_UCS4 nclasses = (Py_UCS4)self->classes_for;
    for (i = 0; i < m; i++) {
        int32_t cls = text[i] < nclasses ? classes[text[i]] : 0;
        if (cls == 0) {
            state = 0;
            continue;
        }
        for (;;) {
            int32_t to = child(self, self->node + state, cls);
            if (to >= 0) {
                state = to;
                break;
            }
            if (state == 0) break;
            state = self->node[state].fail;
        }
        for (int32_t at = self->node[state].emit; at > 0; at = self->node[at].next_emit) {
            const Reading *r = self->readings + self->node[at].reading_first;
            const Reading *last = r + self->node[at].reading_count;
            for (; r < last; r++) {
                Py_ssize_t start, stop, from;
                if (r->kind == CLOSED) {
                    start = i + 1 - r->length;
                    stop = i;
                    from = i;
                } else {
                    from = r->kind == FOLLOWED ? i : i + 1;
                    start = r->kind == FOLLOWED ? i - r->length : i + 1 - r->length;
                    if (space < from) {
                        space = from;
                        while (space < m && text[space] != ' ') space++;
                    }
                    stop = space;
                }
                if (stop >= m || start < 0) continue; /* cannot happen: the text ends with a space */
                for (int32_t e = r->first; e < r->first + r->count; e++) {
                    const Entry *entry = self->entries + e;
                    if (!ends_with_suffix(self, entry->mode, text + from, stop - from)) continue;
                    if (nfound == cap) {
                        Found *grown = PyMem_Realloc(found, 2 * cap * sizeof(Found));
                        if (!grown) {
                            PyErr_NoMemory();
                            goto done;
                        }
                        found = grown;
                        cap *= 2;
                    }
                    /* the word's first character is the one after the key's leading space;
                     * back in the padded text: the last position the space stands for, and
                     * the first position the space after the word stands for, minus one each */
                    found[nfound] = (Found){entry->payload, first[start + 1] - 1, first[stop] - 1, nfound};
                    nfound++;
                }
            }
        }
    }
    if (nfound > 1) { /* each distinct hit once, at its first place */
        qsort(found, nfound, sizeof(Found), found_order);
        Py_ssize_t kept = 1;
        for (i = 1; i < nfound; i++) {
            if (found[i].payload == found[kept - 1].payload && found[i].start == found[kept - 1].start &&
                found[i].end == found[kept - 1].end)
                continue;
            found[kept++] = found[i];
        }
        nfound = kept;
        qsort(found, nfound, sizeof(Found), by_order);
    }
    result = PyList_New(nfound);
    if (!result) goto done;
    for (i = 0; i < nfound; i++) {
        PyObject *hit = Py_BuildValue("(Onn)", PyTuple_GET_ITEM(self->payloads, found[i].payload), found[i].start,
                                      found[i].end);
        if (!hit) {
            Py_CLEAR(result);
            goto done;
        }
        PyList_SET_ITEM(result, i, hit);
    }
done:
    PyMem_Free(text);
    PyMem_Free(first);
    PyMem_Free(found);
    return result;
}

static PyObject *phrases_nodes(Phrases *self, void *closure) { return PyLong_FromLong(self->nodes); }

static PyMethodDef phrases_methods[] = {
    {"find", (PyCFunction)phrases_find, METH_O,
     "find(normalized) -> [(payload, start, end), ...]: the hits in the text (see phrases.c)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef phrases_getset[] = {
    {"nodes", (getter)phrases_nodes, NULL, "nodes of the trie", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject PhrasesType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "monitor.core._native.Phrases",
    .tp_basicsize = sizeof(Phrases),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Phrases(keys, readings, modes, payloads): the rule terms' automaton (see phrases.c).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)phrases_init,
    .tp_dealloc = (destructor)phrases_dealloc,
    .tp_methods = phrases_methods,
    .tp_getset = phrases_getset,
};

int native_add_phrases(PyObject *module) {
    if (PyType_Ready(&PhrasesType) < 0) return -1;
    Py_INCREF(&PhrasesType);
    if (PyModule_AddObject(module, "Phrases", (PyObject *)&PhrasesType) < 0) {
        Py_DECREF(&PhrasesType);
        return -1;
    }
    return 0;
}
