/* bf16 GEMM for AVX-512 BF16 (see include/bf16_gemm.h for the operand layouts and threading contract). */
#include "bf16_gemm.h"

#include <immintrin.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define KV_TARGET __attribute__((target("avx512f,avx512bf16,avx512bw,avx512vl")))
#define KV_INLINE static inline __attribute__((always_inline))
/* Fully unrolls the next loop (over a tile's rows or vectors), so the accumulators stay in registers. */
#define UNROLLED _Pragma("clang loop unroll(full)")

enum { QC = KV_BF16_KC / 2, VECS = KV_BF16_NR / 16 };

_Static_assert(KV_BF16_KC % 2 == 0, "K block must hold whole pairs");
_Static_assert(KV_BF16_NR % 16 == 0 && KV_BF16_NC % KV_BF16_NR == 0, "panels are whole zmm vectors");

int kv_bf16_supported(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
        && __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bf16");
}

long kv_bf16_pairs(long k) { return (k + 1) / 2; }

long kv_bf16_packed_b_count(long k, long n) {
    return (n + KV_BF16_NR - 1) / KV_BF16_NR * kv_bf16_pairs(k) * KV_BF16_NR;
}

void kv_bf16_column_range(long n, long parts, long part, long *begin, long *end) {
    long panels = (n + KV_BF16_NR - 1) / KV_BF16_NR;
    if (parts < 1) parts = 1;
    long first = panels * part / parts, last = panels * (part + 1) / parts;
    *begin = first * KV_BF16_NR < n ? first * KV_BF16_NR : n;
    *end = last * KV_BF16_NR < n ? last * KV_BF16_NR : n;
}

/* fp32 → bf16 bits, round to nearest even (quiet NaN kept NaN). */
static uint32_t bf16_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (u >> 16) | 0x40u;
    return (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
}

void kv_bf16_pack_b(const float *src, long k, long n, long rs, long cs, uint32_t *dst) {
    long pairs = kv_bf16_pairs(k);
    for (long p0 = 0; p0 < n; p0 += KV_BF16_NR) {
        for (long q = 0; q < pairs; q++) {
            for (long j = 0; j < KV_BF16_NR; j++) {
                long col = p0 + j, k0 = 2 * q;
                uint32_t lo = 0, hi = 0;
                if (col < n) {
                    lo = bf16_bits(src[k0 * rs + col * cs]);
                    if (k0 + 1 < k) hi = bf16_bits(src[(k0 + 1) * rs + col * cs]);
                }
                *dst++ = lo | hi << 16;
            }
        }
    }
}

KV_TARGET void kv_bf16_convert_rows(const float *src, long rows, long cols, long lds, uint32_t *dst, long ldd) {
    for (long r = 0; r < rows; r++) {
        const float *s = src + r * lds;
        uint32_t *d = dst + r * ldd;
        long c = 0;
        for (; c + 32 <= cols; c += 32) {
            __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(s + c + 16), _mm512_loadu_ps(s + c));
            _mm512_storeu_si512(d + c / 2, (__m512i)v);
        }
        long left = cols - c;
        if (left > 0) {
            __mmask16 lo = (__mmask16)(left >= 16 ? 0xffff : (1u << left) - 1);
            __mmask16 hi = (__mmask16)(left <= 16 ? 0 : (1u << (left - 16)) - 1);
            __m512bh v = _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(hi, s + c + 16), _mm512_maskz_loadu_ps(lo, s + c));
            long pairs = (left + 1) / 2;
            _mm512_mask_storeu_epi32(d + c / 2, (__mmask16)((1u << pairs) - 1), (__m512i)v);
        }
    }
}

/* 16 pairs from rows k (low halves) and k + 1 (high halves) of 16 fp32 columns each, `mask` columns valid. */
KV_INLINE KV_TARGET __m512i pair_rows(const float *row0, const float *row1, __mmask16 mask) {
    __m256bh lo = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(mask, row0));
    __m512i wide = _mm512_cvtepu16_epi32((__m256i)lo);
    if (row1) {
        __m256bh hi = _mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(mask, row1));
        wide = _mm512_or_si512(wide, _mm512_slli_epi32(_mm512_cvtepu16_epi32((__m256i)hi), 16));
    }
    return wide;
}

/* Packs rows [k0, k0 + kc) × columns [n0, n0 + nc) of fp32 row-major B into panels of pairs(kc) pairs. */
KV_INLINE KV_TARGET void pack_block(const float *b, long ldb, long k0, long kc, long n0, long nc, uint32_t *dst) {
    long pairs = kv_bf16_pairs(kc);
    for (long p = 0; p < nc; p += KV_BF16_NR) {
        for (long q = 0; q < pairs; q++) {
            const float *row0 = b + (k0 + 2 * q) * ldb + n0 + p;
            const float *row1 = 2 * q + 1 < kc ? row0 + ldb : NULL;
            for (int v = 0; v < VECS; v++) {
                long left = nc - p - 16 * v;
                __mmask16 mask = (__mmask16)(left >= 16 ? 0xffff : left <= 0 ? 0 : (1u << left) - 1);
                _mm512_storeu_si512(dst + v * 16, pair_rows(row0 + 16 * v, row1 ? row1 + 16 * v : NULL, mask));
            }
            dst += KV_BF16_NR;
        }
    }
}

/* Bits [max(0, -p0), min(16, width - p0)) of 16: the lanes of positions p0 … p0 + 15 that lie inside [0, width). */
KV_INLINE __mmask16 inside_mask(long p0, long width) {
    long lo = p0 < 0 ? -p0 : 0, hi = width - p0 < 16 ? width - p0 : 16;
    if (hi <= lo) return 0;
    return (__mmask16)(((1u << hi) - 1) & ~((1u << lo) - 1));
}

/* 16 columns t0 … t0 + 15 of one im2col row of a 1-D convolution: plane[t·stride + shift], zero outside the plane
 * [0, width) and in lanes off `columns`. */
KV_INLINE KV_TARGET __m512 conv_row(const float *plane, long width, long stride, long shift, long t0, __mmask16 columns) {
    long p0 = t0 * stride + shift;
    if (stride == 1) return _mm512_maskz_loadu_ps(inside_mask(p0, width) & columns, plane + p0);
    if (stride == 2) {
        const __m512i evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        __m512 lo = _mm512_maskz_loadu_ps(inside_mask(p0, width), plane + p0);
        __m512 hi = _mm512_maskz_loadu_ps(inside_mask(p0 + 16, width), plane + p0 + 16);
        return _mm512_maskz_permutex2var_ps(columns, lo, evens, hi);
    }
    __m512i at = _mm512_add_epi32(_mm512_set1_epi32((int)p0),
                                  _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                                     _mm512_set1_epi32((int)stride)));
    __mmask16 inside = _mm512_cmpge_epi32_mask(at, _mm512_setzero_si512())
                     & _mm512_cmplt_epi32_mask(at, _mm512_set1_epi32((int)width)) & columns;
    return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), inside, at, plane, 4);
}

/* pack_block for B the im2col matrix of the 1-D convolution `in`, read from its input directly. */
KV_INLINE KV_TARGET void pack_conv_block(const kv_conv1d_input *in, long k0, long kc, long n0, long nc, uint32_t *dst) {
    long pairs = kv_bf16_pairs(kc);
    const float *planes[KV_BF16_KC];
    long shifts[KV_BF16_KC];
    for (long r = 0; r < kc; r++) {
        long channel = (k0 + r) / in->kernel, tap = (k0 + r) % in->kernel;
        planes[r] = in->x + channel * in->width;
        shifts[r] = tap * in->dilation - in->padding;
    }
    for (long p = 0; p < nc; p += KV_BF16_NR) {
        for (long q = 0; q < pairs; q++) {
            long r0 = 2 * q, r1 = 2 * q + 1;
            for (int v = 0; v < VECS; v++) {
                long t0 = n0 + p + 16 * v, left = nc - p - 16 * v;
                __mmask16 columns = (__mmask16)(left >= 16 ? 0xffff : left <= 0 ? 0 : (1u << left) - 1);
                __m256bh lo = _mm512_cvtneps_pbh(conv_row(planes[r0], in->width, in->stride, shifts[r0], t0, columns));
                __m512i wide = _mm512_cvtepu16_epi32((__m256i)lo);
                if (r1 < kc) {
                    __m256bh hi = _mm512_cvtneps_pbh(conv_row(planes[r1], in->width, in->stride, shifts[r1], t0, columns));
                    wide = _mm512_or_si512(wide, _mm512_slli_epi32(_mm512_cvtepu16_epi32((__m256i)hi), 16));
                }
                _mm512_storeu_si512(dst + v * 16, wide);
            }
            dst += KV_BF16_NR;
        }
    }
}

/* One ROWS × NR tile over `pairs` pairs: acc = A[rows] · B panel; then C = acc (+ C when load_c) (+ biases). */
KV_INLINE KV_TARGET void tile(const int rows, long pairs, const uint32_t *a, long lda, const uint32_t *b, float *c,
                              long ldc, long cols, int load_c, const float *bias_n, const float *bias_m) {
    __m512 acc[KV_BF16_MR][VECS];
    UNROLLED for (int r = 0; r < rows; r++)
        UNROLLED for (int v = 0; v < VECS; v++) acc[r][v] = _mm512_setzero_ps();
    for (long q = 0; q < pairs; q++) {
        __m512bh bv[VECS];
        UNROLLED for (int v = 0; v < VECS; v++) bv[v] = (__m512bh)_mm512_loadu_si512(b + q * KV_BF16_NR + 16 * v);
        UNROLLED for (int r = 0; r < rows; r++) {
            __m512bh av = (__m512bh)_mm512_set1_epi32((int)a[r * lda + q]);
            UNROLLED for (int v = 0; v < VECS; v++) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], av, bv[v]);
        }
    }
    __mmask16 masks[VECS];
    UNROLLED for (int v = 0; v < VECS; v++) {
        long left = cols - 16 * v;
        masks[v] = (__mmask16)(left >= 16 ? 0xffff : left <= 0 ? 0 : (1u << left) - 1);
    }
    UNROLLED for (int r = 0; r < rows; r++) {
        float *cr = c + r * ldc;
        __m512 rowBias = _mm512_set1_ps(bias_m ? bias_m[r] : 0.0f);
        UNROLLED for (int v = 0; v < VECS; v++) {
            __m512 out = acc[r][v];
            if (load_c) out = _mm512_add_ps(out, _mm512_maskz_loadu_ps(masks[v], cr + 16 * v));
            if (bias_n) out = _mm512_add_ps(out, _mm512_maskz_loadu_ps(masks[v], bias_n + 16 * v));
            if (bias_m) out = _mm512_add_ps(out, rowBias);
            _mm512_mask_storeu_ps(cr + 16 * v, masks[v], out);
        }
    }
}

/* All rows of one panel column: tiles of MR rows, then the remainder as tiles of 4, 2 and 1 rows (three tile shapes
 * instead of seven keeps the code small). */
KV_TARGET static void panel_rows(long m, long pairs, const uint32_t *a, long lda, const uint32_t *b, float *c, long ldc,
                                 long cols, int load_c, const float *bias_n, const float *bias_m) {
    long i = 0;
    for (; i + KV_BF16_MR <= m; i += KV_BF16_MR)
        tile(KV_BF16_MR, pairs, a + i * lda, lda, b, c + i * ldc, ldc, cols, load_c, bias_n, bias_m ? bias_m + i : NULL);
    if (m - i >= 4) {
        tile(4, pairs, a + i * lda, lda, b, c + i * ldc, ldc, cols, load_c, bias_n, bias_m ? bias_m + i : NULL);
        i += 4;
    }
    if (m - i >= 2) {
        tile(2, pairs, a + i * lda, lda, b, c + i * ldc, ldc, cols, load_c, bias_n, bias_m ? bias_m + i : NULL);
        i += 2;
    }
    if (m - i >= 1) tile(1, pairs, a + i * lda, lda, b, c + i * ldc, ldc, cols, load_c, bias_n, bias_m ? bias_m + i : NULL);
}

/* K = 0: C = bias (or C + bias). */
static void bias_only(long m, long ldc, float *c, long n0, long n1, int accumulate, const float *bias_n, const float *bias_m) {
    for (long i = 0; i < m; i++)
        for (long j = n0; j < n1; j++) {
            float v = (accumulate ? c[i * ldc + j] : 0.0f) + (bias_n ? bias_n[j] : 0.0f) + (bias_m ? bias_m[i] : 0.0f);
            c[i * ldc + j] = v;
        }
}

KV_TARGET void kv_bf16_gemm_packed_b(long m, long n, long k, const uint32_t *a, long lda, const uint32_t *b,
                                     const float *bias_n, float *c, long ldc, long n0, long n1, int accumulate) {
    if (n1 > n) n1 = n;
    long pairs = kv_bf16_pairs(k);
    if (pairs == 0) { bias_only(m, ldc, c, n0, n1, accumulate, bias_n, NULL); return; }
    long panelStride = pairs * KV_BF16_NR;
    for (long q0 = 0; q0 < pairs; q0 += QC) {
        long qc = pairs - q0 < QC ? pairs - q0 : QC;
        int first = q0 == 0;
        for (long j = n0; j < n1; j += KV_BF16_NR) {
            long cols = n1 - j < KV_BF16_NR ? n1 - j : KV_BF16_NR;
            panel_rows(m, qc, a + q0, lda, b + (j / KV_BF16_NR) * panelStride + q0 * KV_BF16_NR, c + j, ldc, cols,
                       first ? accumulate : 1, first && bias_n ? bias_n + j : NULL, NULL);
        }
    }
}

/* Per-thread growable buffer for activation pair-rows, freed when the thread exits. */
struct ThreadRows {
    uint32_t *rows;
    long capacity;
};

static pthread_key_t rowsKey;
static pthread_once_t rowsKeyOnce = PTHREAD_ONCE_INIT;

static void freeRows(void *value) {
    struct ThreadRows *rows = value;
    free(rows->rows);
    free(rows);
}

static void makeRowsKey(void) { pthread_key_create(&rowsKey, freeRows); }

uint32_t *kv_bf16_thread_rows(long count) {
    pthread_once(&rowsKeyOnce, makeRowsKey);
    struct ThreadRows *rows = pthread_getspecific(rowsKey);
    if (!rows) {
        rows = calloc(1, sizeof *rows);
        if (!rows || pthread_setspecific(rowsKey, rows) != 0) { free(rows); return NULL; }
    }
    if (count > rows->capacity) {
        long rounded = (count + 15) / 16 * 16;
        uint32_t *grown = aligned_alloc(64, (size_t)rounded * sizeof(uint32_t));
        if (!grown) return NULL;
        free(rows->rows);
        rows->rows = grown;
        rows->capacity = rounded;
    }
    return rows->rows;
}

long kv_bf16_workspace_count(void) { return (long)QC * KV_BF16_NC; }

/* Columns [n0, n1) of C = A × B + bias_m with B packed per cache block into `packed`: from the fp32 rows of `b`
 * (row stride ldb), or, when `conv` is set, from the convolution input it describes. */
KV_INLINE KV_TARGET void gemm_blocks(long m, long n, long k, const uint32_t *a, long lda, const float *b, long ldb,
                                     const kv_conv1d_input *conv, const float *bias_m, float *c, long ldc, long n0, long n1,
                                     int accumulate, uint32_t *packed) {
    if (n1 > n) n1 = n;
    long pairs = kv_bf16_pairs(k);
    if (pairs == 0) { bias_only(m, ldc, c, n0, n1, accumulate, NULL, bias_m); return; }
    for (long jc = n0; jc < n1; jc += KV_BF16_NC) {
        long nc = n1 - jc < KV_BF16_NC ? n1 - jc : KV_BF16_NC;
        for (long q0 = 0; q0 < pairs; q0 += QC) {
            long qc = pairs - q0 < QC ? pairs - q0 : QC;
            long kc = k - 2 * q0 < 2 * QC ? k - 2 * q0 : 2 * QC;
            int first = q0 == 0;
            if (conv) pack_conv_block(conv, 2 * q0, kc, jc, nc, packed);
            else pack_block(b, ldb, 2 * q0, kc, jc, nc, packed);
            for (long j = 0; j < nc; j += KV_BF16_NR) {
                long cols = nc - j < KV_BF16_NR ? nc - j : KV_BF16_NR;
                panel_rows(m, qc, a + q0, lda, packed + (j / KV_BF16_NR) * qc * KV_BF16_NR, c + jc + j, ldc, cols,
                           first ? accumulate : 1, NULL, first ? bias_m : NULL);
            }
        }
    }
}

KV_TARGET void kv_bf16_gemm_b_fp32(long m, long n, long k, const uint32_t *a, long lda, const float *b, long ldb,
                                   const float *bias_m, float *c, long ldc, long n0, long n1, int accumulate,
                                   uint32_t *packed) {
    gemm_blocks(m, n, k, a, lda, b, ldb, NULL, bias_m, c, ldc, n0, n1, accumulate, packed);
}

KV_TARGET void kv_bf16_gemm_conv1d(long m, long n, const uint32_t *a, long lda, const kv_conv1d_input *input,
                                   const float *bias_m, float *c, long ldc, long n0, long n1, int accumulate,
                                   uint32_t *packed) {
    gemm_blocks(m, n, input->channels * input->kernel, a, lda, NULL, 0, input, bias_m, c, ldc, n0, n1, accumulate, packed);
}
