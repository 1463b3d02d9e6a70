/* Helpers shared by the op kernels (convert, embedding, rmsnorm, rope, swiglu, cross_entropy, adamw): grid sizing,
   float arithmetic rounded one operation at a time, and deterministic block reductions. */
#ifndef PLC_KERNEL_UTIL_CUH
#define PLC_KERNEL_UTIL_CUH

#include <math.h>
#include "cuda_common.cuh"

/* Threads per block of the element-wise kernels. */
#define PLC_THREADS 256
/* At most this many blocks per launch; kernels loop (grid-stride) over the rest, so no size overflows a grid. */
#define PLC_MAX_BLOCKS 65535

/* Blocks for n work items at `threads` per block: ceil(n / threads), at least 1, at most PLC_MAX_BLOCKS. */
static inline unsigned plc_blocks(int64_t n, int threads) {
    const int64_t b = (n + threads - 1) / threads;
    return (unsigned)(b < 1 ? 1 : b > PLC_MAX_BLOCKS ? PLC_MAX_BLOCKS : b);
}

/* Threads per block of a one-block-per-row kernel over rows of n elements: a power of two from 32 to max_threads
   (≤ 1024), about 8 elements per thread. */
static inline int plc_row_threads(int64_t n, int max_threads) {
    int t = 32;
    while (t < max_threads && (int64_t)t * 8 < n) t *= 2;
    return t;
}

/* Blocks of a kernel whose blocks loop over n_rows rows: one per row, at most PLC_MAX_BLOCKS. */
static inline unsigned plc_row_blocks(int64_t n_rows) {
    return (unsigned)(n_rows < 1 ? 1 : n_rows > PLC_MAX_BLOCKS ? PLC_MAX_BLOCKS : n_rows);
}

/* nvcc contracts a*b + c into one FMA by default while the CPU twins are built with -ffp-contract=off; these round
   each operation on its own so that element-wise device results are the CPU's bit for bit (division and sqrt are
   IEEE-rounded by default and are not contracted). On the host they are the plain operators. */
__host__ __device__ __forceinline__ float plc_fmul(float a, float b) {
#ifdef __CUDA_ARCH__
    return __fmul_rn(a, b);
#else
    return a * b;
#endif
}
__host__ __device__ __forceinline__ float plc_fadd(float a, float b) {
#ifdef __CUDA_ARCH__
    return __fadd_rn(a, b);
#else
    return a + b;
#endif
}
__host__ __device__ __forceinline__ float plc_fsub(float a, float b) {
#ifdef __CUDA_ARCH__
    return __fsub_rn(a, b);
#else
    return a - b;
#endif
}
__host__ __device__ __forceinline__ double plc_dmul(double a, double b) {
#ifdef __CUDA_ARCH__
    return __dmul_rn(a, b);
#else
    return a * b;
#endif
}
__host__ __device__ __forceinline__ double plc_dadd(double a, double b) {
#ifdef __CUDA_ARCH__
    return __dadd_rn(a, b);
#else
    return a + b;
#endif
}

/* Reduction operators for plc_block_reduce. fmaxf is commutative and skips NaN, so every lane gets the same max. */
struct plc_sum_op {
    template <typename T> __device__ __forceinline__ T operator()(T a, T b) const { return a + b; }
};
struct plc_max_op {
    __device__ __forceinline__ float operator()(float a, float b) const { return fmaxf(a, b); }
};

/* Reduces v over the block (blockDim.x a multiple of 32, at most 1024) and returns the result to every thread.
   Butterfly (xor) shuffles in a fixed pattern: deterministic, and bit-identical in every lane because each step
   combines the same two values in both partners (op commutative). Contains __syncthreads: every thread of the block
   must call it, the same number of times; it may be called again right away (the leading barrier protects buf). */
template <typename T, typename Op>
__device__ __forceinline__ T plc_block_reduce(T v, Op op, T identity) {
    __shared__ T buf[32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, n_warps = blockDim.x >> 5;
    #pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
    __syncthreads();  /* the previous call's readers of buf are done */
    if (lane == 0) buf[warp] = v;
    __syncthreads();
    v = lane < n_warps ? buf[lane] : identity;
    #pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

#endif
