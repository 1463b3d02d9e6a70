/* BF16 GEMM with F32 accumulation: C = alpha * op(A) op(B) + beta * C, row-major, F32 in and out.
 *
 * Both operands are rounded to BF16 (round to nearest even) while they are packed; products of BF16 pairs are
 * summed in F32 by AVX512-BF16's VDPBF16PS (two multiply-adds per 32-bit lane per instruction, twice the work of an
 * F32 FMA). Layout: op(A) is packed into panels of PL_BG_MR rows and op(B) into panels of PL_BG_NR columns, each over
 * all of K in k pairs: a panel holds, for every pair (2p, 2p+1), its rows' (or columns') two values side by side, so
 * one 32-bit broadcast of A and one 512-bit load of B feed a VDPBF16PS. Odd K is padded with a zero. Everything is
 * packed once per call into the calling thread's scratch (2·(M + N)·K bytes, rounded up to whole panels), in
 * parallel; then tiles of C are computed task by task over K slices of PL_BG_KC, the slices added in order, so a
 * tile's result does not depend on the thread count.
 *
 * Internal; arguments are assumed valid (pl_bgemm checks only that this CPU can run it and that the scratch fits).
 */
#if defined(__x86_64__) || defined(__i386__)
#define PL_X86 1
#include <immintrin.h>
#include "ops/store_avx512.h"
#else
#define PL_X86 0
#endif
#include <stdint.h>
#include <string.h>
#include "common.h"
#include "ops/bgemm.h"
#include "pool.h"

#define PL_BG_MR 6          /* rows of a micro-tile */
#define PL_BG_NR 32         /* columns of a micro-tile: two 16-lane accumulators */
#define PL_BG_KC 256        /* k per slice (even): a B micro-panel slice is 16 KiB, stays in L1 */
#define PL_BG_MC_PANELS 24  /* A panels per task (144 rows) */
#define PL_BG_NC_PANELS 8   /* B panels per task (256 columns) */
#define PL_BG_MIN_PARALLEL_FLOPS (1 << 24)

#define PL_TARGET_BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

/* F32 -> BF16, round to nearest even; NaN stays a (quiet) NaN. */
static inline uint16_t bf16_of(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float pl_bf16_round(float f) {
    const uint32_t u = (uint32_t)bf16_of(f) << 16;
    float r;
    memcpy(&r, &u, sizeof r);
    return r;
}

int pl_bgemm_available(void) { return pl_cpu_has_avx512bf16(); }

/* ---- packing ---- */

/* Panel of op(A) rows [i0, i0+mr) over all K: dst[p][r][2] for pairs p < kp (rows past mr and the pad are zero). */
static void pack_a(int trans_a, const float *A, int64_t lda, int64_t i0, int64_t mr, int64_t K, int64_t kp,
                   uint16_t *dst) {
    if (mr < PL_BG_MR || (K & 1)) memset(dst, 0, sizeof(uint16_t) * (size_t)(kp * PL_BG_MR * 2));
    if (!trans_a) {
        for (int64_t r = 0; r < mr; r++) {
            const float *src = A + (i0 + r) * lda;
            for (int64_t k = 0; k < K; k++) dst[(k >> 1) * (PL_BG_MR * 2) + r * 2 + (k & 1)] = bf16_of(src[k]);
        }
    } else {
        for (int64_t k = 0; k < K; k++) {
            const float *src = A + k * lda + i0;
            uint16_t *d = dst + (k >> 1) * (PL_BG_MR * 2) + (k & 1);
            for (int64_t r = 0; r < mr; r++) d[r * 2] = bf16_of(src[r]);
        }
    }
}

#if PL_X86
/* Full panel of a transposed B (rows of B are the panel's columns): 16 columns x 8 pairs at a time, converted with
   VCVTNE2PS2BF16 and transposed as 32-bit pairs. Needs nr == PL_BG_NR and K a multiple of 16. */
PL_TARGET_BF16 static void pack_b_trans_full(const float *B, int64_t ldb, int64_t j0, int64_t K, uint16_t *dst) {
    for (int64_t k = 0; k < K; k += 16) {
        for (int c0 = 0; c0 < PL_BG_NR; c0 += 16) {
            /* tmp[c]: column j0+c0+c's values k..k+15 as 8 BF16 pairs */
            uint32_t tmp[16][8];
            for (int c = 0; c < 16; c++)
                _mm256_storeu_si256((__m256i *)tmp[c], (__m256i)_mm512_cvtneps_pbh(_mm512_loadu_ps(B + (j0 + c0 + c) * ldb + k)));
            for (int p = 0; p < 8; p++) { /* pair p of the 16 columns, side by side */
                uint32_t *d = (uint32_t *)(void *)(dst + ((k >> 1) + p) * (PL_BG_NR * 2)) + c0;
                for (int c = 0; c < 16; c++) d[c] = tmp[c][p];
            }
        }
    }
}
#endif

/* Panel of op(B) columns [j0, j0+nr) over all K: dst[p][c][2] (columns past nr and the pad are zero). */
static void pack_b(int trans_b, const float *B, int64_t ldb, int64_t j0, int64_t nr, int64_t K, int64_t kp,
                   uint16_t *dst) {
#if PL_X86
    if (trans_b && nr == PL_BG_NR && (K & 15) == 0) {
        pack_b_trans_full(B, ldb, j0, K, dst);
        return;
    }
#endif
    if (nr < PL_BG_NR || (K & 1)) memset(dst, 0, sizeof(uint16_t) * (size_t)(kp * PL_BG_NR * 2));
    if (trans_b) {
        for (int64_t c = 0; c < nr; c++) {
            const float *src = B + (j0 + c) * ldb;
            for (int64_t k = 0; k < K; k++) dst[(k >> 1) * (PL_BG_NR * 2) + c * 2 + (k & 1)] = bf16_of(src[k]);
        }
    } else {
        for (int64_t k = 0; k < K; k++) {
            const float *src = B + k * ldb + j0;
            uint16_t *d = dst + (k >> 1) * (PL_BG_NR * 2) + (k & 1);
            for (int64_t c = 0; c < nr; c++) d[c * 2] = bf16_of(src[c]);
        }
    }
}

/* ---- micro-kernel ---- */

#if PL_X86
/* C[6][32] = alpha * sum over np pairs of a[p][r][2] . b[p][c][2] + beta * C; beta = 0 never reads C. */
PL_TARGET_BF16 static void ukernel_6x32_bf16(int64_t np, const uint16_t *a, const uint16_t *b, float *c, int64_t ldc,
                                             float alpha, float beta) {
    __m512 c00 = _mm512_setzero_ps(), c01 = _mm512_setzero_ps();
    __m512 c10 = _mm512_setzero_ps(), c11 = _mm512_setzero_ps();
    __m512 c20 = _mm512_setzero_ps(), c21 = _mm512_setzero_ps();
    __m512 c30 = _mm512_setzero_ps(), c31 = _mm512_setzero_ps();
    __m512 c40 = _mm512_setzero_ps(), c41 = _mm512_setzero_ps();
    __m512 c50 = _mm512_setzero_ps(), c51 = _mm512_setzero_ps();
    for (int r = 0; r < PL_BG_MR; r++) {
        _mm_prefetch((const char *)(c + r * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + r * ldc + 31), _MM_HINT_T0);
    }
#pragma GCC unroll 4
    for (int64_t p = 0; p < np; p++) {
        _mm_prefetch((const char *)(b + 256), _MM_HINT_T0);
        const __m512bh b0 = (__m512bh)_mm512_loadu_si512(b), b1 = (__m512bh)_mm512_loadu_si512(b + 32);
        int32_t ap;
        __m512bh av;
#define PL_ROW(r)                                           \
    memcpy(&ap, a + 2 * r, sizeof ap);                      \
    av = (__m512bh)_mm512_set1_epi32(ap);                   \
    c##r##0 = _mm512_dpbf16_ps(c##r##0, av, b0);            \
    c##r##1 = _mm512_dpbf16_ps(c##r##1, av, b1);
        PL_ROW(0) PL_ROW(1) PL_ROW(2) PL_ROW(3) PL_ROW(4) PL_ROW(5)
#undef PL_ROW
        a += PL_BG_MR * 2;
        b += PL_BG_NR * 2;
    }
    const __m512 valpha = _mm512_set1_ps(alpha), vbeta = _mm512_set1_ps(beta);
    const int read = beta != 0.0f;
#define PL_STORE(r)                                         \
    pl_store16_avx512(c + r * ldc, c##r##0, valpha, vbeta, read);     \
    pl_store16_avx512(c + r * ldc + 16, c##r##1, valpha, vbeta, read);
    PL_STORE(0) PL_STORE(1) PL_STORE(2) PL_STORE(3) PL_STORE(4) PL_STORE(5)
#undef PL_STORE
}
#else
static void ukernel_6x32_bf16(int64_t np, const uint16_t *a, const uint16_t *b, float *c, int64_t ldc, float alpha,
                              float beta) {
    (void)np; (void)a; (void)b; (void)c; (void)ldc; (void)alpha; (void)beta; /* never called: pl_bgemm_available() is 0 */
}
#endif

/* ---- driver ---- */

typedef struct {
    int trans_a, trans_b;
    int64_t M, N, K, kp;
    float alpha, beta;
    const float *A, *B;
    int64_t lda, ldb, ldc;
    float *C;
    uint16_t *pa, *pb; /* packed panels */
    int64_t m_panels, n_panels, mc, nc, m_blocks;
} pl_bgemm_job;

static void pack_a_chunk(void *ctx, int64_t p0, int64_t p1, int worker) {
    (void)worker;
    const pl_bgemm_job *g = ctx;
    for (int64_t p = p0; p < p1; p++) {
        const int64_t mr = g->M - p * PL_BG_MR < PL_BG_MR ? g->M - p * PL_BG_MR : PL_BG_MR;
        pack_a(g->trans_a, g->A, g->lda, p * PL_BG_MR, mr, g->K, g->kp, g->pa + p * g->kp * PL_BG_MR * 2);
    }
}

static void pack_b_chunk(void *ctx, int64_t q0, int64_t q1, int worker) {
    (void)worker;
    const pl_bgemm_job *g = ctx;
    for (int64_t q = q0; q < q1; q++) {
        const int64_t nr = g->N - q * PL_BG_NR < PL_BG_NR ? g->N - q * PL_BG_NR : PL_BG_NR;
        pack_b(g->trans_b, g->B, g->ldb, q * PL_BG_NR, nr, g->K, g->kp, g->pb + q * g->kp * PL_BG_NR * 2);
    }
}

/* C = alpha * tile + beta * C for a ragged tile. */
static void store_edge(int64_t mr, int64_t nr, const float *tile, float *C, int64_t ldc, float alpha, float beta) {
    for (int64_t r = 0; r < mr; r++)
        for (int64_t j = 0; j < nr; j++)
            C[r * ldc + j] = beta == 0.0f ? alpha * tile[r * PL_BG_NR + j] : alpha * tile[r * PL_BG_NR + j] + beta * C[r * ldc + j];
}

static void tile_chunk(void *ctx, int64_t t0, int64_t t1, int worker) {
    (void)worker;
    const pl_bgemm_job *g = ctx;
    _Alignas(64) float tile[PL_BG_MR * PL_BG_NR];
    for (int64_t t = t0; t < t1; t++) {
        const int64_t jb = t / g->m_blocks, ib = t % g->m_blocks;
        const int64_t p0 = ib * g->mc, p1 = p0 + g->mc < g->m_panels ? p0 + g->mc : g->m_panels;
        const int64_t q0 = jb * g->nc, q1 = q0 + g->nc < g->n_panels ? q0 + g->nc : g->n_panels;
        for (int64_t s0 = 0; s0 < g->kp; s0 += PL_BG_KC / 2) {
            const int64_t np = g->kp - s0 < PL_BG_KC / 2 ? g->kp - s0 : PL_BG_KC / 2;
            const float beta = s0 == 0 ? g->beta : 1.0f;
            for (int64_t q = q0; q < q1; q++) {
                const int64_t nr = g->N - q * PL_BG_NR < PL_BG_NR ? g->N - q * PL_BG_NR : PL_BG_NR;
                const uint16_t *bp = g->pb + (q * g->kp + s0) * PL_BG_NR * 2;
                for (int64_t p = p0; p < p1; p++) {
                    const int64_t mr = g->M - p * PL_BG_MR < PL_BG_MR ? g->M - p * PL_BG_MR : PL_BG_MR;
                    const uint16_t *ap = g->pa + (p * g->kp + s0) * PL_BG_MR * 2;
                    float *cp = g->C + p * PL_BG_MR * g->ldc + q * PL_BG_NR;
                    if (mr == PL_BG_MR && nr == PL_BG_NR) {
                        ukernel_6x32_bf16(np, ap, bp, cp, g->ldc, g->alpha, beta);
                    } else {
                        ukernel_6x32_bf16(np, ap, bp, tile, PL_BG_NR, 1.0f, 0.0f);
                        store_edge(mr, nr, tile, cp, g->ldc, g->alpha, beta);
                    }
                }
            }
        }
    }
}

int64_t pl_bgemm_scratch_bytes(int64_t M, int64_t N, int64_t K) {
    const int64_t kp = (K + 1) / 2;
    const int64_t mp = (M + PL_BG_MR - 1) / PL_BG_MR, np = (N + PL_BG_NR - 1) / PL_BG_NR;
    return (mp * PL_BG_MR + np * PL_BG_NR) * kp * 2 * (int64_t)sizeof(uint16_t);
}

int32_t pl_bgemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                 const float *B, int64_t ldb, float beta, float *C, int64_t ldc) {
    if (!pl_bgemm_available())
        return pl_fail(PL_ERR_UNSUPPORTED, "BF16 matmul: this CPU has no AVX512-BF16 (use the F32 path)");
    if (M <= 0 || N <= 0) return pl_ok();
    if (K <= 0 || alpha == 0.0f) {
        for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < N; j++) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
        return pl_ok();
    }
    pl_bgemm_job g = {trans_a, trans_b, M, N, K, (K + 1) / 2, alpha, beta, A, B, lda, ldb, ldc, C};
    g.m_panels = (M + PL_BG_MR - 1) / PL_BG_MR;
    g.n_panels = (N + PL_BG_NR - 1) / PL_BG_NR;
    const int64_t bytes = pl_bgemm_scratch_bytes(M, N, K);
    uint16_t *buf = pl_scratch(PL_SCRATCH_BF16, (size_t)bytes);
    if (!buf)
        return pl_fail(PL_ERR_OUT_OF_MEMORY, "BF16 matmul: cannot allocate %lld bytes of packed panels (%lld x %lld x %lld product)",
                       (long long)bytes, (long long)M, (long long)N, (long long)K);
    g.pa = buf;
    g.pb = buf + g.m_panels * g.kp * PL_BG_MR * 2;
    const double flops = 2.0 * (double)M * (double)N * (double)K;
    const int width = flops < PL_BG_MIN_PARALLEL_FLOPS ? 1 : pl_threads();
    pl_parallel_for(g.m_panels, pl_grain_for(g.m_panels, width, 4, 1), width, pack_a_chunk, &g);
    pl_parallel_for(g.n_panels, pl_grain_for(g.n_panels, width, 4, 1), width, pack_b_chunk, &g);
    /* tasks: blocks of panels; shrink until every thread has about four */
    int64_t mc = PL_BG_MC_PANELS < g.m_panels ? PL_BG_MC_PANELS : g.m_panels;
    int64_t nc = PL_BG_NC_PANELS < g.n_panels ? PL_BG_NC_PANELS : g.n_panels;
    const int64_t want = width > 1 ? 4 * (int64_t)width : 1;
    for (;;) {
        const int64_t tasks = ((g.m_panels + mc - 1) / mc) * ((g.n_panels + nc - 1) / nc);
        if (tasks >= want) break;
        if (mc >= 4) mc /= 2;
        else if (nc >= 2) nc /= 2;
        else break;
    }
    g.mc = mc;
    g.nc = nc;
    g.m_blocks = (g.m_panels + mc - 1) / mc;
    const int64_t n_tasks = g.m_blocks * ((g.n_panels + nc - 1) / nc);
    pl_parallel_for(n_tasks, 1, width, tile_chunk, &g);
    return pl_ok();
}
