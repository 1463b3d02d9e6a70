/* AdamW (the twin of adamw in train.c, the same float operations, so the same result bit for bit) and the
   deterministic Σx² of the gradient norm. */
#include "kernels.cuh"
#include "kernel_util.cuh"

/* plc_sumsq's fixed grid: its per-thread order and the order of the partials depend only on n. */
#define SUMSQ_BLOCKS 256
#define SUMSQ_THREADS 256

/* Per-block partial sums of plc_sumsq. One array per device (each context has its own copy of this module), shared by
   every call on that device: calls must be ordered (one stream per device, as the backend uses), never concurrent. */
static __device__ double plc_sumsq_partials[SUMSQ_BLOCKS];

/* One element: g' = grad_scale·g; m = β1·m + (1−β1)·g'; v = β2·v + (1−β2)·g'·g'; w −= lr·((m/bc1)/(√(v/bc2) + ε) + wd·w),
   each operation rounded as train.c's adamw (no contraction into FMA; IEEE division and sqrtf). */
__host__ __device__ static inline void adamw_update(float *w, float g, float *m, float *v, float lr, float beta1,
                                                    float beta2, float eps, float weight_decay, float grad_scale,
                                                    float bc1, float bc2) {
    const float gi = plc_fmul(g, grad_scale);
    const float mi = plc_fadd(plc_fmul(beta1, *m), plc_fmul(plc_fsub(1.0f, beta1), gi));
    const float vi = plc_fadd(plc_fmul(beta2, *v), plc_fmul(plc_fmul(plc_fsub(1.0f, beta2), gi), gi));
    *m = mi;
    *v = vi;
    const float mh = mi / bc1, vh = vi / bc2;
    const float wi = *w;
    *w = plc_fsub(wi, plc_fmul(lr, plc_fadd(mh / plc_fadd(sqrtf(vh), eps), plc_fmul(weight_decay, wi))));
}

/* w, m, v updated by AdamW with the gradient g, element-wise. */
static __global__ void adamw_kernel(float *__restrict__ w, const float *__restrict__ g, float *__restrict__ m,
                                    float *__restrict__ v, int64_t n, float lr, float beta1, float beta2, float eps,
                                    float weight_decay, float grad_scale, float bc1, float bc2) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
        adamw_update(&w[i], g[i], &m[i], &v[i], lr, beta1, beta2, eps, weight_decay, grad_scale, bc1, bc2);
}

/* partials[block] = Σ x[i]² (double) over the block's grid-stride share of i. */
static __global__ void sumsq_partials_kernel(const float *__restrict__ x, int64_t n) {
    double s = 0.0;
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        const double xi = (double)x[i];
        s += xi * xi;
    }
    s = plc_block_reduce(s, plc_sum_op(), 0.0);
    if (threadIdx.x == 0) plc_sumsq_partials[blockIdx.x] = s;
}

/* *out = Σ_b partials[b], one block of SUMSQ_BLOCKS threads (a fixed reduction tree). */
static __global__ void sumsq_final_kernel(double *__restrict__ out) {
    const double s = plc_block_reduce(plc_sumsq_partials[threadIdx.x], plc_sum_op(), 0.0);
    if (threadIdx.x == 0) *out = s;
}

int32_t plc_adamw(float *w, const float *g, float *m, float *v, int64_t n, float lr, float beta1, float beta2,
                  float eps, float weight_decay, float grad_scale, float bc1, float bc2, cudaStream_t s) {
    if (n <= 0) return PL_OK;
    adamw_kernel<<<plc_blocks(n, PLC_THREADS), PLC_THREADS, 0, s>>>(w, g, m, v, n, lr, beta1, beta2, eps, weight_decay,
                                                                    grad_scale, bc1, bc2);
    PLC_LAUNCHED("adamw");
    return PL_OK;
}

int32_t plc_sumsq(double *out, const float *x, int64_t n, cudaStream_t s) {
    if (n <= 0) {  /* the sum of nothing: still written, the caller reads *out */
        PLC_CUDA(cudaMemsetAsync(out, 0, sizeof(double), s), "sumsq");
        return PL_OK;
    }
    sumsq_partials_kernel<<<SUMSQ_BLOCKS, SUMSQ_THREADS, 0, s>>>(x, n);
    PLC_LAUNCHED("sumsq (partials)");
    sumsq_final_kernel<<<1, SUMSQ_BLOCKS, 0, s>>>(out);
    PLC_LAUNCHED("sumsq (final)");
    return PL_OK;
}
