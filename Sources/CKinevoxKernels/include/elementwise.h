#ifndef KINEVOX_ELEMENTWISE_H
#define KINEVOX_ELEMENTWISE_H

/* Element-wise kernels on AVX-512: the same operations, in the same order, as the engine's portable Swift loops
 * (VectorMath.gelu and VectorMath.exp), 16 lanes at a time, so results are bit-identical to them. Any thread; in
 * place. Call only when kv_elementwise_supported() returns 1. */

/* 1 when the CPU has AVX-512 F, else 0. */
int kv_elementwise_supported(void);

/* x[i] = 0.5·x[i]·(1 + erf(x[i]·0.707106781)) for i in [0, count). */
void kv_gelu(float *x, long count);

/* x[i] = exp(x[i] − shift) for i in [0, count) (softmax's exponentials). */
void kv_exp_shifted(float *x, long count, float shift);

#endif
