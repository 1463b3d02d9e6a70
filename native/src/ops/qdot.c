/* Decoding over quantized weights with 8-bit activations: y[t][o] (+)= sum_i W[o][i] x[t][i] for a few tokens, in integers
 * as llama.cpp's CPU backend computes it.
 *
 * Each token's activations are quantized once per call, rounded to nearest even with one F32 scale d = max|x|/127 per
 * block: blocks of 32 for the 32-weight types (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1), blocks of 256 with the sums of every 16
 * values for the K-quants (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K), whose super-blocks then reduce in integers — the 6-bit group scales
 * multiplied in with VPMADDWD, the minima and offsets taken from the 16-value sums — to one F32 product per 256 weights.
 * The weight codes are dotted with AVX2's VPMADDUBSW/VPMADDWD, or AVX512-VNNI's VPDPBUSD for the 32-weight types (the
 * same sums: no int16 saturation is possible at these magnitudes), into eight F32 partial sums per row, reduced in a
 * fixed order. Output rows are split over the pool; results do not depend on the thread count.
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
#include "ops/qdot.h"
#include "pool.h"
#include "quant/quant.h"
#include "quant/quant_internal.h"

#define QK 32

/* One quantized activation block of 32 (the 32-weight types). */
typedef struct {
    float d;
    float ds; /* d · (sum of q): the minimum term of Q4_1/Q5_1 */
    int8_t q[QK];
} pl_q8x;

/* One quantized activation block of 256 (the K-quants). */
typedef struct {
    float d;
    int16_t bsums[PL_QK_K / 16]; /* sums of q over each 16 values: the minima of Q2_K, the offsets of Q3_K/Q6_K */
    int16_t gsums[PL_QK_K / 32]; /* sums of q over each 32 values: the minima of Q4_K/Q5_K */
    int8_t q[PL_QK_K];
} pl_q8k;

static int is_k(int32_t wtype) {
    return wtype == PL_TYPE_Q2_K || wtype == PL_TYPE_Q3_K || wtype == PL_TYPE_Q4_K || wtype == PL_TYPE_Q5_K || wtype == PL_TYPE_Q6_K;
}

int pl_qdot_supported(int32_t wtype, int64_t in) {
    if (!PL_X86 || !pl_cpu_has_avx2_f16c()) return 0;
    if (wtype == PL_TYPE_Q8_0 || wtype == PL_TYPE_Q4_0 || wtype == PL_TYPE_Q4_1 || wtype == PL_TYPE_Q5_0 || wtype == PL_TYPE_Q5_1)
        return in % QK == 0;
    return is_k(wtype) && in % PL_QK_K == 0;
}

/* AVX512-VNNI with -VL, unless PANLORA_QDOT_NO_VNNI is set (the tests run the AVX2 forms with it); asked once. */
static int has_vnni(void) {
#if PL_X86
    static int state; /* 0 not asked yet, 1 no, 2 yes */
    int s = __atomic_load_n(&state, __ATOMIC_RELAXED);
    if (s == 0) {
        __builtin_cpu_init();
        const char *off = getenv("PANLORA_QDOT_NO_VNNI");
        s = off && *off && strcmp(off, "0") != 0 ? 1
            : __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl") ? 2 : 1;
        __atomic_store_n(&state, s, __ATOMIC_RELAXED);
    }
    return s == 2;
#else
    return 0;
#endif
}

/* n values -> int8 codes q; returns their scale. */
static float quantize_block(const float *x, int n, int8_t *q) {
    float amax = 0;
    for (int j = 0; j < n; j++) amax = fmaxf(amax, fabsf(x[j]));
    const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < n; j++) q[j] = (int8_t)nearbyintf(x[j] * id);
    return d;
}

/* x (in values) -> in/32 blocks. */
static void quantize_x32(const float *x, int64_t in, pl_q8x *out) {
    for (int64_t b = 0; b < in / QK; b++) {
        out[b].d = quantize_block(x + b * QK, QK, out[b].q);
        int32_t s = 0;
        for (int j = 0; j < QK; j++) s += out[b].q[j];
        out[b].ds = out[b].d * (float)s;
    }
}

/* x (in values) -> in/256 blocks. */
static void quantize_xk(const float *x, int64_t in, pl_q8k *out) {
    for (int64_t b = 0; b < in / PL_QK_K; b++) {
        out[b].d = quantize_block(x + b * PL_QK_K, PL_QK_K, out[b].q);
        for (int g = 0; g < PL_QK_K / 16; g++) {
            int s = 0;
            for (int j = 0; j < 16; j++) s += out[b].q[16 * g + j];
            out[b].bsums[g] = (int16_t)s;
        }
        for (int g = 0; g < PL_QK_K / 32; g++) out[b].gsums[g] = (int16_t)(out[b].bsums[2 * g] + out[b].bsums[2 * g + 1]);
    }
}

static int64_t block_bytes(int32_t wtype) {
    switch (wtype) {
    case PL_TYPE_Q8_0: return sizeof(pl_block_q8_0);
    case PL_TYPE_Q4_0: return sizeof(pl_block_q4_0);
    case PL_TYPE_Q4_1: return sizeof(pl_block_q4_1);
    case PL_TYPE_Q5_0: return sizeof(pl_block_q5_0);
    case PL_TYPE_Q5_1: return sizeof(pl_block_q5_1);
    case PL_TYPE_Q4_K: return sizeof(pl_block_q4_K);
    case PL_TYPE_Q5_K: return sizeof(pl_block_q5_K);
    case PL_TYPE_Q2_K: return sizeof(pl_block_q2_K);
    case PL_TYPE_Q3_K: return sizeof(pl_block_q3_K);
    default: return sizeof(pl_block_q6_K);
    }
}

typedef float (*row_dot_fn)(const uint8_t *row, const void *xq, int64_t nb);

/* One call's work: the weights' rows numbered one after the other over its jobs. */
typedef struct {
    int n_jobs;
    int64_t first[PL_QDOT_MAX_JOBS + 1]; /* first global row of each job; first[n_jobs] = all rows */
    row_dot_fn dot[PL_QDOT_MAX_JOBS];    /* each job's row function for this CPU */
    const uint8_t *w[PL_QDOT_MAX_JOBS];
    int64_t row_bytes[PL_QDOT_MAX_JOBS], nb[PL_QDOT_MAX_JOBS]; /* nb: blocks per row = activation blocks per token */
    float *y[PL_QDOT_MAX_JOBS];
    const uint8_t *xq[PL_QDOT_MAX_JOBS]; /* the activations in the job's block format: n_tok x nb pl_q8x or pl_q8k */
    size_t x_bytes[PL_QDOT_MAX_JOBS];    /* bytes of one token's activation blocks */
    int64_t n_tok;
    int accumulate;
} qdot_args;

#if PL_X86
#define PL_TARGET_AVX2 __attribute__((target("avx2,fma,f16c")))
#define PL_TARGET_VNNI __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512vnni")))

/* The 32 bytes whose bit 4 is bit j of the 32-bit little-endian qh (byte j), as 0 or 0x10. */
PL_TARGET_AVX2 static inline __m256i high_bits32(const uint8_t *qh4) {
    uint32_t qh;
    memcpy(&qh, qh4, 4);
    const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32((int)qh),
                                               _mm256_set_epi64x(0x0303030303030303LL, 0x0202020202020202LL,
                                                                 0x0101010101010101LL, 0x0000000000000000LL));
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit), _mm256_set1_epi8(0x10));
}

/* The 32 nibbles of 16 bytes in element order: element j < 16 the low nibble of byte j, element j + 16 its high one. */
PL_TARGET_AVX2 static inline __m256i nibbles32(const uint8_t *qs) {
    const __m128i bytes = _mm_loadu_si128((const __m128i *)qs);
    const __m128i lo = _mm_and_si128(bytes, _mm_set1_epi8(0x0f)), hi = _mm_and_si128(_mm_srli_epi16(bytes, 4), _mm_set1_epi8(0x0f));
    return _mm256_set_m128i(hi, lo);
}

/* The 32 codes of block b of a row, *d its scale: signed for Q8_0/Q4_0/Q5_0 (x = d·q), unsigned for Q4_1/Q5_1 (x = d·q + m,
   *m set). */
PL_TARGET_AVX2 static inline __m256i codes_of(int32_t wtype, const uint8_t *row, int64_t b, float *d, float *m) {
    switch (wtype) {
    case PL_TYPE_Q8_0: {
        const pl_block_q8_0 *blk = (const pl_block_q8_0 *)(const void *)(row + b * (int64_t)sizeof(pl_block_q8_0));
        *d = _cvtsh_ss(blk->d);
        return _mm256_loadu_si256((const __m256i *)blk->qs);
    }
    case PL_TYPE_Q4_0: {
        const pl_block_q4_0 *blk = (const pl_block_q4_0 *)(const void *)(row + b * (int64_t)sizeof(pl_block_q4_0));
        *d = _cvtsh_ss(blk->d);
        return _mm256_sub_epi8(nibbles32(blk->qs), _mm256_set1_epi8(8));
    }
    case PL_TYPE_Q5_0: {
        const pl_block_q5_0 *blk = (const pl_block_q5_0 *)(const void *)(row + b * (int64_t)sizeof(pl_block_q5_0));
        *d = _cvtsh_ss(blk->d);
        return _mm256_sub_epi8(_mm256_or_si256(nibbles32(blk->qs), high_bits32(blk->qh)), _mm256_set1_epi8(16));
    }
    case PL_TYPE_Q4_1: {
        const pl_block_q4_1 *blk = (const pl_block_q4_1 *)(const void *)(row + b * (int64_t)sizeof(pl_block_q4_1));
        *d = _cvtsh_ss(blk->d);
        *m = _cvtsh_ss(blk->m);
        return nibbles32(blk->qs);
    }
    default: { /* Q5_1 */
        const pl_block_q5_1 *blk = (const pl_block_q5_1 *)(const void *)(row + b * (int64_t)sizeof(pl_block_q5_1));
        *d = _cvtsh_ss(blk->d);
        *m = _cvtsh_ss(blk->m);
        return _mm256_or_si256(nibbles32(blk->qs), high_bits32(blk->qh));
    }
    }
}

PL_TARGET_AVX2 static inline float hsum8(__m256 s) {
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

/* sum_b d_w d_x (w_b . x_b) (+ m_w d_x sum x_b) over a row of a 32-weight type, one function per type and instruction
   set (the type's decoding and the minimum term fixed at compile time): DOT is VPMADDUBSW + VPMADDWD (AVX2) or VPDPBUSD
   (AVX512-VNNI) on unsigned weights against signed activations — signed codes go in as |w| with x carrying w's sign.
   Even and odd blocks go to two accumulators, so the FMA latency does not chain block after block. */
#define PL_DOT_AVX2(u, x) _mm256_madd_epi16(_mm256_maddubs_epi16((u), (x)), _mm256_set1_epi16(1))
#define PL_DOT_VNNI(u, x) _mm256_dpbusd_epi32(_mm256_setzero_si256(), (u), (x))
#define PL_DEFINE_ROW_DOT32(NAME, TARGET, WTYPE, SYM, DOT)                                                                 \
    TARGET static float NAME(const uint8_t *row, const void *xqv, int64_t nb) {                                           \
        const pl_q8x *xq = xqv;                                                                                          \
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();                                                    \
        float m0 = 0, m1 = 0;                                                                                            \
        int64_t b = 0;                                                                                                   \
        for (; b < nb; b++) {                                                                                            \
            float dw, mw = 0;                                                                                            \
            const __m256i w = codes_of((WTYPE), row, b, &dw, &mw);                                                       \
            const __m256i x = _mm256_loadu_si256((const __m256i *)xq[b].q);                                              \
            const __m256i u = (SYM) ? _mm256_sign_epi8(w, w) : w, sx = (SYM) ? _mm256_sign_epi8(x, w) : x;               \
            const __m256 p = _mm256_cvtepi32_ps(DOT(u, sx)), sc = _mm256_set1_ps(dw * xq[b].d);                           \
            if (b & 1) acc1 = _mm256_fmadd_ps(sc, p, acc1);                                                               \
            else acc0 = _mm256_fmadd_ps(sc, p, acc0);                                                                     \
            if (!(SYM)) {                                                                                                 \
                if (b & 1) m1 += mw * xq[b].ds;                                                                           \
                else m0 += mw * xq[b].ds;                                                                                 \
            }                                                                                                            \
        }                                                                                                                \
        return hsum8(_mm256_add_ps(acc0, acc1)) + (m0 + m1);                                                              \
    }
PL_DEFINE_ROW_DOT32(row_dot_q8_0_avx2, PL_TARGET_AVX2, PL_TYPE_Q8_0, 1, PL_DOT_AVX2)
PL_DEFINE_ROW_DOT32(row_dot_q4_0_avx2, PL_TARGET_AVX2, PL_TYPE_Q4_0, 1, PL_DOT_AVX2)
PL_DEFINE_ROW_DOT32(row_dot_q5_0_avx2, PL_TARGET_AVX2, PL_TYPE_Q5_0, 1, PL_DOT_AVX2)
PL_DEFINE_ROW_DOT32(row_dot_q4_1_avx2, PL_TARGET_AVX2, PL_TYPE_Q4_1, 0, PL_DOT_AVX2)
PL_DEFINE_ROW_DOT32(row_dot_q5_1_avx2, PL_TARGET_AVX2, PL_TYPE_Q5_1, 0, PL_DOT_AVX2)
PL_DEFINE_ROW_DOT32(row_dot_q8_0_vnni, PL_TARGET_VNNI, PL_TYPE_Q8_0, 1, PL_DOT_VNNI)
PL_DEFINE_ROW_DOT32(row_dot_q4_0_vnni, PL_TARGET_VNNI, PL_TYPE_Q4_0, 1, PL_DOT_VNNI)
PL_DEFINE_ROW_DOT32(row_dot_q5_0_vnni, PL_TARGET_VNNI, PL_TYPE_Q5_0, 1, PL_DOT_VNNI)
PL_DEFINE_ROW_DOT32(row_dot_q4_1_vnni, PL_TARGET_VNNI, PL_TYPE_Q4_1, 0, PL_DOT_VNNI)
PL_DEFINE_ROW_DOT32(row_dot_q5_1_vnni, PL_TARGET_VNNI, PL_TYPE_Q5_1, 0, PL_DOT_VNNI)

/* The eight 6-bit scales and the eight minima of a Q4_K/Q5_K super-block, as eight bytes each, from the 12 packed bytes
   u0 u1 u2 (little-endian words): scale j < 4 is the low 6 bits of byte j of u0 and minimum j those of u1; for j >= 4
   the low 4 bits come from byte j-4 of u2 (low nibble: scale, high nibble: minimum) and the top 2 from bits 6-7 of byte
   j-4 of u0 (scale) or u1 (minimum). */
static inline void k4_scales(const uint8_t *packed, uint64_t *sc, uint64_t *mn) {
    uint32_t u0, u1, u2;
    memcpy(&u0, packed, 4);
    memcpy(&u1, packed + 4, 4);
    memcpy(&u2, packed + 8, 4);
    const uint32_t sc_hi = (u2 & 0x0f0f0f0fu) | (((u0 >> 6) & 0x03030303u) << 4);
    const uint32_t mn_hi = ((u2 >> 4) & 0x0f0f0f0fu) | (((u1 >> 6) & 0x03030303u) << 4);
    *sc = (uint64_t)(u0 & 0x3f3f3f3fu) | (uint64_t)sc_hi << 32;
    *mn = (uint64_t)(u1 & 0x3f3f3f3fu) | (uint64_t)mn_hi << 32;
}

/* A Q4_K (high == NULL) or Q5_K row against 256-blocks: per super-block, sum_g sc_g (q_g . x_g) in int32 lanes (VPMADDUBSW
   then VPMADDWD by sc_g), times d·d_x; minus dmin·d_x·sum_g mn_g (sum of x_g), the sums of x_g taken once per token
   (gsums) and their products with the minima by VPMADDWD. Group 2p takes the low nibbles of qs[32p..32p+32),
   group 2p+1 the high ones; Q5_K's fifth bit of element l of group g is bit g of qh[l]. */
PL_TARGET_AVX2 static inline __attribute__((always_inline)) float row_dot_q45k(const int32_t wtype, const uint8_t *row,
                                                                                const pl_q8k *xq, int64_t nsuper) {
    __m256 acc = _mm256_setzero_ps();
    __m128 accm = _mm_setzero_ps();
    const __m256i low4 = _mm256_set1_epi8(0x0f), one = _mm256_set1_epi8(1);
    const int q5 = wtype == PL_TYPE_Q5_K;
    const int64_t bytes = q5 ? (int64_t)sizeof(pl_block_q5_K) : (int64_t)sizeof(pl_block_q4_K);
    for (int64_t sb = 0; sb < nsuper; sb++) {
        const uint8_t *blk = row + sb * bytes;
        uint16_t dh, mh;
        memcpy(&dh, blk, 2);
        memcpy(&mh, blk + 2, 2);
        const uint8_t *qh = q5 ? blk + 4 + PL_K_SCALE_BYTES : NULL;
        const uint8_t *qs = q5 ? qh + PL_QK_K / 8 : blk + 4 + PL_K_SCALE_BYTES;
        const pl_q8k *x = xq + sb;
        uint64_t sc8, mn8;
        k4_scales(blk + 4, &sc8, &mn8);
        const __m128i mprod = _mm_madd_epi16(_mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)mn8)), _mm_loadu_si128((const __m128i *)x->gsums));
        accm = _mm_fmadd_ps(_mm_set1_ps(_cvtsh_ss(mh) * x->d), _mm_cvtepi32_ps(mprod), accm);
        int16_t sc[8];
        _mm_storeu_si128((__m128i *)sc, _mm_cvtepu8_epi16(_mm_cvtsi64_si128((long long)sc8)));
        const __m256i hv = q5 ? _mm256_loadu_si256((const __m256i *)qh) : _mm256_setzero_si256();
        __m256i sumi = _mm256_setzero_si256();
        for (int p = 0; p < 4; p++) {
            const __m256i b = _mm256_loadu_si256((const __m256i *)(qs + 32 * p));
            __m256i q0 = _mm256_and_si256(b, low4), q1 = _mm256_and_si256(_mm256_srli_epi16(b, 4), low4);
            if (q5) {
                q0 = _mm256_or_si256(q0, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hv, 2 * p), one), 4));
                q1 = _mm256_or_si256(q1, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hv, 2 * p + 1), one), 4));
            }
            const __m256i p0 = _mm256_maddubs_epi16(q0, _mm256_loadu_si256((const __m256i *)(x->q + 64 * p)));
            const __m256i p1 = _mm256_maddubs_epi16(q1, _mm256_loadu_si256((const __m256i *)(x->q + 64 * p + 32)));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p0, _mm256_set1_epi16(sc[2 * p])));
            sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p1, _mm256_set1_epi16(sc[2 * p + 1])));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(dh) * x->d), _mm256_cvtepi32_ps(sumi), acc);
    }
    __m128 h = _mm_sub_ps(_mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1)), accm);
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

PL_TARGET_AVX2 static float row_dot_q4k(const uint8_t *row, const void *xq, int64_t nsuper) {
    return row_dot_q45k(PL_TYPE_Q4_K, row, xq, nsuper);
}

PL_TARGET_AVX2 static float row_dot_q5k(const uint8_t *row, const void *xq, int64_t nsuper) {
    return row_dot_q45k(PL_TYPE_Q5_K, row, xq, nsuper);
}

/* A Q6_K row against 256-blocks: per super-block, sum_j sc_j ((q_j . x_j) − 32·sum x_j) over the 16 groups of 16 in
   int32, times d·d_x. Per 128 elements, group g (g = 0..3, 32 elements at 32g) takes ql[0..32) or ql[32..64) (low nibbles
   for g < 2, high for g ≥ 2) and bits 2g, 2g+1 of qh[0..32); its halves use scales 2g and 2g+1. */
PL_TARGET_AVX2 static float row_dot_q6k(const uint8_t *row, const void *xqv, int64_t nsuper) {
    const pl_q8k *xq = xqv;
    __m256 acc = _mm256_setzero_ps(), accoff = _mm256_setzero_ps();
    const __m256i low4 = _mm256_set1_epi8(0x0f), low2 = _mm256_set1_epi8(0x03);
    for (int64_t sb = 0; sb < nsuper; sb++) {
        const pl_block_q6_K *blk = (const pl_block_q6_K *)(const void *)(row + sb * (int64_t)sizeof(pl_block_q6_K));
        const pl_q8k *x = xq + sb;
        const float d = _cvtsh_ss(blk->d) * x->d;
        const __m256i oprod = _mm256_madd_epi16(_mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)blk->scales)),
                                                _mm256_loadu_si256((const __m256i *)x->bsums)); /* sc_j · sum x_j, paired */
        accoff = _mm256_fmadd_ps(_mm256_set1_ps(32.0f * d), _mm256_cvtepi32_ps(oprod), accoff);
        __m256i sumi = _mm256_setzero_si256();
        for (int n = 0; n < 2; n++) {
            const uint8_t *ql = blk->ql + 64 * n, *qh = blk->qh + 32 * n;
            const int8_t *sc = blk->scales + 8 * n;
            const __m256i l0 = _mm256_loadu_si256((const __m256i *)ql), l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            const __m256i h = _mm256_loadu_si256((const __m256i *)qh);
            for (int g = 0; g < 4; g++) {
                const __m256i lo = g == 0 ? _mm256_and_si256(l0, low4) : g == 1 ? _mm256_and_si256(l1, low4)
                                 : g == 2 ? _mm256_and_si256(_mm256_srli_epi16(l0, 4), low4) : _mm256_and_si256(_mm256_srli_epi16(l1, 4), low4);
                const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(h, 2 * g), low2);
                const __m256i q = _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4)); /* 0..63: no bits cross a byte */
                const __m256i xv = _mm256_loadu_si256((const __m256i *)(x->q + 128 * n + 32 * g));
                const __m256i p16 = _mm256_maddubs_epi16(q, xv); /* int16 lanes 0-7: first 16 values, 8-15: last 16 */
                const __m256i scl = _mm256_set_m128i(_mm_set1_epi16(sc[2 * g + 1]), _mm_set1_epi16(sc[2 * g]));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p16, scl));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum8(_mm256_sub_ps(acc, accoff));
}

/* A Q2_K row against 256-blocks: per super-block, d·d_x·sum_g sc_g (q_g . x_g) − dmin·d_x·sum_g mn_g (sum of x_g) over the
   16 groups of 16, sc_g/mn_g the low/high nibbles of scales[g], q the 2-bit codes: per 128 elements, run j (j = 0..3,
   32 elements) takes bits 2j, 2j+1 of qs[0..32), its halves groups 2j and 2j+1. */
PL_TARGET_AVX2 static float row_dot_q2k(const uint8_t *row, const void *xqv, int64_t nsuper) {
    const pl_q8k *xq = xqv;
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    const __m256i m3 = _mm256_set1_epi8(3);
    const __m128i low4 = _mm_set1_epi8(0x0f);
    for (int64_t sb = 0; sb < nsuper; sb++) {
        const pl_block_q2_K *blk = (const pl_block_q2_K *)(const void *)(row + sb * (int64_t)sizeof(pl_block_q2_K));
        const pl_q8k *x = xq + sb;
        const __m128i sc8 = _mm_loadu_si128((const __m128i *)blk->scales);
        const __m256i mprod = _mm256_madd_epi16(_mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sc8, 4), low4)),
                                                _mm256_loadu_si256((const __m256i *)x->bsums));
        accm = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(blk->dmin) * x->d), _mm256_cvtepi32_ps(mprod), accm);
        int16_t sc[16];
        _mm256_storeu_si256((__m256i *)sc, _mm256_cvtepu8_epi16(_mm_and_si128(sc8, low4)));
        __m256i sumi = _mm256_setzero_si256();
        for (int n = 0; n < 2; n++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(blk->qs + 32 * n));
            for (int j = 0; j < 4; j++) {
                const __m256i qv = _mm256_and_si256(_mm256_srli_epi16(q, 2 * j), m3);
                const __m256i p16 = _mm256_maddubs_epi16(qv, _mm256_loadu_si256((const __m256i *)(x->q + 128 * n + 32 * j)));
                const __m256i scl = _mm256_set_m128i(_mm_set1_epi16(sc[8 * n + 2 * j + 1]), _mm_set1_epi16(sc[8 * n + 2 * j]));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p16, scl));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(_cvtsh_ss(blk->d) * x->d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum8(_mm256_sub_ps(acc, accm));
}

/* A Q3_K row against 256-blocks: codes u = q2 + 4·hbit in 0..7 stand for u − 4, so per super-block
   d·d_x·sum_g sc_g ((u_g . x_g) − 4·sum x_g), sc_g the signed 6-bit scales (low 4 bits in scales[0..8) by nibble, the
   top 2 in scales[8..12)) minus 32; the 2-bit codes as Q2_K's, the third bit of run r (r = 0..7, 32 elements) is bit r
   of hmask[0..32). */
PL_TARGET_AVX2 static float row_dot_q3k(const uint8_t *row, const void *xqv, int64_t nsuper) {
    const pl_q8k *xq = xqv;
    __m256 acc = _mm256_setzero_ps(), accoff = _mm256_setzero_ps();
    const __m256i m3 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
    for (int64_t sb = 0; sb < nsuper; sb++) {
        const pl_block_q3_K *blk = (const pl_block_q3_K *)(const void *)(row + sb * (int64_t)sizeof(pl_block_q3_K));
        const pl_q8k *x = xq + sb;
        uint32_t u0, u1, u2;
        memcpy(&u0, blk->scales, 4);
        memcpy(&u1, blk->scales + 4, 4);
        memcpy(&u2, blk->scales + 8, 4);
        const uint32_t s0 = (u0 & 0x0f0f0f0fu) | ((u2 & 0x03030303u) << 4);
        const uint32_t s1 = (u1 & 0x0f0f0f0fu) | (((u2 >> 2) & 0x03030303u) << 4);
        const uint32_t s2 = ((u0 >> 4) & 0x0f0f0f0fu) | (((u2 >> 4) & 0x03030303u) << 4);
        const uint32_t s3 = ((u1 >> 4) & 0x0f0f0f0fu) | (((u2 >> 6) & 0x03030303u) << 4);
        const __m256i sc16 = _mm256_sub_epi16(_mm256_cvtepu8_epi16(_mm_set_epi32((int)s3, (int)s2, (int)s1, (int)s0)),
                                              _mm256_set1_epi16(32));
        const float d = _cvtsh_ss(blk->d) * x->d;
        const __m256i oprod = _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)x->bsums));
        accoff = _mm256_fmadd_ps(_mm256_set1_ps(4.0f * d), _mm256_cvtepi32_ps(oprod), accoff);
        int16_t sc[16];
        _mm256_storeu_si256((__m256i *)sc, sc16);
        const __m256i hm = _mm256_loadu_si256((const __m256i *)blk->hmask);
        __m256i sumi = _mm256_setzero_si256();
        for (int n = 0; n < 2; n++) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(blk->qs + 32 * n));
            for (int j = 0; j < 4; j++) {
                const __m256i hb = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hm, 4 * n + j), one), 2);
                const __m256i u = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 2 * j), m3), hb);
                const __m256i p16 = _mm256_maddubs_epi16(u, _mm256_loadu_si256((const __m256i *)(x->q + 128 * n + 32 * j)));
                const __m256i scl = _mm256_set_m128i(_mm_set1_epi16(sc[8 * n + 2 * j + 1]), _mm_set1_epi16(sc[8 * n + 2 * j]));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p16, scl));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum8(_mm256_sub_ps(acc, accoff));
}
#endif

static void rows_chunk(void *ctx, int64_t r0, int64_t r1, int worker) {
    (void)worker;
    const qdot_args *a = ctx;
    int j = 0;
    for (int64_t r = r0; r < r1; r++) {
        while (r >= a->first[j + 1]) j++;
        const int64_t o = r - a->first[j], out = a->first[j + 1] - a->first[j];
        const uint8_t *row = a->w[j] + o * a->row_bytes[j];
        for (int64_t t = 0; t < a->n_tok; t++) {
            const float s = a->dot[j](row, a->xq[j] + (size_t)t * a->x_bytes[j], a->nb[j]);
            float *yo = a->y[j] + t * out + o;
            *yo = a->accumulate ? *yo + s : s;
        }
    }
}

/* The row function of a supported type on this CPU. */
static row_dot_fn row_dot_for(int32_t wtype) {
#if PL_X86
    const int vnni = has_vnni();
    switch (wtype) {
    case PL_TYPE_Q8_0: return vnni ? row_dot_q8_0_vnni : row_dot_q8_0_avx2;
    case PL_TYPE_Q4_0: return vnni ? row_dot_q4_0_vnni : row_dot_q4_0_avx2;
    case PL_TYPE_Q5_0: return vnni ? row_dot_q5_0_vnni : row_dot_q5_0_avx2;
    case PL_TYPE_Q4_1: return vnni ? row_dot_q4_1_vnni : row_dot_q4_1_avx2;
    case PL_TYPE_Q5_1: return vnni ? row_dot_q5_1_vnni : row_dot_q5_1_avx2;
    case PL_TYPE_Q2_K: return row_dot_q2k;
    case PL_TYPE_Q3_K: return row_dot_q3k;
    case PL_TYPE_Q4_K: return row_dot_q4k;
    case PL_TYPE_Q5_K: return row_dot_q5k;
    case PL_TYPE_Q6_K: return row_dot_q6k;
    default: return NULL;
    }
#else
    (void)wtype;
    return NULL;
#endif
}

int32_t pl_qdot_forward_multi(int n_jobs, const pl_qdot_job *jobs, int64_t in, const float *x, int64_t n_tok, int accumulate) {
    if (n_jobs < 1 || n_jobs > PL_QDOT_MAX_JOBS)
        return pl_fail(PL_ERR_INVALID_ARGUMENT, "quantized decoding: %d products in one call (1..%d)", n_jobs, PL_QDOT_MAX_JOBS);
    qdot_args a = {.n_jobs = n_jobs, .n_tok = n_tok, .accumulate = accumulate};
    int need32 = 0, needk = 0;
    for (int j = 0; j < n_jobs; j++) {
        if (!pl_qdot_supported(jobs[j].wtype, in))
            return pl_fail(PL_ERR_UNSUPPORTED, "quantized decoding: weight type %d with %lld columns is not supported here", jobs[j].wtype,
                           (long long)in);
        if (is_k(jobs[j].wtype)) needk = 1;
        else need32 = 1;
    }
    /* the activations once per block format the jobs use: blocks of 32, then blocks of 256 */
    const int64_t nb32 = in / QK, nbk = in / PL_QK_K;
    const size_t bytes32 = need32 ? sizeof(pl_q8x) * (size_t)(n_tok * nb32) : 0, bytesk = needk ? sizeof(pl_q8k) * (size_t)(n_tok * nbk) : 0;
    uint8_t *xq = pl_scratch(PL_SCRATCH_Q8, bytes32 + bytesk);
    if (!xq) return pl_fail(PL_ERR_OUT_OF_MEMORY, "quantized decoding: cannot allocate %zu bytes of activation blocks", bytes32 + bytesk);
    pl_q8x *x32 = (pl_q8x *)(void *)xq;
    pl_q8k *xk = (pl_q8k *)(void *)(xq + bytes32);
    for (int64_t t = 0; t < n_tok; t++) {
        if (need32) quantize_x32(x + t * in, in, x32 + t * nb32);
        if (needk) quantize_xk(x + t * in, in, xk + t * nbk);
    }
    for (int j = 0; j < n_jobs; j++) {
        const int k = is_k(jobs[j].wtype);
        a.first[j + 1] = a.first[j] + jobs[j].out;
        a.dot[j] = row_dot_for(jobs[j].wtype);
        a.w[j] = jobs[j].w;
        a.nb[j] = k ? nbk : nb32;
        a.row_bytes[j] = a.nb[j] * block_bytes(jobs[j].wtype);
        a.y[j] = jobs[j].y;
        a.xq[j] = k ? (const uint8_t *)xk : (const uint8_t *)x32;
        a.x_bytes[j] = k ? sizeof(pl_q8k) * (size_t)nbk : sizeof(pl_q8x) * (size_t)nb32;
    }
    const int64_t rows = a.first[n_jobs];
    const int width = rows * in < 32768 ? 1 : pl_threads();
    if (width <= 1) rows_chunk(&a, 0, rows, 0);
    else pl_parallel_for(rows, pl_grain_for(rows, width, 8, 16), width, rows_chunk, &a);
    return pl_ok();
}

int32_t pl_qdot_forward_rows(int32_t wtype, const void *w, int64_t in, int64_t out, const float *x, int64_t n_tok, float *y,
                             int accumulate) {
    const pl_qdot_job job = {wtype, w, out, y};
    return pl_qdot_forward_multi(1, &job, in, x, n_tok, accumulate);
}
