/* Rotary position embedding (RoPE), llama.cpp's normal (adjacent pairs) and NeoX (halves) layouts. */
#include <math.h>
#include "common.h"
#include "ops/ops.h"

/* Rotates pairs of each head by pos·scale·base^(-2i/n_rot); sign -1 applies the inverse rotation (the backward). */
/* Backward: out = R(pos)·x with R orthogonal, so dx = R(pos)ᵀ·dout = R(−pos)·dout: rope_apply(dout, ..., sign = -1). */
void rope_apply(float *x, int64_t B, int64_t T, int64_t pos0, int64_t n_head, int64_t head_dim, int64_t n_rot,
                float freq_base, float freq_scale, const float *freq_factors, int32_t rope_type, int sign) {
    const int64_t half = n_rot / 2;
    const int64_t row = n_head * head_dim;
    #pragma omp parallel for num_threads(pl_threads()) schedule(static) if (B * T * row > 32768)
    for (int64_t bt = 0; bt < B * T; bt++) {
        const double pos = (double)(pos0 + bt % T) * (double)freq_scale;
        float *xr = x + bt * row;
        for (int64_t i = 0; i < half; i++) {
            double theta = pos * pow((double)freq_base, -2.0 * (double)i / (double)n_rot);
            if (freq_factors) theta /= (double)freq_factors[i];
            const float c = (float)cos(theta), s = (float)(sign * sin(theta));
            for (int64_t h = 0; h < n_head; h++) {
                float *xh = xr + h * head_dim;
                int64_t i0 = rope_type == PL_ROPE_NEOX ? i : 2 * i;
                int64_t i1 = rope_type == PL_ROPE_NEOX ? i + half : 2 * i + 1;
                float a = xh[i0], b = xh[i1];
                xh[i0] = a * c - b * s;
                xh[i1] = a * s + b * c;
            }
        }
    }
}
