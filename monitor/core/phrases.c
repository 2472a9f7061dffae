/* The rule terms' automaton in C: ``_native.Phrases`` (used by alerts/matcher.py).
 *
 * Why our own: with 10,000 terms (214,000 keys) pyahocorasick's walk cost 40 ms of every 2 MB
 * of posts and the Python loop over its hits (the suffix check, the mapping of positions back
 * past runs of spaces, the de-duplication) as much again, together 40% of the detector's time;
 * ahocorasick_rs measured the same as pyahocorasick on this text (it converts the text to UTF-8
 * and its offsets back). Here one call per text does the mask, the walk and the checks, and
 * returns the final hits.
 *
 * Every key starts at a word: it is " " + a prefix chain (و، بال، وس...) + a body. So instead of
 * an Aho-Corasick automaton over every key (the chains multiplied the trie twentyfold, 1.4 million
 * nodes for 10,000 terms, and its walk was mostly cache misses) this is a trie of the bodies,
 * walked from each word start and from after each chain the word starts with; the walk stops
 * at the first character no body continues with. The answers are those of the automaton over
 * the whole keys (tests/alerts/test_matcher_native.py holds it to the Python matcher it
 * replaced).
 *
 * What the keys mean is decided in Python (alerts/matcher.py, ``PhraseMatcher``); this file
 * knows only its encoding:
 *
 * - ``chains``: the prefix chains, chain 0 the empty one;
 * - ``keys``: the bodies (the rest of a key after its chain), sorted (by code point), non-empty;
 * - ``readings[k]``: for body k, a tuple of ``(chain, length, kind, entries)``: the key
 *   " " + chains[chain] + body, ``length`` its length (without its follower when ``kind`` is 1);
 *   ``kind`` 0: the key ends with the space after the word; 1: it ends with the first letter
 *   after the word (which is part of what follows); 2: it ends where the word may go on.
 *   ``entries`` is a flat tuple ``(payload, mode, payload, mode, ...)``;
 * - ``modes[m]``: the endings (suffixes) a word may carry after the key in mode m;
 * - ``payloads``: what a hit gives back, by index;
 * - ``blanks``: bytes, non-zero at each code point the mask makes a space (punctuation);
 * - ``marks`` (optional): an int of 64 bits per payload. ``find_marked`` gives them OR-ed over
 *   the text's hits besides the hits, so that the caller can tell what kinds of hits a text has
 *   without a loop over them in Python (alerts/detect.py: the verdict of a post that cannot alert).
 *
 * ``find(normalized)`` masks the text (as ``" " + mask + " "``), makes each run of spaces one space (a phrase matches across punctuation beside a
 * space), walks the trie from each word start, checks each candidate's ending, and returns
 * ``[(payload, start, end), ...]`` in ``normalized`` positions (``end`` exclusive), in the order
 * an Aho-Corasick automaton over the keys gives them (by the key's last character, a longer key
 * first), each distinct hit once.
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
    int32_t chain, length, kind, first, count; /* entries[first .. first + count) */
} Reading;

typedef struct {
    int32_t payload, mode;
} Entry;

/* A trie node, numbered breadth first (the shallow nodes that every word passes through are
 * together in memory) so that its children are consecutive: [first_child, first_child + children). */
typedef struct {
    int32_t first_child, children, dense, reading_first, reading_count;
    uint32_t chains; /* bit c: a reading for chain c (bit 31: for chain 31 or later) */
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
    PyObject *blanks;   /* bytes */
    uint64_t *marks;    /* per payload, or NULL */
    int32_t chains;
    int32_t *chain_at, *chain_len; /* per chain: its code points in chain_text */
    uint32_t *chain_text;
    int32_t *by_class, *by_class_first; /* chains by the class of their first character */
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
    PyMem_Free(self->chain_at);
    PyMem_Free(self->chain_len);
    PyMem_Free(self->chain_text);
    PyMem_Free(self->by_class);
    PyMem_Free(self->by_class_first);
    PyMem_Free(self->marks);
    Py_XDECREF(self->payloads);
    Py_XDECREF(self->blanks);
    Py_TYPE(self)->tp_free((PyObject *)self);
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

/* ``modes``: a list or tuple (PySequence_Fast) of tuples of str. */
static int parse_modes(Phrases *p, PyObject *modes) {
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

static int parse_chains(Phrases *p, PyObject *chains) {
    Py_ssize_t n = PyList_GET_SIZE(chains), c, i, chars = 0;
    if (n < 1 || n > INT32_MAX / 2) {
        PyErr_SetString(PyExc_ValueError, "chains must start with the empty chain");
        return -1;
    }
    for (c = 0; c < n; c++) {
        PyObject *chain = PyList_GET_ITEM(chains, c);
        if (!PyUnicode_Check(chain) || (c == 0) != (PyUnicode_GET_LENGTH(chain) == 0)) {
            PyErr_Format(PyExc_ValueError, "chain %zd: chains are str, the first one empty and only it", c);
            return -1;
        }
        chars += PyUnicode_GET_LENGTH(chain);
    }
    p->chains = (int32_t)n;
    p->chain_at = PyMem_Calloc(n, sizeof(int32_t));
    p->chain_len = PyMem_Calloc(n, sizeof(int32_t));
    p->chain_text = PyMem_Calloc(chars + 1, sizeof(uint32_t));
    if (!p->chain_at || !p->chain_len || !p->chain_text) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t at = 0;
    for (c = 0; c < n; c++) {
        PyObject *chain = PyList_GET_ITEM(chains, c);
        p->chain_at[c] = (int32_t)at;
        p->chain_len[c] = (int32_t)PyUnicode_GET_LENGTH(chain);
        for (i = 0; i < PyUnicode_GET_LENGTH(chain); i++) p->chain_text[at++] = PyUnicode_READ_CHAR(chain, i);
    }
    return 0;
}

/* Readings of every key, flattened; ``key_first``/``key_count``: each key's first reading and count. */
static int parse_readings(Phrases *p, PyObject *keys, PyObject *readings, Py_ssize_t nkeys, Py_ssize_t npayloads,
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
            if (!PyTuple_Check(reading) || PyTuple_GET_SIZE(reading) != 4 ||
                !PyTuple_Check(PyTuple_GET_ITEM(reading, 3)) || PyTuple_GET_SIZE(PyTuple_GET_ITEM(reading, 3)) % 2) {
                PyErr_Format(PyExc_TypeError,
                             "reading %zd of key %zd must be (chain, length, kind, (payload, mode, ...))", r, k);
                return -1;
            }
            nentries += PyTuple_GET_SIZE(PyTuple_GET_ITEM(reading, 3)) / 2;
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
            PyObject *reading = PyTuple_GET_ITEM(of_key, r), *flat = PyTuple_GET_ITEM(reading, 3);
            long chain = PyLong_AsLong(PyTuple_GET_ITEM(reading, 0));
            long length = PyLong_AsLong(PyTuple_GET_ITEM(reading, 1));
            long kind = PyLong_AsLong(PyTuple_GET_ITEM(reading, 2));
            if (PyErr_Occurred()) return -1;
            if (chain < 0 || chain >= p->chains) {
                PyErr_Format(PyExc_ValueError, "reading %zd of key %zd: chain out of range", r, k);
                return -1;
            }
            Py_ssize_t expected = 1 + p->chain_len[chain] + PyUnicode_GET_LENGTH(PyList_GET_ITEM(keys, k)) -
                                  (kind == FOLLOWED); /* " " + chain + body, the follower not counted */
            if (length != expected || kind < CLOSED || kind > OPEN) {
                PyErr_Format(PyExc_ValueError, "reading %zd of key %zd: bad length or kind", r, k);
                return -1;
            }
            p->readings[at] = (Reading){(int32_t)chain, (int32_t)length, (int32_t)kind, (int32_t)e,
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
    for (i = 0; i < p->chain_at[p->chains - 1] + p->chain_len[p->chains - 1]; i++)
        if ((Py_ssize_t)p->chain_text[i] > maxch) maxch = p->chain_text[i];
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
    /* the chains' letters have classes too: a word is looked up by its first letter's class */
    for (i = 0; i < p->chain_at[p->chains - 1] + p->chain_len[p->chains - 1]; i++) p->classes[p->chain_text[i]] = 1;
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

    /* the chains by the class of their first character */
    p->by_class_first = PyMem_Calloc(width + 1, sizeof(int32_t));
    p->by_class = PyMem_Calloc(p->chains + 1, sizeof(int32_t));
    if (!p->by_class_first || !p->by_class) {
        PyErr_NoMemory();
        return -1;
    }
    int32_t c;
    for (c = 1; c < p->chains; c++) {
        Py_UCS4 lead = p->chain_text[p->chain_at[c]];
        p->by_class_first[p->classes[lead] + 1]++;
    }
    for (i = 0; i < width; i++) p->by_class_first[i + 1] += p->by_class_first[i];
    int32_t *fill_at = PyMem_Malloc((width + 1) * sizeof(int32_t));
    if (!fill_at) {
        PyErr_NoMemory();
        return -1;
    }
    memcpy(fill_at, p->by_class_first, (width + 1) * sizeof(int32_t));
    for (c = 1; c < p->chains; c++) {
        Py_UCS4 lead = p->chain_text[p->chain_at[c]];
        p->by_class[fill_at[p->classes[lead]]++] = c;
    }
    PyMem_Free(fill_at);

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
        for (int32_t r = first[old]; r < first[old] + count[old]; r++)
            node->chains |= 1u << (p->readings[r].chain < 31 ? p->readings[r].chain : 31);
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

/* ``marks``: a tuple of one int in [0, 2**64) per payload. */
static int parse_marks(Phrases *p, PyObject *marks, Py_ssize_t npayloads) {
    if (PyTuple_GET_SIZE(marks) != npayloads) {
        PyErr_SetString(PyExc_ValueError, "marks: one int per payload");
        return -1;
    }
    p->marks = PyMem_Calloc(npayloads + 1, sizeof(uint64_t));
    if (!p->marks) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < npayloads; i++) {
        PyObject *mark = PyTuple_GET_ITEM(marks, i);
        if (!PyLong_Check(mark)) {
            PyErr_Format(PyExc_TypeError, "mark %zd must be an int", i);
            return -1;
        }
        unsigned long long value = PyLong_AsUnsignedLongLong(mark);
        if (value == (unsigned long long)-1 && PyErr_Occurred()) {
            PyErr_Clear();
            PyErr_Format(PyExc_ValueError, "mark %zd must be in [0, 2**64)", i);
            return -1;
        }
        p->marks[i] = (uint64_t)value;
    }
    return 0;
}

static int phrases_init(Phrases *self, PyObject *args, PyObject *kwds) {
    PyObject *chains, *keys, *readings, *modes, *payloads, *blanks, *marks = NULL;
    static char *names[] = {"chains", "keys", "readings", "modes", "payloads", "blanks", "marks", NULL};
    if (self->chain_at) { /* the first thing built: a second __init__ would leak or mix tables */
        PyErr_SetString(PyExc_RuntimeError, "Phrases is already built (or failed to be)");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!O!O!OO!O!|O", names, &PyList_Type, &chains, &PyList_Type,
                                     &keys, &PyList_Type, &readings, &modes, &PyTuple_Type, &payloads, &PyBytes_Type,
                                     &blanks, &marks))
        return -1;
    if (marks == Py_None) marks = NULL;
    if (marks && !PyTuple_Check(marks)) {
        PyErr_SetString(PyExc_TypeError, "marks must be a tuple of int or None");
        return -1;
    }
    Py_ssize_t nkeys = PyList_GET_SIZE(keys), k;
    if (PyList_GET_SIZE(readings) != nkeys) {
        PyErr_SetString(PyExc_ValueError, "one tuple of readings per key");
        return -1;
    }
    for (k = 0; k < nkeys; k++) {
        PyObject *key = PyList_GET_ITEM(keys, k);
        if (!PyUnicode_Check(key) || PyUnicode_GET_LENGTH(key) == 0) {
            PyErr_Format(PyExc_ValueError, "key %zd must be a non-empty str", k);
            return -1;
        }
    }
    if (parse_chains(self, chains)) return -1;
    if (marks && parse_marks(self, marks, PyTuple_GET_SIZE(payloads))) return -1;
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
    failed = parse_readings(self, keys, readings, nkeys, PyTuple_GET_SIZE(payloads), key_first, key_count) ||
             build(self, keys, key_first, key_count);
    PyMem_Free(key_first);
    PyMem_Free(key_count);
    if (failed) return -1;
    Py_INCREF(blanks);
    self->blanks = blanks;
    Py_INCREF(payloads);
    self->payloads = payloads; /* last: find() answers once it is set */
    return 0;
}

typedef struct {
    int32_t payload, length;
    Py_ssize_t start, end, last, order;
} Found;

/* The order an automaton over the keys reports hits in: by the key's last character, a longer
 * key first, then as made (readings and entries in their order). */
static int automaton_order(const void *a, const void *b) {
    const Found *x = a, *y = b;
    if (x->last != y->last) return x->last < y->last ? -1 : 1;
    if (x->length != y->length) return x->length > y->length ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int same_hit_first(const void *a, const void *b) {
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

typedef struct {
    const uint32_t *text;
    const Py_ssize_t *first;
    Py_ssize_t m;
    Py_ssize_t space_from, space; /* the first space at or after space_from */
    Found *found;
    Py_ssize_t nfound, cap;
} Walk;

static inline Py_ssize_t next_space(Walk *w, Py_ssize_t from) {
    if (!(w->space_from <= from && from <= w->space)) {
        Py_ssize_t at = from;
        while (at < w->m && w->text[at] != ' ') at++;
        w->space_from = from;
        w->space = at;
    }
    return w->space;
}

/* The readings of ``node`` for ``chain``, the key's last character at ``last``. */
static int report(const Phrases *p, Walk *w, const Node *node, int32_t chain, Py_ssize_t last) {
    const Reading *r = p->readings + node->reading_first, *end = r + node->reading_count;
    for (; r < end; r++) {
        if (r->chain != chain) continue;
        Py_ssize_t start, stop, from;
        if (r->kind == CLOSED) {
            start = last + 1 - r->length;
            stop = from = last;
        } else {
            from = r->kind == FOLLOWED ? last : last + 1;
            start = r->kind == FOLLOWED ? last - r->length : last + 1 - r->length;
            stop = next_space(w, from);
        }
        if (stop >= w->m || start < 0) continue; /* cannot happen: the text ends with a space */
        for (int32_t e = r->first; e < r->first + r->count; e++) {
            const Entry *entry = p->entries + e;
            if (!ends_with_suffix(p, entry->mode, w->text + from, stop - from)) continue;
            if (w->nfound == w->cap) {
                Found *grown = PyMem_Realloc(w->found, 2 * w->cap * sizeof(Found));
                if (!grown) {
                    PyErr_NoMemory();
                    return -1;
                }
                w->found = grown;
                w->cap *= 2;
            }
            /* the word's first character is the one after the key's leading space; back in the
             * padded text: the last position that space stands for, and the first position the
             * space after the word stands for, minus one each */
            w->found[w->nfound] = (Found){entry->payload, r->length, w->first[start + 1] - 1, w->first[stop] - 1,
                                          last, w->nfound};
            w->nfound++;
        }
    }
    return 0;
}

/* The bodies from ``at`` on (a word start, or after a chain of it) for keys of ``chain``. */
static int walk_from(const Phrases *p, Walk *w, Py_ssize_t at, int32_t chain) {
    const Node *nodes = p->node;
    const uint16_t *classes = p->classes;
    const Py_UCS4 nclasses = (Py_UCS4)p->classes_for;
    int32_t state = 0;
    const uint32_t bit = 1u << (chain < 31 ? chain : 31);
    for (Py_ssize_t j = at; j < w->m; j++) {
        Py_UCS4 ch = w->text[j];
        int32_t cls = ch < nclasses ? classes[ch] : 0;
        if (!cls) return 0;
        state = child(p, nodes + state, cls);
        if (state < 0) return 0;
        if ((nodes[state].chains & bit) && report(p, w, nodes + state, chain, j) < 0) return -1;
    }
    return 0;
}

/* The hits of ``arg``; with ``mark``, the OR of their payloads' marks there. */
static PyObject *find_hits(Phrases *self, PyObject *arg, uint64_t *mark) {
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "find() takes a str");
        return NULL;
    }
    if (!self->payloads) { /* set last, once everything is built */
        PyErr_SetString(PyExc_RuntimeError, "Phrases not built");
        return NULL;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(arg), i, m = 0, nstarts = 0;
    int kind = PyUnicode_KIND(arg);
    const void *data = PyUnicode_DATA(arg);
    /* " " + mask + " " with each run of spaces made one; first[j]: the first position of the
     * padded text that character j stands for (first[j + 1] - 1 its last); starts: the words */
    uint32_t *text = PyMem_Malloc((n + 2) * sizeof(uint32_t));
    Py_ssize_t *first = PyMem_Malloc((n + 3) * sizeof(Py_ssize_t));
    Py_ssize_t *starts = PyMem_Malloc((n / 2 + 2) * sizeof(Py_ssize_t));
    Walk w = {text, first, 0, 1, 0, PyMem_Malloc(16 * sizeof(Found)), 0, 16};
    PyObject *result = NULL;
    if (!text || !first || !starts || !w.found) {
        PyErr_NoMemory();
        goto done;
    }
    text[m] = ' ';
    first[m++] = 0;
    {
        /* local copies: the stores below may alias them, which would be read again */
        const uint8_t *blanks = (const uint8_t *)PyBytes_AS_STRING(self->blanks);
        const Py_UCS4 nblanks = (Py_UCS4)PyBytes_GET_SIZE(self->blanks);
#define MASK(T)                                          \
    {                                                    \
        const T *src = (const T *)data;                  \
        for (i = 0; i < n; i++) {                        \
            Py_UCS4 ch = src[i];                         \
            if (ch < nblanks && blanks[ch]) ch = ' ';    \
            if (ch == ' ') {                             \
                if (text[m - 1] == ' ') continue;        \
            } else if (text[m - 1] == ' ') {             \
                starts[nstarts++] = m;                   \
            }                                            \
            text[m] = ch;                                \
            first[m++] = i + 1;                          \
        }                                                \
    }
        BY_KIND(kind, MASK);
#undef MASK
    }
    if (text[m - 1] != ' ') {
        text[m] = ' ';
        first[m++] = n + 1;
    }
    first[m] = n + 2;
    w.m = m;

    const uint16_t *classes = self->classes;
    const Py_UCS4 nclasses = (Py_UCS4)self->classes_for;
    for (Py_ssize_t s = 0; s < nstarts; s++) {
        Py_ssize_t at = starts[s];
        if (walk_from(self, &w, at, 0) < 0) goto done;
        Py_UCS4 lead = text[at];
        int32_t cls = lead < nclasses ? classes[lead] : 0;
        if (!cls) continue;
        for (int32_t k = self->by_class_first[cls]; k < self->by_class_first[cls + 1]; k++) {
            int32_t chain = self->by_class[k], len = self->chain_len[chain];
            const uint32_t *letters = self->chain_text + self->chain_at[chain];
            if (at + len >= m) continue;
            int32_t same = 1; /* the first letter is the same (its class is) */
            for (int32_t l = 1; l < len && same; l++) same = text[at + l] == letters[l];
            if (!same) continue;
            if (walk_from(self, &w, at + len, chain) < 0) goto done;
        }
    }
    Found *found = w.found;
    Py_ssize_t nfound = w.nfound;
    if (nfound > 1) {
        qsort(found, nfound, sizeof(Found), automaton_order);
        for (i = 0; i < nfound; i++) found[i].order = i;
        /* each distinct hit once, at its first place */
        qsort(found, nfound, sizeof(Found), same_hit_first);
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
    if (mark) {
        uint64_t any = 0;
        for (i = 0; i < nfound; i++) any |= self->marks[found[i].payload];
        *mark = any;
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
    PyMem_Free(starts);
    PyMem_Free(w.found);
    return result;
}

static PyObject *phrases_find(Phrases *self, PyObject *arg) { return find_hits(self, arg, NULL); }

static PyObject *phrases_find_marked(Phrases *self, PyObject *arg) {
    if (self->payloads && !self->marks) {
        PyErr_SetString(PyExc_RuntimeError, "Phrases built without marks");
        return NULL;
    }
    uint64_t mark = 0;
    PyObject *hits = find_hits(self, arg, &mark);
    if (!hits) return NULL;
    return Py_BuildValue("(NK)", hits, (unsigned long long)mark);
}

static PyMethodDef phrases_methods[] = {
    {"find", (PyCFunction)phrases_find, METH_O,
     "find(normalized) -> [(payload, start, end), ...]: the hits in the text (see phrases.c)."},
    {"find_marked", (PyCFunction)phrases_find_marked, METH_O,
     "find_marked(normalized) -> (hits, mark): find()'s hits and the OR of their payloads' marks."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject PhrasesType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "monitor.core._native.Phrases",
    .tp_basicsize = sizeof(Phrases),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Phrases(chains, keys, readings, modes, payloads, blanks, marks=None): the rule terms' trie (see "
              "phrases.c).",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)phrases_init,
    .tp_dealloc = (destructor)phrases_dealloc,
    .tp_methods = phrases_methods,
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
