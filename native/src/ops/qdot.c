/* Decoding over Q8_0, Q4_0, Q4_K and Q6_K weights with 8-bit activations: y[t][o] (+)= sum_i W[o][i] x[t][i] for a few tokens, as
 * llama.cpp's CPU backend computes it. Each token's activations are quantized once per call into blocks of 32 (one F32
 * scale d = max|x|/127, values rounded to nearest even), then every weight block is dotted with the matching activation
 * block in integers — AVX2's VPMADDUBSW/VPMADDWD, or AVX512-VNNI's VPDPBUSD where the CPU has it (the same sums: no
 * int16 saturation is possible at these magnitudes) — and scaled by d_w·d_x into eight F32 partial sums per row, reduced
 * in a fixed order. Output rows are split over the pool; results do not depend on the thread count.
 */
#if defined(__x86_64__) || defined(__i386__)
#define PL_X86 1
#include <immintrin.h>
#else
#define PL_X86 0
#endif
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "common.h"
#include "ops/qdot.h"
#include "pool.h"
#include "quant/quant.h"
#include "quant/quant_internal.h"

#define QK 32

/* One quantized activation block. */
typedef struct {
    float d;
    int32_t sum;     /* sum of q: the min term of Q4_K */
    int16_t half[2]; /* sums of q[0..16) and q[16..32): the offset term of Q6_K */
    int8_t q[QK];
} pl_q8x;

int pl_qdot_supported(int32_t wtype, int64_t in) {
    if (!PL_X86 || !pl_cpu_has_avx2_f16c()) return 0;
    if (wtype == PL_TYPE_Q8_0 || wtype == PL_TYPE_Q4_0) return in % QK == 0;
    return (wtype == PL_TYPE_Q4_K || wtype == PL_TYPE_Q6_K) && in % PL_QK_K == 0;
}

static int has_vnni(void) {
#if PL_X86
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl");
#else
    return 0;
#endif
}

/* x (in values) -> in/32 blocks. */
static void quantize_x(const float *x, int64_t in, pl_q8x *out) {
    for (int64_t b = 0; b < in / QK; b++) {
        const float *xb = x + b * QK;
        float amax = 0;
        for (int j = 0; j < QK; j++) amax = fmaxf(amax, fabsf(xb[j]));
        const float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        out[b].d = d;
        int32_t half[2] = {0, 0};
        for (int j = 0; j < QK; j++) {
            out[b].q[j] = (int8_t)nearbyintf(xb[j] * id);
            half[j >= 16] += out[b].q[j];
        }
        out[b].half[0] = (int16_t)half[0];
        out[b].half[1] = (int16_t)half[1];
        out[b].sum = half[0] + half[1];
    }
}

typedef struct {
    int32_t wtype;
    const uint8_t *w;
    int64_t row_bytes, in, out, n_tok;
    const pl_q8x *xq; /* n_tok x in/32 */
    float *y;
    int accumulate, vnni;
} qdot_args;

#if PL_X86
#define PL_TARGET_AVX2 __attribute__((target("avx2,fma,f16c")))
#define PL_TARGET_VNNI __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512vnni")))

/* The 32 int8 weights of block b of a row. */
PL_TARGET_AVX2 static inline __m256i weights_of(int32_t wtype, const uint8_t *row, int64_t b, float *d) {
    if (wtype == PL_TYPE_Q8_0) {
        const uint8_t *blk = row + b * 34;
        uint16_t h;
        memcpy(&h, blk, 2);
        *d = _cvtsh_ss(h);
        return _mm256_loadu_si256((const __m256i *)(blk + 2));
    }
    const uint8_t *blk = row + b * 18; /* Q4_0: element j = low nibble of byte j, element j+16 = its high nibble, minus 8 */
    uint16_t h;
    memcpy(&h, blk, 2);
    *d = _cvtsh_ss(h);
    const __m128i bytes = _mm_loadu_si128((const __m128i *)(blk + 2));
    const __m128i lo = _mm_and_si128(bytes, _mm_set1_epi8(0x0f)), hi = _mm_and_si128(_mm_srli_epi16(bytes, 4), _mm_set1_epi8(0x0f));
    return _mm256_sub_epi8(_mm256_set_m128i(hi, lo), _mm256_set1_epi8(8));
}

PL_TARGET_AVX2 static inline float hsum8(__m256 s) {
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

/* sum_b d_w d_x (w_b . x_b) over a row, with VPMADDUBSW + VPMADDWD. */
PL_TARGET_AVX2 static float row_dot_avx2(int32_t wtype, const uint8_t *row, const pl_q8x *xq, int64_t nb) {
    __m256 acc = _mm256_setzero_ps();
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t b = 0; b < nb; b++) {
        float dw;
        const __m256i w = weights_of(wtype, row, b, &dw);
        const __m256i x = _mm256_loadu_si256((const __m256i *)xq[b].q);
        const __m256i aw = _mm256_sign_epi8(w, w), sx = _mm256_sign_epi8(x, w); /* |w| unsigned, x with w's sign */
        const __m256i s32 = _mm256_madd_epi16(_mm256_maddubs_epi16(aw, sx), ones);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dw * xq[b].d), _mm256_cvtepi32_ps(s32), acc);
    }
    return hsum8(acc);
}

/* A Q4_K row: per group of 32, d·sc·(q . x_q)·d_x − dmin·mn·(sum x_q)·d_x, q the unsigned nibbles (VPMADDUBSW takes
   them as they are). */
PL_TARGET_AVX2 static float row_dot_q4k(const uint8_t *row, const pl_q8x *xq, int64_t nsuper) {
    __m256 acc = _mm256_setzero_ps();
    float mins = 0;
    const __m256i ones = _mm256_set1_epi16(1), low4 = _mm256_set1_epi8(0x0f);
    for (int64_t sb = 0; sb < nsuper; sb++) {
        const pl_block_q4_K *blk = (const pl_block_q4_K *)(const void *)(row + sb * sizeof(pl_block_q4_K));
        const float d = pl_half_to_float(blk->d), dmin = pl_half_to_float(blk->dmin);
        const pl_q8x *x = xq + sb * 8;
        for (int pair = 0; pair < 4; pair++) {
            const __m256i bytes = _mm256_loadu_si256((const __m256i *)(blk->qs + 32 * pair));
            const __m256i qlo = _mm256_and_si256(bytes, low4), qhi = _mm256_and_si256(_mm256_srli_epi16(bytes, 4), low4);
            for (int h = 0; h < 2; h++) {
                const int g = 2 * pair + h;
                uint8_t sc, mn;
                pl_unpack_k4_scale_min(g, blk->scales, &sc, &mn);
                const __m256i xv = _mm256_loadu_si256((const __m256i *)x[g].q);
                const __m256i s32 = _mm256_madd_epi16(_mm256_maddubs_epi16(h ? qhi : qlo, xv), ones);
                acc = _mm256_fmadd_ps(_mm256_set1_ps(d * (float)sc * x[g].d), _mm256_cvtepi32_ps(s32), acc);
                mins += dmin * (float)mn * x[g].d * (float)x[g].sum;
            }
        }
    }
    return hsum8(acc) - mins;
}

/* A Q6_K row: per group of 16, d·sc·((q . x_q) − 32·sum x_q)·d_x, q the unsigned 6-bit values (4 bits in ql, 2 in qh).
   Per 128 elements, group g (g = 0..3, 32 elements at 32g) takes ql[0..32) or ql[32..64) (low nibbles for g < 2, high
   for g ≥ 2) and bits 2g, 2g+1 of qh[0..32); its halves use scales 2g and 2g+1. */
PL_TARGET_AVX2 static float row_dot_q6k(const uint8_t *row, const pl_q8x *xq, int64_t nsuper) {
    __m256 acc = _mm256_setzero_ps();
    float offs = 0;
    const __m256i ones = _mm256_set1_epi16(1), low4 = _mm256_set1_epi8(0x0f), low2 = _mm256_set1_epi8(0x03);
    for (int64_t sb = 0; sb < nsuper; sb++) {
        const pl_block_q6_K *blk = (const pl_block_q6_K *)(const void *)(row + sb * sizeof(pl_block_q6_K));
        const float d = _cvtsh_ss(blk->d);
        for (int n = 0; n < 2; n++) {
            const uint8_t *ql = blk->ql + 64 * n, *qh = blk->qh + 32 * n;
            const int8_t *sc = blk->scales + 8 * n;
            const pl_q8x *x = xq + sb * 8 + 4 * n;
            const __m256i l0 = _mm256_loadu_si256((const __m256i *)ql), l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            const __m256i h = _mm256_loadu_si256((const __m256i *)qh);
            for (int g = 0; g < 4; g++) {
                const __m256i lo = g == 0 ? _mm256_and_si256(l0, low4) : g == 1 ? _mm256_and_si256(l1, low4)
                                 : g == 2 ? _mm256_and_si256(_mm256_srli_epi16(l0, 4), low4) : _mm256_and_si256(_mm256_srli_epi16(l1, 4), low4);
                const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(h, 2 * g), low2);
                const __m256i q = _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4)); /* 0..63: no bits cross a byte */
                const __m256i xv = _mm256_loadu_si256((const __m256i *)x[g].q);
                const __m256i s32 = _mm256_madd_epi16(_mm256_maddubs_epi16(q, xv), ones); /* lanes 0-3: first 16, 4-7: last 16 */
                const float s0 = (float)sc[2 * g], s1 = (float)sc[2 * g + 1];
                const __m256 scl = _mm256_set_ps(s1, s1, s1, s1, s0, s0, s0, s0);
                acc = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_set1_ps(d * x[g].d), scl), _mm256_cvtepi32_ps(s32), acc);
                offs += 32.0f * d * x[g].d * (s0 * (float)x[g].half[0] + s1 * (float)x[g].half[1]);
            }
        }
    }
    return hsum8(acc) - offs;
}

/* The same with VPDPBUSD. */
PL_TARGET_VNNI static float row_dot_vnni(int32_t wtype, const uint8_t *row, const pl_q8x *xq, int64_t nb) {
    __m256 acc = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        float dw;
        const __m256i w = weights_of(wtype, row, b, &dw);
        const __m256i x = _mm256_loadu_si256((const __m256i *)xq[b].q);
        const __m256i aw = _mm256_sign_epi8(w, w), sx = _mm256_sign_epi8(x, w);
        const __m256i s32 = _mm256_dpbusd_epi32(_mm256_setzero_si256(), aw, sx);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dw * xq[b].d), _mm256_cvtepi32_ps(s32), acc);
    }
    return hsum8(acc);
}
#endif

static void rows_chunk(void *ctx, int64_t o0, int64_t o1, int worker) {
    (void)worker;
#if PL_X86
    const qdot_args *a = ctx;
    const int64_t nb = a->in / QK;
    for (int64_t o = o0; o < o1; o++) {
        const uint8_t *row = a->w + o * a->row_bytes;
        for (int64_t t = 0; t < a->n_tok; t++) {
            const float s = a->wtype == PL_TYPE_Q4_K ? row_dot_q4k(row, a->xq + t * nb, nb / 8)
                            : a->wtype == PL_TYPE_Q6_K ? row_dot_q6k(row, a->xq + t * nb, nb / 8)
                            : a->vnni ? row_dot_vnni(a->wtype, row, a->xq + t * nb, nb) : row_dot_avx2(a->wtype, row, a->xq + t * nb, nb);
            float *yo = a->y + t * a->out + o;
            *yo = a->accumulate ? *yo + s : s;
        }
    }
#else
    (void)ctx; (void)o0; (void)o1;
#endif
}

int32_t pl_qdot_forward_rows(int32_t wtype, const void *w, int64_t in, int64_t out, const float *x, int64_t n_tok, float *y,
                             int accumulate) {
    if (!pl_qdot_supported(wtype, in))
        return pl_fail(PL_ERR_UNSUPPORTED, "quantized decoding: weight type %d with %lld columns is not supported here", wtype, (long long)in);
    const int64_t nb = in / QK;
    pl_q8x *xq = pl_scratch(PL_SCRATCH_Q8, sizeof(pl_q8x) * (size_t)(n_tok * nb));
    if (!xq) return pl_fail(PL_ERR_OUT_OF_MEMORY, "quantized decoding: cannot allocate %lld activation blocks", (long long)(n_tok * nb));
    for (int64_t t = 0; t < n_tok; t++) quantize_x(x + t * in, in, xq + t * nb);
    const int64_t row_bytes = wtype == PL_TYPE_Q4_K ? in / PL_QK_K * (int64_t)sizeof(pl_block_q4_K)
                              : wtype == PL_TYPE_Q6_K ? in / PL_QK_K * (int64_t)sizeof(pl_block_q6_K)
                                                      : nb * (wtype == PL_TYPE_Q8_0 ? 34 : 18);
    qdot_args a = {wtype, w, row_bytes, in, out, n_tok, xq, y, accumulate, has_vnni()};
    const int width = out * in < 32768 ? 1 : pl_threads();
    if (width <= 1) rows_chunk(&a, 0, out, 0);
    else pl_parallel_for(out, pl_grain_for(out, width, 8, 16), width, rows_chunk, &a);
    return pl_ok();
}
