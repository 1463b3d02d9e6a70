/* Matrix products: F32 GEMM and linear layers over (possibly quantized) weights.
   Row-major throughout. These internal entry points assume validated arguments. */
#ifndef PL_OPS_MATMUL_H
#define PL_OPS_MATMUL_H

#include <stdint.h>

/* C[M][N] = alpha * op(A)[M][K] * op(B)[K][N] + beta * C, row-major; op(X) = X or Xᵀ (trans != 0).
   lda/ldb/ldc are row strides of the stored matrices. Multi-threaded; deterministic for a thread count. */
int32_t pl_sgemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                 const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);

/* y[t][o] (+)= sum_i W[o][i] x[t][i]: W is out rows of in elements of wtype (dequantized on the fly).
   accumulate != 0 adds into y instead of overwriting. */
int32_t pl_linear_forward(int32_t wtype, const void *w, int64_t in, int64_t out,
                          const float *x, int64_t n_tok, float *y, int accumulate);

/* dx[t][i] (+)= sum_o W[o][i] dy[t][o]: the input gradient through a frozen (possibly quantized) W. */
int32_t pl_linear_backward_input(int32_t wtype, const void *w, int64_t in, int64_t out,
                                 const float *dy, int64_t n_tok, float *dx, int accumulate);

/* 1 when the base weights' products run in BF16 now (pl_set_matmul resolved; 0 on a CPU without AVX512-BF16). */
int pl_matmul_bf16(void);

/* 1 unless the precision is PL_MATMUL_F32: the fast decode path (8-bit activations over Q8_0/Q4_0/Q4_K/Q6_K weights) may run. */
int pl_matmul_fast(void);
/* 1 if pl_base_linear_forward of this weight type, width and token count takes the 8-bit decode path, so that several
   such products of one input may run as one pl_qdot_forward_multi. */
int pl_base_linear_fusable(int32_t wtype, int64_t in, int64_t n_tok);

/* pl_linear_forward / pl_linear_backward_input for a frozen base weight: the same, in BF16 when pl_matmul_bf16()
   and n_tok exceeds the decode paths' 4 tokens; the forward of up to 4 tokens over Q8_0/Q4_0/Q4_K/Q6_K weights with 8-bit
   activations and integer dots when pl_matmul_fast() (ops/qdot.c). */
int32_t pl_base_linear_forward(int32_t wtype, const void *w, int64_t in, int64_t out,
                               const float *x, int64_t n_tok, float *y, int accumulate);
int32_t pl_base_linear_backward_input(int32_t wtype, const void *w, int64_t in, int64_t out,
                                      const float *dy, int64_t n_tok, float *dx, int accumulate);

#endif
