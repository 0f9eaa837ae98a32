/* Element-wise kernels on AVX-512 (see include/elementwise.h). Every step mirrors VectorMath.exp / erf / gelu in KinevoxEngine: separate
 * multiplies and adds (no fused multiply-add), the same constants, the same evaluation order, and min/max with the
 * constant first so that a NaN passes through as Swift's min/max let it. */
#include "elementwise.h"

#include <immintrin.h>

#pragma clang fp contract(off)

#define KV_TARGET __attribute__((target("avx512f")))
#define KV_INLINE static inline __attribute__((always_inline))

int kv_elementwise_supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}

KV_INLINE KV_TARGET __m512 mul(__m512 a, __m512 b) { return _mm512_mul_ps(a, b); }
KV_INLINE KV_TARGET __m512 add(__m512 a, __m512 b) { return _mm512_add_ps(a, b); }
KV_INLINE KV_TARGET __m512 splat(float v) { return _mm512_set1_ps(v); }

/* c[0] + x·(c[1] + x·(… + x·c[n − 1])), innermost product first. */
KV_INLINE KV_TARGET __m512 horner(__m512 x, const float *c, int n) {
    __m512 sum = splat(c[n - 1]);
    for (int i = n - 2; i >= 0; i--) sum = add(splat(c[i]), mul(x, sum));
    return sum;
}

/* VectorMath.exp: e^x, 0 below −87. */
KV_INLINE KV_TARGET __m512 exp16(__m512 x) {
    __m512 clamped = _mm512_min_ps(splat(88.0f), _mm512_max_ps(splat(-87.0f), x));
    const float shifter = 12582912.0f;
    __m512 shifted = add(mul(clamped, splat(1.44269504f)), splat(shifter));
    __m512 n = _mm512_sub_ps(shifted, splat(shifter));
    __m512 r = _mm512_sub_ps(_mm512_sub_ps(clamped, mul(n, splat(0.693359375f))), mul(n, splat(-2.1219444e-4f)));
    static const float expTerms[] = {0.5f, 0.166666667f, 0.041666504f, 0.008333304f, 0.001392957f, 0.000198948f};
    __m512 p = horner(r, expTerms, 6);
    __m512i bits = _mm512_slli_epi32(_mm512_add_epi32(_mm512_sub_epi32(_mm512_castps_si512(shifted),
                                                                       _mm512_set1_epi32(0x4B400000)), _mm512_set1_epi32(127)), 23);
    __m512 value = mul(add(add(splat(1.0f), r), mul(mul(r, r), p)), _mm512_castsi512_ps(bits));
    return _mm512_maskz_mov_ps(~_mm512_cmp_ps_mask(x, splat(-87.0f), _CMP_LT_OQ), value);
}

/* VectorMath.erfNear: a·P(a²) for 0 ≤ a < 1.5. */
KV_INLINE KV_TARGET __m512 erf_near(__m512 a) {
    static const float terms[] = {1.12837916f, -0.376125805f, 0.112832052f, -0.026843703f, 0.005181442f,
                                  -0.000810438874f, 9.40008535e-5f, -5.92169564e-6f};
    return mul(a, horner(mul(a, a), terms, 8));
}

/* VectorMath.erfFar: 1 − e^{−a²}·Q(1/a)/a for 1.5 ≤ a ≤ 3.92. */
KV_INLINE KV_TARGET __m512 erf_far(__m512 a) {
    __m512 t = _mm512_div_ps(splat(1.0f), _mm512_max_ps(splat(1.5f), a));
    static const float terms[] = {0.563640859f, 0.00918882579f, -0.344400066f, 0.208313105f, 0.138698627f,
                                  -0.240596142f, 0.0938813444f};
    __m512 tail = horner(t, terms, 7);
    __m512 e = exp16(_mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(mul(a, a)), _mm512_set1_epi32((int)0x80000000u))));
    return _mm512_sub_ps(splat(1.0f), mul(mul(e, tail), t));
}

/* GELU of the `lanes` of the 16 floats at x, in place. */
KV_INLINE KV_TARGET void gelu16(float *x, __mmask16 lanes) {
    __m512 v = _mm512_maskz_loadu_ps(lanes, x);
    __m512 u = mul(v, splat(0.707106781f));
    __m512i sign = _mm512_and_si512(_mm512_castps_si512(u), _mm512_set1_epi32((int)0x80000000u));
    __m512 a = _mm512_min_ps(splat(3.92f),
                             _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(u), _mm512_set1_epi32(0x7fffffff))));
    __mmask16 near = _mm512_cmp_ps_mask(a, splat(1.5f), _CMP_LT_OQ);
    __m512 magnitude = erf_near(a);
    if ((__mmask16)(near | ~lanes) != 0xffff) magnitude = _mm512_mask_blend_ps(near, erf_far(a), magnitude);
    __m512 erf = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(magnitude), sign));
    _mm512_mask_storeu_ps(x, lanes, mul(mul(splat(0.5f), v), add(splat(1.0f), erf)));
}

KV_TARGET void kv_gelu(float *x, long count) {
    long i = 0;
    for (; i + 16 <= count; i += 16) gelu16(x + i, 0xffff);
    if (i < count) gelu16(x + i, (__mmask16)((1u << (count - i)) - 1));
}

KV_TARGET void kv_exp_shifted(float *x, long count, float shift) {
    long i = 0;
    for (; i + 16 <= count; i += 16) _mm512_storeu_ps(x + i, exp16(_mm512_sub_ps(_mm512_loadu_ps(x + i), splat(shift))));
    if (i < count) {
        __mmask16 lanes = (__mmask16)((1u << (count - i)) - 1);
        _mm512_mask_storeu_ps(x + i, lanes, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(lanes, x + i), splat(shift))));
    }
}
