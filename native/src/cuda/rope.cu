/* Rotary position embedding (RoPE), llama.cpp's normal (adjacent pairs) and NeoX (halves) layouts: the twin of
   ops/rope.c, angles in double as it computes them. The backward is the same launch with sign = -1. */
#include "kernels.cuh"
#include "kernel_util.cuh"

/* cos and sign·sin of pair i's angle θ = (pos·scale)·base^(−2i/n_rot) / factor, in double then rounded to float, as
   rope.c (factor = freq_factors[i], or 1 when there are none: θ/1 is θ exactly). */
__host__ __device__ static inline void rope_cos_sin(int64_t pos, int64_t i, int64_t n_rot, float freq_base,
                                                    float freq_scale, float factor, int sign, float *c, float *s) {
    const double p = (double)pos * (double)freq_scale;
    double theta = p * pow((double)freq_base, -2.0 * (double)i / (double)n_rot);
    theta /= (double)factor;
    *c = (float)cos(theta);
    *s = (float)((double)sign * sin(theta));
}

/* One pair (a, b) ← (a·c − b·s, a·s + b·c), each operation rounded as rope.c. */
__host__ __device__ static inline void rope_rotate(float *a, float *b, float c, float s) {
    const float x0 = *a, x1 = *b;
    *a = plc_fsub(plc_fmul(x0, c), plc_fmul(x1, s));
    *b = plc_fadd(plc_fmul(x0, s), plc_fmul(x1, c));
}

/* Work item j of the rotation, j < B·T·(n_rot/2): token bt = j / half, pair i = j % half, every head of that token. */
__host__ __device__ static inline void rope_item(float *__restrict__ x, int64_t j, int64_t T, int64_t pos0,
                                                 int64_t n_head, int64_t head_dim, int64_t n_rot, float freq_base,
                                                 float freq_scale, const float *__restrict__ freq_factors,
                                                 int32_t rope_type, int sign) {
    const int64_t half = n_rot / 2;
    const int64_t bt = j / half, i = j % half;
    float c, s;
    rope_cos_sin(pos0 + bt % T, i, n_rot, freq_base, freq_scale, freq_factors ? freq_factors[i] : 1.0f, sign, &c, &s);
    const int64_t i0 = rope_type == PL_ROPE_NEOX ? i : 2 * i;
    const int64_t i1 = rope_type == PL_ROPE_NEOX ? i + half : 2 * i + 1;
    float *xr = x + bt * (n_head * head_dim);
    for (int64_t h = 0; h < n_head; h++) rope_rotate(xr + h * head_dim + i0, xr + h * head_dim + i1, c, s);
}

/* x[b][t][h][pair i] ← R(±θ(pos0+t, i))·x[b][t][h][pair i]: one thread per (token, pair), looping over the heads. */
static __global__ void rope_kernel(float *__restrict__ x, int64_t n_items, int64_t T, int64_t pos0, int64_t n_head,
                                   int64_t head_dim, int64_t n_rot, float freq_base, float freq_scale,
                                   const float *__restrict__ freq_factors, int32_t rope_type, int sign) {
    for (int64_t j = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; j < n_items; j += (int64_t)gridDim.x * blockDim.x)
        rope_item(x, j, T, pos0, n_head, head_dim, n_rot, freq_base, freq_scale, freq_factors, rope_type, sign);
}

int32_t plc_rope(float *x, int64_t B, int64_t T, int64_t pos0, int64_t n_head, int64_t head_dim, int64_t n_rot,
                 float freq_base, float freq_scale, const float *freq_factors, int32_t rope_type, int sign,
                 cudaStream_t s) {
    const int64_t half = n_rot / 2;
    if (B <= 0 || T <= 0 || n_head <= 0 || half <= 0) return PL_OK;
    const int64_t n_items = B * T * half;
    rope_kernel<<<plc_blocks(n_items, PLC_THREADS), PLC_THREADS, 0, s>>>(x, n_items, T, pos0, n_head, head_dim, n_rot,
                                                                         freq_base, freq_scale, freq_factors,
                                                                         rope_type, sign);
    PLC_LAUNCHED("rope");
    return PL_OK;
}
