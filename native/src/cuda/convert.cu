/* Conversions between F32 and BF16, the residual add and zeroing: element-wise, grid-stride over int64 n. */
#include "kernels.cuh"
#include "kernel_util.cuh"

/* dst[i] = bf16(src[i]), round to nearest even. */
static __global__ void f32_to_bf16_kernel(bf16 *__restrict__ dst, const float *__restrict__ src, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        dst[i] = __float2bfloat16_rn(src[i]);
}

/* dst[i] = float(src[i]) (exact). */
static __global__ void bf16_to_f32_kernel(float *__restrict__ dst, const bf16 *__restrict__ src, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        dst[i] = __bfloat162float(src[i]);
}

/* out[i] = out[i] + x[i]. */
static __global__ void residual_add_kernel(float *__restrict__ out, const float *__restrict__ x, int64_t n) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        out[i] = plc_fadd(out[i], x[i]);
}

int32_t plc_f32_to_bf16(bf16 *dst, const float *src, int64_t n, cudaStream_t s) {
    if (n <= 0) return PL_OK;
    f32_to_bf16_kernel<<<plc_blocks(n, PLC_THREADS), PLC_THREADS, 0, s>>>(dst, src, n);
    PLC_LAUNCHED("f32_to_bf16");
    return PL_OK;
}

int32_t plc_bf16_to_f32(float *dst, const bf16 *src, int64_t n, cudaStream_t s) {
    if (n <= 0) return PL_OK;
    bf16_to_f32_kernel<<<plc_blocks(n, PLC_THREADS), PLC_THREADS, 0, s>>>(dst, src, n);
    PLC_LAUNCHED("bf16_to_f32");
    return PL_OK;
}

int32_t plc_residual_add(float *out, const float *x, int64_t n, cudaStream_t s) {
    if (n <= 0) return PL_OK;
    residual_add_kernel<<<plc_blocks(n, PLC_THREADS), PLC_THREADS, 0, s>>>(out, x, n);
    PLC_LAUNCHED("residual_add");
    return PL_OK;
}

int32_t plc_zero(float *x, int64_t n, cudaStream_t s) {
    if (n <= 0) return PL_OK;
    PLC_CUDA(cudaMemsetAsync(x, 0, (size_t)n * sizeof(float), s), "zero");
    return PL_OK;
}
