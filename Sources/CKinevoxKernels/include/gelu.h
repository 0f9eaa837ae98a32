#ifndef KINEVOX_GELU_H
#define KINEVOX_GELU_H

/* GELU (erf form) on AVX-512: the same operations, in the same order, as the engine's portable Swift loop
 * (VectorMath.gelu), 16 lanes at a time, so results are bit-identical to it. Any thread; in place.
 * Call only when kv_gelu_supported() returns 1. */

/* 1 when the CPU has AVX-512 F, else 0. */
int kv_gelu_supported(void);

/* x[i] = 0.5·x[i]·(1 + erf(x[i]·0.707106781)) for i in [0, count). */
void kv_gelu(float *x, long count);

#endif
