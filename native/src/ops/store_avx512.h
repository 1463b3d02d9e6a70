/* The 16-float store of the AVX-512 GEMM micro-kernels (sgemm.c's F32 tile, bgemm.c's BF16 tile): p = alpha * acc
   (+ beta * p when read). Internal; include only from x86 builds. */
#ifndef PL_OPS_STORE_AVX512_H
#define PL_OPS_STORE_AVX512_H

#include <immintrin.h>

__attribute__((target("avx512f"))) static inline void pl_store16_avx512(float *p, __m512 acc, __m512 valpha, __m512 vbeta,
                                                                       int read) {
    if (read) {
        _mm512_storeu_ps(p, _mm512_fmadd_ps(acc, valpha, _mm512_mul_ps(vbeta, _mm512_loadu_ps(p))));
    } else {
        _mm512_storeu_ps(p, _mm512_mul_ps(acc, valpha));
    }
}

#endif
