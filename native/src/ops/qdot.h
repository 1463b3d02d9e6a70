/* Decoding over quantized weights (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 and the K-quants Q2_K…Q6_K) with 8-bit activations and
   integer dot products (AVX2 / AVX512-VNNI), as llama.cpp's CPU backend does: the fast decode path of PL_MATMUL_BF16 and
   PL_MATMUL_AUTO (see matmul.c). Internal. */
#ifndef PL_OPS_QDOT_H
#define PL_OPS_QDOT_H

#include <stdint.h>

/* 1 if pl_qdot_forward_rows runs weights of this type with `in` columns on this CPU (AVX2 + F16C; the 32-weight types with
   in % 32 == 0, the K-quants with in % 256 == 0). */
int pl_qdot_supported(int32_t wtype, int64_t in);

/* y[t][o] (+)= sum_i W[o][i] x[t][i] for t < n_tok with x quantized to 8-bit blocks (of 32, or of 256 for the K-quants);
   PL_ERR_UNSUPPORTED when pl_qdot_supported says no. */
int32_t pl_qdot_forward_rows(int32_t wtype, const void *w, int64_t in, int64_t out, const float *x, int64_t n_tok, float *y,
                             int accumulate);

/* Up to PL_QDOT_MAX_JOBS products of the same input in one pass over the pool (a block's q, k, v, or its gate and up):
   y_j[t][o] (+)= sum_i W_j[o][i] x[t][i], the activations quantized once per block format. The same results as one
   pl_qdot_forward_rows per job. */
#define PL_QDOT_MAX_JOBS 4
typedef struct {
    int32_t wtype;
    const void *w;
    int64_t out;
    float *y; /* n_tok x out */
} pl_qdot_job;
int32_t pl_qdot_forward_multi(int n_jobs, const pl_qdot_job *jobs, int64_t in, const float *x, int64_t n_tok, int accumulate);

#endif
