/* Softmax cross-entropy over the vocabulary: the twin of ops/cross_entropy.c. One block per row (rows up to a
   vocabulary of 256k, looped over by the block's threads); the max is exact, the Σ exp in double as the CPU's, so
   results differ from the CPU's only by the order of that sum. */
#include "kernels.cuh"
#include "kernel_util.cuh"

/* exp(l − max) in double (the subtraction in float), as cross_entropy.c. */
__host__ __device__ static inline double ce_exp(float l, float mx) { return exp((double)plc_fsub(l, mx)); }

/* scale·softmax: cross_entropy.c keeps e as a float first, then scales by 1/Σ and scale in double. */
__host__ __device__ static inline float ce_grad(double e, double inv, double sc) {
    return (float)((double)(float)e * inv * sc);
}

/* scale·(p_target − 1) for the target column, p_target from the float-rounded e as cross_entropy.c. */
__host__ __device__ static inline float ce_grad_target(double e, double inv, double sc) {
    const double p = (double)(float)e * inv;
    return (float)((p - 1.0) * sc);
}

/* nll = log Σ + max − l[target]. */
__host__ __device__ static inline float ce_nll(double sum, float mx, float lt) {
    return (float)(log(sum) + (double)mx - (double)lt);
}

/* The row's max (fmaxf: NaN entries are skipped; a NaN still poisons the sum, so nll is NaN as on the CPU). Every thread
   of the block calls it (it reduces over the block). */
__device__ __forceinline__ float ce_row_max(const float *__restrict__ l, int64_t n_vocab) {
    float mx = -INFINITY;
    for (int64_t v = threadIdx.x; v < n_vocab; v += blockDim.x) mx = fmaxf(mx, l[v]);
    return plc_block_reduce(mx, plc_max_op(), -INFINITY);
}

/* The row's Σ_v exp(l[v] − max) in double (a fixed order for a given block size: deterministic). */
__device__ __forceinline__ double ce_row_sum(const float *__restrict__ l, int64_t n_vocab, float mx) {
    double sum = 0.0;
    for (int64_t v = threadIdx.x; v < n_vocab; v += blockDim.x) sum += ce_exp(l[v], mx);
    return plc_block_reduce(sum, plc_sum_op(), 0.0);
}

/* nll[t] = log Σ_v exp(l[t][v] − max) + max − l[t][target[t]] (0 where target < 0): one block per row. */
static __global__ void cross_entropy_forward_kernel(float *__restrict__ nll, const float *__restrict__ logits,
                                                    const int32_t *__restrict__ targets, int64_t n_tok,
                                                    int64_t n_vocab) {
    for (int64_t t = blockIdx.x; t < n_tok; t += gridDim.x) {
        const int32_t target = targets[t];  /* the same in every thread: the branch is uniform over the block */
        if (target < 0) {
            if (threadIdx.x == 0) nll[t] = 0.0f;
            continue;
        }
        const float *l = logits + t * n_vocab;
        const float mx = ce_row_max(l, n_vocab);
        const double sum = ce_row_sum(l, n_vocab, mx);
        if (threadIdx.x == 0) nll[t] = ce_nll(sum, mx, l[target]);
    }
}

/* Training, one block per row: max and Σ first, then one sweep writing d[v] = scale·(e_v/Σ − [v = target]) over the
   logits (in place) and into d_bf16 (opt); nll (opt) as the forward. Rows with target < 0: zeros, nll 0. */
static __global__ void cross_entropy_fused_kernel(float *__restrict__ nll, float *__restrict__ logits,
                                                  bf16 *__restrict__ d_bf16, const int32_t *__restrict__ targets,
                                                  int64_t n_tok, int64_t n_vocab, float scale) {
    for (int64_t t = blockIdx.x; t < n_tok; t += gridDim.x) {
        const int32_t target = targets[t];  /* uniform over the block */
        float *l = logits + t * n_vocab;
        bf16 *db = d_bf16 ? d_bf16 + t * n_vocab : NULL;
        if (target < 0) {
            for (int64_t v = threadIdx.x; v < n_vocab; v += blockDim.x) {
                l[v] = 0.0f;
                if (db) db[v] = __float2bfloat16_rn(0.0f);
            }
            if (nll && threadIdx.x == 0) nll[t] = 0.0f;
            continue;
        }
        /* l[target] is read here, before the barriers inside the reductions; it (and every l[v]) is overwritten only in
           the sweep after them, by the thread that owns v, which reads l[v] first. */
        const float lt = l[target];
        const float mx = ce_row_max(l, n_vocab);
        const double sum = ce_row_sum(l, n_vocab, mx);
        const double inv = 1.0 / sum, sc = (double)scale;
        for (int64_t v = threadIdx.x; v < n_vocab; v += blockDim.x) {
            const double e = ce_exp(l[v], mx);
            const float d = v == target ? ce_grad_target(e, inv, sc) : ce_grad(e, inv, sc);
            l[v] = d;
            if (db) db[v] = __float2bfloat16_rn(d);
        }
        if (nll && threadIdx.x == 0) nll[t] = ce_nll(sum, mx, lt);
    }
}

int32_t plc_cross_entropy_forward(float *nll, const float *logits, const int32_t *targets, int64_t n_tok,
                                  int64_t n_vocab, cudaStream_t s) {
    if (n_tok <= 0 || n_vocab <= 0) return PL_OK;
    cross_entropy_forward_kernel<<<plc_row_blocks(n_tok), plc_row_threads(n_vocab, 1024), 0, s>>>(nll, logits, targets,
                                                                                                   n_tok, n_vocab);
    PLC_LAUNCHED("cross_entropy_forward");
    return PL_OK;
}

int32_t plc_cross_entropy_fused(float *nll, float *logits, bf16 *dlogits_bf16, const int32_t *targets, int64_t n_tok,
                                int64_t n_vocab, float scale, cudaStream_t s) {
    if (n_tok <= 0 || n_vocab <= 0) return PL_OK;
    cross_entropy_fused_kernel<<<plc_row_blocks(n_tok), plc_row_threads(n_vocab, 1024), 0, s>>>(
        nll, logits, dlogits_bf16, targets, n_tok, n_vocab, scale);
    PLC_LAUNCHED("cross_entropy_fused");
    return PL_OK;
}
