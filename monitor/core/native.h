/* What the two C files of monitor.core._native share (_native.c, phrases.c). */
#ifndef MONITOR_CORE_NATIVE_H
#define MONITOR_CORE_NATIVE_H
#include <Python.h>

/* Adds the Phrases type (phrases.c) to the module. */
int native_add_phrases(PyObject *module);

#endif
