/* Matrix products on the device through cuBLASLt (loaded at run time, see cublaslt.h). */
#ifndef PLC_GEMM_CUH
#define PLC_GEMM_CUH

#include "cuda_common.cuh"

/* Element types of GEMM inputs. */
enum { PLC_F32 = 0, PLC_BF16 = 1 };

/* C[M][N] = alpha·op(A)[M][K]·op(B)[K][N] + beta·C, row-major like pl_sgemm (op(X) = Xᵀ when trans != 0; lda, ldb,
   ldc are the row strides of the stored matrices). A and B are both ab_type (F32 or BF16); C is F32; accumulation in
   F32 (F32 inputs: full F32, no TF32). beta = 1 adds into C (how the LoRA term joins the base output). */
int32_t plc_gemm(plc_ctx *c, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha, const void *A,
                 int64_t lda, const void *B, int64_t ldb, int ab_type, float beta, float *C, int64_t ldc);

/* Loads cuBLASLt (once) and creates the context's handle and workspace; the reason in err on failure. */
int32_t plc_gemm_init(plc_ctx *c, char *err, size_t err_len);
/* Loads cuBLASLt once (no GPU needed); 1 on success, else 0 with one sentence in err. */
int plc_lt_preload(char *err, size_t err_len);
/* Times a square BF16 GEMM (C = A·Bᵀ, F32 accumulation) of size n on a device; TFLOP/s. */
int32_t plc_bench_gemm(int device, int64_t n, int32_t reps, double *tflops);
/* The loaded cuBLASLt's version and the path it came from. */
size_t plc_cublaslt_version(void);
const char *plc_cublaslt_path(void);

#endif
