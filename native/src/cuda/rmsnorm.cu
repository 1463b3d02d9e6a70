/* RMSNorm: y = x / rms(x) * w, forward and backward (the twin of ops/rmsnorm.c; row sums in double as it does). */
#include "kernels.cuh"
#include "kernel_util.cuh"

/* Threads per block of the dw kernel (one thread per column): few, so that the columns spread over many SMs. */
#define RMS_DW_THREADS 64

/* rstd = 1/sqrt(Σx²/dim + eps) from the row's Σx² in double, as rmsnorm.c. */
__host__ __device__ static inline float rmsnorm_rstd(double ss, int64_t dim, float eps) {
    return (float)(1.0 / sqrt(ss / (double)dim + (double)eps));
}

/* out = (x·rstd)·w, rounded per operation as rmsnorm.c. */
__host__ __device__ static inline float rmsnorm_out(float x, float r, float w) { return plc_fmul(plc_fmul(x, r), w); }

/* The row's coefficient of x in dx: c = dot·rstd³/dim with dot = Σ dout·w·x (double), as rmsnorm.c. */
__host__ __device__ static inline float rmsnorm_dx_coef(double dot, float r, int64_t dim) {
    return (float)(dot * (double)r * (double)r * (double)r / (double)dim);
}

/* dx + (rstd·(w·dout) − c·x), each operation rounded as rmsnorm.c. */
__host__ __device__ static inline float rmsnorm_dx(float dx, float r, float w, float dout, float c, float x) {
    return plc_fadd(dx, plc_fsub(plc_fmul(r, plc_fmul(w, dout)), plc_fmul(c, x)));
}

/* Column i of dw: dw[i] += Σ_t (dout[t][i]·x[t][i])·rstd[t], summed in double over t in order (rmsnorm.c's order and
   operations, so the result is the CPU's bit for bit). */
__host__ __device__ static inline void rmsnorm_dw_column(float *__restrict__ dw, const float *__restrict__ dout,
                                                         const float *__restrict__ x, const float *__restrict__ rstd,
                                                         int64_t n_tok, int64_t dim, int64_t i) {
    double acc = 0.0;
#ifdef __CUDA_ARCH__
    #pragma unroll 4 /* independent loads of the next tokens in flight; the sum itself stays in order */
#endif
    for (int64_t t = 0; t < n_tok; t++)
        acc = plc_dadd(acc, plc_dmul((double)plc_fmul(dout[t * dim + i], x[t * dim + i]), (double)rstd[t]));
    dw[i] = plc_fadd(dw[i], (float)acc);
}

/* out[t] = x[t]·rstd[t]·w, rstd[t] = 1/sqrt(mean(x[t]²) + eps): one block per row (blocks loop over rows). */
static __global__ void rmsnorm_forward_kernel(float *__restrict__ out, bf16 *__restrict__ out_bf16,
                                              float *__restrict__ rstd, const float *__restrict__ x,
                                              const float *__restrict__ w, int64_t n_tok, int64_t dim, float eps) {
    for (int64_t t = blockIdx.x; t < n_tok; t += gridDim.x) {
        const float *xt = x + t * dim;
        double ss = 0.0;
        for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
            const double xi = (double)xt[i];
            ss += xi * xi;
        }
        ss = plc_block_reduce(ss, plc_sum_op(), 0.0);
        const float r = rmsnorm_rstd(ss, dim, eps);
        if (rstd && threadIdx.x == 0) rstd[t] = r;
        float *ot = out + t * dim;
        bf16 *bt = out_bf16 ? out_bf16 + t * dim : NULL;
        for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) {
            const float o = rmsnorm_out(xt[i], r, w[i]);
            ot[i] = o;
            if (bt) bt[i] = __float2bfloat16_rn(o);
        }
    }
}

/* dx[t] += rstd·(w⊙dout[t]) − (rstd³/dim)·(Σ_i dout·w·x)·x[t]: one block per row, the dot a block reduction. */
static __global__ void rmsnorm_backward_dx_kernel(float *__restrict__ dx, const float *__restrict__ dout,
                                                  const float *__restrict__ x, const float *__restrict__ w,
                                                  const float *__restrict__ rstd, int64_t n_tok, int64_t dim) {
    for (int64_t t = blockIdx.x; t < n_tok; t += gridDim.x) {
        const float *xt = x + t * dim, *dt = dout + t * dim;
        double dot = 0.0;
        for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) dot += (double)dt[i] * (double)w[i] * (double)xt[i];
        dot = plc_block_reduce(dot, plc_sum_op(), 0.0);
        const float r = rstd[t];
        const float c = rmsnorm_dx_coef(dot, r, dim);
        float *dxt = dx + t * dim;
        for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) dxt[i] = rmsnorm_dx(dxt[i], r, w[i], dt[i], c, xt[i]);
    }
}

/* dw[i] += Σ_t dout[t][i]·x[t][i]·rstd[t]: one thread per column, tokens in order (deterministic). */
static __global__ void rmsnorm_backward_dw_kernel(float *__restrict__ dw, const float *__restrict__ dout,
                                                  const float *__restrict__ x, const float *__restrict__ rstd,
                                                  int64_t n_tok, int64_t dim) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < dim; i += (int64_t)gridDim.x * blockDim.x)
        rmsnorm_dw_column(dw, dout, x, rstd, n_tok, dim, i);
}

int32_t plc_rmsnorm_forward(float *out, bf16 *out_bf16, float *rstd, const float *x, const float *w, int64_t n_tok,
                            int64_t dim, float eps, cudaStream_t s) {
    if (n_tok <= 0 || dim <= 0) return PL_OK;
    rmsnorm_forward_kernel<<<plc_row_blocks(n_tok), plc_row_threads(dim, 512), 0, s>>>(out, out_bf16, rstd, x, w,
                                                                                        n_tok, dim, eps);
    PLC_LAUNCHED("rmsnorm_forward");
    return PL_OK;
}

int32_t plc_rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *w, const float *rstd,
                             int64_t n_tok, int64_t dim, cudaStream_t s) {
    if (n_tok <= 0 || dim <= 0) return PL_OK;
    rmsnorm_backward_dx_kernel<<<plc_row_blocks(n_tok), plc_row_threads(dim, 512), 0, s>>>(dx, dout, x, w, rstd,
                                                                                            n_tok, dim);
    PLC_LAUNCHED("rmsnorm_backward (dx)");
    if (dw) {
        rmsnorm_backward_dw_kernel<<<plc_blocks(dim, RMS_DW_THREADS), RMS_DW_THREADS, 0, s>>>(dw, dout, x, rstd, n_tok,
                                                                                            dim);
        PLC_LAUNCHED("rmsnorm_backward (dw)");
    }
    return PL_OK;
}
