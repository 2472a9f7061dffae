/* What the two C files of monitor.core._native share (_native.c, phrases.c). */
#ifndef MONITOR_CORE_NATIVE_H
#define MONITOR_CORE_NATIVE_H
#include <Python.h>
#include <stdint.h>

/* The matcher's mask: non-zero for each code point blank() makes a space (set_blanks). */
extern uint8_t *native_blank_table;
extern Py_ssize_t native_blank_size;

/* Adds the Phrases type (phrases.c) to the module. */
int native_add_phrases(PyObject *module);

#endif
