/* Causal grouped-query attention (GQA): each group of n_head/n_head_kv query heads shares one K/V head. */
#include <math.h>
#include <string.h>
#include "common.h"
#include "ops/ops.h"
#include <omp.h>

/* s = a·b over n floats (an OpenMP SIMD reduction: fixed order for a given build). */
static inline float dot_f32(const float *a, const float *b, int64_t n) {
    float s = 0.0f;
    #pragma omp simd reduction(+:s)
    for (int64_t i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* out = softmax(q kᵀ/√hd, causal) v per (sequence, head, query); probs saved when non-NULL. */
int32_t attention_forward(float *out, float *probs, const float *q, const float *k, const float *v,
                          int64_t B, int64_t Tq, int64_t Tk, int64_t pos0, int64_t n_head, int64_t n_head_kv,
                          int64_t hd, int64_t kv_batch_stride) {
    const int64_t group = n_head / n_head_kv;
    const int64_t q_row = n_head * hd, kv_row = n_head_kv * hd;
    const float scale = 1.0f / sqrtf((float)hd);
    const int nth = pl_threads();
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
