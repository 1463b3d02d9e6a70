/* Tests of the matrix products: pl_sgemm and every GEMM kernel this CPU runs (all transpose combinations,
   ragged sizes, alpha/beta, padded strides, K = 0, beta = 0 over NaN garbage), pl_linear_forward /
   pl_linear_backward_input over weights of every quantizable type (decode and GEMM paths, chunking,
   accumulate) against double-precision loops over the dequantized weights, bit-identical repeat runs,
   and argument checks of pl_matmul / pl_matmul_t / pl_bench_sgemm; the BF16 path (pl_bgemm and the base-weight
   linears under pl_set_matmul) against double loops over BF16-rounded inputs, where the CPU has AVX512-BF16.
   Prints "matmul: N passed, M failed"; exits non-zero on any failure. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common.h"
#include "ops/matmul.h"
#include "ops/sgemm.h"
#include "ops/bgemm.h"
#include "ops/qdot.h"
#include "panlora.h"
#include "quant/quant.h"

static int passed = 0, failed = 0;
static int test_threads = 2; /* thread count of the tests (the determinism test also uses 1) */

/* Records one check; prints the failures. */
static void check(int ok, const char *what) {
    if (ok) {
        passed++;
    } else {
        failed++;
        printf("FAIL: %s\n", what);
    }
}

/* Records one check with a formatted description. */
#define CHECKF(ok, ...)                                       \
    do {                                                      \
        char check_msg_[512];                                 \
        snprintf(check_msg_, sizeof check_msg_, __VA_ARGS__); \
        check((ok), check_msg_);                              \
    } while (0)

/* ---- deterministic random numbers ---- */

typedef struct { uint64_t state; } rng_t;

/* Next 64 random bits (xorshift64*). */
static uint64_t rng_next(rng_t *r) {
    r->state ^= r->state >> 12;
    r->state ^= r->state << 25;
    r->state ^= r->state >> 27;
    return r->state * 0x2545F4914F6CDD1DULL;
}

/* Uniform float in [-1, 1). */
static float rng_float(rng_t *r) { return (float)((double)(rng_next(r) >> 40) / (double)(1ULL << 23) - 1.0); }

/* Fills x[0..n) with uniform floats in [-1, 1). */
static void fill(rng_t *r, float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = rng_float(r);
}

/* Fills x[0..n) with NaN (garbage an output must never read). */
static void fill_nan(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = NAN;
}

/* malloc that aborts the test on failure. */
static void *xmalloc(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) {
        printf("FAIL: out of memory (%zu bytes)\n", bytes);
        exit(2);
    }
    return p;
}

/* ---- GEMM ---- */

/* Element (i, k) of op(X) for X stored row-major with stride ld. */
static float op_at(const float *X, int64_t ld, int trans, int64_t i, int64_t k) {
    return trans ? X[k * ld + i] : X[i * ld + k];
}

/* Runs one GEMM (kernel -1: pl_sgemm, KERNEL_BF16: pl_bgemm, else pl_sgemm_own with that kernel) and compares each
   element with a double-precision loop (over the BF16-rounded operands for pl_bgemm): |C - ref| <= 1e-5 sqrt(K+1)
   (|alpha| sum_k |a b| + |beta c|); pl_bgemm also within the BF16 rounding bound 2^-7 of that magnitude of the unrounded
   product. Also checks that C's stride padding is untouched. Returns 1 if all match. */
#define KERNEL_BF16 (-2)
static int gemm_case(rng_t *r, int kernel, int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha, float beta,
                     int64_t pad) {
    const int64_t a_rows = ta ? K : M, a_cols = ta ? M : K;
    const int64_t b_rows = tb ? N : K, b_cols = tb ? K : N;
    const int64_t lda = a_cols + pad, ldb = b_cols + pad, ldc = N + pad;
    float *A = xmalloc(sizeof(float) * (size_t)(a_rows * lda + 1));
    float *B = xmalloc(sizeof(float) * (size_t)(b_rows * ldb + 1));
    float *C = xmalloc(sizeof(float) * (size_t)(M * ldc));
    float *C0 = xmalloc(sizeof(float) * (size_t)(M * ldc));
    fill(r, A, a_rows * lda);
    fill(r, B, b_rows * ldb);
    fill(r, C0, M * ldc);
    if (beta == 0.0f) /* C must not be read: NaN everywhere except the padding, which must stay as it was */
        for (int64_t i = 0; i < M; i++) fill_nan(C0 + i * ldc, N);
    memcpy(C, C0, sizeof(float) * (size_t)(M * ldc));
    const int bf16 = kernel == KERNEL_BF16;
    const int32_t rc = bf16 ? pl_bgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)
                       : kernel < 0 ? pl_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)
                                    : pl_sgemm_own(kernel, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    int ok = rc == PL_OK;
    double worst = 0;
    for (int64_t i = 0; i < M && ok; i++) {
        for (int64_t j = 0; j < ldc; j++) {
            const float got = C[i * ldc + j];
            if (j >= N) { /* padding */
                if (memcmp(&got, &C0[i * ldc + j], sizeof got) != 0) ok = 0;
                continue;
            }
            double ref = 0, ref32 = 0, mag = 0;
            for (int64_t k = 0; k < K; k++) {
                const float a = op_at(A, lda, ta, i, k), b = op_at(B, ldb, tb, k, j);
                const double p = (double)a * (double)b;
                ref += bf16 ? (double)pl_bf16_round(a) * (double)pl_bf16_round(b) : p;
                ref32 += p;
                mag += fabs(p);
            }
            ref *= alpha;
            ref32 *= alpha;
            mag *= fabs(alpha);
            if (beta != 0.0f) {
                ref += (double)beta * C0[i * ldc + j];
                ref32 += (double)beta * C0[i * ldc + j];
                mag += fabs((double)beta * C0[i * ldc + j]);
            }
            const double err = fabs((double)got - ref), tol = 1e-5 * sqrt((double)K + 1) * mag + 1e-30;
            if (!(err <= tol)) ok = 0;
            if (bf16 && !(fabs((double)got - ref32) <= 0.0079 * mag + 1e-30)) ok = 0; /* 2 * 2^-8: both operands rounded */
            if (err / (mag + 1e-30) > worst) worst = err / (mag + 1e-30);
        }
    }
    if (!ok)
        printf("  gemm kernel %d ta=%d tb=%d M=%lld N=%lld K=%lld alpha=%g beta=%g pad=%lld: rc=%d worst rel %.3g\n",
               kernel, ta, tb, (long long)M, (long long)N, (long long)K, alpha, beta, (long long)pad, rc, worst);
    free(A);
    free(B);
    free(C);
    free(C0);
    return ok;
}

/* Name of a kernel id (-1: pl_sgemm). */
static const char *kernel_name(int kernel) {
    switch (kernel) {
    case -1: return "pl_sgemm";
    case PL_GEMM_SCALAR: return "scalar";
    case PL_GEMM_AVX2: return "avx2";
    case PL_GEMM_AVX512: return "avx512";
    default: return "?";
    }
}

/* All transpose combinations, ragged sizes, alpha/beta and padded strides, for pl_sgemm and each kernel. */
static void test_gemm_sizes(void) {
    static const int64_t sizes[] = {1, 3, 17, 33, 65, 130};
    static const float ab[][2] = {{1.0f, 0.0f}, {0.5f, 1.0f}, {-1.5f, 0.25f}};
    const int kernels[] = {-1, PL_GEMM_SCALAR, PL_GEMM_AVX2, PL_GEMM_AVX512};
    rng_t r = {0x1234567u};
    for (size_t kk = 0; kk < sizeof kernels / sizeof kernels[0]; kk++) {
        const int kernel = kernels[kk];
        if (kernel >= 0 && !pl_gemm_kernel_available(kernel)) {
            printf("  (kernel %s not available on this CPU: skipped)\n", kernel_name(kernel));
            continue;
        }
        for (int ta = 0; ta < 2; ta++) {
            for (int tb = 0; tb < 2; tb++) {
                int ok = 1, n = 0;
                for (size_t mi = 0; mi < 6; mi++)
                    for (size_t ni = 0; ni < 6; ni++)
                        for (size_t ki = 0; ki < 6; ki++) {
                            const size_t v = (mi + ni + ki) % 3;
                            const int64_t pad = (mi + ki) % 2 ? 3 : 0;
                            ok &= gemm_case(&r, kernel, ta, tb, sizes[mi], sizes[ni], sizes[ki], ab[v][0], ab[v][1], pad);
                            n++;
                        }
                CHECKF(ok, "sgemm %s ta=%d tb=%d over %d ragged shapes", kernel_name(kernel), ta, tb, n);
            }
        }
        /* shapes that cross the KC (256), MC (144) and NC (3072) blocks */
        int ok = 1;
        ok &= gemm_case(&r, kernel, 0, 0, 150, 130, 600, 1.0f, 0.0f, 0);
        ok &= gemm_case(&r, kernel, 1, 1, 301, 77, 513, 0.75f, -0.5f, 5);
        ok &= gemm_case(&r, kernel, 0, 1, 7, 3100, 300, 1.0f, 1.0f, 1);
        ok &= gemm_case(&r, kernel, 1, 0, 290, 40, 257, 2.0f, 0.0f, 2);
        CHECKF(ok, "sgemm %s on shapes crossing the cache blocks", kernel_name(kernel));
    }
}

/* K = 0 and alpha = 0 give C = beta * C without reading A or B; beta = 0 writes zeros over NaN. */
static void test_gemm_degenerate(void) {
    float C[6] = {1, 2, 3, 4, 5, 6}, A[1] = {NAN}, B[1] = {NAN};
    int32_t rc = pl_sgemm(0, 0, 2, 3, 0, 1.0f, A, 1, B, 3, 2.0f, C, 3);
    check(rc == PL_OK && C[0] == 2 && C[5] == 12, "sgemm K=0 scales C by beta");
    fill_nan(C, 6);
    rc = pl_sgemm(0, 0, 2, 3, 0, 1.0f, A, 1, B, 3, 0.0f, C, 3);
    check(rc == PL_OK && C[0] == 0 && C[3] == 0 && C[5] == 0, "sgemm K=0 beta=0 zeroes C without reading it");
    float D[4] = {1, 2, 3, 4}, A2[4] = {1, 1, 1, 1}, B2[4] = {1, 1, 1, 1};
    rc = pl_sgemm(0, 0, 2, 2, 2, 0.0f, A2, 2, B2, 2, -1.0f, D, 2);
    check(rc == PL_OK && D[0] == -1 && D[3] == -4, "sgemm alpha=0 gives beta*C");
    rc = pl_sgemm(0, 0, 0, 2, 2, 1.0f, A2, 2, B2, 2, 0.0f, D, 2);
    check(rc == PL_OK && D[0] == -1, "sgemm M=0 is a no-op");
}

/* The same GEMM twice gives the same bits; panlora's kernels also give the same bits for 1 and 2 threads. */
static void test_gemm_determinism(void) {
    const int64_t M = 389, N = 521, K = 700;
    rng_t r = {99};
    float *A = xmalloc(sizeof(float) * (size_t)(M * K)), *B = xmalloc(sizeof(float) * (size_t)(K * N));
    float *C1 = xmalloc(sizeof(float) * (size_t)(M * N)), *C2 = xmalloc(sizeof(float) * (size_t)(M * N));
    fill(&r, A, M * K);
    fill(&r, B, K * N);
    memset(C1, 0, sizeof(float) * (size_t)(M * N));
    memset(C2, 0, sizeof(float) * (size_t)(M * N));
    pl_sgemm(0, 1, M, N / 2, K, 1.0f, A, K, B, K, 0.0f, C1, N);
    pl_sgemm(0, 1, M, N / 2, K, 1.0f, A, K, B, K, 0.0f, C2, N);
    check(memcmp(C1, C2, sizeof(float) * (size_t)(M * N)) == 0, "pl_sgemm repeats bit-identically");
    const int kernels[] = {PL_GEMM_SCALAR, PL_GEMM_AVX2, PL_GEMM_AVX512};
    for (int k = 0; k < 3; k++) {
        if (!pl_gemm_kernel_available(kernels[k])) continue;
        pl_set_num_threads(test_threads);
        pl_sgemm_own(kernels[k], 0, 0, M, N, K, 1.0f, A, K, B, N, 0.0f, C1, N);
        pl_sgemm_own(kernels[k], 0, 0, M, N, K, 1.0f, A, K, B, N, 0.0f, C2, N);
        int same = memcmp(C1, C2, sizeof(float) * (size_t)(M * N)) == 0;
        pl_set_num_threads(1);
        pl_sgemm_own(kernels[k], 0, 0, M, N, K, 1.0f, A, K, B, N, 0.0f, C2, N);
        CHECKF(same && memcmp(C1, C2, sizeof(float) * (size_t)(M * N)) == 0,
               "sgemm %s: bit-identical on repeat and for 1 vs %d threads", kernel_name(kernels[k]), test_threads);
    }
    pl_set_num_threads(test_threads);
    free(A);
    free(B);
    free(C1);
    free(C2);
}

/* ---- linear layers ---- */

/* Quantizes a random out x in weight to wtype (allocated; *bytes set) and writes its dequantized values to wf. */
static void *make_weight(rng_t *r, int32_t wtype, int64_t in, int64_t out, float *wf, int64_t *bytes) {
    const int64_t row_bytes = in / pl_type_block_elems(wtype) * pl_type_block_bytes(wtype);
    uint8_t *w = xmalloc((size_t)(row_bytes * out));
    float *row = xmalloc(sizeof(float) * (size_t)in);
    for (int64_t o = 0; o < out; o++) {
        fill(r, row, in);
        pl_quant_row(wtype, row, w + o * row_bytes, in);
        pl_dequant_row(wtype, w + o * row_bytes, wf + o * in, in);
    }
    free(row);
    *bytes = row_bytes * out;
    return w;
}

/* Compares got[n] with the double reference ref[n] under the tolerance 1e-5 sqrt(K+1) mag[i]. */
static int close_enough(const float *got, const double *ref, const double *mag, int64_t n, int64_t K, double *worst) {
    int ok = 1;
    for (int64_t i = 0; i < n; i++) {
        const double err = fabs((double)got[i] - ref[i]);
        if (!(err <= 1e-5 * sqrt((double)K + 1) * mag[i] + 1e-30)) ok = 0;
        if (err / (mag[i] + 1e-30) > *worst) *worst = err / (mag[i] + 1e-30);
    }
    return ok;
}

/* Forward and input gradient of one weight type and shape, with and without accumulate, against double loops;
   also checks bit-identical repeats. */
static void linear_case(int32_t wtype, int64_t in, int64_t out, int64_t n_tok) {
    rng_t r = {(uint64_t)(wtype * 1000003 + in * 31 + out * 7 + n_tok)};
    float *wf = xmalloc(sizeof(float) * (size_t)(in * out));
    int64_t w_bytes = 0;
    void *w = make_weight(&r, wtype, in, out, wf, &w_bytes);
    float *x = xmalloc(sizeof(float) * (size_t)(n_tok * in)), *dy = xmalloc(sizeof(float) * (size_t)(n_tok * out));
    float *y = xmalloc(sizeof(float) * (size_t)(n_tok * out)), *y0 = xmalloc(sizeof(float) * (size_t)(n_tok * out));
    float *dx = xmalloc(sizeof(float) * (size_t)(n_tok * in)), *dx0 = xmalloc(sizeof(float) * (size_t)(n_tok * in));
    double *ref = xmalloc(sizeof(double) * (size_t)(n_tok * (in > out ? in : out)));
    double *mag = xmalloc(sizeof(double) * (size_t)(n_tok * (in > out ? in : out)));
    fill(&r, x, n_tok * in);
    fill(&r, dy, n_tok * out);
    const char *name = pl_type_name(wtype);

    for (int acc = 0; acc < 2; acc++) {
        /* forward: y[t][o] (+)= sum_i W[o][i] x[t][i] */
        if (acc) fill(&r, y0, n_tok * out); else fill_nan(y0, n_tok * out);
        memcpy(y, y0, sizeof(float) * (size_t)(n_tok * out));
        for (int64_t t = 0; t < n_tok; t++)
            for (int64_t o = 0; o < out; o++) {
                double s = acc ? y0[t * out + o] : 0, m = acc ? fabs(y0[t * out + o]) : 0;
                for (int64_t i = 0; i < in; i++) {
                    const double p = (double)wf[o * in + i] * x[t * in + i];
                    s += p;
                    m += fabs(p);
                }
                ref[t * out + o] = s;
                mag[t * out + o] = m;
            }
        double worst = 0;
        int32_t rc = pl_linear_forward(wtype, w, in, out, x, n_tok, y, acc);
        int ok = rc == PL_OK && close_enough(y, ref, mag, n_tok * out, in, &worst);
        CHECKF(ok, "linear_forward %s in=%lld out=%lld n_tok=%lld acc=%d (rc %d, worst rel err %.3g)", name,
               (long long)in, (long long)out, (long long)n_tok, acc, rc, worst);

        /* input gradient: dx[t][i] (+)= sum_o W[o][i] dy[t][o] */
        if (acc) fill(&r, dx0, n_tok * in); else fill_nan(dx0, n_tok * in);
        memcpy(dx, dx0, sizeof(float) * (size_t)(n_tok * in));
        for (int64_t t = 0; t < n_tok; t++)
            for (int64_t i = 0; i < in; i++) {
                double s = acc ? dx0[t * in + i] : 0, m = acc ? fabs(dx0[t * in + i]) : 0;
                for (int64_t o = 0; o < out; o++) {
                    const double p = (double)wf[o * in + i] * dy[t * out + o];
                    s += p;
                    m += fabs(p);
                }
                ref[t * in + i] = s;
                mag[t * in + i] = m;
            }
        worst = 0;
        rc = pl_linear_backward_input(wtype, w, in, out, dy, n_tok, dx, acc);
        ok = rc == PL_OK && close_enough(dx, ref, mag, n_tok * in, out, &worst);
        CHECKF(ok, "linear_backward_input %s in=%lld out=%lld n_tok=%lld acc=%d (rc %d, worst rel err %.3g)", name,
               (long long)in, (long long)out, (long long)n_tok, acc, rc, worst);
    }

    /* repeats give the same bits */
    float *y2 = xmalloc(sizeof(float) * (size_t)(n_tok * out)), *dx2 = xmalloc(sizeof(float) * (size_t)(n_tok * in));
    pl_linear_forward(wtype, w, in, out, x, n_tok, y, 0);
    pl_linear_forward(wtype, w, in, out, x, n_tok, y2, 0);
    pl_linear_backward_input(wtype, w, in, out, dy, n_tok, dx, 0);
    pl_linear_backward_input(wtype, w, in, out, dy, n_tok, dx2, 0);
    CHECKF(memcmp(y, y2, sizeof(float) * (size_t)(n_tok * out)) == 0 &&
               memcmp(dx, dx2, sizeof(float) * (size_t)(n_tok * in)) == 0,
           "linear %s in=%lld out=%lld n_tok=%lld repeats bit-identically", name, (long long)in, (long long)out,
           (long long)n_tok);

    /* the public wrappers give the same as the internal calls */
    pl_matmul(wtype, w, w_bytes, in, out, x, n_tok, y2);
    pl_matmul_t(wtype, w, w_bytes, in, out, dy, n_tok, dx2);
    CHECKF(memcmp(y, y2, sizeof(float) * (size_t)(n_tok * out)) == 0 &&
               memcmp(dx, dx2, sizeof(float) * (size_t)(n_tok * in)) == 0,
           "pl_matmul / pl_matmul_t %s match pl_linear_forward / backward_input", name);
    free(y2);
    free(dx2);
    free(w);
    free(wf);
    free(x);
    free(dy);
    free(y);
    free(y0);
    free(dx);
    free(dx0);
    free(ref);
    free(mag);
}

/* Every quantizable weight type over the decode (n_tok <= 4) and GEMM paths, plus a multi-chunk shape. */
static void test_linear(void) {
    static const int32_t types[] = {PL_TYPE_F32,  PL_TYPE_F16,  PL_TYPE_BF16, PL_TYPE_Q8_0, PL_TYPE_Q4_0,
                                    PL_TYPE_Q4_1, PL_TYPE_Q5_0, PL_TYPE_Q5_1, PL_TYPE_Q2_K, PL_TYPE_Q3_K,
                                    PL_TYPE_Q4_K, PL_TYPE_Q5_K, PL_TYPE_Q6_K};
    static const int64_t toks[] = {1, 3, 4, 5, 37};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        if (!pl_type_can_quantize(types[i])) {
            printf("  (type %s cannot be quantized yet: skipped)\n", pl_type_name(types[i]));
            continue;
        }
        for (size_t t = 0; t < sizeof toks / sizeof toks[0]; t++) linear_case(types[i], 512, 67, toks[t]);
    }
    linear_case(PL_TYPE_F32, 33, 19, 2); /* F32 rows of any length */
    linear_case(PL_TYPE_F32, 33, 19, 11);
    linear_case(PL_TYPE_F16, 7, 300, 130);
    /* more rows than one 8 MiB scratch chunk: several GEMMs per call */
    linear_case(PL_TYPE_Q4_0, 256, 8300, 9);
    linear_case(PL_TYPE_Q6_K, 256, 8300, 6);
}

/* ---- public API ---- */

/* pl_matmul / pl_matmul_t / pl_bench_sgemm reject bad arguments with the documented codes and a message. */
static void test_api_errors(void) {
    float x[64] = {0}, y[64];
    uint8_t w[4096] = {0};
    struct { int32_t rc_expected; int32_t type; const void *w; int64_t bytes, in, out; const float *x; int64_t n; float *y; const char *what; } cases[] = {
        {PL_ERR_INVALID_ARGUMENT, PL_TYPE_F32, NULL, 4096, 4, 2, x, 1, y, "null w"},
        {PL_ERR_INVALID_ARGUMENT, PL_TYPE_F32, w, 4096, 4, 2, NULL, 1, y, "null input"},
        {PL_ERR_INVALID_ARGUMENT, PL_TYPE_F32, w, 4096, 4, 2, x, 1, NULL, "null output"},
        {PL_ERR_INVALID_ARGUMENT, PL_TYPE_F32, w, 4096, 0, 2, x, 1, y, "in = 0"},
        {PL_ERR_INVALID_ARGUMENT, PL_TYPE_F32, w, 4096, 4, -1, x, 1, y, "out < 0"},
        {PL_ERR_INVALID_ARGUMENT, PL_TYPE_F32, w, 4096, 4, 2, x, 0, y, "n_tok = 0"},
        {PL_ERR_INVALID_ARGUMENT, PL_TYPE_Q4_0, w, 4096, 48, 2, x, 1, y, "in not a multiple of the block"},
        {PL_ERR_INVALID_ARGUMENT, PL_TYPE_Q4_0, w, 35, 32, 2, x, 1, y, "w_bytes short"},
        {PL_ERR_INVALID_ARGUMENT, PL_TYPE_F32, w, 31, 4, 2, x, 1, y, "w_bytes short (F32)"},
        {PL_ERR_INVALID_ARGUMENT, 4, w, 4096, 32, 2, x, 1, y, "unknown type 4"},
        {PL_ERR_INVALID_ARGUMENT, -1, w, 4096, 32, 2, x, 1, y, "unknown type -1"},
        {PL_ERR_UNSUPPORTED, PL_TYPE_Q8_1, w, 4096, 32, 2, x, 1, y, "Q8_1 weights"},
        {PL_ERR_UNSUPPORTED, PL_TYPE_Q8_K, w, 4096, 256, 2, x, 1, y, "Q8_K weights"},
        {PL_ERR_INVALID_ARGUMENT, PL_TYPE_F32, w, 4096, INT64_MAX / 2, 4, x, 4, y, "absurd in"},
        {PL_ERR_INVALID_ARGUMENT, PL_TYPE_F32, w, INT64_MAX, 4, INT64_MAX / 8, x, 1, y, "absurd out"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const int32_t rc = pl_matmul(cases[i].type, cases[i].w, cases[i].bytes, cases[i].in, cases[i].out, cases[i].x,
                                     cases[i].n, cases[i].y);
        CHECKF(rc == cases[i].rc_expected && strncmp(pl_last_error(), "pl_matmul: ", 11) == 0,
               "pl_matmul rejects %s (rc %d, \"%s\")", cases[i].what, rc, pl_last_error());
        const int32_t rc_t = pl_matmul_t(cases[i].type, cases[i].w, cases[i].bytes, cases[i].in, cases[i].out,
                                         cases[i].x, cases[i].n, cases[i].y);
        CHECKF(rc_t == cases[i].rc_expected && strncmp(pl_last_error(), "pl_matmul_t: ", 13) == 0,
               "pl_matmul_t rejects %s (rc %d, \"%s\")", cases[i].what, rc_t, pl_last_error());
    }
    double gflops = -1;
    check(pl_bench_sgemm(64, 2, &gflops) == PL_OK && gflops > 0, "pl_bench_sgemm(64, 2) gives a positive rate");
    check(pl_bench_sgemm(0, 2, &gflops) == PL_ERR_INVALID_ARGUMENT, "pl_bench_sgemm rejects n = 0");
    check(pl_bench_sgemm(64, 0, &gflops) == PL_ERR_INVALID_ARGUMENT, "pl_bench_sgemm rejects reps = 0");
    double rate = 0;
    check(pl_bench_peak(PL_PEAK_MEMREAD, 4 << 20, 2, &rate) == PL_OK && rate > 0, "pl_bench_peak(MEMREAD, 4 MiB) gives a positive rate");
    rate = 0;
    const int32_t i8 = pl_bench_peak(PL_PEAK_INT8, 1 << 20, 2, &rate);
    check((i8 == PL_OK && rate > 0) || i8 == PL_ERR_UNSUPPORTED, "pl_bench_peak(INT8, 1 MiB) gives a positive rate (or no AVX2)");
    check(pl_bench_peak(7, 1 << 20, 2, &rate) == PL_ERR_INVALID_ARGUMENT && strstr(pl_last_error(), "unknown kind"),
          "pl_bench_peak rejects an unknown kind, naming it");
    check(pl_bench_peak(PL_PEAK_MEMREAD, 100, 2, &rate) == PL_ERR_INVALID_ARGUMENT, "pl_bench_peak rejects a read size under one chunk");
    check(pl_bench_peak(PL_PEAK_INT8, 100, 2, &rate) == PL_ERR_INVALID_ARGUMENT, "pl_bench_peak rejects an int8 matrix under one row");
    check(pl_bench_peak(PL_PEAK_MEMREAD, 4 << 20, 0, &rate) == PL_ERR_INVALID_ARGUMENT, "pl_bench_peak rejects reps = 0");
    check(pl_bench_peak(PL_PEAK_MEMREAD, 4 << 20, 2, NULL) == PL_ERR_INVALID_ARGUMENT, "pl_bench_peak rejects a NULL rate");
    check(pl_bench_sgemm(64, 1, NULL) == PL_ERR_INVALID_ARGUMENT, "pl_bench_sgemm rejects a null gflops");
}

/* ---- BF16 ---- */

/* Checks the base-weight linears' BF16 results against double loops over the BF16-rounded operands: y = x Wᵀ (every
   o_step-th output row) and dx = dy W, each within 1e-5 sqrt(K+1) of its magnitude. Returns 1 if all match; *worst gets
   the forward's largest relative error. */
static int bf16_linear_matches(const float *wf, int64_t in, int64_t out, int64_t n, const float *x, const float *y,
                               const float *dy, const float *dx, int64_t o_step, double *worst) {
    int ok = 1;
    for (int64_t t = 0; t < n && ok; t++)
        for (int64_t o = 0; o < out; o += o_step) {
            double s = 0, m = 0;
            for (int64_t i = 0; i < in; i++) {
                s += (double)pl_bf16_round(wf[o * in + i]) * pl_bf16_round(x[t * in + i]);
                m += fabs((double)wf[o * in + i] * x[t * in + i]);
            }
            const double e = fabs(y[t * out + o] - s);
            if (!(e <= 1e-5 * sqrt((double)in + 1) * m + 1e-30)) ok = 0;
            if (e / (m + 1e-30) > *worst) *worst = e / (m + 1e-30);
        }
    for (int64_t t = 0; t < n && ok; t++)
        for (int64_t i = 0; i < in; i++) {
            double s = 0, m = 0;
            for (int64_t o = 0; o < out; o++) {
                s += (double)pl_bf16_round(wf[o * in + i]) * pl_bf16_round(dy[t * out + o]);
                m += fabs((double)wf[o * in + i] * dy[t * out + o]);
            }
            if (!(fabs(dx[t * in + i] - s) <= 1e-5 * sqrt((double)out + 1) * m + 1e-30)) ok = 0;
        }
    return ok;
}

/* pl_bgemm over ragged and panel-sized shapes, every transpose combination, alpha/beta, padding; bit-identical for
   1 thread and the test count; the base-weight linears under pl_set_matmul(BF16) against BF16-rounded references. */
static void test_bf16(void) {
    int32_t mode = -1;
    CHECKF(pl_set_matmul(7) == PL_ERR_INVALID_ARGUMENT && strstr(pl_last_error(), "pl_set_matmul") != NULL,
           "pl_set_matmul rejects mode 7 (\"%s\")", pl_last_error());
    CHECKF(pl_set_matmul(PL_MATMUL_AUTO) == PL_OK && pl_get_matmul(&mode) == PL_OK &&
               mode == (pl_cpu_has_bf16() ? PL_MATMUL_BF16 : PL_MATMUL_F32),
           "PL_MATMUL_AUTO resolves to %s on this CPU", pl_cpu_has_bf16() ? "BF16" : "F32");
    check(pl_get_matmul(NULL) == PL_ERR_INVALID_ARGUMENT, "pl_get_matmul rejects NULL");
    CHECKF(pl_bf16_round(1.0f + 1.0f / 512) == 1.0f && pl_bf16_round(1.0f + 3.0f / 512) == 1.0f + 4.0f / 512 &&
               pl_bf16_round(-2.0f) == -2.0f && isnan(pl_bf16_round(NAN)) && isinf(pl_bf16_round(INFINITY)),
           "BF16 rounding: nearest, ties to even, NaN and infinity kept");
    if (!pl_cpu_has_bf16()) {
        CHECKF(pl_set_matmul(PL_MATMUL_BF16) == PL_ERR_UNSUPPORTED && strstr(pl_last_error(), "AVX512-BF16") != NULL,
               "pl_set_matmul(BF16) on a CPU without AVX512-BF16 fails clearly (\"%s\")", pl_last_error());
        printf("  (this CPU has no AVX512-BF16: the BF16 kernels were not run)\n");
        pl_set_matmul(PL_MATMUL_F32);
        return;
    }
    rng_t r = {99};
    static const int64_t sizes[][3] = {{1, 1, 1}, {6, 32, 2}, {7, 33, 3}, {13, 70, 17}, {5, 31, 300}, {37, 64, 513},
                                       {150, 290, 256}, {64, 96, 1040}, {2, 300, 64}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++) {
                const int64_t M = sizes[i][0], N = sizes[i][1], K = sizes[i][2];
                CHECKF(gemm_case(&r, KERNEL_BF16, ta, tb, M, N, K, 1.0f, 0.0f, 0) && gemm_case(&r, KERNEL_BF16, ta, tb, M, N, K, 0.5f, 1.0f, 3) &&
                           gemm_case(&r, KERNEL_BF16, ta, tb, M, N, K, -2.0f, 0.25f, 1),
                       "bgemm ta=%d tb=%d %lldx%lldx%lld (alpha/beta, padding)", ta, tb, (long long)M, (long long)N, (long long)K);
            }
    /* the same bits for 1 thread and the test count */
    {
        const int64_t M = 301, N = 517, K = 700;
        float *A = xmalloc(sizeof(float) * (size_t)(M * K)), *B = xmalloc(sizeof(float) * (size_t)(N * K));
        float *C1 = xmalloc(sizeof(float) * (size_t)(M * N)), *C2 = xmalloc(sizeof(float) * (size_t)(M * N));
        fill(&r, A, M * K);
        fill(&r, B, N * K);
        pl_set_num_threads(1);
        const int32_t rc1 = pl_bgemm(0, 1, M, N, K, 1.0f, A, K, B, K, 0.0f, C1, N);
        pl_set_num_threads(test_threads > 1 ? test_threads : 3);
        const int32_t rc2 = pl_bgemm(0, 1, M, N, K, 1.0f, A, K, B, K, 0.0f, C2, N);
        pl_set_num_threads(test_threads);
        CHECKF(rc1 == PL_OK && rc2 == PL_OK && memcmp(C1, C2, sizeof(float) * (size_t)(M * N)) == 0,
               "bgemm %lldx%lldx%lld gives the same bits on 1 and %d threads", (long long)M, (long long)N, (long long)K,
               test_threads > 1 ? test_threads : 3);
        free(A);
        free(B);
        free(C1);
        free(C2);
    }
    /* base-weight linears: BF16 above 4 tokens (against BF16-rounded references), the F32 row paths up to 4 */
    static const int32_t types[] = {PL_TYPE_F32, PL_TYPE_F16, PL_TYPE_BF16, PL_TYPE_Q8_0, PL_TYPE_Q4_0, PL_TYPE_Q5_1, PL_TYPE_Q4_K, PL_TYPE_Q5_K, PL_TYPE_Q6_K, PL_TYPE_Q3_K};
    static const int64_t toks[] = {1, 3, 4, 5, 37};
    CHECKF(pl_set_matmul(PL_MATMUL_BF16) == PL_OK, "pl_set_matmul(BF16) on an AVX512-BF16 CPU");
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++)
        for (size_t nt = 0; nt < sizeof toks / sizeof toks[0]; nt++) {
            const int32_t wtype = types[ti];
            const int64_t in = 512, out = 67, n = toks[nt];
            float *wf = xmalloc(sizeof(float) * (size_t)(in * out));
            int64_t wb = 0;
            void *w = make_weight(&r, wtype, in, out, wf, &wb);
            float *x = xmalloc(sizeof(float) * (size_t)(n * in)), *dy = xmalloc(sizeof(float) * (size_t)(n * out));
            float *y = xmalloc(sizeof(float) * (size_t)(n * out)), *yf = xmalloc(sizeof(float) * (size_t)(n * out));
            float *dx = xmalloc(sizeof(float) * (size_t)(n * in)), *dxf = xmalloc(sizeof(float) * (size_t)(n * in));
            fill(&r, x, n * in);
            fill(&r, dy, n * out);
            int ok = pl_base_linear_forward(wtype, w, in, out, x, n, y, 0) == PL_OK &&
                     pl_base_linear_backward_input(wtype, w, in, out, dy, n, dx, 0) == PL_OK &&
                     pl_linear_forward(wtype, w, in, out, x, n, yf, 0) == PL_OK &&
                     pl_linear_backward_input(wtype, w, in, out, dy, n, dxf, 0) == PL_OK;
            if (n > 4) {
                double worst = 0;
                ok = ok && bf16_linear_matches(wf, in, out, n, x, y, dy, dx, 1, &worst);
                CHECKF(ok, "base linear %s n_tok=%lld in BF16 matches the BF16-rounded reference (worst rel %.3g)",
                       pl_type_name(wtype), (long long)n, worst);
            } else if (!pl_qdot_supported(wtype, in)) { /* the types with an 8-bit decode path: test_qdot */
                ok = ok && memcmp(y, yf, sizeof(float) * (size_t)(n * out)) == 0 && memcmp(dx, dxf, sizeof(float) * (size_t)(n * in)) == 0;
                CHECKF(ok, "base linear %s n_tok=%lld (decode rows) stays F32 under BF16", pl_type_name(wtype), (long long)n);
            }
            free(w);
            free(wf);
            free(x);
            free(dy);
            free(y);
            free(yf);
            free(dx);
            free(dxf);
        }
    /* a weight larger than one dequantization chunk: several BF16 products per call, in both directions */
    {
        const int64_t in = 256, out = 8300, n = 9;
        float *wf = xmalloc(sizeof(float) * (size_t)(in * out));
        int64_t wb = 0;
        void *w = make_weight(&r, PL_TYPE_Q4_0, in, out, wf, &wb);
        float *x = xmalloc(sizeof(float) * (size_t)(n * in)), *dy = xmalloc(sizeof(float) * (size_t)(n * out));
        float *y = xmalloc(sizeof(float) * (size_t)(n * out)), *dx = xmalloc(sizeof(float) * (size_t)(n * in));
        fill(&r, x, n * in);
        fill(&r, dy, n * out);
        double worst = 0;
        int ok = pl_base_linear_forward(PL_TYPE_Q4_0, w, in, out, x, n, y, 0) == PL_OK &&
                 pl_base_linear_backward_input(PL_TYPE_Q4_0, w, in, out, dy, n, dx, 0) == PL_OK &&
                 bf16_linear_matches(wf, in, out, n, x, y, dy, dx, 97, &worst);
        CHECKF(ok, "base linear Q4_0 256x8300 (several chunks) in BF16, both directions");
        free(w);
        free(wf);
        free(x);
        free(dy);
        free(y);
        free(dx);
    }
    pl_set_matmul(PL_MATMUL_F32);
}

/* Several products of one input in one pass (pl_qdot_forward_multi, a block's q, k, v), block formats mixed: the same
   results bit for bit as one call each, with and without accumulate; bad job counts refused. */
static void test_qdot_multi(void) {
    if (!pl_qdot_supported(PL_TYPE_Q8_0, 512)) {
        printf("  (no AVX2: pl_qdot_forward_multi was not run)\n");
        return;
    }
    rng_t r = {4321};
    const int32_t types[3] = {PL_TYPE_Q8_0, PL_TYPE_Q4_K, PL_TYPE_Q6_K};
    const int64_t in = 512, outs[3] = {67, 160, 33}, n = 3;
    void *w[3];
    float *wf[3], *y[3], *ys[3];
    float *x = xmalloc(sizeof(float) * (size_t)(n * in));
    fill(&r, x, n * in);
    pl_qdot_job jobs[3];
    for (int j = 0; j < 3; j++) {
        int64_t wb = 0;
        wf[j] = xmalloc(sizeof(float) * (size_t)(in * outs[j]));
        w[j] = make_weight(&r, types[j], in, outs[j], wf[j], &wb);
        y[j] = xmalloc(sizeof(float) * (size_t)(n * outs[j]));
        ys[j] = xmalloc(sizeof(float) * (size_t)(n * outs[j]));
        fill(&r, y[j], n * outs[j]);
        memcpy(ys[j], y[j], sizeof(float) * (size_t)(n * outs[j]));
        jobs[j] = (pl_qdot_job){types[j], w[j], outs[j], y[j]};
    }
    for (int acc = 0; acc < 2; acc++) {
        int ok = pl_qdot_forward_multi(3, jobs, in, x, n, acc) == PL_OK;
        for (int j = 0; j < 3; j++) ok = ok && pl_qdot_forward_rows(types[j], w[j], in, outs[j], x, n, ys[j], acc) == PL_OK;
        for (int j = 0; j < 3; j++) ok = ok && memcmp(y[j], ys[j], sizeof(float) * (size_t)(n * outs[j])) == 0;
        CHECKF(ok, "pl_qdot_forward_multi (Q8_0 + Q4_K + Q6_K, accumulate %d) equals one call each bit for bit", acc);
    }
    check(pl_qdot_forward_multi(0, jobs, in, x, n, 0) == PL_ERR_INVALID_ARGUMENT, "pl_qdot_forward_multi refuses 0 jobs");
    check(pl_qdot_forward_multi(PL_QDOT_MAX_JOBS + 1, jobs, in, x, n, 0) == PL_ERR_INVALID_ARGUMENT, "pl_qdot_forward_multi refuses too many jobs");
    jobs[1].wtype = PL_TYPE_F32;
    check(pl_qdot_forward_multi(3, jobs, in, x, n, 0) == PL_ERR_UNSUPPORTED, "pl_qdot_forward_multi refuses a type without an 8-bit path");
    for (int j = 0; j < 3; j++) {
        free(w[j]);
        free(wf[j]);
        free(y[j]);
        free(ys[j]);
    }
    free(x);
}

/* Decoding over F16 and BF16 rows widens them as they are read: the same result bit for bit as the F32 rows path over the
   dequantized weights (the same products in the same order). */
static void test_half_rows(void) {
    rng_t r = {777};
    static const int32_t types[] = {PL_TYPE_F16, PL_TYPE_BF16};
    for (size_t ti = 0; ti < 2; ti++)
        for (int64_t n = 1; n <= 4; n += 3) {
            const int32_t wtype = types[ti];
            const int64_t in = 333, out = 41; /* a tail of 13 after the 32-wide blocks, 5 after the 8-wide */
            float *wf = xmalloc(sizeof(float) * (size_t)(in * out)), *x = xmalloc(sizeof(float) * (size_t)(n * in));
            float *y = xmalloc(sizeof(float) * (size_t)(n * out)), *yf = xmalloc(sizeof(float) * (size_t)(n * out));
            int64_t wb = 0;
            void *w = make_weight(&r, wtype, in, out, wf, &wb);
            fill(&r, x, n * in);
            const int ok = pl_linear_forward(wtype, w, in, out, x, n, y, 0) == PL_OK &&
                           pl_linear_forward(PL_TYPE_F32, wf, in, out, x, n, yf, 0) == PL_OK &&
                           memcmp(y, yf, sizeof(float) * (size_t)(n * out)) == 0;
            CHECKF(ok, "decode %s n_tok=%lld (rows widened as read) equals the F32 rows over the dequantized weights bit for bit",
                   pl_type_name(wtype), (long long)n);
            free(w);
            free(wf);
            free(x);
            free(y);
            free(yf);
        }
}

/* The decode path of PL_MATMUL_AUTO over Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K and Q6_K weights (8-bit activations in blocks
   of 32, or of 256 for the K-quants; integer dots) against a double loop over the same quantized activations, and within their rounding of the F32 product; PL_MATMUL_F32 keeps the F32 rows. */
static void test_qdot(void) {
    static const int32_t types[] = {PL_TYPE_Q8_0, PL_TYPE_Q4_0, PL_TYPE_Q4_1, PL_TYPE_Q5_0, PL_TYPE_Q5_1,
                                    PL_TYPE_Q2_K, PL_TYPE_Q3_K, PL_TYPE_Q4_K, PL_TYPE_Q5_K, PL_TYPE_Q6_K};
    static const int64_t toks[] = {1, 3, 4};
    rng_t r = {1234};
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++)
        for (size_t nt = 0; nt < 3; nt++) {
            const int32_t wtype = types[ti];
            const int64_t in = 512, out = 67, n = toks[nt];
            if (!pl_qdot_supported(wtype, in)) {
                printf("  (no AVX2: the 8-bit decode path of %s was not run)\n", pl_type_name(wtype));
                continue;
            }
            float *wf = xmalloc(sizeof(float) * (size_t)(in * out));
            int64_t wb = 0;
            void *w = make_weight(&r, wtype, in, out, wf, &wb);
            float *x = xmalloc(sizeof(float) * (size_t)(n * in)), *y = xmalloc(sizeof(float) * (size_t)(n * out)),
                  *yf = xmalloc(sizeof(float) * (size_t)(n * out));
            fill(&r, x, n * in);
            pl_set_matmul(PL_MATMUL_AUTO);
            int ok = pl_base_linear_forward(wtype, w, in, out, x, n, y, 0) == PL_OK && pl_linear_forward(wtype, w, in, out, x, n, yf, 0) == PL_OK;
            double worst = 0, worst32 = 0;
            for (int64_t t = 0; t < n && ok; t++)
                for (int64_t o = 0; o < out; o++) {
                    double s = 0, m = 0, s32 = 0;
                    const int64_t qb = pl_type_block_elems(wtype) == 256 ? 256 : 32; /* K-quants: 256-value activation blocks */
                    for (int64_t b = 0; b < in / qb; b++) {
                        const float *xb = x + t * in + b * qb;
                        float amax = 0;
                        for (int j = 0; j < qb; j++) amax = fmaxf(amax, fabsf(xb[j]));
                        const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
                        for (int j = 0; j < qb; j++) {
                            const double wv = wf[o * in + b * qb + j];
                            s += wv * (double)nearbyintf(xb[j] * id) * d;
                            s32 += wv * xb[j];
                            m += fabs(wv * xb[j]);
                        }
                    }
                    const double e = fabs(y[t * out + o] - s);
                    if (!(e <= 1e-5 * sqrt((double)in + 1) * m + 1e-30)) ok = 0;
                    if (e / (m + 1e-30) > worst) worst = e / (m + 1e-30);
                    if (fabs(y[t * out + o] - s32) / (m + 1e-30) > worst32) worst32 = fabs(y[t * out + o] - s32) / (m + 1e-30);
                }
            ok = ok && worst32 < 0.01; /* within the 8-bit rounding of the activations of the F32 product */
            CHECKF(ok, "decode %s n_tok=%lld with 8-bit activations (worst rel %.3g; vs F32 %.3g)", pl_type_name(wtype), (long long)n, worst,
                   worst32);
            if (n == 1) printf("  decode %s with 8-bit activations: worst rel %.3g against the same quantization, %.3g against F32\n",
                               pl_type_name(wtype), worst, worst32);
            pl_set_matmul(PL_MATMUL_F32);
            CHECKF(pl_base_linear_forward(wtype, w, in, out, x, n, y, 0) == PL_OK && memcmp(y, yf, sizeof(float) * (size_t)(n * out)) == 0,
                   "decode %s n_tok=%lld under F32 is the F32 row path", pl_type_name(wtype), (long long)n);
            free(w);
            free(wf);
            free(x);
            free(y);
            free(yf);
        }
}

int main(void) {
    const char *env = getenv("PANLORA_TEST_THREADS"); /* default 2; other counts exercise other thread grids */
    test_threads = env && atoi(env) >= 1 ? atoi(env) : 2;
    pl_set_num_threads(test_threads);
    test_gemm_degenerate();
    test_gemm_sizes();
    test_gemm_determinism();
    test_linear();
    test_api_errors();
    test_bf16();
    test_qdot();
    test_half_rows();
    test_qdot_multi();
    printf("matmul: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
