/* RMSNorm: y = x / rms(x) * w. */
#include <math.h>
#include "common.h"
#include "ops/ops.h"

/* out[t] = x[t] * rstd[t] * w, rstd[t] = 1/sqrt(mean(x[t]^2) + eps); the sum of squares in double, as ggml does. */
void rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int64_t n_tok, int64_t dim, float eps) {
    #pragma omp parallel for num_threads(pl_threads()) schedule(static) if (n_tok * dim > 32768)
    for (int64_t t = 0; t < n_tok; t++) {
        const float *xt = x + t * dim;
        float *ot = out + t * dim;
        double ss = 0.0;
        for (int64_t i = 0; i < dim; i++) ss += (double)xt[i] * xt[i];
        float r = (float)(1.0 / sqrt(ss / (double)dim + (double)eps));
        if (rstd) rstd[t] = r;
        for (int64_t i = 0; i < dim; i++) ot[i] = (xt[i] * r) * w[i];
    }
}
