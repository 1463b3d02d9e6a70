/* Causal grouped-query attention (GQA): each group of n_head/n_head_kv query heads shares one K/V head. */
#if defined(__x86_64__) || defined(__i386__)
#define PL_ATT_X86 1
#include <immintrin.h>
#else
#define PL_ATT_X86 0
#endif
#include <math.h>
#include <string.h>
#include "common.h"
#include "ops/ops.h"
#include "ops/matmul.h"
#include "pool.h"
#include "quant/quant.h"
#include "quant/quant_internal.h"

/* s = a·b over n floats (an OpenMP SIMD reduction: fixed order for a given build). */
static inline float dot_f32(const float *a, const float *b, int64_t n) {
    float s = 0.0f;
    #pragma omp simd reduction(+:s)
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

typedef struct {
    float *out, *probs, *dq, *dk, *dv;
    const float *q, *k, *v, *dout, *probs_in;
    int64_t B, Tq, Tk, pos0, n_head, n_head_kv, hd, kv_batch_stride;
    float *bufs;       /* backward: per-head gradient buffers */
    int avx2;          /* forward rows: the AVX2 + FMA kernel (hd a multiple of 8) */
    const uint16_t *kh, *vh; /* forward rows over a head-major F16 cache (then k, v are unused) */
    int64_t head_stride;     /* its elements from one K/V head to the next */
    _Atomic int failed;
} attn_args;

#if PL_ATT_X86
#define PL_ATT_AVX2 __attribute__((target("avx2,fma,f16c")))

/* e^x for x <= 0 (a softmax's shifted scores): x = n·ln2 + r, |r| <= ln2/2, e^r by its degree-7 Taylor polynomial
   (relative error below 1e-8 before rounding), 2^n put into the exponent field. Below -87 the result is e^-87 ≈ 1.6e-38
   in place of a smaller number: nothing next to the maximum's e^0 = 1. */
PL_ATT_AVX2 static inline __m256 exp_nonpos(__m256 x) {
    x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428606765330187e-06f), r);
    __m256 p = _mm256_set1_ps(1.0f / 5040.0f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

PL_ATT_AVX2 static inline float hsum256(__m256 v) {
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

/* One query row against n_keys cached keys (hd a multiple of 8, row stride kv_row elements; F32, or F16 when half):
   p[0..n_keys) the normalised probabilities, o = Σ p[s]·v[s]. Scores four keys at a time (three horizontal adds reduce four dot products), the
   exponentials eight at a time, and the weighted sum of values up to 64 columns at a time in registers. */
/* Eight keys' or values' floats at element i of a row: F32, or F16 widened (F16C). */
#define PL_ATT_AVX2_F16C __attribute__((target("avx2,fma,f16c")))
PL_ATT_AVX2_F16C static inline __attribute__((always_inline)) __m256 load8(const void *base, int64_t i, const int half) {
    return half ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)base + i)))
                : _mm256_loadu_ps((const float *)base + i);
}

PL_ATT_AVX2_F16C static inline __attribute__((always_inline)) void
decode_row_impl(const float *q, const void *kb, const void *vb, int64_t kv_row, int64_t hd, int64_t n_keys, float scale,
                float *p, float *o, const int half) {
    int64_t s = 0;
    for (; s + 4 <= n_keys; s += 4) {
        const int64_t r0 = s * kv_row, r1 = r0 + kv_row, r2 = r1 + kv_row, r3 = r2 + kv_row;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int64_t d = 0; d < hd; d += 8) {
            const __m256 qd = _mm256_loadu_ps(q + d);
            a0 = _mm256_fmadd_ps(qd, load8(kb, r0 + d, half), a0);
            a1 = _mm256_fmadd_ps(qd, load8(kb, r1 + d, half), a1);
            a2 = _mm256_fmadd_ps(qd, load8(kb, r2 + d, half), a2);
            a3 = _mm256_fmadd_ps(qd, load8(kb, r3 + d, half), a3);
        }
        const __m256 h = _mm256_hadd_ps(_mm256_hadd_ps(a0, a1), _mm256_hadd_ps(a2, a3));
        const __m128 sum4 = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
        _mm_storeu_ps(p + s, _mm_mul_ps(sum4, _mm_set1_ps(scale)));
    }
    for (; s < n_keys; s++) {
        __m256 a = _mm256_setzero_ps();
        for (int64_t d = 0; d < hd; d += 8) a = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), load8(kb, s * kv_row + d, half), a);
        p[s] = hsum256(a) * scale;
    }
    float mx = -INFINITY;
    for (s = 0; s < n_keys; s++) mx = p[s] > mx ? p[s] : mx;
    const __m256 vmx = _mm256_set1_ps(mx);
    __m256 vsum = _mm256_setzero_ps();
    for (s = 0; s + 8 <= n_keys; s += 8) {
        const __m256 e = exp_nonpos(_mm256_sub_ps(_mm256_loadu_ps(p + s), vmx));
        _mm256_storeu_ps(p + s, e);
        vsum = _mm256_add_ps(vsum, e);
    }
    float sum = hsum256(vsum);
    if (s < n_keys) { /* the last few through the same exponential, padded */
        float tail[8];
        for (int j = 0; j < 8; j++) tail[j] = s + j < n_keys ? p[s + j] : mx;
        _mm256_storeu_ps(tail, exp_nonpos(_mm256_sub_ps(_mm256_loadu_ps(tail), vmx)));
        for (int64_t j = 0; s + j < n_keys; j++) {
            p[s + j] = tail[j];
            sum += tail[j];
        }
    }
    const float inv = 1.0f / sum;
    for (s = 0; s < n_keys; s++) p[s] *= inv;
    /* o = Σ p[s]·v[s]: one pass over the keys per 64 columns (eight independent accumulators keep the FMA latency
       hidden), then 32 and 8 columns with the keys split in two and four interleaved sets for the same reason */
    int64_t d = 0;
    for (; d + 64 <= hd; d += 64) {
        __m256 o0 = _mm256_setzero_ps(), o1 = o0, o2 = o0, o3 = o0, o4 = o0, o5 = o0, o6 = o0, o7 = o0;
        for (s = 0; s < n_keys; s++) {
            const __m256 ps = _mm256_broadcast_ss(p + s);
            const int64_t vs = s * kv_row + d;
            o0 = _mm256_fmadd_ps(ps, load8(vb, vs, half), o0);
            o1 = _mm256_fmadd_ps(ps, load8(vb, vs + 8, half), o1);
            o2 = _mm256_fmadd_ps(ps, load8(vb, vs + 16, half), o2);
            o3 = _mm256_fmadd_ps(ps, load8(vb, vs + 24, half), o3);
            o4 = _mm256_fmadd_ps(ps, load8(vb, vs + 32, half), o4);
            o5 = _mm256_fmadd_ps(ps, load8(vb, vs + 40, half), o5);
            o6 = _mm256_fmadd_ps(ps, load8(vb, vs + 48, half), o6);
            o7 = _mm256_fmadd_ps(ps, load8(vb, vs + 56, half), o7);
        }
        _mm256_storeu_ps(o + d, o0);
        _mm256_storeu_ps(o + d + 8, o1);
        _mm256_storeu_ps(o + d + 16, o2);
        _mm256_storeu_ps(o + d + 24, o3);
        _mm256_storeu_ps(o + d + 32, o4);
        _mm256_storeu_ps(o + d + 40, o5);
        _mm256_storeu_ps(o + d + 48, o6);
        _mm256_storeu_ps(o + d + 56, o7);
    }
    for (; d + 32 <= hd; d += 32) {
        __m256 o0 = _mm256_setzero_ps(), o1 = o0, o2 = o0, o3 = o0, e0 = o0, e1 = o0, e2 = o0, e3 = o0;
        for (s = 0; s + 2 <= n_keys; s += 2) {
            const __m256 ps = _mm256_broadcast_ss(p + s), pt = _mm256_broadcast_ss(p + s + 1);
            const int64_t vs = s * kv_row + d, vt = vs + kv_row;
            o0 = _mm256_fmadd_ps(ps, load8(vb, vs, half), o0);
            o1 = _mm256_fmadd_ps(ps, load8(vb, vs + 8, half), o1);
            o2 = _mm256_fmadd_ps(ps, load8(vb, vs + 16, half), o2);
            o3 = _mm256_fmadd_ps(ps, load8(vb, vs + 24, half), o3);
            e0 = _mm256_fmadd_ps(pt, load8(vb, vt, half), e0);
            e1 = _mm256_fmadd_ps(pt, load8(vb, vt + 8, half), e1);
            e2 = _mm256_fmadd_ps(pt, load8(vb, vt + 16, half), e2);
            e3 = _mm256_fmadd_ps(pt, load8(vb, vt + 24, half), e3);
        }
        if (s < n_keys) {
            const __m256 ps = _mm256_broadcast_ss(p + s);
            const int64_t vs = s * kv_row + d;
            o0 = _mm256_fmadd_ps(ps, load8(vb, vs, half), o0);
            o1 = _mm256_fmadd_ps(ps, load8(vb, vs + 8, half), o1);
            o2 = _mm256_fmadd_ps(ps, load8(vb, vs + 16, half), o2);
            o3 = _mm256_fmadd_ps(ps, load8(vb, vs + 24, half), o3);
        }
        _mm256_storeu_ps(o + d, _mm256_add_ps(o0, e0));
        _mm256_storeu_ps(o + d + 8, _mm256_add_ps(o1, e1));
        _mm256_storeu_ps(o + d + 16, _mm256_add_ps(o2, e2));
        _mm256_storeu_ps(o + d + 24, _mm256_add_ps(o3, e3));
    }
    for (; d < hd; d += 8) {
        __m256 o0 = _mm256_setzero_ps(), o1 = o0, o2 = o0, o3 = o0;
        for (s = 0; s + 4 <= n_keys; s += 4) {
            o0 = _mm256_fmadd_ps(_mm256_broadcast_ss(p + s), load8(vb, s * kv_row + d, half), o0);
            o1 = _mm256_fmadd_ps(_mm256_broadcast_ss(p + s + 1), load8(vb, (s + 1) * kv_row + d, half), o1);
            o2 = _mm256_fmadd_ps(_mm256_broadcast_ss(p + s + 2), load8(vb, (s + 2) * kv_row + d, half), o2);
            o3 = _mm256_fmadd_ps(_mm256_broadcast_ss(p + s + 3), load8(vb, (s + 3) * kv_row + d, half), o3);
        }
        for (; s < n_keys; s++) o0 = _mm256_fmadd_ps(_mm256_broadcast_ss(p + s), load8(vb, s * kv_row + d, half), o0);
        _mm256_storeu_ps(o + d, _mm256_add_ps(_mm256_add_ps(o0, o1), _mm256_add_ps(o2, o3)));
    }
}

PL_ATT_AVX2_F16C static void decode_row_f32(const float *q, const void *kb, const void *vb, int64_t kv_row, int64_t hd,
                                            int64_t n_keys, float scale, float *p, float *o) {
    decode_row_impl(q, kb, vb, kv_row, hd, n_keys, scale, p, o, 0);
}

PL_ATT_AVX2_F16C static void decode_row_f16(const float *q, const void *kb, const void *vb, int64_t kv_row, int64_t hd,
                                            int64_t n_keys, float scale, float *p, float *o) {
    decode_row_impl(q, kb, vb, kv_row, hd, n_keys, scale, p, o, 1);
}
#endif

/* Queries [i0, i1) of the flattened (sequence, head, query) index. */
static void forward_rows_chunk(void *ctx, int64_t i0, int64_t i1, int worker) {
    attn_args *a = ctx;
    const int64_t n_head = a->n_head, hd = a->hd, Tq = a->Tq, Tk = a->Tk, group = n_head / a->n_head_kv;
    const int64_t q_row = n_head * hd, kv_row = a->n_head_kv * hd;
    const float scale = 1.0f / sqrtf((float)hd);
    float *scratch = a->probs ? NULL : pl_scratch(PL_SCRATCH_ATTN, (size_t)Tk * sizeof(float));
    if (!a->probs && !scratch) {
        a->failed = 1;
        return;
    }
    for (int64_t i = i0; i < i1; i++) {
        const int64_t bh = i / Tq, t = i % Tq;
        const int64_t b = bh / n_head, h = bh % n_head, hk = h / group;
        const float *qt = a->q + (b * Tq + t) * q_row + h * hd;
        float *p = a->probs ? a->probs + ((b * n_head + h) * Tq + t) * Tk : scratch;
        const int64_t n_keys = a->pos0 + t + 1 < Tk ? a->pos0 + t + 1 : Tk;
#if PL_ATT_X86
        if (a->kh) {
            /* head-major: head hk's keys are rows of hd from hk·head_stride (B = 1) */
            decode_row_f16(qt, a->kh + hk * a->head_stride, a->vh + hk * a->head_stride, hd, hd, n_keys, scale, p,
                           a->out + (b * Tq + t) * q_row + h * hd);
            continue;
        }
#endif
        const float *kb = a->k + b * a->kv_batch_stride + hk * hd;
        const float *vb = a->v + b * a->kv_batch_stride + hk * hd;
#if PL_ATT_X86
        if (a->avx2) {
            decode_row_f32(qt, kb, vb, kv_row, hd, n_keys, scale, p, a->out + (b * Tq + t) * q_row + h * hd);
            if (a->probs) for (int64_t s = n_keys; s < Tk; s++) p[s] = 0.0f;
            continue;
        }
#endif
        float mx = -INFINITY;
        for (int64_t s = 0; s < n_keys; s++) {
            float sc = dot_f32(qt, kb + s * kv_row, hd) * scale;
            p[s] = sc;
            mx = sc > mx ? sc : mx;
        }
        float sum = 0.0f;
        for (int64_t s = 0; s < n_keys; s++) { p[s] = expf(p[s] - mx); sum += p[s]; }
        const float inv = 1.0f / sum;
        for (int64_t s = 0; s < n_keys; s++) p[s] *= inv;
        if (a->probs) for (int64_t s = n_keys; s < Tk; s++) p[s] = 0.0f;
        float *ot = a->out + (b * Tq + t) * q_row + h * hd;
        memset(ot, 0, (size_t)hd * sizeof(float));
        for (int64_t s = 0; s < n_keys; s++) {
            const float ps = p[s];
            const float *vs = vb + s * kv_row;
            #pragma omp simd
            for (int64_t d = 0; d < hd; d++) ot[d] += ps * vs[d];
        }
    }
}

/* out = softmax(q kᵀ/√hd, causal) v per (sequence, head, query), one dot product at a time: the decode path. */
static int32_t attention_forward_rows(float *out, float *probs, const float *q, const float *k, const float *v,
                                      const uint16_t *kh, const uint16_t *vh, int64_t head_stride, int64_t B, int64_t Tq,
                                      int64_t Tk, int64_t pos0, int64_t n_head, int64_t n_head_kv, int64_t hd,
                                      int64_t kv_batch_stride) {
    attn_args a = {.out = out, .probs = probs, .q = q, .k = k, .v = v, .B = B, .Tq = Tq, .Tk = Tk, .pos0 = pos0,
                   .n_head = n_head, .n_head_kv = n_head_kv, .hd = hd, .kv_batch_stride = kv_batch_stride,
                   .avx2 = PL_ATT_X86 && hd % 8 == 0 && pl_cpu_has_avx2(), .kh = kh, .vh = vh, .head_stride = head_stride};
    const int64_t n = B * n_head * Tq;
    /* a decode step of a small model is a few thousand multiply-adds: not worth waking threads */
    const int width = n * Tk * hd < 65536 ? 1 : pl_threads();
    if (width <= 1) forward_rows_chunk(&a, 0, n, 0);
    else pl_parallel_for(n, pl_grain_for(n, width, 8, 1), width, forward_rows_chunk, &a);
    if (a.failed) return pl_fail(PL_ERR_OUT_OF_MEMORY, "attention: cannot allocate %lld floats of scores", (long long)Tk);
    return pl_ok();
}

/* One (sequence b, query head h) of the attention backward over full causal sequences (pos0 = 0, Tq = Tk = T).
   Overwrites dq's rows of head h and the T rows of dk_h, dv_h (row stride dkv_stride floats): this head's
   contributions to the gradients of its K/V head. ds is scratch of T floats. */
static void attention_head_backward(float *dq, float *dk_h, float *dv_h, int64_t dkv_stride, float *ds,
                                    const float *dout, const float *q, const float *k, const float *v,
                                    const float *probs, int64_t b, int64_t h, int64_t T, int64_t n_head,
                                    int64_t n_head_kv, int64_t hd) {
    const int64_t hk = h / (n_head / n_head_kv);
    const int64_t q_row = n_head * hd, kv_row = n_head_kv * hd;
    const float scale = 1.0f / sqrtf((float)hd);
    const float *kb = k + b * T * kv_row + hk * hd;
    const float *vb = v + b * T * kv_row + hk * hd;
    for (int64_t s = 0; s < T; s++) {
        memset(dk_h + s * dkv_stride, 0, (size_t)hd * sizeof(float));
        memset(dv_h + s * dkv_stride, 0, (size_t)hd * sizeof(float));
    }
    for (int64_t t = 0; t < T; t++) {
        const int64_t row = (b * T + t) * q_row + h * hd;
        const float *qt = q + row, *ot = dout + row;
        float *dqt = dq + row;
        const float *p = probs + ((b * n_head + h) * T + t) * T;
        const int64_t n_keys = t + 1;
        /* dP[s] = dout[t]·v[s];  D = Σ_s P[s]·dP[s];  dS[s] = P[s]·(dP[s] − D), with 1/√hd folded in */
        float dsum = 0.0f;
        for (int64_t s = 0; s < n_keys; s++) {
            const float dp = dot_f32(ot, vb + s * kv_row, hd);
            ds[s] = dp;
            dsum += p[s] * dp;
        }
        for (int64_t s = 0; s < n_keys; s++) ds[s] = p[s] * (ds[s] - dsum) * scale;
        /* dq[t] = Σ_s dS[s]·k[s];  dk[s] += dS[s]·q[t];  dv[s] += P[s]·dout[t] */
        memset(dqt, 0, (size_t)hd * sizeof(float));
        for (int64_t s = 0; s < n_keys; s++) {
            const float dss = ds[s], ps = p[s];
            const float *ks = kb + s * kv_row;
            float *dks = dk_h + s * dkv_stride, *dvs = dv_h + s * dkv_stride;
            #pragma omp simd
            for (int64_t d = 0; d < hd; d++) {
                dqt[d] += dss * ks[d];
                dks[d] += dss * qt[d];
                dvs[d] += ps * ot[d];
            }
        }
    }
}

/* The same backward one dot product at a time (the reference the GEMM path is tested against).
   dP = dout·vᵀ, dS = P ⊙ (dP − rowsum(dP ⊙ P)), dq = dS·k/√hd, dk = Σ_group dSᵀ·q/√hd, dv = Σ_group Pᵀ·dout.
   Full causal sequences: q, dq [B][T][n_head*hd]; k, v, dk, dv [B][T][n_head_kv*hd] (batch stride T*n_head_kv*hd);
   probs [B][n_head][T][T] as saved by attention_forward. Overwrites dq, dk, dv. A shared K/V head's gradient is
   each query head's contribution (summed over t in order) added in head order, so the result is bit-identical
   for any thread count: with few (b, kv-head) pairs per thread, heads run in parallel into per-head buffers. */
/* group == 1: (b, h) pairs [i0, i1) straight into dk, dv. */
static void backward_rows_direct_chunk(void *ctx, int64_t i0, int64_t i1, int worker) {
    attn_args *a = ctx;
    const int64_t T = a->Tq, n_head = a->n_head, hd = a->hd, kv_row = a->n_head_kv * hd;
    float *ds = pl_scratch(PL_SCRATCH_ATTN, (size_t)T * sizeof(float));
    if (!ds) {
        a->failed = 1;
        return;
    }
    for (int64_t bh = i0; bh < i1; bh++) {
        const int64_t b = bh / n_head, h = bh % n_head, off = b * T * kv_row + h * hd;
        attention_head_backward(a->dq, a->dk + off, a->dv + off, kv_row, ds, a->dout, a->q, a->k, a->v, a->probs_in,
                                b, h, T, n_head, a->n_head_kv, hd);
    }
}

/* (b, kv-head) pairs [i0, i1): the group's query heads in order into scratch, added to dk, dv. */
static void backward_rows_group_chunk(void *ctx, int64_t i0, int64_t i1, int worker) {
    attn_args *a = ctx;
    const int64_t T = a->Tq, n_head = a->n_head, n_head_kv = a->n_head_kv, hd = a->hd, kv_row = n_head_kv * hd;
    const int64_t group = n_head / n_head_kv, head_buf = T * hd;
    float *ds = pl_scratch(PL_SCRATCH_ATTN, (size_t)(T + 2 * head_buf) * sizeof(float));
    if (!ds) {
        a->failed = 1;
        return;
    }
    float *dk_h = ds + T, *dv_h = dk_h + head_buf;
    for (int64_t bk = i0; bk < i1; bk++) {
        const int64_t b = bk / n_head_kv, hk = bk % n_head_kv;
        float *dkb = a->dk + b * T * kv_row + hk * hd, *dvb = a->dv + b * T * kv_row + hk * hd;
        for (int64_t s = 0; s < T; s++) {
            memset(dkb + s * kv_row, 0, (size_t)hd * sizeof(float));
            memset(dvb + s * kv_row, 0, (size_t)hd * sizeof(float));
        }
        for (int64_t h = hk * group; h < (hk + 1) * group; h++) {
            attention_head_backward(a->dq, dk_h, dv_h, hd, ds, a->dout, a->q, a->k, a->v, a->probs_in, b, h, T, n_head,
                                    n_head_kv, hd);
            for (int64_t s = 0; s < T; s++) {
                float *dks = dkb + s * kv_row, *dvs = dvb + s * kv_row;
                const float *x = dk_h + s * hd, *y = dv_h + s * hd;
                #pragma omp simd
                for (int64_t d = 0; d < hd; d++) { dks[d] += x[d]; dvs[d] += y[d]; }
            }
        }
    }
}

/* Few K/V heads: (b, h) pairs [i0, i1) into their own buffers. */
static void backward_rows_heads_chunk(void *ctx, int64_t i0, int64_t i1, int worker) {
    attn_args *a = ctx;
    const int64_t T = a->Tq, n_head = a->n_head, hd = a->hd, head_buf = T * hd, n_bh = a->B * n_head;
    float *ds = pl_scratch(PL_SCRATCH_ATTN, (size_t)T * sizeof(float));
    if (!ds) {
        a->failed = 1;
        return;
    }
    float *dk_heads = a->bufs, *dv_heads = a->bufs + n_bh * head_buf;
    for (int64_t bh = i0; bh < i1; bh++) {
        const int64_t b = bh / n_head, h = bh % n_head;
        attention_head_backward(a->dq, dk_heads + bh * head_buf, dv_heads + bh * head_buf, hd, ds, a->dout, a->q, a->k,
                                a->v, a->probs_in, b, h, T, n_head, a->n_head_kv, hd);
    }
}

/* Few K/V heads: rows [i0, i1) of the flattened (b, kv-head, s) index reduced over the group in head order. */
static void backward_rows_reduce_chunk(void *ctx, int64_t i0, int64_t i1, int worker) {
    attn_args *a = ctx;
    const int64_t T = a->Tq, n_head = a->n_head, n_head_kv = a->n_head_kv, hd = a->hd, kv_row = n_head_kv * hd;
    const int64_t group = n_head / n_head_kv, head_buf = T * hd, n_bh = a->B * n_head;
    const float *dk_heads = a->bufs, *dv_heads = a->bufs + n_bh * head_buf;
    for (int64_t i = i0; i < i1; i++) {
        const int64_t bk = i / T, s = i % T, b = bk / n_head_kv, hk = bk % n_head_kv;
        float *dks = a->dk + (b * T + s) * kv_row + hk * hd, *dvs = a->dv + (b * T + s) * kv_row + hk * hd;
        memset(dks, 0, (size_t)hd * sizeof(float));
        memset(dvs, 0, (size_t)hd * sizeof(float));
        for (int64_t h = hk * group; h < (hk + 1) * group; h++) {
            const float *x = dk_heads + (b * n_head + h) * head_buf + s * hd;
            const float *y = dv_heads + (b * n_head + h) * head_buf + s * hd;
            #pragma omp simd
            for (int64_t d = 0; d < hd; d++) { dks[d] += x[d]; dvs[d] += y[d]; }
        }
    }
}

/* The same backward one dot product at a time (the reference the GEMM path is tested against).
   dP = dout·vᵀ, dS = P ⊙ (dP − rowsum(dP ⊙ P)), dq = dS·k/√hd, dk = Σ_group dSᵀ·q/√hd, dv = Σ_group Pᵀ·dout.
   Full causal sequences: q, dq [B][T][n_head*hd]; k, v, dk, dv [B][T][n_head_kv*hd] (batch stride T*n_head_kv*hd);
   probs [B][n_head][T][T] as saved by attention_forward. Overwrites dq, dk, dv. A shared K/V head's gradient is
   each query head's contribution (summed over t in order) added in head order, so the result is bit-identical
   for any thread count: with few (b, kv-head) pairs per thread, heads run in parallel into per-head buffers. */
int32_t attention_backward_rows(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                                const float *v, const float *probs, int64_t B, int64_t T, int64_t n_head,
                                int64_t n_head_kv, int64_t hd) {
    const int64_t group = n_head / n_head_kv;
    const int width = pl_threads();
    attn_args a = {.dq = dq, .dk = dk, .dv = dv, .dout = dout, .q = q, .k = k, .v = v, .probs_in = probs, .B = B,
                   .Tq = T, .Tk = T, .n_head = n_head, .n_head_kv = n_head_kv, .hd = hd};
    if (group == 1) { /* every K/V head has one query head: write straight into dk, dv */
        pl_parallel_for(B * n_head, 1, width, backward_rows_direct_chunk, &a);
    } else if (B * n_head_kv >= width) {
        pl_parallel_for(B * n_head_kv, 1, width, backward_rows_group_chunk, &a);
    } else {
        /* few K/V heads for the threads: every (b, h) in parallel into its own buffers, then a reduction in head order */
        const int64_t n_bh = B * n_head, head_buf = T * hd;
        a.bufs = pl_alloc((size_t)(2 * n_bh * head_buf) * sizeof(float));
        if (!a.bufs) return pl_fail(PL_ERR_OUT_OF_MEMORY, "attention_backward: cannot allocate %lld floats of per-head gradients", (long long)(2 * n_bh * head_buf));
        pl_parallel_for(n_bh, 1, width, backward_rows_heads_chunk, &a);
        const int64_t rows = B * n_head_kv * T;
        pl_parallel_for(rows, pl_grain_for(rows, width, 8, 1), width, backward_rows_reduce_chunk, &a);
        pl_free(a.bufs);
    }
    if (a.failed) return pl_fail(PL_ERR_OUT_OF_MEMORY, "attention_backward: cannot allocate per-thread scratch for T = %lld", (long long)T);
    return pl_ok();
}

/* ---- GEMM formulation: per (sequence, head) S = Q Kᵀ, P = softmax(S), O = P V and the backward as GEMMs ---- */

/* Row t of a (sequence, head) score matrix: scale, mask keys past pos0+t, softmax in place (masked entries 0). */
static void softmax_causal_row(float *row, int64_t Tk, int64_t n_keys) {
    float mx = -INFINITY;
    for (int64_t s = 0; s < n_keys; s++) mx = row[s] > mx ? row[s] : mx;
    float sum = 0.0f;
    for (int64_t s = 0; s < n_keys; s++) { row[s] = expf(row[s] - mx); sum += row[s]; }
    const float inv = 1.0f / sum;
    for (int64_t s = 0; s < n_keys; s++) row[s] *= inv;
    for (int64_t s = n_keys; s < Tk; s++) row[s] = 0.0f;
}

typedef struct {
    attn_args *a;
    float *p;      /* scores of one (sequence, head) */
    float *ds;
    int64_t Tk, pos0, T;
    const float *pin;
    float scale;
} attn_rows_args;

static void softmax_rows_chunk(void *ctx, int64_t t0, int64_t t1, int worker) {
    const attn_rows_args *r = ctx;
    for (int64_t t = t0; t < t1; t++) {
        const int64_t n_keys = r->pos0 + t + 1 < r->Tk ? r->pos0 + t + 1 : r->Tk;
        softmax_causal_row(r->p + t * r->Tk, r->Tk, n_keys);
    }
}

/* Runs a row function of a T-row score matrix: over the pool when the matrix is large and this is not a chunk. */
static void score_rows(int64_t rows, int64_t cols, pl_chunk_fn fn, void *ctx) {
    const int width = pl_threads();
    if (rows * cols <= 16384 || width <= 1) fn(ctx, 0, rows, 0);
    else pl_parallel_for(rows, pl_grain_for(rows, width, 8, 1), width, fn, ctx);
}

/* One (sequence, head): S = Q_h K_hᵀ/√hd (Tq×Tk), causal softmax, O_h = P V_h. p: Tq×Tk scores. */
static int32_t forward_head(attn_args *a, int64_t bh, float *p) {
    const int64_t n_head = a->n_head, hd = a->hd, Tq = a->Tq, Tk = a->Tk, group = n_head / a->n_head_kv;
    const int64_t q_row = n_head * hd, kv_row = a->n_head_kv * hd;
    const int64_t b = bh / n_head, h = bh % n_head, hk = h / group;
    const float *qh = a->q + b * Tq * q_row + h * hd;
    const float *kh = a->k + b * a->kv_batch_stride + hk * hd, *vh = a->v + b * a->kv_batch_stride + hk * hd;
    PL_TRY(pl_sgemm(0, 1, Tq, Tk, hd, 1.0f / sqrtf((float)hd), qh, q_row, kh, kv_row, 0.0f, p, Tk));
    attn_rows_args r = {.a = a, .p = p, .Tk = Tk, .pos0 = a->pos0};
    score_rows(Tq, Tk, softmax_rows_chunk, &r);
    return pl_sgemm(0, 0, Tq, hd, Tk, 1.0f, p, Tk, vh, kv_row, 0.0f, a->out + b * Tq * q_row + h * hd, q_row);
}

/* (sequence, head) pairs [i0, i1), each on this thread (the GEMMs inside run serially). */
static void forward_heads_chunk(void *ctx, int64_t i0, int64_t i1, int worker) {
    attn_args *a = ctx;
    const int64_t tt = a->Tq * a->Tk;
    float *scratch = a->probs ? NULL : pl_scratch(PL_SCRATCH_ATTN, (size_t)tt * sizeof(float));
    if (!a->probs && !scratch) {
        a->failed = 1;
        return;
    }
    for (int64_t bh = i0; bh < i1; bh++)
        if (forward_head(a, bh, a->probs ? a->probs + bh * tt : scratch) != PL_OK) a->failed = 1;
}

/* S = Q_h K_hᵀ/√hd (Tq×Tk), causal softmax, O_h = P V_h — each a GEMM over the whole (sequence, head). With at
   least two (sequence, head) pairs per thread, pairs are the parallel chunks (one pool loop for the whole op);
   otherwise pairs run in order and each GEMM and softmax is parallel. The results are the same either way. */
static int32_t attention_forward_gemm(float *out, float *probs, const float *q, const float *k, const float *v,
                                      int64_t B, int64_t Tq, int64_t Tk, int64_t pos0, int64_t n_head, int64_t n_head_kv,
                                      int64_t hd, int64_t kv_batch_stride) {
    attn_args a = {.out = out, .probs = probs, .q = q, .k = k, .v = v, .B = B, .Tq = Tq, .Tk = Tk, .pos0 = pos0,
                   .n_head = n_head, .n_head_kv = n_head_kv, .hd = hd, .kv_batch_stride = kv_batch_stride};
    const int width = pl_threads();
    const int64_t n_bh = B * n_head;
    if (n_bh >= 2 * (int64_t)width) {
        pl_parallel_for(n_bh, 1, width, forward_heads_chunk, &a);
        if (a.failed) return pl_fail(PL_ERR_OUT_OF_MEMORY, "attention: cannot allocate %lld scores", (long long)(Tq * Tk));
        return pl_ok();
    }
    float *scratch = NULL;
    if (!probs) {
        scratch = pl_alloc((size_t)(Tq * Tk) * sizeof(float));
        if (!scratch) return pl_fail(PL_ERR_OUT_OF_MEMORY, "attention: cannot allocate %lld scores", (long long)(Tq * Tk));
    }
    int32_t rc = PL_OK;
    for (int64_t bh = 0; rc == PL_OK && bh < n_bh; bh++) rc = forward_head(&a, bh, probs ? probs + bh * Tq * Tk : scratch);
    pl_free(scratch);
    return rc;
}

int32_t attention_forward(float *out, float *probs, const float *q, const float *k, const float *v,
                          int64_t B, int64_t Tq, int64_t Tk, int64_t pos0, int64_t n_head, int64_t n_head_kv,
                          int64_t hd, int64_t kv_batch_stride) {
    /* a few queries (decoding) are cheaper as dot products; blocks of queries are GEMMs */
    if (Tq < 8) return attention_forward_rows(out, probs, q, k, v, NULL, NULL, 0, B, Tq, Tk, pos0, n_head, n_head_kv, hd, kv_batch_stride);
    return attention_forward_gemm(out, probs, q, k, v, B, Tq, Tk, pos0, n_head, n_head_kv, hd, kv_batch_stride);
}

int attention_f16_supported(int64_t hd) { return PL_ATT_X86 && hd % 8 == 0 && pl_cpu_has_avx2_f16c(); }

int32_t attention_forward_f16(float *out, const float *q, const uint16_t *k, const uint16_t *v, int64_t head_stride, int64_t Tq,
                              int64_t Tk, int64_t pos0, int64_t n_head, int64_t n_head_kv, int64_t hd) {
    if (!attention_f16_supported(hd))
        return pl_fail(PL_ERR_UNSUPPORTED, "attention: an F16 cache needs AVX2, F16C and a head size that is a multiple of 8");
    if (Tq < 8) return attention_forward_rows(out, NULL, q, NULL, NULL, k, v, head_stride, 1, Tq, Tk, pos0, n_head, n_head_kv, hd, 0);
    /* a block of queries: the GEMM path over the cache widened to F32 (the same values the rows read) */
    const int64_t kvd = n_head_kv * hd;
    float *kf = pl_alloc((size_t)(Tk * kvd) * sizeof(float)), *vf = kf ? pl_alloc((size_t)(Tk * kvd) * sizeof(float)) : NULL;
    if (!vf) {
        pl_free(kf);
        return pl_fail(PL_ERR_OUT_OF_MEMORY, "attention: cannot allocate 2 x %lld floats to widen the F16 cache", (long long)(Tk * kvd));
    }
    for (int64_t hk = 0; hk < n_head_kv; hk++) /* head-major rows back into token-major [Tk][kvd] */
        for (int64_t s = 0; s < Tk; s++) {
            pl_dequant_row(PL_TYPE_F16, k + hk * head_stride + s * hd, kf + s * kvd + hk * hd, hd);
            pl_dequant_row(PL_TYPE_F16, v + hk * head_stride + s * hd, vf + s * kvd + hk * hd, hd);
        }
    const int32_t rc = attention_forward_gemm(out, NULL, q, kf, vf, 1, Tq, Tk, pos0, n_head, n_head_kv, hd, Tk * kvd);
    pl_free(kf);
    pl_free(vf);
    return rc;
}

static void ds_rows_chunk(void *ctx, int64_t t0, int64_t t1, int worker) {
    const attn_rows_args *r = ctx;
    const int64_t T = r->T;
    for (int64_t t = t0; t < t1; t++) {
        const float *pt = r->pin + t * T;
        float *dst = r->ds + t * T;
        float d = 0.0f;
        for (int64_t s = 0; s <= t; s++) d += pt[s] * dst[s];
        for (int64_t s = 0; s <= t; s++) dst[s] = pt[s] * (dst[s] - d) * r->scale;
        for (int64_t s = t + 1; s < T; s++) dst[s] = 0.0f;
    }
}

/* One (sequence b, K/V head hk): zeroes its dk, dv rows, then for each of its query heads h in order
   dP = dO_h V_hkᵀ; dS = P ⊙ (dP − rowsum(dP ⊙ P))/√hd; dQ_h = dS K_hk; dK_hk += dSᵀ Q_h; dV_hk += Pᵀ dO_h.
   ds: T×T scratch. */
static int32_t backward_kv_head(attn_args *a, int64_t b, int64_t hk, float *ds) {
    const int64_t T = a->Tq, n_head = a->n_head, hd = a->hd, group = n_head / a->n_head_kv;
    const int64_t q_row = n_head * hd, kv_row = a->n_head_kv * hd;
    const float *kh = a->k + b * T * kv_row + hk * hd, *vh = a->v + b * T * kv_row + hk * hd;
    float *dkh = a->dk + b * T * kv_row + hk * hd, *dvh = a->dv + b * T * kv_row + hk * hd;
    for (int64_t s = 0; s < T; s++) {
        memset(dkh + s * kv_row, 0, (size_t)hd * sizeof(float));
        memset(dvh + s * kv_row, 0, (size_t)hd * sizeof(float));
    }
    for (int64_t h = hk * group; h < (hk + 1) * group; h++) {
        const float *p = a->probs_in + (b * n_head + h) * T * T;
        const float *doh = a->dout + b * T * q_row + h * hd, *qh = a->q + b * T * q_row + h * hd;
        float *dqh = a->dq + b * T * q_row + h * hd;
        PL_TRY(pl_sgemm(0, 1, T, T, hd, 1.0f, doh, q_row, vh, kv_row, 0.0f, ds, T));
        attn_rows_args r = {.a = a, .ds = ds, .pin = p, .T = T, .scale = 1.0f / sqrtf((float)hd)};
        score_rows(T, T, ds_rows_chunk, &r);
        PL_TRY(pl_sgemm(0, 0, T, hd, T, 1.0f, ds, T, kh, kv_row, 0.0f, dqh, q_row));
        PL_TRY(pl_sgemm(1, 0, T, hd, T, 1.0f, ds, T, qh, q_row, 1.0f, dkh, kv_row));
        PL_TRY(pl_sgemm(1, 0, T, hd, T, 1.0f, p, T, doh, q_row, 1.0f, dvh, kv_row));
    }
    return pl_ok();
}

static void backward_kv_heads_chunk(void *ctx, int64_t i0, int64_t i1, int worker) {
    attn_args *a = ctx;
    float *ds = pl_scratch(PL_SCRATCH_ATTN, (size_t)(a->Tq * a->Tq) * sizeof(float));
    if (!ds) {
        a->failed = 1;
        return;
    }
    for (int64_t bk = i0; bk < i1; bk++)
        if (backward_kv_head(a, bk / a->n_head_kv, bk % a->n_head_kv, ds) != PL_OK) a->failed = 1;
}

/* Per (sequence b, K/V head), for each of its query heads h in order (backward_kv_head). The order of the additions
   is fixed, so the result does not depend on the thread count: (b, K/V head) pairs are the parallel chunks when
   there are at least two per thread, otherwise they run in order with parallel GEMMs. */
int32_t attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                           const float *v, const float *probs, int64_t B, int64_t T, int64_t n_head,
                           int64_t n_head_kv, int64_t hd) {
    if (T < 8) return attention_backward_rows(dq, dk, dv, dout, q, k, v, probs, B, T, n_head, n_head_kv, hd);
    attn_args a = {.dq = dq, .dk = dk, .dv = dv, .dout = dout, .q = q, .k = k, .v = v, .probs_in = probs, .B = B,
                   .Tq = T, .Tk = T, .n_head = n_head, .n_head_kv = n_head_kv, .hd = hd};
    const int width = pl_threads();
    const int64_t n_bk = B * n_head_kv;
    if (n_bk >= 2 * (int64_t)width) {
        pl_parallel_for(n_bk, 1, width, backward_kv_heads_chunk, &a);
        if (a.failed) return pl_fail(PL_ERR_OUT_OF_MEMORY, "attention_backward: cannot allocate %lld floats of scratch", (long long)(T * T));
        return pl_ok();
    }
    float *ds = pl_alloc((size_t)(T * T) * sizeof(float));
    if (!ds) return pl_fail(PL_ERR_OUT_OF_MEMORY, "attention_backward: cannot allocate %lld floats of scratch", (long long)(T * T));
    int32_t rc = PL_OK;
    for (int64_t bk = 0; rc == PL_OK && bk < n_bk; bk++) rc = backward_kv_head(&a, bk / n_head_kv, bk % n_head_kv, ds);
    pl_free(ds);
    return rc;
}
