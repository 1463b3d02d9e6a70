/* RMSNorm: y = x / rms(x) * w. */
#include <math.h>
#include "common.h"
#include "ops/ops.h"
#include "pool.h"

typedef struct {
    float *out, *rstd, *dx, *dw;
    const float *x, *w, *dout;
    const float *rstd_in;
    int64_t n_tok, dim;
    float eps;
} rmsnorm_args;

static void rmsnorm_forward_chunk(void *ctx, int64_t t0, int64_t t1, int worker) {
    const rmsnorm_args *a = ctx;
    const int64_t dim = a->dim;
    for (int64_t t = t0; t < t1; t++) {
        const float *xt = a->x + t * dim;
        float *ot = a->out + t * dim;
        double ss = 0.0;
        for (int64_t i = 0; i < dim; i++) ss += (double)xt[i] * xt[i];
        float r = (float)(1.0 / sqrt(ss / (double)dim + (double)a->eps));
        if (a->rstd) a->rstd[t] = r;
        for (int64_t i = 0; i < dim; i++) ot[i] = (xt[i] * r) * a->w[i];
    }
}

/* Runs fn over n rows of dim elements: on the calling thread when the op is small. */
static void rows_loop(int64_t n, int64_t dim, pl_chunk_fn fn, void *ctx) {
    const int width = pl_threads();
    if (n * dim <= 32768 || width <= 1) fn(ctx, 0, n, 0);
    else pl_parallel_for(n, pl_grain_for(n, width, 8, 1), width, fn, ctx);
}

/* out[t] = x[t] * rstd[t] * w, rstd[t] = 1/sqrt(mean(x[t]^2) + eps); the sum of squares in double, as ggml does. */
void rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int64_t n_tok, int64_t dim, float eps) {
    rmsnorm_args a = {.out = out, .rstd = rstd, .x = x, .w = w, .n_tok = n_tok, .dim = dim, .eps = eps};
    rows_loop(n_tok, dim, rmsnorm_forward_chunk, &a);
}

static void rmsnorm_dx_chunk(void *ctx, int64_t t0, int64_t t1, int worker) {
    const rmsnorm_args *a = ctx;
    const int64_t dim = a->dim;
    for (int64_t t = t0; t < t1; t++) {
        const float *xt = a->x + t * dim, *dt = a->dout + t * dim;
        float *dxt = a->dx + t * dim;
        double dot = 0.0;
        for (int64_t i = 0; i < dim; i++) dot += (double)dt[i] * a->w[i] * xt[i];
        const float r = a->rstd_in[t];
        const float c = (float)(dot * (double)r * r * r / (double)dim);
        for (int64_t i = 0; i < dim; i++) dxt[i] += r * (a->w[i] * dt[i]) - c * xt[i];
    }
}

enum { RMS_DW_COLS = 64 };

/* dw over column blocks [b0, b1) of RMS_DW_COLS, tokens added in order. */
static void rmsnorm_dw_chunk(void *ctx, int64_t b0, int64_t b1, int worker) {
    const rmsnorm_args *a = ctx;
    const int64_t dim = a->dim;
    for (int64_t blk = b0; blk < b1; blk++) {
        const int64_t i0 = blk * RMS_DW_COLS, n = dim - i0 < RMS_DW_COLS ? dim - i0 : RMS_DW_COLS;
        double acc[RMS_DW_COLS] = {0};
        for (int64_t t = 0; t < a->n_tok; t++) {
            const float *xt = a->x + t * dim + i0, *dt = a->dout + t * dim + i0;
            const double r = a->rstd_in[t];
            for (int64_t i = 0; i < n; i++) acc[i] += (double)(dt[i] * xt[i]) * r;
        }
        for (int64_t i = 0; i < n; i++) a->dw[i0 + i] += (float)acc[i];
    }
}

/* dx[t] += rstd·(w⊙dout[t]) − rstd³/dim · (Σ_i dout[t][i]·w[i]·x[t][i]) · x[t];  dw[i] += Σ_t dout[t][i]·x[t][i]·rstd[t].
   dx accumulates (it is the residual stream's gradient); dw, when non-NULL, is reduced over tokens in token
   order per column (chunks own column blocks), so it is bit-identical for any thread count. */
void rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *w, const float *rstd,
                      int64_t n_tok, int64_t dim) {
    rmsnorm_args a = {.dx = dx, .dw = dw, .dout = dout, .x = x, .w = w, .rstd_in = rstd, .n_tok = n_tok, .dim = dim};
    rows_loop(n_tok, dim, rmsnorm_dx_chunk, &a);
    if (!dw) return;
    const int64_t n_blocks = (dim + RMS_DW_COLS - 1) / RMS_DW_COLS;
    const int width = pl_threads();
    if (n_tok * dim <= 32768 || width <= 1) rmsnorm_dw_chunk(&a, 0, n_blocks, 0);
    else pl_parallel_for(n_blocks, 1, width, rmsnorm_dw_chunk, &a);
}
