/* BF16 GEMM with F32 accumulation (AVX512-BF16): the base weights' products when the matmul mode is BF16
   (see matmul.c). Internal; arguments are assumed valid. */
#ifndef PL_OPS_BGEMM_H
#define PL_OPS_BGEMM_H

#include <stdint.h>

/* 1 if this CPU runs pl_bgemm (AVX512-BF16 with AVX512-BW/VL). */
int pl_bgemm_available(void);

/* f rounded to BF16 (nearest even) and back to F32: what pl_bgemm multiplies. */
float pl_bf16_round(float f);

/* Bytes of packed panels pl_bgemm takes from the calling thread's scratch for an M x N x K product. */
int64_t pl_bgemm_scratch_bytes(int64_t M, int64_t N, int64_t K);

/* C[M][N] = alpha * op(A) op(B) + beta * C (row-major, as pl_sgemm) with op(A) and op(B) rounded to BF16 and F32
   accumulation; beta = 0 never reads C. Results do not depend on the thread count. Fails with PL_ERR_UNSUPPORTED on a
   CPU without AVX512-BF16 and PL_ERR_OUT_OF_MEMORY when the packed panels cannot be allocated. */
int32_t pl_bgemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float *A, int64_t lda,
                 const float *B, int64_t ldb, float beta, float *C, int64_t ldc);

#endif
