/* ocr/tesseract_network.c, as ocr/_tesseract_calls.c's Python functions ask it. */
#ifndef TGMONITOR_TESSERACT_NETWORK_H
#define TGMONITOR_TESSERACT_NETWORK_H

#include <stdint.h>

/* Whether libtesseract is loaded (a library named libtesseract.so*): its path and the bounds of its
 * code, each where asked (NULL: not asked). */
int libtesseract_loaded(const char **path, uintptr_t *code_start, uintptr_t *code_end);
/* Whether the network's bookkeeping runs here: libtesseract is the build it was read from. */
int network_is_ours(void);
/* Convolve layers run here on the calling thread. */
unsigned long network_windows_run(void);
/* LSTM time steps whose gates ran here on the calling thread. */
unsigned long network_gates_run(void);
/* Runs LSTM::Forward's gates here when ``body`` is its OpenMP sections (1), or leaves them (0). */
int network_lstm_gates(void (*body)(void *), void *data);
/* The i-th function replaced or called: its name, its code's hash as loaded and as expected (0: not
 * found, or libtesseract not loaded yet). 0 past the last one. */
int network_code(int i, const char **name, uint64_t *found, uint64_t *expected);

#endif
