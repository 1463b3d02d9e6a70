/* SwiGLU activation of the LLaMA FFN: h = silu(gate) * up. */
#include <math.h>
#include "common.h"
#include "ops/ops.h"
#include "pool.h"

/* Element-wise loops below this many elements run on the calling thread. */
#define PL_ELEMWISE_MIN 65536
#define PL_ELEMWISE_GRAIN 16384

typedef struct {
    float *h, *dg, *du;
    const float *g, *u, *dh;
} swiglu_args;

static void swiglu_forward_chunk(void *ctx, int64_t i0, int64_t i1, int worker) {
    const swiglu_args *a = ctx;
    for (int64_t i = i0; i < i1; i++) {
        float gi = a->g[i];
        a->h[i] = gi / (1.0f + expf(-gi)) * a->u[i];
    }
}

/* Runs an element-wise chunk function over n elements: on the calling thread when n is small. */
static void elementwise(int64_t n, pl_chunk_fn fn, void *ctx) {
    if (n < PL_ELEMWISE_MIN) fn(ctx, 0, n, 0);
    else pl_parallel_for(n, PL_ELEMWISE_GRAIN, pl_threads(), fn, ctx);
}

/* h[i] = g[i] / (1 + exp(-g[i])) * u[i]. */
void swiglu_forward(float *h, const float *g, const float *u, int64_t n) {
    swiglu_args a = {.h = h, .g = g, .u = u};
    elementwise(n, swiglu_forward_chunk, &a);
}

static void residual_chunk(void *ctx, int64_t i0, int64_t i1, int worker) {
    const swiglu_args *a = ctx;
    for (int64_t i = i0; i < i1; i++) a->h[i] += a->g[i];
}

/* out[i] += x[i]: the residual connection. */
void residual_add(float *out, const float *x, int64_t n) {
    swiglu_args a = {.h = out, .g = x};
    elementwise(n, residual_chunk, &a);
}

/* dg = dh·u·σ(g)·(1 + g·(1 − σ(g))), du = dh·silu(g) (overwritten). Each element's inputs are read before its
   outputs are written, so dg or du may alias dh, g or u (in place), as long as dg and du differ. */
static void swiglu_backward_chunk(void *ctx, int64_t i0, int64_t i1, int worker) {
    const swiglu_args *a = ctx;
    for (int64_t i = i0; i < i1; i++) {
        const float gi = a->g[i], ui = a->u[i], dhi = a->dh[i];
        const float sig = 1.0f / (1.0f + expf(-gi));
        const float silu = gi * sig;
        a->dg[i] = dhi * ui * (sig * (1.0f + gi * (1.0f - sig)));
        a->du[i] = dhi * silu;
    }
}

void swiglu_backward(float *dg, float *du, const float *dh, const float *g, const float *u, int64_t n) {
    swiglu_args a = {.dg = dg, .du = du, .dh = dh, .g = g, .u = u};
    elementwise(n, swiglu_backward_chunk, &a);
}
