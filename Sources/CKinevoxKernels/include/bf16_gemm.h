#ifndef KINEVOX_BF16_GEMM_H
#define KINEVOX_BF16_GEMM_H

#include <stddef.h>
#include <stdint.h>

/* bf16 GEMM on AVX-512 BF16 (VDPBF16PS): C (fp32, row-major) = A × B (+ bias), fp32 accumulation.
 *
 * Operands are stored as "pairs": one uint32 holds two bf16 values adjacent along K (the low half is the
 * even k), which is the unit VDPBF16PS multiplies. K odd is padded with a zero bf16.
 *  - A is pair-rows: row i holds pairs(K) uint32, row stride `lda` pairs (kv_bf16_convert_rows writes it).
 *  - B is column panels of KV_BF16_NR columns: panel p holds, for each pair index q, the KV_BF16_NR pairs of
 *    columns p·NR … p·NR+NR−1 (zero past N). Pre-packed once (kv_bf16_pack_b) or packed per call from fp32.
 *
 * Threads: every function may run on any thread at once with others on disjoint outputs (and, for
 * kv_bf16_gemm_b_fp32, their own workspace). Nothing here allocates except kv_bf16_thread_rows when it grows.
 * Work is split by column ranges (kv_bf16_column_range) so any thread pool can drive it.
 * Call nothing but kv_bf16_supported and the size helpers unless kv_bf16_supported() returns 1. */

/* Micro-tile rows and panel columns, K and N cache blocks (elements). */
enum { KV_BF16_MR = 8, KV_BF16_NR = 48, KV_BF16_KC = 256, KV_BF16_NC = 480 };

/* 1 when the CPU has AVX-512 F/BW/VL and BF16, else 0. */
int kv_bf16_supported(void);

/* Pairs per row of a K-long operand: (k + 1) / 2. */
long kv_bf16_pairs(long k);

/* uint32 count of B (K × N) packed into panels. */
long kv_bf16_packed_b_count(long k, long n);

/* Columns [*begin, *end) of an N-column product for worker `part` of `parts`: whole panels, balanced. */
void kv_bf16_column_range(long n, long parts, long part, long *begin, long *end);

/* Converts `rows` × `cols` fp32 (row stride `lds` floats) to pair-rows (row stride `ldd` pairs), rounding to
 * nearest even; an odd last column gets a zero partner. */
void kv_bf16_convert_rows(const float *src, long rows, long cols, long lds, uint32_t *dst, long ldd);

/* Packs B (K × N, element (k, n) at src[k·rs + n·cs]) into panels at dst (kv_bf16_packed_b_count uint32). */
void kv_bf16_pack_b(const float *src, long k, long n, long rs, long cs, uint32_t *dst);

/* This thread's buffer for at least `count` pair-rows uint32 (the converted activations of a product): grown when
 * a larger count is asked for, kept otherwise, freed when the thread exits. NULL when out of memory. Valid until
 * the thread's next call. */
uint32_t *kv_bf16_thread_rows(long count);

/* Columns [n0, n1) of C = A × B + bias, B pre-packed (kv_bf16_pack_b). n0 must be a multiple of KV_BF16_NR
 * (kv_bf16_column_range gives such ranges). bias_n: per column (length N) or NULL. accumulate: 1 adds to C. */
void kv_bf16_gemm_packed_b(long m, long n, long k, const uint32_t *a, long lda, const uint32_t *b,
                           const float *bias_n, float *c, long ldc, long n0, long n1, int accumulate);

/* uint32 count of the workspace one kv_bf16_gemm_b_fp32 call packs B blocks into (KC / 2 × NC, ~240 KB). */
long kv_bf16_workspace_count(void);

/* Columns [n0, n1) of C = A × B + bias with B given as fp32 row-major (K × N, row stride ldb), packed per
 * cache block into `workspace` (kv_bf16_workspace_count uint32, 64-byte aligned, one per concurrent call).
 * bias_m: per row (length M) or NULL. accumulate: 1 adds to C. */
void kv_bf16_gemm_b_fp32(long m, long n, long k, const uint32_t *a, long lda, const float *b, long ldb,
                         const float *bias_m, float *c, long ldc, long n0, long n1, int accumulate,
                         uint32_t *workspace);

/* A 1-D convolution's input read as its im2col matrix B (channels · kernel rows, one column per output position):
 * row c · kernel + j, column t holds x[c · width + t · stride + j · dilation − padding], zero outside [0, width). */
typedef struct {
    const float *x;
    long channels, width, kernel, stride, dilation, padding;
} kv_conv1d_input;

/* kv_bf16_gemm_b_fp32 with B the im2col matrix of `input` (K = channels · kernel, N output positions), packed per
 * cache block straight from the input: the same products as packing a filled im2col matrix, without filling it. */
void kv_bf16_gemm_conv1d(long m, long n, const uint32_t *a, long lda, const kv_conv1d_input *input,
                         const float *bias_m, float *c, long ldc, long n0, long n1, int accumulate, uint32_t *workspace);

#endif
