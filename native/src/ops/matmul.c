/* Matrix products: the F32 GEMM entry point (panlora's kernels, or OpenBLAS loaded at run time on request), linear layers
 * over weights of any dequantizable ggml type in both directions (in F32, or in BF16 for the base weights under
 * pl_set_matmul), and the public pl_matmul / pl_matmul_t / pl_bench_sgemm / pl_bench_bgemm.
 *
 * Linear layers with a weight W (out rows of in elements):
 *  - prefill / training (n_tok > PL_ROWS_MAX_TOK): F32 W is one GEMM; other types are dequantized chunk by
 *    chunk of rows into an F32 scratch (rows in parallel) and each chunk is one GEMM;
 *  - decode (n_tok <= PL_ROWS_MAX_TOK): memory-bound, so each weight row is read once: forward splits the
 *    output rows over threads and dots each dequantized row with the n_tok inputs; the input gradient
 *    splits the columns (whole blocks) over threads and accumulates rows scaled by dy.
 * Every path fixes each output's sum order independently of scheduling, so results are deterministic
 * for a given thread count.
 */
#if defined(__x86_64__) || defined(__i386__)
#define PL_X86 1
#include <immintrin.h>
#else
#define PL_X86 0
#endif
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "common.h"
#include "ops/matmul.h"
#include "ops/sgemm.h"
#include "ops/bgemm.h"
#include "ops/qdot.h"
#include "quant/quant.h"
#include "quant/quant_internal.h"
#include "pool.h"
#include "ops/openblas.h"
#include <limits.h>

#define PL_ROWS_MAX_TOK 4                  /* n_tok up to this uses the row-streaming (decode) paths */
#define PL_SCRATCH_FLOATS (2 * 1024 * 1024) /* F32 scratch of a dequantized chunk: 8 MiB */
#define PL_CHUNK_MIN_ROWS 64
#define PL_PARALLEL_MIN_ELEMS 32768         /* smaller row sets are dequantized on one thread */

#define PL_TARGET_AVX2_FMA __attribute__((target("avx2,fma")))

/* ---- vector helpers for the decode paths ---- */

/* sum_i a[i] * b[i] with 8 fixed partial sums (portable). */
static float dot_scalar(const float *a, const float *b, int64_t n) {
    float s[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) s[j] += a[i + j] * b[i + j];
    for (; i < n; i++) s[i & 7] += a[i] * b[i];
    return ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
}

/* y[i] += alpha * x[i] (portable). */
static void axpy_scalar(float alpha, const float *x, float *y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += alpha * x[i];
}

#if PL_X86
/* sum_i a[i] * b[i] with four 8-lane FMA accumulators, reduced in a fixed order; a's elements of type T are widened to
   F32 as they are loaded (LOAD8: eight of them, ONE: one). The F16 (F16C) and BF16 (moved into the high half of an F32)
   forms make the same products in the same order as the F32 form over the dequantized row, so the same result bit for
   bit, without writing and re-reading the row. */
#define PL_DEFINE_DOT(NAME, TARGET, T, LOAD8, ONE)                                                                      \
    TARGET static float NAME(const T *a, const float *b, int64_t n) {                                                 \
        __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps(); \
        int64_t i = 0;                                                                                                 \
        for (; i + 32 <= n; i += 32) {                                                                                 \
            s0 = _mm256_fmadd_ps(LOAD8(a + i), _mm256_loadu_ps(b + i), s0);                                            \
            s1 = _mm256_fmadd_ps(LOAD8(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);                                    \
            s2 = _mm256_fmadd_ps(LOAD8(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);                                  \
            s3 = _mm256_fmadd_ps(LOAD8(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);                                  \
        }                                                                                                              \
        for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(LOAD8(a + i), _mm256_loadu_ps(b + i), s0);                     \
        const __m256 s = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));                                  \
        __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));                                 \
        h = _mm_add_ps(h, _mm_movehl_ps(h, h));                                                                        \
        h = _mm_add_ss(h, _mm_movehdup_ps(h));                                                                         \
        float r = _mm_cvtss_f32(h);                                                                                    \
        for (; i < n; i++) r += ONE(a[i]) * b[i];                                                                      \
        return r;                                                                                                      \
    }
#define PL_LOAD8_F32(p) _mm256_loadu_ps(p)
#define PL_ONE_F32(v) (v)
#define PL_LOAD8_F16(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(p)))
#define PL_LOAD8_BF16(p) _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(const void *)(p))), 16))
PL_DEFINE_DOT(dot_avx2, PL_TARGET_AVX2_FMA, float, PL_LOAD8_F32, PL_ONE_F32)
PL_DEFINE_DOT(dot_f16_avx2, __attribute__((target("avx2,fma,f16c"))), uint16_t, PL_LOAD8_F16, pl_fp16_to_fp32)
PL_DEFINE_DOT(dot_bf16_avx2, PL_TARGET_AVX2_FMA, uint16_t, PL_LOAD8_BF16, pl_bf16_to_fp32)

/* y[i] += alpha * x[i] with FMA. */
PL_TARGET_AVX2_FMA static void axpy_avx2(float alpha, const float *x, float *y, int64_t n) {
    const __m256 va = _mm256_set1_ps(alpha);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
        _mm256_storeu_ps(y + i + 8, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8)));
    }
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] = fmaf(alpha, x[i], y[i]);
}
#else /* never called: pl_cpu_has_avx2() is 0 */
static float dot_avx2(const float *a, const float *b, int64_t n) { return dot_scalar(a, b, n); }
static void axpy_avx2(float alpha, const float *x, float *y, int64_t n) { axpy_scalar(alpha, x, y, n); }
#endif

/* ---- GEMM ---- */

/* 1 if every size and stride fits OpenBLAS's 32-bit integers. */
static int fits_blas_int(int64_t M, int64_t N, int64_t K, int64_t lda, int64_t ldb, int64_t ldc) {
    return M <= INT_MAX && N <= INT_MAX && K <= INT_MAX && lda <= INT_MAX && ldb <= INT_MAX && ldc <= INT_MAX;
}

/* C = alpha * op(A) op(B) + beta * C (row-major): panlora's kernels on the engine's thread pool; OpenBLAS's cblas_sgemm
   when PANLORA_GEMM=openblas asked for it and it could be loaded at run time (ops/openblas.c). */
int32_t pl_sgemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                 const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    const pl_openblas *ob;
    if (M > 0 && N > 0 && K > 0 && alpha != 0.0f && (ob = pl_openblas_get()) != NULL && !pl_pool_in_chunk() &&
        fits_blas_int(M, N, K, lda, ldb, ldc)) {
        const int threads = pl_threads();
        if (ob->get_num_threads && ob->set_num_threads && ob->get_num_threads() != threads) ob->set_num_threads(threads);
        ob->sgemm(PL_CBLAS_ROW_MAJOR, trans_a ? PL_CBLAS_TRANS : PL_CBLAS_NO_TRANS,
                  trans_b ? PL_CBLAS_TRANS : PL_CBLAS_NO_TRANS, (int)M, (int)N, (int)K, alpha, A, (int)lda, B, (int)ldb,
                  beta, C, (int)ldc);
        return pl_ok();
    }
    return pl_sgemm_own(PL_GEMM_AUTO, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* ---- linear layers ---- */

/* Bytes of one row of in elements of type. */
static int64_t row_bytes_of(int32_t type, int64_t in) {
    return in / pl_type_block_elems(type) * pl_type_block_bytes(type);
}

/* Rows per dequantized chunk: as many as fit the scratch (at least PL_CHUNK_MIN_ROWS), a multiple of
   `multiple` when there are more rows than that, never more than out. */
static int64_t chunk_rows_for(int64_t in, int64_t out, int64_t multiple) {
    int64_t rows = PL_SCRATCH_FLOATS / in;
    if (rows < PL_CHUNK_MIN_ROWS) rows = PL_CHUNK_MIN_ROWS;
    if (rows >= out) return out;
    if (rows >= multiple) rows -= rows % multiple;
    return rows;
}

typedef struct {
    int32_t type;
    const uint8_t *w;
    int64_t row_bytes, in, out, n_tok;
    const float *x;  /* forward input x, or backward dy */
    float *y;        /* forward output y, dequantized rows, or backward dx */
    int accumulate, use_avx2;
    int half_dot; /* forward: F16/BF16 rows dotted as they are (dot_f16_avx2 / dot_bf16_avx2) */
    int64_t unit;    /* backward: columns per work unit */
    _Atomic int failed;
} rows_args;

static void dequant_chunk(void *ctx, int64_t r0, int64_t r1, int worker) {
    const rows_args *a = ctx;
    for (int64_t r = r0; r < r1; r++) pl_dequant_row(a->type, a->w + r * a->row_bytes, a->y + r * a->in, a->in);
}

/* dst[r][0..in) = rows r < n_rows of the weight starting at w, decoded to F32 (rows in chunks over the pool). */
static void dequant_rows(int32_t type, const uint8_t *w, int64_t row_bytes, int64_t in, int64_t n_rows, float *dst) {
    rows_args a = {.type = type, .w = w, .row_bytes = row_bytes, .in = in, .y = dst};
    const int width = n_rows * in < PL_PARALLEL_MIN_ELEMS ? 1 : pl_threads();
    if (width <= 1) dequant_chunk(&a, 0, n_rows, 0);
    else pl_parallel_for(n_rows, pl_grain_for(n_rows, width, 8, 1), width, dequant_chunk, &a);
}

static void forward_rows_chunk(void *ctx, int64_t o0, int64_t o1, int worker) {
    rows_args *a = ctx;
#if PL_X86
    if (a->half_dot) { /* F16 / BF16 rows widened as they are read */
        for (int64_t o = o0; o < o1; o++) {
            const uint16_t *wr = (const uint16_t *)(const void *)(a->w + o * a->row_bytes);
            for (int64_t t = 0; t < a->n_tok; t++) {
                const float *xt = a->x + t * a->in;
                const float s = a->type == PL_TYPE_F16 ? dot_f16_avx2(wr, xt, a->in) : dot_bf16_avx2(wr, xt, a->in);
                float *yo = a->y + t * a->out + o;
                *yo = a->accumulate ? *yo + s : s;
            }
        }
        return;
    }
#endif
    const int direct = a->type == PL_TYPE_F32;
    float *row = direct ? NULL : pl_scratch(PL_SCRATCH_ROWS, sizeof(float) * (size_t)a->in);
    if (!direct && !row) {
        a->failed = 1;
        return;
    }
    for (int64_t o = o0; o < o1; o++) {
        const float *wr;
        if (direct) {
            wr = (const float *)(const void *)a->w + o * a->in;
        } else {
            pl_dequant_row(a->type, a->w + o * a->row_bytes, row, a->in);
            wr = row;
        }
        for (int64_t t = 0; t < a->n_tok; t++) {
            const float *xt = a->x + t * a->in;
            const float s = a->use_avx2 ? dot_avx2(wr, xt, a->in) : dot_scalar(wr, xt, a->in);
            float *yo = a->y + t * a->out + o;
            *yo = a->accumulate ? *yo + s : s;
        }
    }
}

/* Decode forward: y[t][o] (+)= dot(W[o], x[t]) for t < n_tok, output rows in chunks over the pool. */
static int32_t linear_forward_rows(int32_t wtype, const void *w, int64_t in, int64_t out, const float *x,
                                   int64_t n_tok, float *y, int accumulate) {
    rows_args a = {.type = wtype, .w = w, .row_bytes = row_bytes_of(wtype, in), .in = in, .out = out, .n_tok = n_tok,
                   .x = x, .y = y, .accumulate = accumulate, .use_avx2 = pl_cpu_has_avx2(),
                   .half_dot = PL_X86 && ((wtype == PL_TYPE_F16 && pl_cpu_has_avx2_f16c()) || (wtype == PL_TYPE_BF16 && pl_cpu_has_avx2()))};
    const int width = out * in < PL_PARALLEL_MIN_ELEMS ? 1 : pl_threads();
    if (width <= 1) forward_rows_chunk(&a, 0, out, 0);
    else pl_parallel_for(out, pl_grain_for(out, width, 8, 16), width, forward_rows_chunk, &a);
    if (a.failed) return pl_fail(PL_ERR_OUT_OF_MEMORY, "pl_linear_forward: cannot allocate a row buffer of %lld floats", (long long)in);
    return pl_ok();
}

static void backward_rows_chunk(void *ctx, int64_t u0, int64_t u1, int worker) {
    rows_args *a = ctx;
    const int64_t block_elems = pl_type_block_elems(a->type), block_bytes = pl_type_block_bytes(a->type);
    const int64_t in = a->in, e0 = u0 * a->unit, e1 = u1 * a->unit < in ? u1 * a->unit : in;
    if (e1 <= e0) return;
    const int direct = a->type == PL_TYPE_F32;
    float *seg = direct ? NULL : pl_scratch(PL_SCRATCH_ROWS, sizeof(float) * (size_t)(e1 - e0));
    if (!direct && !seg) {
        a->failed = 1;
        return;
    }
    float *dx = a->y;
    if (!a->accumulate)
        for (int64_t t = 0; t < a->n_tok; t++) memset(dx + t * in + e0, 0, sizeof(float) * (size_t)(e1 - e0));
    for (int64_t o = 0; o < a->out; o++) {
        const float *wr;
        if (direct) {
            wr = (const float *)(const void *)a->w + o * in + e0;
        } else {
            pl_dequant_row(a->type, a->w + o * a->row_bytes + e0 / block_elems * block_bytes, seg, e1 - e0);
            wr = seg;
        }
        for (int64_t t = 0; t < a->n_tok; t++) {
            const float d = a->x[t * a->out + o];
            if (a->use_avx2) {
                axpy_avx2(d, wr, dx + t * in + e0, e1 - e0);
            } else {
                axpy_scalar(d, wr, dx + t * in + e0, e1 - e0);
            }
        }
    }
}

/* Decode input gradient: dx[t][i] (+)= sum_o dy[t][o] W[o][i], columns in chunks of whole blocks over the pool,
   rows added in order. */
static int32_t linear_backward_rows(int32_t wtype, const void *w, int64_t in, int64_t out, const float *dy,
                                    int64_t n_tok, float *dx, int accumulate) {
    const int64_t block_elems = pl_type_block_elems(wtype);
    rows_args a = {.type = wtype, .w = w, .row_bytes = row_bytes_of(wtype, in), .in = in, .out = out, .n_tok = n_tok,
                   .x = dy, .y = dx, .accumulate = accumulate, .use_avx2 = pl_cpu_has_avx2(),
                   .unit = block_elems >= 16 ? block_elems : 16};
    const int64_t n_units = (in + a.unit - 1) / a.unit;
    const int width = out * in < PL_PARALLEL_MIN_ELEMS ? 1 : pl_threads();
    if (width <= 1) backward_rows_chunk(&a, 0, n_units, 0);
    else pl_parallel_for(n_units, pl_grain_for(n_units, width, 4, 1), width, backward_rows_chunk, &a);
    if (a.failed) return pl_fail(PL_ERR_OUT_OF_MEMORY, "pl_linear_backward_input: cannot allocate a row buffer of %lld floats", (long long)in);
    return pl_ok();
}

/* y[t][o] (+)= sum_i W[o][i] x[t][i]: one GEMM for F32 W, else a GEMM per dequantized chunk of rows. */
int32_t pl_linear_forward(int32_t wtype, const void *w, int64_t in, int64_t out, const float *x, int64_t n_tok,
                          float *y, int accumulate) {
    if (n_tok <= 0 || out <= 0) return pl_ok();
    const float beta = accumulate ? 1.0f : 0.0f;
    if (n_tok <= PL_ROWS_MAX_TOK) return linear_forward_rows(wtype, w, in, out, x, n_tok, y, accumulate);
    if (wtype == PL_TYPE_F32) return pl_sgemm(0, 1, n_tok, out, in, 1.0f, x, in, w, in, beta, y, out);

    const int64_t row_bytes = row_bytes_of(wtype, in);
    const int64_t rows = chunk_rows_for(in, out, 32);
    float *scratch = pl_alloc(sizeof(float) * (size_t)(rows * in));
    if (!scratch)
        return pl_fail(PL_ERR_OUT_OF_MEMORY, "pl_linear_forward: cannot allocate %lld x %lld dequantization scratch",
                       (long long)rows, (long long)in);
    int32_t rc = PL_OK;
    for (int64_t o0 = 0; o0 < out && rc == PL_OK; o0 += rows) {
        const int64_t r = out - o0 < rows ? out - o0 : rows;
        dequant_rows(wtype, (const uint8_t *)w + o0 * row_bytes, row_bytes, in, r, scratch);
        rc = pl_sgemm(0, 1, n_tok, r, in, 1.0f, x, in, scratch, in, beta, y + o0, out);
    }
    pl_free(scratch);
    return rc;
}

/* dx[t][i] (+)= sum_o W[o][i] dy[t][o]: one GEMM for F32 W, else dx += dy[:, chunk] * W[chunk] per chunk of rows. */
int32_t pl_linear_backward_input(int32_t wtype, const void *w, int64_t in, int64_t out, const float *dy,
                                 int64_t n_tok, float *dx, int accumulate) {
    if (n_tok <= 0 || in <= 0) return pl_ok();
    const float beta = accumulate ? 1.0f : 0.0f;
    if (n_tok <= PL_ROWS_MAX_TOK) return linear_backward_rows(wtype, w, in, out, dy, n_tok, dx, accumulate);
    if (wtype == PL_TYPE_F32) return pl_sgemm(0, 0, n_tok, in, out, 1.0f, dy, out, w, in, beta, dx, in);

    const int64_t row_bytes = row_bytes_of(wtype, in);
    const int64_t rows = chunk_rows_for(in, out, 256); /* the chunk is the GEMM's K: whole K slices */
    float *scratch = pl_alloc(sizeof(float) * (size_t)(rows * in));
    if (!scratch)
        return pl_fail(PL_ERR_OUT_OF_MEMORY,
                       "pl_linear_backward_input: cannot allocate %lld x %lld dequantization scratch", (long long)rows,
                       (long long)in);
    int32_t rc = PL_OK;
    for (int64_t o0 = 0; o0 < out && rc == PL_OK; o0 += rows) {
        const int64_t r = out - o0 < rows ? out - o0 : rows;
        dequant_rows(wtype, (const uint8_t *)w + o0 * row_bytes, row_bytes, in, r, scratch);
        rc = pl_sgemm(0, 0, n_tok, in, r, 1.0f, dy + o0, out, scratch, in, o0 == 0 ? beta : 1.0f, dx, in);
    }
    pl_free(scratch);
    return rc;
}

/* ---- BF16 products of the base weights ---- */

static _Atomic int matmul_mode = PL_MATMUL_F32;

PL_EXPORT int32_t pl_set_matmul(int32_t mode) {
    PL_REQUIRE(mode == PL_MATMUL_F32 || mode == PL_MATMUL_BF16 || mode == PL_MATMUL_AUTO,
               "pl_set_matmul: mode must be PL_MATMUL_F32 (0), PL_MATMUL_BF16 (1) or PL_MATMUL_AUTO (2), got %d", mode);
    if (mode == PL_MATMUL_BF16 && !pl_bgemm_available())
        return pl_fail(PL_ERR_UNSUPPORTED, "pl_set_matmul: BF16 products need a CPU with AVX512-BF16 (this one has none); use F32 or AUTO");
    matmul_mode = mode;
    return pl_ok();
}

int pl_matmul_bf16(void) {
    const int m = matmul_mode;
    return m == PL_MATMUL_BF16 || (m == PL_MATMUL_AUTO && pl_bgemm_available());
}

int pl_matmul_fast(void) { return matmul_mode != PL_MATMUL_F32; }

PL_EXPORT int32_t pl_get_matmul(int32_t *mode) {
    PL_REQUIRE(mode, "pl_get_matmul: mode must not be NULL");
    *mode = pl_matmul_bf16() ? PL_MATMUL_BF16 : PL_MATMUL_F32;
    return pl_ok();
}

PL_EXPORT int32_t pl_cpu_has_bf16(void) { pl_clear_error(); return pl_bgemm_available(); }

/* A base-weight linear in BF16, chunk by chunk of W's rows as for quantized weights in F32 (F32 weights too: the chunk
   is converted while it is packed, so the packed panels stay small). Forward: y (+)= x Wᵀ, each chunk a block of y's
   columns. Backward (input gradient): dx (+)= dy W, each chunk a K slice of the product, added in order. */
static int32_t linear_bf16(int backward, int32_t wtype, const void *w, int64_t in, int64_t out, const float *act,
                           int64_t n_tok, float *res, int accumulate) {
    const char *fn = backward ? "pl_linear_backward_input" : "pl_linear_forward";
    const float beta = accumulate ? 1.0f : 0.0f;
    const int64_t row_bytes = row_bytes_of(wtype, in);
    const int64_t rows = chunk_rows_for(in, out, backward ? 256 : 32);
    float *scratch = NULL;
    if (wtype != PL_TYPE_F32) {
        scratch = pl_alloc(sizeof(float) * (size_t)(rows * in));
        if (!scratch)
            return pl_fail(PL_ERR_OUT_OF_MEMORY, "%s: cannot allocate %lld x %lld dequantization scratch", fn, (long long)rows,
                           (long long)in);
    }
    int32_t rc = PL_OK;
    for (int64_t o0 = 0; o0 < out && rc == PL_OK; o0 += rows) {
        const int64_t r = out - o0 < rows ? out - o0 : rows;
        const float *wr = (const float *)w + o0 * in;
        if (scratch) {
            dequant_rows(wtype, (const uint8_t *)w + o0 * row_bytes, row_bytes, in, r, scratch);
            wr = scratch;
        }
        rc = backward ? pl_bgemm(0, 0, n_tok, in, r, 1.0f, act + o0, out, wr, in, o0 == 0 ? beta : 1.0f, res, in)
                      : pl_bgemm(0, 1, n_tok, r, in, 1.0f, act, in, wr, in, beta, res + o0, out);
    }
    pl_free(scratch);
    return rc;
}

int32_t pl_base_linear_forward(int32_t wtype, const void *w, int64_t in, int64_t out, const float *x, int64_t n_tok,
                               float *y, int accumulate) {
    if (n_tok > PL_ROWS_MAX_TOK && out > 0 && pl_matmul_bf16()) return linear_bf16(0, wtype, w, in, out, x, n_tok, y, accumulate);
    if (n_tok > 0 && n_tok <= PL_ROWS_MAX_TOK && out > 0 && pl_matmul_fast() && pl_qdot_supported(wtype, in))
        return pl_qdot_forward_rows(wtype, w, in, out, x, n_tok, y, accumulate);
    return pl_linear_forward(wtype, w, in, out, x, n_tok, y, accumulate);
}

int pl_base_linear_fusable(int32_t wtype, int64_t in, int64_t n_tok) {
    return n_tok > 0 && n_tok <= PL_ROWS_MAX_TOK && pl_matmul_fast() && pl_qdot_supported(wtype, in);
}

int32_t pl_base_linear_backward_input(int32_t wtype, const void *w, int64_t in, int64_t out, const float *dy,
                                      int64_t n_tok, float *dx, int accumulate) {
    if (n_tok > PL_ROWS_MAX_TOK && in > 0 && pl_matmul_bf16()) return linear_bf16(1, wtype, w, in, out, dy, n_tok, dx, accumulate);
    return pl_linear_backward_input(wtype, w, in, out, dy, n_tok, dx, accumulate);
}

/* ---- public API ---- */

/* Checks the arguments of pl_matmul / pl_matmul_t (fn names the caller in messages). */
static int32_t check_matmul_args(const char *fn, int32_t wtype, const void *w, int64_t w_bytes, int64_t in,
                                 int64_t out, const float *act_in, const char *act_in_name, int64_t n_tok,
                                 const float *act_out, const char *act_out_name) {
    PL_REQUIRE(w != NULL, "%s: w is NULL", fn);
    PL_REQUIRE(act_in != NULL, "%s: %s is NULL", fn, act_in_name);
    PL_REQUIRE(act_out != NULL, "%s: %s is NULL", fn, act_out_name);
    PL_REQUIRE(in > 0, "%s: in must be > 0, got %lld", fn, (long long)in);
    PL_REQUIRE(out > 0, "%s: out must be > 0, got %lld", fn, (long long)out);
    PL_REQUIRE(n_tok > 0, "%s: n_tok must be > 0, got %lld", fn, (long long)n_tok);
    if (!pl_type_known(wtype)) return pl_fail(PL_ERR_INVALID_ARGUMENT, "%s: unknown weight type id %d", fn, wtype);
    PL_REQUIRE(wtype != PL_TYPE_F32 || ((uintptr_t)w & 3) == 0, "%s: F32 weight at %p is not 4-byte aligned", fn, w);
    if (!pl_type_can_dequantize(wtype))
        return pl_fail(PL_ERR_UNSUPPORTED, "%s: weight type %s (%d) cannot be dequantized", fn, pl_type_name(wtype),
                       wtype);
    const int64_t block_elems = pl_type_block_elems(wtype), block_bytes = pl_type_block_bytes(wtype);
    PL_REQUIRE(in % block_elems == 0, "%s: in = %lld is not a multiple of the %s block size %lld", fn, (long long)in,
               pl_type_name(wtype), (long long)block_elems);
    const int64_t max_floats = INT64_MAX / (int64_t)sizeof(float);
    PL_REQUIRE(in <= max_floats / n_tok && out <= max_floats / n_tok,
               "%s: n_tok = %lld with in = %lld, out = %lld overflows a 64-bit size", fn, (long long)n_tok,
               (long long)in, (long long)out);
    const int64_t row_bytes = in / block_elems * block_bytes;
    PL_REQUIRE(out <= INT64_MAX / row_bytes && in <= max_floats / PL_CHUNK_MIN_ROWS,
               "%s: a %lld x %lld %s weight overflows a 64-bit size", fn, (long long)out, (long long)in,
               pl_type_name(wtype));
    PL_REQUIRE(w_bytes >= row_bytes * out, "%s: w_bytes = %lld, but a %lld x %lld %s weight takes %lld bytes", fn,
               (long long)w_bytes, (long long)out, (long long)in, pl_type_name(wtype), (long long)(row_bytes * out));
    return pl_ok();
}

/* y[t][o] = sum_i W[o][i] x[t][i]. */
PL_EXPORT int32_t pl_matmul(int32_t wtype, const void *w, int64_t w_bytes, int64_t in, int64_t out, const float *x,
                            int64_t n_tok, float *y) {
    PL_TRY(check_matmul_args("pl_matmul", wtype, w, w_bytes, in, out, x, "x", n_tok, y, "y"));
    return pl_linear_forward(wtype, w, in, out, x, n_tok, y, 0);
}

/* dx[t][i] = sum_o W[o][i] dy[t][o]. */
PL_EXPORT int32_t pl_matmul_t(int32_t wtype, const void *w, int64_t w_bytes, int64_t in, int64_t out, const float *dy,
                              int64_t n_tok, float *dx) {
    PL_TRY(check_matmul_args("pl_matmul_t", wtype, w, w_bytes, in, out, dy, "dy", n_tok, dx, "dx"));
    return pl_linear_backward_input(wtype, w, in, out, dy, n_tok, dx, 0);
}

/* Times reps square n x n x n products of a GEMM (bf16: pl_bgemm with B transposed, as the base weights are; else
   pl_sgemm) after one warm-up: GFLOP/s = 2 n^3 reps / seconds / 1e9; fn names the caller in messages. */
static int32_t bench_gemm(const char *fn, int bf16, int64_t n, int32_t reps, double *gflops) {
    PL_REQUIRE(gflops != NULL, "%s: gflops is NULL", fn);
    PL_REQUIRE(n >= 1 && n <= 16384, "%s: n must be in 1..16384, got %lld", fn, (long long)n);
    PL_REQUIRE(reps >= 1, "%s: reps must be >= 1, got %d", fn, reps);
    const size_t count = (size_t)(n * n);
    float *a = pl_alloc(sizeof(float) * count), *b = pl_alloc(sizeof(float) * count), *c = pl_alloc(sizeof(float) * count);
    if (!a || !b || !c) {
        pl_free(a);
        pl_free(b);
        pl_free(c);
        return pl_fail(PL_ERR_OUT_OF_MEMORY, "%s: cannot allocate three %lld x %lld matrices", fn, (long long)n, (long long)n);
    }
    for (size_t i = 0; i < count; i++) {
        a[i] = (float)((i * 7 + 3) % 17) * 0.0625f - 0.5f;
        b[i] = (float)((i * 5 + 1) % 13) * 0.0625f - 0.375f;
    }
    int32_t rc = PL_OK;
    double t0 = 0;
    for (int32_t r = -1; r < reps && rc == PL_OK; r++) { /* r = -1: the warm-up */
        if (r == 0) t0 = pl_seconds();
        rc = bf16 ? pl_bgemm(0, 1, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n) : pl_sgemm(0, 0, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    }
    const double seconds = pl_seconds() - t0;
    pl_free(a);
    pl_free(b);
    pl_free(c);
    PL_TRY(rc);
    *gflops = seconds > 0 ? 2.0 * (double)n * (double)n * (double)n * (double)reps / seconds / 1e9 : 0.0;
    return pl_ok();
}

PL_EXPORT int32_t pl_bench_sgemm(int64_t n, int32_t reps, double *gflops) {
    return bench_gemm("pl_bench_sgemm", 0, n, reps, gflops);
}

PL_EXPORT int32_t pl_bench_bgemm(int64_t n, int32_t reps, double *gflops) {
    if (!pl_bgemm_available()) return pl_fail(PL_ERR_UNSUPPORTED, "pl_bench_bgemm: this CPU has no AVX512-BF16");
    return bench_gemm("pl_bench_bgemm", 1, n, reps, gflops);
}
