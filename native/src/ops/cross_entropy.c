/* Softmax cross-entropy over the vocabulary. */
#include <math.h>
#include "common.h"
#include "ops/ops.h"

/* nll[t] = log Σ_v exp(logits[t][v]) - logits[t][target[t]], computed with the max subtracted, sums in double. */
void cross_entropy_forward(float *nll, const float *logits, const int32_t *targets, int64_t n_tok, int64_t n_vocab) {
    #pragma omp parallel for num_threads(pl_threads()) schedule(static)
    for (int64_t t = 0; t < n_tok; t++) {
        if (targets[t] < 0) { nll[t] = 0.0f; continue; }
        const float *l = logits + t * n_vocab;
        float mx = l[0];
        for (int64_t v = 1; v < n_vocab; v++) mx = l[v] > mx ? l[v] : mx;
        double sum = 0.0;
        for (int64_t v = 0; v < n_vocab; v++) sum += exp((double)(l[v] - mx));
        nll[t] = (float)(log(sum) + (double)mx - (double)l[targets[t]]);
    }
}

/* One row: nll = logsumexp(l) − l[target] (as cross_entropy_forward computes it) and, in the same pass,
   d[v] = scale·(softmax(l)[v] − [v = target]). d may alias l: each l[v] is read before d[v] is written. */
static float cross_entropy_row(float *d, const float *l, int32_t target, int64_t n_vocab, float scale) {
    float mx = l[0];
    for (int64_t v = 1; v < n_vocab; v++) mx = l[v] > mx ? l[v] : mx;
    const float lt = l[target];
    double sum = 0.0;
    for (int64_t v = 0; v < n_vocab; v++) {
        const double e = exp((double)(l[v] - mx));
        sum += e;
        d[v] = (float)e;   /* the unnormalized softmax, kept in d until the sum is known */
    }
    const double inv = 1.0 / sum, sc = (double)scale;
    const double p_target = (double)d[target] * inv;
    for (int64_t v = 0; v < n_vocab; v++) d[v] = (float)((double)d[v] * inv * sc);
    d[target] = (float)((p_target - 1.0) * sc);
    return (float)(log(sum) + (double)mx - (double)lt);
}

/* dlogits[t] = scale·(softmax(logits[t]) − onehot(target[t])); rows with target < 0 are zero. dlogits may alias logits. */
void cross_entropy_backward(float *dlogits, const float *logits, const int32_t *targets, int64_t n_tok, int64_t n_vocab,
                            float scale) {
    #pragma omp parallel for num_threads(pl_threads()) schedule(static)
    for (int64_t t = 0; t < n_tok; t++) {
        float *d = dlogits + t * n_vocab;
        if (targets[t] < 0) { for (int64_t v = 0; v < n_vocab; v++) d[v] = 0.0f; continue; }
        (void)cross_entropy_row(d, logits + t * n_vocab, targets[t], n_vocab, scale);
    }
}

/* The training path in one pass per row: nll[t] as cross_entropy_forward (if nll is non-NULL), then logits[t] is
   overwritten by dlogits[t] = scale·(softmax − onehot) (zero rows, nll 0, where target < 0). */
void cross_entropy_fused(float *nll, float *logits, const int32_t *targets, int64_t n_tok, int64_t n_vocab, float scale) {
    #pragma omp parallel for num_threads(pl_threads()) schedule(static)
    for (int64_t t = 0; t < n_tok; t++) {
        float *l = logits + t * n_vocab;
        if (targets[t] < 0) {
            for (int64_t v = 0; v < n_vocab; v++) l[v] = 0.0f;
            if (nll) nll[t] = 0.0f;
            continue;
        }
        const float r = cross_entropy_row(l, l, targets[t], n_vocab, scale);
        if (nll) nll[t] = r;
    }
}
