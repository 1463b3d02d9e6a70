/* SwiGLU activation of the LLaMA FFN, h = silu(gate)·up, forward and backward: the twin of ops/swiglu.c (expf in
   float as it uses; the device's expf is within 2 ulp of the host's, every other operation rounds as the CPU's). */
#include "kernels.cuh"
#include "kernel_util.cuh"

/* h = g / (1 + e^−g) · u, as swiglu.c. */
__host__ __device__ static inline float swiglu_h(float g, float u) {
    return plc_fmul(g / plc_fadd(1.0f, expf(-g)), u);
}

/* dg = dh·u·σ(g)·(1 + g(1 − σ(g))), du = dh·silu(g), each operation as swiglu.c. */
__host__ __device__ static inline void swiglu_grads(float dh, float g, float u, float *dg, float *du) {
    const float sig = 1.0f / plc_fadd(1.0f, expf(-g));
    const float silu = plc_fmul(g, sig);
    *dg = plc_fmul(plc_fmul(dh, u), plc_fmul(sig, plc_fadd(1.0f, plc_fmul(g, plc_fsub(1.0f, sig)))));
    *du = plc_fmul(dh, silu);
}

/* h[i] = silu(g[i])·u[i]; h_bf16[i] the same in BF16 when h_bf16 is non-NULL. */
static __global__ void swiglu_forward_kernel(float *h, bf16 *h_bf16, const float *g, const float *u, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        const float hi = swiglu_h(g[i], u[i]);
        h[i] = hi;
        if (h_bf16) h_bf16[i] = __float2bfloat16_rn(hi);
    }
}

/* dg[i] = dh·u·σ(g)·(1 + g(1−σ(g))), du[i] = dh·silu(g). No __restrict__: dg/du may alias dh, g or u element-wise
   (each element's inputs are read before its outputs are written). */
static __global__ void swiglu_backward_kernel(float *dg, float *du, const float *dh, const float *g, const float *u,
                                              int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        float dgi, dui;
        swiglu_grads(dh[i], g[i], u[i], &dgi, &dui);
        dg[i] = dgi;
        du[i] = dui;
    }
}

int32_t plc_swiglu_forward(float *h, bf16 *h_bf16, const float *g, const float *u, int64_t n, cudaStream_t s) {
    if (n <= 0) return PL_OK;
    swiglu_forward_kernel<<<plc_blocks(n, PLC_THREADS), PLC_THREADS, 0, s>>>(h, h_bf16, g, u, n);
    PLC_LAUNCHED("swiglu_forward");
    return PL_OK;
}

int32_t plc_swiglu_backward(float *dg, float *du, const float *dh, const float *g, const float *u, int64_t n,
                            cudaStream_t s) {
    if (n <= 0) return PL_OK;
    swiglu_backward_kernel<<<plc_blocks(n, PLC_THREADS), PLC_THREADS, 0, s>>>(dg, du, dh, g, u, n);
    PLC_LAUNCHED("swiglu_backward");
    return PL_OK;
}
