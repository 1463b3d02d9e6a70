/* panlora's own F32 GEMM (used when no BLAS is linked, and by tests of every kernel).
   Cache-blocked (KC x NC panels of B, MC x KC blocks of A, both packed), register-tiled micro-kernels
   chosen at run time: AVX-512 6x32, AVX2+FMA 6x16, portable 6x8. Internal; arguments are assumed valid. */
#ifndef PL_OPS_SGEMM_H
#define PL_OPS_SGEMM_H

#include <stdint.h>

/* Which micro-kernel pl_sgemm_own uses (AUTO: the best this CPU runs). */
enum pl_gemm_kernel {
    PL_GEMM_AUTO = 0,
    PL_GEMM_SCALAR = 1,
    PL_GEMM_AVX2 = 2,
    PL_GEMM_AVX512 = 3
};

/* 1 if this CPU runs the given kernel (AUTO and SCALAR always). */
int pl_gemm_kernel_available(int kernel);

/* C[M][N] = alpha * op(A) * op(B) + beta * C (row-major, as pl_sgemm) with the given kernel; beta = 0 never reads C.
   Each element's sum order depends only on K, so results do not depend on the thread count.
   Fails only with PL_ERR_OUT_OF_MEMORY (packing buffers) or for a kernel this CPU lacks. */
int32_t pl_sgemm_own(int kernel, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                     const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C, int64_t ldc);

#endif
