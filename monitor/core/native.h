/* What the two C files of monitor.core._native share (_native.c, phrases.c). */
#ifndef MONITOR_CORE_NATIVE_H
#define MONITOR_CORE_NATIVE_H
#include <Python.h>

/* ``LOOP(T)`` for the kind of str ``kind`` is, T its code unit: one loop per kind, since a switch
 * per character (PyUnicode_READ) cost a third of a scan. */
#define BY_KIND(kind, LOOP)                   \
    do {                                      \
        if ((kind) == PyUnicode_1BYTE_KIND)   \
            LOOP(Py_UCS1)                     \
        else if ((kind) == PyUnicode_2BYTE_KIND) \
            LOOP(Py_UCS2)                     \
        else                                  \
            LOOP(Py_UCS4)                     \
    } while (0)

/* Adds the Phrases type (phrases.c) to the module. */
int native_add_phrases(PyObject *module);

#endif
