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

/* dx[t] += rstd·(w⊙dout[t]) − rstd³/dim · (Σ_i dout[t][i]·w[i]·x[t][i]) · x[t];  dw[i] += Σ_t dout[t][i]·x[t][i]·rstd[t].
   dx accumulates (it is the residual stream's gradient); dw, when non-NULL, is reduced over tokens in token
   order per column (threads own column blocks), so it is bit-identical for any thread count. */
void rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *w, const float *rstd,
                      int64_t n_tok, int64_t dim) {
    #pragma omp parallel for num_threads(pl_threads()) schedule(static) if (n_tok * dim > 32768)
    for (int64_t t = 0; t < n_tok; t++) {
        const float *xt = x + t * dim, *dt = dout + t * dim;
        float *dxt = dx + t * dim;
        double dot = 0.0;
        for (int64_t i = 0; i < dim; i++) dot += (double)dt[i] * w[i] * xt[i];
        const float r = rstd[t];
        const float c = (float)(dot * (double)r * r * r / (double)dim);
        for (int64_t i = 0; i < dim; i++) dxt[i] += r * (w[i] * dt[i]) - c * xt[i];
    }
    if (!dw) return;
    enum { COLS = 64 };
    const int64_t n_blocks = (dim + COLS - 1) / COLS;
    #pragma omp parallel for num_threads(pl_threads()) schedule(static) if (n_tok * dim > 32768)
    for (int64_t blk = 0; blk < n_blocks; blk++) {
        const int64_t i0 = blk * COLS, n = dim - i0 < COLS ? dim - i0 : COLS;
        double acc[COLS] = {0};
        for (int64_t t = 0; t < n_tok; t++) {
            const float *xt = x + t * dim + i0, *dt = dout + t * dim + i0;
            const double r = rstd[t];
            for (int64_t i = 0; i < n; i++) acc[i] += (double)(dt[i] * xt[i]) * r;
        }
        for (int64_t i = 0; i < n; i++) dw[i0 + i] += (float)acc[i];
    }
}
