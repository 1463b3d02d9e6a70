/* Causal grouped-query attention (GQA): each group of n_head/n_head_kv query heads shares one K/V head. */
#include <math.h>
#include <string.h>
#include "common.h"
#include "ops/ops.h"
#include "ops/matmul.h"
#include <omp.h>

/* s = a·b over n floats (an OpenMP SIMD reduction: fixed order for a given build). */
static inline float dot_f32(const float *a, const float *b, int64_t n) {
    float s = 0.0f;
    #pragma omp simd reduction(+:s)
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* out = softmax(q kᵀ/√hd, causal) v per (sequence, head, query), one dot product at a time: the decode path. */
static int32_t attention_forward_rows(float *out, float *probs, const float *q, const float *k, const float *v,
                          int64_t B, int64_t Tq, int64_t Tk, int64_t pos0, int64_t n_head, int64_t n_head_kv,
                          int64_t hd, int64_t kv_batch_stride) {
    const int64_t group = n_head / n_head_kv;
    const int64_t q_row = n_head * hd, kv_row = n_head_kv * hd;
    const float scale = 1.0f / sqrtf((float)hd);
    /* a decode step of a small model is a few thousand multiply-adds: not worth waking threads */
    const int nth = B * n_head * Tq * Tk * hd < 65536 ? 1 : pl_threads();
    float *scratch = NULL;
    if (!probs) {
        scratch = pl_alloc((size_t)nth * (size_t)Tk * sizeof(float));
        if (!scratch) return pl_fail(PL_ERR_OUT_OF_MEMORY, "attention: cannot allocate %lld floats of scores", (long long)(nth * Tk));
    }
    #pragma omp parallel for num_threads(nth) schedule(dynamic, 4) collapse(2)
    for (int64_t bh = 0; bh < B * n_head; bh++) {
        for (int64_t t = 0; t < Tq; t++) {
            const int64_t b = bh / n_head, h = bh % n_head, hk = h / group;
            const float *qt = q + (b * Tq + t) * q_row + h * hd;
            const float *kb = k + b * kv_batch_stride + hk * hd;
            const float *vb = v + b * kv_batch_stride + hk * hd;
            float *p = probs ? probs + ((b * n_head + h) * Tq + t) * Tk : scratch + (int64_t)omp_get_thread_num() * Tk;
            const int64_t n_keys = pos0 + t + 1 < Tk ? pos0 + t + 1 : Tk;
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
            if (probs) for (int64_t s = n_keys; s < Tk; s++) p[s] = 0.0f;
            float *ot = out + (b * Tq + t) * q_row + h * hd;
            memset(ot, 0, (size_t)hd * sizeof(float));
            for (int64_t s = 0; s < n_keys; s++) {
                const float ps = p[s];
                const float *vs = vb + s * kv_row;
                #pragma omp simd
                for (int64_t d = 0; d < hd; d++) ot[d] += ps * vs[d];
            }
        }
    }
    pl_free(scratch);
    return PL_OK;
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
int32_t attention_backward_rows(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                                const float *v, const float *probs, int64_t B, int64_t T, int64_t n_head,
                                int64_t n_head_kv, int64_t hd) {
    const int64_t group = n_head / n_head_kv, kv_row = n_head_kv * hd;
    const int nth = pl_threads();
    if (group == 1) { /* every K/V head has one query head: write straight into dk, dv */
        float *ds_all = pl_alloc((size_t)nth * (size_t)T * sizeof(float));
        if (!ds_all) return pl_fail(PL_ERR_OUT_OF_MEMORY, "attention_backward: cannot allocate %lld floats of scratch", (long long)(nth * T));
        #pragma omp parallel for num_threads(nth) schedule(dynamic, 1)
        for (int64_t bh = 0; bh < B * n_head; bh++) {
            const int64_t b = bh / n_head, h = bh % n_head;
            float *ds = ds_all + (int64_t)omp_get_thread_num() * T;
            const int64_t off = b * T * kv_row + h * hd;
            attention_head_backward(dq, dk + off, dv + off, kv_row, ds, dout, q, k, v, probs, b, h, T, n_head, n_head_kv, hd);
        }
        pl_free(ds_all);
        return PL_OK;
    }
    const int64_t head_buf = T * hd; /* one head's dk (then dv) contribution, rows of hd */
    if (B * n_head_kv >= nth) {
        /* a thread owns a (b, kv-head): its query heads run in order into thread scratch, added to dk, dv */
        const int64_t per_thread = T + 2 * head_buf;
        float *scratch = pl_alloc((size_t)nth * (size_t)per_thread * sizeof(float));
        if (!scratch) return pl_fail(PL_ERR_OUT_OF_MEMORY, "attention_backward: cannot allocate %lld floats of scratch", (long long)(nth * per_thread));
        #pragma omp parallel for num_threads(nth) schedule(dynamic, 1)
        for (int64_t bk = 0; bk < B * n_head_kv; bk++) {
            const int64_t b = bk / n_head_kv, hk = bk % n_head_kv;
            float *ds = scratch + (int64_t)omp_get_thread_num() * per_thread, *dk_h = ds + T, *dv_h = dk_h + head_buf;
            float *dkb = dk + b * T * kv_row + hk * hd, *dvb = dv + b * T * kv_row + hk * hd;
            for (int64_t s = 0; s < T; s++) {
                memset(dkb + s * kv_row, 0, (size_t)hd * sizeof(float));
                memset(dvb + s * kv_row, 0, (size_t)hd * sizeof(float));
            }
            for (int64_t h = hk * group; h < (hk + 1) * group; h++) {
                attention_head_backward(dq, dk_h, dv_h, hd, ds, dout, q, k, v, probs, b, h, T, n_head, n_head_kv, hd);
                for (int64_t s = 0; s < T; s++) {
                    float *dks = dkb + s * kv_row, *dvs = dvb + s * kv_row;
                    const float *a = dk_h + s * hd, *c = dv_h + s * hd;
                    #pragma omp simd
                    for (int64_t d = 0; d < hd; d++) { dks[d] += a[d]; dvs[d] += c[d]; }
                }
            }
        }
        pl_free(scratch);
        return PL_OK;
    }
    /* few K/V heads for the threads: every (b, h) in parallel into its own buffers, then a reduction in head order */
    const int64_t n_bh = B * n_head;
    float *bufs = pl_alloc((size_t)(2 * n_bh * head_buf + (int64_t)nth * T) * sizeof(float));
    if (!bufs) return pl_fail(PL_ERR_OUT_OF_MEMORY, "attention_backward: cannot allocate %lld floats of per-head gradients", (long long)(2 * n_bh * head_buf + (int64_t)nth * T));
    float *dk_heads = bufs, *dv_heads = bufs + n_bh * head_buf, *ds_all = bufs + 2 * n_bh * head_buf;
    #pragma omp parallel for num_threads(nth) schedule(dynamic, 1)
    for (int64_t bh = 0; bh < n_bh; bh++) {
        const int64_t b = bh / n_head, h = bh % n_head;
        float *ds = ds_all + (int64_t)omp_get_thread_num() * T;
        attention_head_backward(dq, dk_heads + bh * head_buf, dv_heads + bh * head_buf, hd, ds, dout, q, k, v, probs,
                                b, h, T, n_head, n_head_kv, hd);
    }
    #pragma omp parallel for num_threads(nth) schedule(static) collapse(2)
    for (int64_t bk = 0; bk < B * n_head_kv; bk++) {
        for (int64_t s = 0; s < T; s++) {
            const int64_t b = bk / n_head_kv, hk = bk % n_head_kv;
            float *dks = dk + (b * T + s) * kv_row + hk * hd, *dvs = dv + (b * T + s) * kv_row + hk * hd;
            memset(dks, 0, (size_t)hd * sizeof(float));
            memset(dvs, 0, (size_t)hd * sizeof(float));
            for (int64_t h = hk * group; h < (hk + 1) * group; h++) {
                const float *a = dk_heads + (b * n_head + h) * head_buf + s * hd;
                const float *c = dv_heads + (b * n_head + h) * head_buf + s * hd;
                #pragma omp simd
                for (int64_t d = 0; d < hd; d++) { dks[d] += a[d]; dvs[d] += c[d]; }
            }
        }
    }
    pl_free(bufs);
    return PL_OK;
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

/* S = Q_h K_hᵀ/√hd (Tq×Tk), causal softmax, O_h = P V_h — each a GEMM over the whole (sequence, head). */
static int32_t attention_forward_gemm(float *out, float *probs, const float *q, const float *k, const float *v,
                                      int64_t B, int64_t Tq, int64_t Tk, int64_t pos0, int64_t n_head, int64_t n_head_kv,
                                      int64_t hd, int64_t kv_batch_stride) {
    const int64_t group = n_head / n_head_kv, q_row = n_head * hd, kv_row = n_head_kv * hd;
    const float scale = 1.0f / sqrtf((float)hd);
    float *scratch = NULL;
    if (!probs) {
        scratch = pl_alloc((size_t)(Tq * Tk) * sizeof(float));
        if (!scratch) return pl_fail(PL_ERR_OUT_OF_MEMORY, "attention: cannot allocate %lld scores", (long long)(Tq * Tk));
    }
    int32_t rc = PL_OK;
    for (int64_t bh = 0; rc == PL_OK && bh < B * n_head; bh++) {
        const int64_t b = bh / n_head, h = bh % n_head, hk = h / group;
        const float *qh = q + b * Tq * q_row + h * hd;
        const float *kh = k + b * kv_batch_stride + hk * hd, *vh = v + b * kv_batch_stride + hk * hd;
        float *p = probs ? probs + bh * Tq * Tk : scratch;
        rc = pl_sgemm(0, 1, Tq, Tk, hd, scale, qh, q_row, kh, kv_row, 0.0f, p, Tk);
        if (rc != PL_OK) break;
        #pragma omp parallel for num_threads(pl_threads()) schedule(static) if (Tq * Tk > 16384)
        for (int64_t t = 0; t < Tq; t++) {
            const int64_t n_keys = pos0 + t + 1 < Tk ? pos0 + t + 1 : Tk;
            softmax_causal_row(p + t * Tk, Tk, n_keys);
        }
        rc = pl_sgemm(0, 0, Tq, hd, Tk, 1.0f, p, Tk, vh, kv_row, 0.0f, out + b * Tq * q_row + h * hd, q_row);
    }
    pl_free(scratch);
    return rc;
}

int32_t attention_forward(float *out, float *probs, const float *q, const float *k, const float *v,
                          int64_t B, int64_t Tq, int64_t Tk, int64_t pos0, int64_t n_head, int64_t n_head_kv,
                          int64_t hd, int64_t kv_batch_stride) {
    /* a few queries (decoding) are cheaper as dot products; blocks of queries are GEMMs */
    if (Tq < 8) return attention_forward_rows(out, probs, q, k, v, B, Tq, Tk, pos0, n_head, n_head_kv, hd, kv_batch_stride);
    return attention_forward_gemm(out, probs, q, k, v, B, Tq, Tk, pos0, n_head, n_head_kv, hd, kv_batch_stride);
}

/* Per (sequence b, K/V head), for each of its query heads h in order:
   dP = dO_h V_hkᵀ; dS = P ⊙ (dP − rowsum(dP ⊙ P))/√hd; dQ_h = dS K_hk; dK_hk += dSᵀ Q_h; dV_hk += Pᵀ dO_h.
   The order of the additions is fixed, so the result does not depend on the thread count. */
int32_t attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                           const float *v, const float *probs, int64_t B, int64_t T, int64_t n_head,
                           int64_t n_head_kv, int64_t hd) {
    if (T < 8) return attention_backward_rows(dq, dk, dv, dout, q, k, v, probs, B, T, n_head, n_head_kv, hd);
    const int64_t group = n_head / n_head_kv, q_row = n_head * hd, kv_row = n_head_kv * hd;
    const float scale = 1.0f / sqrtf((float)hd);
    float *ds = pl_alloc((size_t)(T * T) * sizeof(float));
    if (!ds) return pl_fail(PL_ERR_OUT_OF_MEMORY, "attention_backward: cannot allocate %lld floats of scratch", (long long)(T * T));
    for (int64_t i = 0; i < B * T; i++) {
        memset(dk + i * kv_row, 0, (size_t)kv_row * sizeof(float));
        memset(dv + i * kv_row, 0, (size_t)kv_row * sizeof(float));
    }
    int32_t rc = PL_OK;
    for (int64_t b = 0; rc == PL_OK && b < B; b++) {
        for (int64_t h = 0; rc == PL_OK && h < n_head; h++) {
            const int64_t hk = h / group;
            const float *p = probs + (b * n_head + h) * T * T;
            const float *doh = dout + b * T * q_row + h * hd, *qh = q + b * T * q_row + h * hd;
            const float *kh = k + b * T * kv_row + hk * hd, *vh = v + b * T * kv_row + hk * hd;
            float *dqh = dq + b * T * q_row + h * hd, *dkh = dk + b * T * kv_row + hk * hd, *dvh = dv + b * T * kv_row + hk * hd;
            if ((rc = pl_sgemm(0, 1, T, T, hd, 1.0f, doh, q_row, vh, kv_row, 0.0f, ds, T)) != PL_OK) break;
            #pragma omp parallel for num_threads(pl_threads()) schedule(static) if (T * T > 16384)
            for (int64_t t = 0; t < T; t++) {
                const float *pt = p + t * T;
                float *dst = ds + t * T;
                float d = 0.0f;
                for (int64_t s = 0; s <= t; s++) d += pt[s] * dst[s];
                for (int64_t s = 0; s <= t; s++) dst[s] = pt[s] * (dst[s] - d) * scale;
                for (int64_t s = t + 1; s < T; s++) dst[s] = 0.0f;
            }
            if ((rc = pl_sgemm(0, 0, T, hd, T, 1.0f, ds, T, kh, kv_row, 0.0f, dqh, q_row)) != PL_OK) break;
            if ((rc = pl_sgemm(1, 0, T, hd, T, 1.0f, ds, T, qh, q_row, 1.0f, dkh, kv_row)) != PL_OK) break;
            rc = pl_sgemm(1, 0, T, hd, T, 1.0f, p, T, doh, q_row, 1.0f, dvh, kv_row);
        }
    }
    pl_free(ds);
    return rc;
}
