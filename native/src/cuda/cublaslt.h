/* The part of cuBLASLt's C interface that panlora uses, declared here because the library is loaded at run time
   (cublaslt_loader.c) and NVIDIA's cublasLt.h is not needed to build. Values and signatures are those of cuBLASLt 12
   and 13 (checked against cublasLt.h, cublas_api.h of cuBLAS 13.1 and CUDA 13.0's library_types.h); they are part of
   NVIDIA's ABI and never change between releases.
   Our names carry the plc_lt_ / PLC_LT_ prefix, with NVIDIA's name beside each: cuda_runtime.h already defines
   cudaDataType (CUDA_R_32F …), and a file that one day includes the real cublasLt.h must not clash with these.
   Plain C and C++ (nvcc): no CUDA header is needed, a stream is passed as void * (cudaStream_t is a pointer). */
#ifndef PLC_CUBLASLT_H
#define PLC_CUBLASLT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- handles and descriptors: pointers to library-owned objects ---- */
typedef struct plc_lt_context *plc_lt_handle;             /* cublasLtHandle_t */
typedef struct plc_lt_matmul_desc_s *plc_lt_matmul_desc;  /* cublasLtMatmulDesc_t */
typedef struct plc_lt_layout_s *plc_lt_layout;            /* cublasLtMatrixLayout_t */
typedef struct plc_lt_preference_s *plc_lt_preference;    /* cublasLtMatmulPreference_t */

/* cublasLtMatmulAlgo_t: an algorithm chosen by the heuristic, a plain value that may be copied and kept. */
typedef struct plc_lt_matmul_algo {
    uint64_t data[8];
} plc_lt_matmul_algo;

/* cublasLtMatmulHeuristicResult_t (96 bytes): one answer of cublasLtMatmulAlgoGetHeuristic. */
typedef struct plc_lt_heuristic_result {
    plc_lt_matmul_algo algo;
    size_t workspace_size; /* bytes of workspace this algorithm needs */
    int32_t state;         /* cublasStatus_t: the other fields are valid only when PLC_LT_STATUS_SUCCESS */
    float waves_count;     /* 1.0 ≈ one full wave of the GPU */
    int32_t reserved[4];
} plc_lt_heuristic_result;

#ifdef __cplusplus
static_assert(sizeof(plc_lt_matmul_algo) == 64, "cublasLtMatmulAlgo_t is 64 bytes");
static_assert(sizeof(plc_lt_heuristic_result) == 96, "cublasLtMatmulHeuristicResult_t is 96 bytes");
#else
_Static_assert(sizeof(plc_lt_matmul_algo) == 64, "cublasLtMatmulAlgo_t is 64 bytes");
_Static_assert(sizeof(plc_lt_heuristic_result) == 96, "cublasLtMatmulHeuristicResult_t is 96 bytes");
#endif

/* ---- enum values (passed as int32_t: C enums are 4-byte ints in the x86-64 and aarch64 ABIs) ---- */

/* cublasStatus_t (cublas_api.h) */
enum {
    PLC_LT_STATUS_SUCCESS = 0,           /* CUBLAS_STATUS_SUCCESS */
    PLC_LT_STATUS_NOT_INITIALIZED = 1,   /* CUBLAS_STATUS_NOT_INITIALIZED */
    PLC_LT_STATUS_ALLOC_FAILED = 3,      /* CUBLAS_STATUS_ALLOC_FAILED */
    PLC_LT_STATUS_INVALID_VALUE = 7,     /* CUBLAS_STATUS_INVALID_VALUE */
    PLC_LT_STATUS_ARCH_MISMATCH = 8,     /* CUBLAS_STATUS_ARCH_MISMATCH */
    PLC_LT_STATUS_MAPPING_ERROR = 11,    /* CUBLAS_STATUS_MAPPING_ERROR */
    PLC_LT_STATUS_EXECUTION_FAILED = 13, /* CUBLAS_STATUS_EXECUTION_FAILED */
    PLC_LT_STATUS_INTERNAL_ERROR = 14,   /* CUBLAS_STATUS_INTERNAL_ERROR */
    PLC_LT_STATUS_NOT_SUPPORTED = 15,    /* CUBLAS_STATUS_NOT_SUPPORTED */
    PLC_LT_STATUS_LICENSE_ERROR = 16     /* CUBLAS_STATUS_LICENSE_ERROR */
};

/* cudaDataType_t (library_types.h) */
enum {
    PLC_LT_R_32F = 0,  /* CUDA_R_32F */
    PLC_LT_R_16F = 2,  /* CUDA_R_16F */
    PLC_LT_R_16BF = 14 /* CUDA_R_16BF */
};

/* cublasComputeType_t (cublas_api.h): F32 accumulation; plain 32F never rounds F32 inputs to TF32. */
enum {
    PLC_LT_COMPUTE_32F = 68 /* CUBLAS_COMPUTE_32F */
};

/* cublasOperation_t (cublas_api.h) */
enum {
    PLC_LT_OP_N = 0, /* CUBLAS_OP_N */
    PLC_LT_OP_T = 1  /* CUBLAS_OP_T */
};

/* cublasLtMatmulDescAttributes_t: both take an int32_t (a cublasOperation_t); the default is N. */
enum {
    PLC_LT_DESC_TRANSA = 3, /* CUBLASLT_MATMUL_DESC_TRANSA */
    PLC_LT_DESC_TRANSB = 4  /* CUBLASLT_MATMUL_DESC_TRANSB */
};

/* cublasLtMatmulPreferenceAttributes_t */
enum {
    PLC_LT_PREF_MAX_WORKSPACE_BYTES = 1,  /* CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, uint64_t, default 0 */
    PLC_LT_PREF_MIN_ALIGNMENT_A_BYTES = 5, /* CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, uint32_t, default 256 */
    PLC_LT_PREF_MIN_ALIGNMENT_B_BYTES = 6, /* CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES */
    PLC_LT_PREF_MIN_ALIGNMENT_C_BYTES = 7, /* CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES */
    PLC_LT_PREF_MIN_ALIGNMENT_D_BYTES = 8  /* CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES */
};

/* Layouts are created column-major (the default order, CUBLASLT_ORDER_COL): rows × cols with ld ≥ rows. */

/* ---- the entry points, resolved by name (the field names are the symbols) ---- */
typedef struct plc_lt_api {
    int32_t (*cublasLtCreate)(plc_lt_handle *handle);
    int32_t (*cublasLtDestroy)(plc_lt_handle handle);
    /* major·10000 + minor·100 + patch, e.g. 130101 for 13.1.1 */
    size_t (*cublasLtGetVersion)(void);
    int32_t (*cublasLtMatmulDescCreate)(plc_lt_matmul_desc *desc, int32_t compute_type, int32_t scale_type);
    int32_t (*cublasLtMatmulDescDestroy)(plc_lt_matmul_desc desc);
    int32_t (*cublasLtMatmulDescSetAttribute)(plc_lt_matmul_desc desc, int32_t attr, const void *buf, size_t bytes);
    /* a rows × cols matrix of type, column-major with leading dimension ld */
    int32_t (*cublasLtMatrixLayoutCreate)(plc_lt_layout *layout, int32_t type, uint64_t rows, uint64_t cols,
                                          int64_t ld);
    int32_t (*cublasLtMatrixLayoutDestroy)(plc_lt_layout layout);
    int32_t (*cublasLtMatmulPreferenceCreate)(plc_lt_preference *pref);
    int32_t (*cublasLtMatmulPreferenceDestroy)(plc_lt_preference pref);
    int32_t (*cublasLtMatmulPreferenceSetAttribute)(plc_lt_preference pref, int32_t attr, const void *buf,
                                                    size_t bytes);
    /* up to requested results, best first, into results; their number into *returned */
    int32_t (*cublasLtMatmulAlgoGetHeuristic)(plc_lt_handle handle, plc_lt_matmul_desc desc, plc_lt_layout a,
                                              plc_lt_layout b, plc_lt_layout c, plc_lt_layout d,
                                              plc_lt_preference pref, int requested,
                                              plc_lt_heuristic_result *results, int *returned);
    /* D = alpha·op(A)·op(B) + beta·C on stream (a cudaStream_t); alpha and beta point to the scale type (host
       pointers by default); algo NULL lets the library choose */
    int32_t (*cublasLtMatmul)(plc_lt_handle handle, plc_lt_matmul_desc desc, const void *alpha, const void *A,
                              plc_lt_layout a_layout, const void *B, plc_lt_layout b_layout, const void *beta,
                              const void *C, plc_lt_layout c_layout, void *D, plc_lt_layout d_layout,
                              const plc_lt_matmul_algo *algo, void *workspace, size_t workspace_bytes,
                              void *stream);
} plc_lt_api;

/* Finds and loads cuBLASLt and resolves every entry point of plc_lt_api into *api. The first success is kept and
   later calls return it at once (thread-safe); a failure is retried on the next call. On failure err gets one
   sentence naming what was searched (or the library that could not be used) and how to fix it. Search order, each
   place trying libcublasLt.so.13 before libcublasLt.so.12: $PANLORA_CUBLAS_DIR (a library there that cannot be
   used is an error, not skipped), the dynamic loader's own path, the CUDA toolkit ($CUDA_HOME, $CUDA_PATH,
   /usr/local/cuda, /usr/local/cuda-* newest first, /usr/lib/x86_64-linux-gnu), then the nvidia/<pkg>/lib folders
   of Python installations (pip wheels nvidia-cublas and nvidia-cublas-cu12). Returns 0 on success, -1 on failure. */
int plc_lt_load(plc_lt_api *api, char *err, size_t err_len);

/* The file cuBLASLt was loaded from; NULL before a successful plc_lt_load. */
const char *plc_lt_loaded_path(void);

/* The candidate files plc_lt_load tries, in order, given the current environment (a bare name such as
   "libcublasLt.so.13" means the dynamic loader's search). Writes up to max of them and returns how many exist in
   all (which may exceed max). */
int plc_lt_candidates(char paths[][4096], int max);

#ifdef __cplusplus
}
#endif

#endif
