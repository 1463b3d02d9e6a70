/* SwiGLU activation of the LLaMA FFN: h = silu(gate) * up. */
#include <math.h>
#include "common.h"
#include "ops/ops.h"

/* h[i] = g[i] / (1 + exp(-g[i])) * u[i]. */
void swiglu_forward(float *h, const float *g, const float *u, int64_t n) {
    #pragma omp parallel for num_threads(pl_threads()) schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i];
        h[i] = gi / (1.0f + expf(-gi)) * u[i];
    }
}

/* out[i] += x[i]: the residual connection. */
void residual_add(float *out, const float *x, int64_t n) {
    #pragma omp parallel for num_threads(pl_threads()) schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) out[i] += x[i];
}

/* dg = dh·u·σ(g)·(1 + g·(1 − σ(g))), du = dh·silu(g) (overwritten). Each element's inputs are read before its
   outputs are written, so dg or du may alias dh, g or u (in place), as long as dg and du differ. */
void swiglu_backward(float *dg, float *du, const float *dh, const float *g, const float *u, int64_t n) {
    #pragma omp parallel for num_threads(pl_threads()) schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; i++) {
        const float gi = g[i], ui = u[i], dhi = dh[i];
        const float sig = 1.0f / (1.0f + expf(-gi));
        const float silu = gi * sig;
        dg[i] = dhi * ui * (sig * (1.0f + gi * (1.0f - sig)));
        du[i] = dhi * silu;
    }
}
