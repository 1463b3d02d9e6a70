/* OpenBLAS loaded at run time (dlopen), never linked: the library loads on machines without it.
   Used only when PANLORA_GEMM=openblas asks for it; otherwise nothing is loaded. */
#ifndef PL_OPS_OPENBLAS_H
#define PL_OPS_OPENBLAS_H

/* CBLAS's enum values (cblas.h), passed as ints: the ABI of OpenBLAS's 32-bit-integer interface. */
#define PL_CBLAS_ROW_MAJOR 101
#define PL_CBLAS_NO_TRANS 111
#define PL_CBLAS_TRANS 112

typedef void (*pl_cblas_sgemm_fn)(int order, int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                                  int lda, const float *B, int ldb, float beta, float *C, int ldc);

typedef struct {
    pl_cblas_sgemm_fn sgemm;        /* cblas_sgemm */
    int (*get_num_threads)(void);   /* openblas_get_num_threads, or NULL when the library lacks it */
    void (*set_num_threads)(int);   /* openblas_set_num_threads, or NULL */
} pl_openblas;

/* OpenBLAS's entry points when PANLORA_GEMM=openblas asked for them and they could be loaded; NULL otherwise
   (not asked for, not found, or a build with PANLORA_BLAS=OFF). Loaded once per process, thread-safe. The library
   searched for: PANLORA_OPENBLAS_LIBRARY (a file or soname), else libopenblas.so.0, then libopenblas.so. */
const pl_openblas *pl_openblas_get(void);

/* The BLAS field of pl_build_info, fixed after the first call: "openblas (FILE, loaded at run time)" when loaded,
   "none" when not asked for, or "none (SENTENCE)" when asked for and not loadable, the sentence saying why and that
   panlora's own GEMM runs instead. */
const char *pl_openblas_describe(void);

#endif
