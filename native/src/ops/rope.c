/* Rotary position embedding (RoPE), llama.cpp's normal (adjacent pairs) and NeoX (halves) layouts. */
#include <math.h>
#include "common.h"
#include "ops/ops.h"
#include "pool.h"

/* Rotates pairs of each head by pos·scale·base^(-2i/n_rot); sign -1 applies the inverse rotation (the backward). */
/* Backward: out = R(pos)·x with R orthogonal, so dx = R(pos)ᵀ·dout = R(−pos)·dout: rope_apply(dout, ..., sign = -1). */
typedef struct {
    float *x;
    int64_t T, pos0, n_head, head_dim, n_rot;
    float freq_base, freq_scale;
    const float *freq_factors;
    int32_t rope_type;
    int sign;
} rope_args;

static void rope_chunk(void *ctx, int64_t bt0, int64_t bt1, int worker) {
    const rope_args *a = ctx;
    const int64_t half = a->n_rot / 2, row = a->n_head * a->head_dim;
    for (int64_t bt = bt0; bt < bt1; bt++) {
        const double pos = (double)(a->pos0 + bt % a->T) * (double)a->freq_scale;
        float *xr = a->x + bt * row;
        for (int64_t i = 0; i < half; i++) {
            double theta = pos * pow((double)a->freq_base, -2.0 * (double)i / (double)a->n_rot);
            if (a->freq_factors) theta /= (double)a->freq_factors[i];
            const float c = (float)cos(theta), s = (float)(a->sign * sin(theta));
            for (int64_t h = 0; h < a->n_head; h++) {
                float *xh = xr + h * a->head_dim;
                int64_t i0 = a->rope_type == PL_ROPE_NEOX ? i : 2 * i;
                int64_t i1 = a->rope_type == PL_ROPE_NEOX ? i + half : 2 * i + 1;
                float u = xh[i0], v = xh[i1];
                xh[i0] = u * c - v * s;
                xh[i1] = u * s + v * c;
            }
        }
    }
}

void rope_apply(float *x, int64_t B, int64_t T, int64_t pos0, int64_t n_head, int64_t head_dim, int64_t n_rot,
                float freq_base, float freq_scale, const float *freq_factors, int32_t rope_type, int sign) {
    rope_args a = {x, T, pos0, n_head, head_dim, n_rot, freq_base, freq_scale, freq_factors, rope_type, sign};
    const int64_t rows = B * T;
    if (rows * n_head * head_dim <= 32768) rope_chunk(&a, 0, rows, 0);
    else pl_parallel_for(rows, pl_grain_for(rows, pl_threads(), 8, 1), pl_threads(), rope_chunk, &a);
}
