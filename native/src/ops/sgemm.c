/* panlora's own F32 GEMM: C = alpha * op(A) op(B) + beta * C, row-major.
 *
 * Loop nest (Goto/BLIS): for each NC-wide column block of C, for each KC-deep slice of K, pack the
 * KC x NC panel of op(B) into NR-wide micro-panels; for each MC-tall row block, pack the MC x KC block of
 * op(A) into MR-tall micro-panels; then every MR x NR tile of C gets one micro-kernel call that keeps the
 * tile in registers over the KC slice. Packing pads edges with zeros, so the kernels never see ragged
 * tiles; ragged tiles are computed into a local buffer and copied out.
 *
 * Threads claim tasks — blocks of C of at most MC rows by NC columns, over all of K — one at a time from the
 * pool (pool.h), so a descheduled thread delays only the block it holds. Each thread packs what its block
 * needs; tasks are numbered column block by column block, and a thread keeps the packed B of its last column
 * block (for all of K, when it fits) to reuse for the next row block. A tile's result does not depend on which
 * thread computes it and the K slices are added in order, so the output is the same for every thread count.
 */
#if defined(__x86_64__) || defined(__i386__)
#define PL_X86 1
#include <immintrin.h>
#include "ops/store_avx512.h"
#else
#define PL_X86 0
#endif
#include <stdatomic.h>
#include <string.h>
#include <stdlib.h>
#include "common.h"
#include "ops/sgemm.h"
#include "pool.h"

#define PL_MR 6      /* rows of a micro-tile (all kernels) */
#define PL_NR_MAX 32 /* widest micro-tile */
#define PL_KC 256    /* depth of a packed slice: an A and a B micro-panel stay in L1 */
#define PL_MC 144    /* rows of a packed A block (multiple of PL_MR): stays in L2 */
#define PL_NC 3072   /* columns of a packed B panel (multiple of every NR): stays in L3 */
#define PL_MIN_PARALLEL_FLOPS (1 << 24) /* smaller products (about 0.2 ms on one core) run on the calling thread */

#define PL_TARGET_AVX2_FMA __attribute__((target("avx2,fma")))
#define PL_TARGET_AVX512 __attribute__((target("avx512f,avx2,fma")))

/* One micro-kernel: C[MR][NR] = alpha * sum_k a[k][0..MR) (x) b[k][0..NR) + beta * C; beta = 0 never reads C. */
typedef void (*pl_ukernel_fn)(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, float alpha,
                              float beta);

typedef struct {
    int nr;             /* columns of a micro-tile */
    pl_ukernel_fn tile; /* the micro-kernel */
    int avx2_pack;      /* 1: pack full panels with AVX2 8x8 transposes */
} pl_gemm_desc;

/* ---- micro-kernels ---- */

/* Four floats in one SSE register on x86-64 (GCC/Clang vector extension; portable to other targets). */
typedef float pl_v4 __attribute__((vector_size(16), aligned(4)));

/* Portable 6x8 tile: C = alpha * A_panel B_panel + beta * C, 12 four-float accumulators (no FMA). */
static void ukernel_6x8_scalar(int64_t kc, const float *a, const float *b, float *c, int64_t ldc, float alpha,
                               float beta) {
    pl_v4 acc[PL_MR][2];
    memset(acc, 0, sizeof acc);
    for (int64_t k = 0; k < kc; k++) {
        pl_v4 b0, b1;
        memcpy(&b0, b + k * 8, sizeof b0);
        memcpy(&b1, b + k * 8 + 4, sizeof b1);
        for (int r = 0; r < PL_MR; r++) {
            const float ar = a[k * PL_MR + r];
            acc[r][0] += ar * b0;
            acc[r][1] += ar * b1;
        }
    }
    for (int r = 0; r < PL_MR; r++) {
        float *cr = c + r * ldc;
        for (int h = 0; h < 2; h++) {
            pl_v4 v = alpha * acc[r][h];
            if (beta != 0.0f) {
                pl_v4 old;
                memcpy(&old, cr + 4 * h, sizeof old);
                v += beta * old;
            }
            memcpy(cr + 4 * h, &v, sizeof v);
        }
    }
}

#if PL_X86
/* Stores 8 results: p = alpha * acc (+ beta * p when beta != 0). */
PL_TARGET_AVX2_FMA static inline void store8_avx2(float *p, __m256 acc, __m256 valpha, __m256 vbeta, int read) {
    if (read) {
        _mm256_storeu_ps(p, _mm256_fmadd_ps(acc, valpha, _mm256_mul_ps(vbeta, _mm256_loadu_ps(p))));
    } else {
        _mm256_storeu_ps(p, _mm256_mul_ps(acc, valpha));
    }
}

/* AVX2+FMA 6x16 tile: C = alpha * A_panel B_panel + beta * C, 12 ymm accumulators. */
PL_TARGET_AVX2_FMA static void ukernel_6x16_avx2(int64_t kc, const float *a, const float *b, float *c, int64_t ldc,
                                                 float alpha, float beta) {
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps();
    __m256 c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps();
    __m256 c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps();
    __m256 c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
    /* the C tile is read or written after the loop: start fetching it now; the panels stream ahead of use */
    for (int r = 0; r < PL_MR; r++) {
        _mm_prefetch((const char *)(c + r * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + r * ldc + 15), _MM_HINT_T0);
    }
#pragma GCC unroll 8
    for (int64_t k = 0; k < kc; k++) {
        _mm_prefetch((const char *)(b + 128), _MM_HINT_T0);
        _mm_prefetch((const char *)(a + 48), _MM_HINT_T0);
        const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
        __m256 av;
#define PL_ROW(r)                                    \
    av = _mm256_broadcast_ss(a + r);                 \
    c##r##0 = _mm256_fmadd_ps(av, b0, c##r##0);      \
    c##r##1 = _mm256_fmadd_ps(av, b1, c##r##1);
        PL_ROW(0) PL_ROW(1) PL_ROW(2) PL_ROW(3) PL_ROW(4) PL_ROW(5)
#undef PL_ROW
        a += PL_MR;
        b += 16;
    }
    const __m256 valpha = _mm256_set1_ps(alpha), vbeta = _mm256_set1_ps(beta);
    const int read = beta != 0.0f;
#define PL_STORE(r)                                                   \
    store8_avx2(c + r * ldc, c##r##0, valpha, vbeta, read);           \
    store8_avx2(c + r * ldc + 8, c##r##1, valpha, vbeta, read);
    PL_STORE(0) PL_STORE(1) PL_STORE(2) PL_STORE(3) PL_STORE(4) PL_STORE(5)
#undef PL_STORE
}

/* AVX-512 6x32 tile: C = alpha * A_panel B_panel + beta * C, 12 zmm accumulators. */
PL_TARGET_AVX512 static void ukernel_6x32_avx512(int64_t kc, const float *a, const float *b, float *c, int64_t ldc,
                                                 float alpha, float beta) {
    __m512 c00 = _mm512_setzero_ps(), c01 = _mm512_setzero_ps();
    __m512 c10 = _mm512_setzero_ps(), c11 = _mm512_setzero_ps();
    __m512 c20 = _mm512_setzero_ps(), c21 = _mm512_setzero_ps();
    __m512 c30 = _mm512_setzero_ps(), c31 = _mm512_setzero_ps();
    __m512 c40 = _mm512_setzero_ps(), c41 = _mm512_setzero_ps();
    __m512 c50 = _mm512_setzero_ps(), c51 = _mm512_setzero_ps();
    for (int r = 0; r < PL_MR; r++) {
        _mm_prefetch((const char *)(c + r * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + r * ldc + 31), _MM_HINT_T0);
    }
#pragma GCC unroll 8
    for (int64_t k = 0; k < kc; k++) {
        _mm_prefetch((const char *)(b + 256), _MM_HINT_T0);
        _mm_prefetch((const char *)(a + 48), _MM_HINT_T0);
        const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
        __m512 av;
#define PL_ROW(r)                                    \
    av = _mm512_set1_ps(a[r]);                       \
    c##r##0 = _mm512_fmadd_ps(av, b0, c##r##0);      \
    c##r##1 = _mm512_fmadd_ps(av, b1, c##r##1);
        PL_ROW(0) PL_ROW(1) PL_ROW(2) PL_ROW(3) PL_ROW(4) PL_ROW(5)
#undef PL_ROW
        a += PL_MR;
        b += 32;
    }
    const __m512 valpha = _mm512_set1_ps(alpha), vbeta = _mm512_set1_ps(beta);
    const int read = beta != 0.0f;
#define PL_STORE(r)                                                   \
    pl_store16_avx512(c + r * ldc, c##r##0, valpha, vbeta, read);        \
    pl_store16_avx512(c + r * ldc + 16, c##r##1, valpha, vbeta, read);
    PL_STORE(0) PL_STORE(1) PL_STORE(2) PL_STORE(3) PL_STORE(4) PL_STORE(5)
#undef PL_STORE
}

#endif

/* ---- dispatch ---- */

static const pl_gemm_desc pl_gemm_scalar = {8, ukernel_6x8_scalar, 0};
#if PL_X86
static const pl_gemm_desc pl_gemm_avx2 = {16, ukernel_6x16_avx2, 1};
static const pl_gemm_desc pl_gemm_avx512 = {32, ukernel_6x32_avx512, 1};
#else /* never chosen: pl_gemm_kernel_available says no */
static const pl_gemm_desc pl_gemm_avx2 = {8, ukernel_6x8_scalar, 0};
static const pl_gemm_desc pl_gemm_avx512 = {8, ukernel_6x8_scalar, 0};
#endif

/* 1 on an Intel CPU (full-width AVX-512 units). */
static int is_intel_cpu(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_is("intel");
#else
    return 0;
#endif
}

/* 1 if this CPU runs the kernel. */
int pl_gemm_kernel_available(int kernel) {
    switch (kernel) {
    case PL_GEMM_AUTO:
    case PL_GEMM_SCALAR: return 1;
    case PL_GEMM_AVX2: return pl_cpu_has_avx2();
    case PL_GEMM_AVX512: return pl_cpu_has_avx512() && pl_cpu_has_avx2();
    default: return 0;
    }
}

/* The kernel for a request. AUTO takes AVX-512 only on Intel CPUs and for products at least 32 columns wide:
   AMD's Zen 4 splits 512-bit FMAs in two, so there the AVX2 kernel is as fast and pads narrow products less. */
static const pl_gemm_desc *choose_kernel(int kernel, int64_t N) {
    if (kernel == PL_GEMM_AVX512) return &pl_gemm_avx512;
    if (kernel == PL_GEMM_AVX2) return &pl_gemm_avx2;
    if (kernel == PL_GEMM_SCALAR) return &pl_gemm_scalar;
    if (N >= 32 && pl_gemm_kernel_available(PL_GEMM_AVX512) && is_intel_cpu()) return &pl_gemm_avx512;
    if (pl_cpu_has_avx2()) return &pl_gemm_avx2;
    return &pl_gemm_scalar;
}

/* ---- packing ---- */

#if PL_X86
/* Transposes the 8x8 block whose rows are r[0..8): afterwards r[t] holds column t. */
PL_TARGET_AVX2_FMA static inline void transpose8_avx2(__m256 r[8]) {
    const __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    const __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    const __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    const __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20);
    r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20);
    r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31);
    r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31);
    r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

/* dst[k][r] = A[(i0+r)*lda + k0 + k] for a full 6-row panel: 8x8 transposes of 6 rows (2 zero rows). */
PL_TARGET_AVX2_FMA static void pack_a_rows_avx2(const float *A, int64_t lda, int64_t i0, int64_t k0, int64_t kc,
                                                float *dst) {
    const __m256i mask6 = _mm256_setr_epi32(-1, -1, -1, -1, -1, -1, 0, 0);
    int64_t k = 0;
    for (; k + 8 <= kc; k += 8) {
        __m256 r[8];
        for (int i = 0; i < PL_MR; i++) r[i] = _mm256_loadu_ps(A + (i0 + i) * lda + k0 + k);
        r[6] = r[7] = _mm256_setzero_ps();
        transpose8_avx2(r);
        float *d = dst + k * PL_MR;
        for (int t = 0; t < 7; t++) _mm256_storeu_ps(d + t * PL_MR, r[t]); /* lanes 6, 7 are overwritten next */
        _mm256_maskstore_ps(d + 7 * PL_MR, mask6, r[7]);
    }
    for (; k < kc; k++)
        for (int i = 0; i < PL_MR; i++) dst[k * PL_MR + i] = A[(i0 + i) * lda + k0 + k];
}

/* dst[k][c] = B[(j0+c)*ldb + k0 + k] for a full NR-column panel (NR a multiple of 8): 8x8 transposes. */
PL_TARGET_AVX2_FMA static void pack_b_rows_avx2(const float *B, int64_t ldb, int64_t k0, int64_t kc, int64_t j0,
                                                int NR, float *dst) {
    int64_t k = 0;
    for (; k + 8 <= kc; k += 8) {
        for (int c0 = 0; c0 < NR; c0 += 8) {
            __m256 r[8];
            for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(B + (j0 + c0 + i) * ldb + k0 + k);
            transpose8_avx2(r);
            for (int t = 0; t < 8; t++) _mm256_storeu_ps(dst + (k + t) * NR + c0, r[t]);
        }
    }
    for (; k < kc; k++)
        for (int c = 0; c < NR; c++) dst[k * NR + c] = B[(j0 + c) * ldb + k0 + k];
}
#endif

/* Packs rows [i0, i0+mr) x cols [k0, k0+kc) of op(A) into dst[k][MR] (rows past mr zero). */
static void pack_a_panel(int trans_a, const float *A, int64_t lda, int64_t i0, int64_t mr, int64_t k0, int64_t kc,
                         int simd, float *dst) {
#if PL_X86
    if (simd && !trans_a && mr == PL_MR) {
        pack_a_rows_avx2(A, lda, i0, k0, kc, dst);
        return;
    }
#endif
    if (mr < PL_MR) memset(dst, 0, sizeof(float) * (size_t)(kc * PL_MR));
    if (!trans_a) { /* op(A)[i][k] = A[i*lda + k]: read each row contiguously */
        for (int64_t r = 0; r < mr; r++) {
            const float *src = A + (i0 + r) * lda + k0;
            for (int64_t k = 0; k < kc; k++) dst[k * PL_MR + r] = src[k];
        }
    } else { /* op(A)[i][k] = A[k*lda + i]: MR contiguous values per k */
        for (int64_t k = 0; k < kc; k++) {
            const float *src = A + (k0 + k) * lda + i0;
            for (int64_t r = 0; r < mr; r++) dst[k * PL_MR + r] = src[r];
        }
    }
}

/* Packs rows [k0, k0+kc) x cols [j0, j0+nr) of op(B) into dst[k][NR] (columns past nr zero). */
static void pack_b_panel(int trans_b, const float *B, int64_t ldb, int64_t k0, int64_t kc, int64_t j0, int64_t nr,
                         int NR, int simd, float *dst) {
#if PL_X86
    if (simd && trans_b && nr == NR && NR % 8 == 0) {
        pack_b_rows_avx2(B, ldb, k0, kc, j0, NR, dst);
        return;
    }
#endif
    if (nr < NR) memset(dst, 0, sizeof(float) * (size_t)(kc * NR));
    if (!trans_b) { /* op(B)[k][j] = B[k*ldb + j]: nr contiguous values per k */
        for (int64_t k = 0; k < kc; k++) memcpy(dst + k * NR, B + (k0 + k) * ldb + j0, sizeof(float) * (size_t)nr);
    } else { /* op(B)[k][j] = B[j*ldb + k]: read each row of B contiguously */
        for (int64_t c = 0; c < nr; c++) {
            const float *src = B + (j0 + c) * ldb + k0;
            for (int64_t k = 0; k < kc; k++) dst[k * NR + c] = src[k];
        }
    }
}

/* ---- edges and trivial cases ---- */

/* C[mr][nr] = alpha * tile + beta * C for a ragged tile computed into tile[MR][NR]; beta = 0 never reads C. */
static void store_edge(int64_t mr, int64_t nr, const float *tile, int NR, float *C, int64_t ldc, float alpha,
                       float beta) {
    for (int64_t r = 0; r < mr; r++) {
        float *cr = C + r * ldc;
        const float *tr = tile + r * NR;
        if (beta == 0.0f) {
            for (int64_t j = 0; j < nr; j++) cr[j] = alpha * tr[j];
        } else {
            for (int64_t j = 0; j < nr; j++) cr[j] = alpha * tr[j] + beta * cr[j];
        }
    }
}

/* C = beta * C (beta = 0 writes zeros without reading C). */
static void scale_c(int64_t M, int64_t N, float beta, float *C, int64_t ldc) {
    if (beta == 1.0f) return;
    for (int64_t i = 0; i < M; i++) {
        float *ci = C + i * ldc;
        if (beta == 0.0f) {
            memset(ci, 0, sizeof(float) * (size_t)N);
        } else {
            for (int64_t j = 0; j < N; j++) ci[j] *= beta;
        }
    }
}

/* ---- driver ---- */

/* Bytes of packed B a thread keeps so that it can reuse it for the next row block of the same columns. */
#define PL_B_KEEP_BYTES (4 << 20)

typedef struct {
    int trans_a, trans_b;
    int64_t M, N, K;
    float alpha, beta;
    const float *A, *B;
    int64_t lda, ldb, ldc;
    float *C;
    const pl_gemm_desc *kd;
    /* tasks: blocks of mc rows x nc columns of C, numbered column block by column block */
    int64_t mc, nc, m_blocks, n_blocks;
    int64_t n_slices;   /* KC-deep slices of K */
    int b_whole;        /* 1: a thread packs its column block of op(B) for all of K once and reuses it */
    uint64_t call;      /* number of this call, tagging the packed B a thread keeps */
    _Atomic int failed; /* a thread could not get its packing buffers */
} pl_gemm_job;

static _Atomic uint64_t gemm_calls;
/* The packed B this thread holds: (call, column block); valid only with b_whole. */
static _Thread_local uint64_t kept_call;
static _Thread_local int64_t kept_block = -1;

/* One task: C[i0..i0+mc)[j0..j0+nc) = alpha * op(A) op(B) + beta * C over all of K. */
static void gemm_task(pl_gemm_job *g, int64_t task) {
    const int NR = g->kd->nr;
    const int64_t jb = task / g->m_blocks, ib = task % g->m_blocks;
    const int64_t i0 = ib * g->mc, j0 = jb * g->nc;
    const int64_t mc = g->M - i0 < g->mc ? g->M - i0 : g->mc, nc = g->N - j0 < g->nc ? g->N - j0 : g->nc;
    const int64_t n_panels = (nc + NR - 1) / NR, m_panels = (mc + PL_MR - 1) / PL_MR;
    const int64_t kc_max = g->K < PL_KC ? g->K : PL_KC;
    const int64_t slice_floats = n_panels * NR * kc_max;
    float *pack_a = pl_scratch(PL_SCRATCH_GEMM_A, sizeof(float) * (size_t)(m_panels * PL_MR * kc_max));
    float *pack_b = pl_scratch(PL_SCRATCH_GEMM_B, sizeof(float) * (size_t)(slice_floats * (g->b_whole ? g->n_slices : 1)));
    if (!pack_a || !pack_b) {
        g->failed = 1;
        kept_block = -1;
        return;
    }
    const int reuse = g->b_whole && kept_call == g->call && kept_block == jb;
    _Alignas(64) float tile[PL_MR * PL_NR_MAX];
    for (int64_t s = 0; s < g->n_slices; s++) {
        const int64_t pc = s * PL_KC, kc = g->K - pc < PL_KC ? g->K - pc : PL_KC;
        const float beta = s == 0 ? g->beta : 1.0f; /* later slices add to what the first wrote */
        float *bs = pack_b + (g->b_whole ? s * slice_floats : 0);
        if (!reuse)
            for (int64_t q = 0; q < n_panels; q++) {
                const int64_t nr = nc - q * NR < NR ? nc - q * NR : NR;
                pack_b_panel(g->trans_b, g->B, g->ldb, pc, kc, j0 + q * NR, nr, NR, g->kd->avx2_pack, bs + q * NR * kc);
            }
        for (int64_t p = 0; p < m_panels; p++) {
            const int64_t mr = mc - p * PL_MR < PL_MR ? mc - p * PL_MR : PL_MR;
            pack_a_panel(g->trans_a, g->A, g->lda, i0 + p * PL_MR, mr, pc, kc, g->kd->avx2_pack, pack_a + p * PL_MR * kc);
        }
        for (int64_t q = 0; q < n_panels; q++) { /* a B micro-panel stays in L1 across the A panels */
            const int64_t nr = nc - q * NR < NR ? nc - q * NR : NR;
            const float *bp = bs + q * NR * kc;
            for (int64_t p = 0; p < m_panels; p++) {
                const int64_t mr = mc - p * PL_MR < PL_MR ? mc - p * PL_MR : PL_MR;
                const float *ap = pack_a + p * PL_MR * kc;
                float *cp = g->C + (i0 + p * PL_MR) * g->ldc + j0 + q * NR;
                if (mr == PL_MR && nr == NR) {
                    g->kd->tile(kc, ap, bp, cp, g->ldc, g->alpha, beta);
                } else {
                    g->kd->tile(kc, ap, bp, tile, NR, 1.0f, 0.0f);
                    store_edge(mr, nr, tile, NR, cp, g->ldc, g->alpha, beta);
                }
            }
        }
    }
    kept_call = g->call;
    kept_block = g->b_whole ? jb : -1;
}

static void gemm_chunk(void *ctx, int64_t begin, int64_t end, int worker) {
    (void)worker;
    for (int64_t t = begin; t < end; t++) gemm_task(ctx, t);
}

/* Rounds x down to a multiple of m, at least m. */
static int64_t round_down(int64_t x, int64_t m) { return x < m ? m : x / m * m; }

/* C = alpha * op(A) op(B) + beta * C with panlora's kernels (see sgemm.h). */
int32_t pl_sgemm_own(int kernel, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                     const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    if (!pl_gemm_kernel_available(kernel))
        return pl_fail(PL_ERR_UNSUPPORTED, "pl_sgemm: GEMM kernel %d is not supported by this CPU", kernel);
    if (M <= 0 || N <= 0) return pl_ok();
    if (K <= 0 || alpha == 0.0f) {
        scale_c(M, N, beta, C, ldc);
        return pl_ok();
    }
    pl_gemm_job g = {trans_a, trans_b, M, N, K, alpha, beta, A, B, lda, ldb, ldc, C, choose_kernel(kernel, N)};
    const int NR = g.kd->nr;
    const double flops = 2.0 * (double)M * (double)N * (double)K;
    const int width = flops < PL_MIN_PARALLEL_FLOPS ? 1 : pl_threads();

    /* Tasks: at most PL_MC rows (packed A stays in L2) and PL_NC columns; when the packed B of a column block for
       all of K fits PL_B_KEEP_BYTES a thread keeps it for the next row block of those columns. Blocks shrink until
       every thread has about four tasks, so a thread that stalls leaves little work for the others to wait on. */
    g.n_slices = (K + PL_KC - 1) / PL_KC;
    const int64_t k_floats = g.n_slices * (K < PL_KC ? K : PL_KC);
    int64_t nc = round_down((int64_t)(PL_B_KEEP_BYTES / sizeof(float)) / k_floats, NR);
    g.b_whole = nc >= 4 * NR;
    if (!g.b_whole) nc = 16 * NR;
    const int64_t n_pad = (N + NR - 1) / NR * NR;
    if (nc > PL_NC) nc = PL_NC;
    if (nc > n_pad) nc = n_pad;
    int64_t mc = M < PL_MC ? (M + PL_MR - 1) / PL_MR * PL_MR : PL_MC;
    const int64_t want = width > 1 ? 4 * (int64_t)width : 1;
    for (;;) {
        const int64_t tasks = ((M + mc - 1) / mc) * ((N + nc - 1) / nc);
        if (tasks >= want) break;
        if (mc >= 4 * PL_MR) mc = round_down(mc / 2, PL_MR);
        else if (nc >= 2 * NR) nc = round_down(nc / 2, NR);
        else break;
    }
    g.mc = mc;
    g.nc = nc;
    g.m_blocks = (M + mc - 1) / mc;
    g.n_blocks = (N + nc - 1) / nc;
    g.call = atomic_fetch_add(&gemm_calls, 1) + 1;
    pl_parallel_for(g.m_blocks * g.n_blocks, 1, width, gemm_chunk, &g);
    if (g.failed)
        return pl_fail(PL_ERR_OUT_OF_MEMORY, "pl_sgemm: cannot allocate packing buffers (%lld x %lld x %lld product)",
                       (long long)M, (long long)N, (long long)K);
    return pl_ok();
}
