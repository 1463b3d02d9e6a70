/* Token embedding lookup (BF16 or F32 table) and its backward into an F32 table gradient. */
#include "kernels.cuh"
#include "kernel_util.cuh"

/* Threads per block of the backward: few, so that the dim columns spread over many blocks (SMs). */
#define EMB_BWD_THREADS 64

__host__ __device__ __forceinline__ float emb_to_float(float x) { return x; }
__host__ __device__ __forceinline__ float emb_to_float(bf16 x) { return __bfloat162float(x); }

/* out[t][i] = table[tokens[t]][i]: blocks loop over token rows, threads over the row's columns. */
template <typename T>
static __global__ void embedding_forward_kernel(float *__restrict__ out, const int32_t *__restrict__ tokens,
                                                int64_t n_tok, const T *__restrict__ table, int64_t dim) {
    for (int64_t t = blockIdx.x; t < n_tok; t += gridDim.x) {
        const T *src = table + (int64_t)tokens[t] * dim;
        float *dst = out + t * dim;
        for (int64_t i = threadIdx.x; i < dim; i += blockDim.x) dst[i] = emb_to_float(src[i]);
    }
}

/* Column i of the backward: dtable[tokens[t]][i] += dout[t][i] for t = 0, 1, … in order (embedding.c's order, so the
   same float additions and the same result bit for bit, repeated tokens included). */
__host__ __device__ static inline void embedding_backward_column(float *__restrict__ dtable,
                                                                 const int32_t *__restrict__ tokens,
                                                                 const float *__restrict__ dout, int64_t n_tok,
                                                                 int64_t dim, int64_t i) {
    for (int64_t t = 0; t < n_tok; t++) {
        float *d = dtable + (int64_t)tokens[t] * dim + i;
        *d = plc_fadd(*d, dout[t * dim + i]);
    }
}

/* dtable[tokens[t]] += dout[t]: each thread owns one column and adds the tokens in order (deterministic, no atomics). */
static __global__ void embedding_backward_kernel(float *__restrict__ dtable, const int32_t *__restrict__ tokens,
                                                 const float *__restrict__ dout, int64_t n_tok, int64_t dim) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < dim; i += (int64_t)gridDim.x * blockDim.x)
        embedding_backward_column(dtable, tokens, dout, n_tok, dim, i);
}

int32_t plc_embedding_forward(float *out, const int32_t *tokens, int64_t n_tok, const void *table, int table_bf16,
                              int64_t dim, cudaStream_t s) {
    if (n_tok <= 0 || dim <= 0) return PL_OK;
    const unsigned blocks = plc_row_blocks(n_tok);
    const int threads = plc_row_threads(dim, 256);
    if (table_bf16)
        embedding_forward_kernel<bf16><<<blocks, threads, 0, s>>>(out, tokens, n_tok, (const bf16 *)table, dim);
    else
        embedding_forward_kernel<float><<<blocks, threads, 0, s>>>(out, tokens, n_tok, (const float *)table, dim);
    PLC_LAUNCHED("embedding_forward");
    return PL_OK;
}

int32_t plc_embedding_backward(float *dtable, const int32_t *tokens, const float *dout, int64_t n_tok, int64_t dim,
                               cudaStream_t s) {
    if (n_tok <= 0 || dim <= 0) return PL_OK;
    embedding_backward_kernel<<<plc_blocks(dim, EMB_BWD_THREADS), EMB_BWD_THREADS, 0, s>>>(dtable, tokens, dout, n_tok,
                                                                                           dim);
    PLC_LAUNCHED("embedding_backward");
    return PL_OK;
}
