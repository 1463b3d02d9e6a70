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
