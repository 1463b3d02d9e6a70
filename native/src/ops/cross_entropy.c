/* Softmax cross-entropy over the vocabulary. */
#include <math.h>
#include "common.h"
#include "ops/ops.h"
#include "pool.h"

typedef struct {
    float *nll, *out;
    const float *logits;
    const int32_t *targets;
    int64_t n_vocab;
    float scale;
} ce_args;

/* Runs fn over n_tok rows of a vocabulary-wide op, a few rows per chunk. */
static void ce_loop(int64_t n_tok, pl_chunk_fn fn, void *ctx) {
    const int width = pl_threads();
    if (width <= 1 || n_tok < 2) fn(ctx, 0, n_tok, 0);
    else pl_parallel_for(n_tok, pl_grain_for(n_tok, width, 8, 1), width, fn, ctx);
}

/* nll[t] = log Σ_v exp(logits[t][v]) - logits[t][target[t]], computed with the max subtracted, sums in double. */
static void ce_forward_chunk(void *ctx, int64_t t0, int64_t t1, int worker) {
    const ce_args *a = ctx;
    const int64_t n_vocab = a->n_vocab;
    const int32_t *targets = a->targets;
    float *nll = a->nll;
    for (int64_t t = t0; t < t1; t++) {
        if (targets[t] < 0) { nll[t] = 0.0f; continue; }
        const float *l = a->logits + t * n_vocab;
        float mx = l[0];
        for (int64_t v = 1; v < n_vocab; v++) mx = l[v] > mx ? l[v] : mx;
        double sum = 0.0;
        for (int64_t v = 0; v < n_vocab; v++) sum += exp((double)(l[v] - mx));
        nll[t] = (float)(log(sum) + (double)mx - (double)l[targets[t]]);
    }
}

void cross_entropy_forward(float *nll, const float *logits, const int32_t *targets, int64_t n_tok, int64_t n_vocab) {
    ce_args a = {.nll = nll, .logits = logits, .targets = targets, .n_vocab = n_vocab};
    ce_loop(n_tok, ce_forward_chunk, &a);
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
static void ce_backward_chunk(void *ctx, int64_t t0, int64_t t1, int worker) {
    const ce_args *a = ctx;
    const int64_t n_vocab = a->n_vocab;
    for (int64_t t = t0; t < t1; t++) {
        float *d = a->out + t * n_vocab;
        if (a->targets[t] < 0) { for (int64_t v = 0; v < n_vocab; v++) d[v] = 0.0f; continue; }
        (void)cross_entropy_row(d, a->logits + t * n_vocab, a->targets[t], n_vocab, a->scale);
    }
}

void cross_entropy_backward(float *dlogits, const float *logits, const int32_t *targets, int64_t n_tok, int64_t n_vocab,
                            float scale) {
    ce_args a = {.out = dlogits, .logits = logits, .targets = targets, .n_vocab = n_vocab, .scale = scale};
    ce_loop(n_tok, ce_backward_chunk, &a);
}

/* The training path in one pass per row: nll[t] as cross_entropy_forward (if nll is non-NULL), then logits[t] is
   overwritten by dlogits[t] = scale·(softmax − onehot) (zero rows, nll 0, where target < 0). */
static void ce_fused_chunk(void *ctx, int64_t t0, int64_t t1, int worker) {
    const ce_args *a = ctx;
    const int64_t n_vocab = a->n_vocab;
    for (int64_t t = t0; t < t1; t++) {
        float *l = a->out + t * n_vocab;
        if (a->targets[t] < 0) {
            for (int64_t v = 0; v < n_vocab; v++) l[v] = 0.0f;
            if (a->nll) a->nll[t] = 0.0f;
            continue;
        }
        const float r = cross_entropy_row(l, l, a->targets[t], n_vocab, a->scale);
        if (a->nll) a->nll[t] = r;
    }
}

void cross_entropy_fused(float *nll, float *logits, const int32_t *targets, int64_t n_tok, int64_t n_vocab, float scale) {
    ce_args a = {.nll = nll, .out = logits, .targets = targets, .n_vocab = n_vocab, .scale = scale};
    ce_loop(n_tok, ce_fused_chunk, &a);
}
