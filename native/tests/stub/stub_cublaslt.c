/* A stand-in for libcublasLt.so.13 that exports every entry point cublaslt_loader.c resolves, with cuBLASLt's
   signatures (checked against plc_lt_api at compile time below), so that the loader is tested on machines without
   cuBLAS or a GPU. Every call succeeds and does nothing; the version is a number no real release has. */
#include "../../src/cuda/cublaslt.h"

#define STUB_VERSION 130099

#if defined(__GNUC__)
#define STUB_EXPORT __attribute__((visibility("default")))
#else
#define STUB_EXPORT
#endif

/* Distinct non-NULL objects to hand out as handles and descriptors. */
static char stub_handle, stub_desc, stub_layout, stub_pref;

STUB_EXPORT int32_t cublasLtCreate(plc_lt_handle *handle) {
    if (handle == 0) return PLC_LT_STATUS_INVALID_VALUE;
    *handle = (plc_lt_handle)(void *)&stub_handle;
    return PLC_LT_STATUS_SUCCESS;
}

STUB_EXPORT int32_t cublasLtDestroy(plc_lt_handle handle) {
    (void)handle;
    return PLC_LT_STATUS_SUCCESS;
}

STUB_EXPORT size_t cublasLtGetVersion(void) { return STUB_VERSION; }

STUB_EXPORT int32_t cublasLtMatmulDescCreate(plc_lt_matmul_desc *desc, int32_t compute_type, int32_t scale_type) {
    (void)compute_type;
    (void)scale_type;
    if (desc == 0) return PLC_LT_STATUS_INVALID_VALUE;
    *desc = (plc_lt_matmul_desc)(void *)&stub_desc;
    return PLC_LT_STATUS_SUCCESS;
}

STUB_EXPORT int32_t cublasLtMatmulDescDestroy(plc_lt_matmul_desc desc) {
    (void)desc;
    return PLC_LT_STATUS_SUCCESS;
}

STUB_EXPORT int32_t cublasLtMatmulDescSetAttribute(plc_lt_matmul_desc desc, int32_t attr, const void *buf,
                                                   size_t bytes) {
    (void)desc;
    (void)attr;
    return buf != 0 && bytes > 0 ? PLC_LT_STATUS_SUCCESS : PLC_LT_STATUS_INVALID_VALUE;
}

STUB_EXPORT int32_t cublasLtMatrixLayoutCreate(plc_lt_layout *layout, int32_t type, uint64_t rows, uint64_t cols,
                                               int64_t ld) {
    (void)type;
    (void)rows;
    (void)cols;
    (void)ld;
    if (layout == 0) return PLC_LT_STATUS_INVALID_VALUE;
    *layout = (plc_lt_layout)(void *)&stub_layout;
    return PLC_LT_STATUS_SUCCESS;
}

STUB_EXPORT int32_t cublasLtMatrixLayoutDestroy(plc_lt_layout layout) {
    (void)layout;
    return PLC_LT_STATUS_SUCCESS;
}

STUB_EXPORT int32_t cublasLtMatmulPreferenceCreate(plc_lt_preference *pref) {
    if (pref == 0) return PLC_LT_STATUS_INVALID_VALUE;
    *pref = (plc_lt_preference)(void *)&stub_pref;
    return PLC_LT_STATUS_SUCCESS;
}

STUB_EXPORT int32_t cublasLtMatmulPreferenceDestroy(plc_lt_preference pref) {
    (void)pref;
    return PLC_LT_STATUS_SUCCESS;
}

STUB_EXPORT int32_t cublasLtMatmulPreferenceSetAttribute(plc_lt_preference pref, int32_t attr, const void *buf,
                                                         size_t bytes) {
    (void)pref;
    (void)attr;
    return buf != 0 && bytes > 0 ? PLC_LT_STATUS_SUCCESS : PLC_LT_STATUS_INVALID_VALUE;
}

/* One result: a zero algorithm needing no workspace. */
STUB_EXPORT int32_t cublasLtMatmulAlgoGetHeuristic(plc_lt_handle handle, plc_lt_matmul_desc desc, plc_lt_layout a,
                                                   plc_lt_layout b, plc_lt_layout c, plc_lt_layout d,
                                                   plc_lt_preference pref, int requested,
                                                   plc_lt_heuristic_result *results, int *returned) {
    (void)handle;
    (void)desc;
    (void)a;
    (void)b;
    (void)c;
    (void)d;
    (void)pref;
    if (requested < 1 || results == 0 || returned == 0) return PLC_LT_STATUS_INVALID_VALUE;
    plc_lt_heuristic_result r = {{{0}}, 0, PLC_LT_STATUS_SUCCESS, 1.0f, {0, 0, 0, 0}};
    results[0] = r;
    *returned = 1;
    return PLC_LT_STATUS_SUCCESS;
}

STUB_EXPORT int32_t cublasLtMatmul(plc_lt_handle handle, plc_lt_matmul_desc desc, const void *alpha, const void *A,
                                   plc_lt_layout a_layout, const void *B, plc_lt_layout b_layout, const void *beta,
                                   const void *C, plc_lt_layout c_layout, void *D, plc_lt_layout d_layout,
                                   const plc_lt_matmul_algo *algo, void *workspace, size_t workspace_bytes,
                                   void *stream) {
    (void)handle;
    (void)desc;
    (void)A;
    (void)a_layout;
    (void)B;
    (void)b_layout;
    (void)C;
    (void)c_layout;
    (void)D;
    (void)d_layout;
    (void)algo;
    (void)workspace;
    (void)workspace_bytes;
    (void)stream;
    return alpha != 0 && beta != 0 ? PLC_LT_STATUS_SUCCESS : PLC_LT_STATUS_INVALID_VALUE;
}

/* Compile-time check that every function above has the type of its plc_lt_api field (an incompatible pointer
   initialisation is a constraint violation the compiler reports). Never used at run time. */
const plc_lt_api stub_cublaslt_signature_check = {
    .cublasLtCreate = cublasLtCreate,
    .cublasLtDestroy = cublasLtDestroy,
    .cublasLtGetVersion = cublasLtGetVersion,
    .cublasLtMatmulDescCreate = cublasLtMatmulDescCreate,
    .cublasLtMatmulDescDestroy = cublasLtMatmulDescDestroy,
    .cublasLtMatmulDescSetAttribute = cublasLtMatmulDescSetAttribute,
    .cublasLtMatrixLayoutCreate = cublasLtMatrixLayoutCreate,
    .cublasLtMatrixLayoutDestroy = cublasLtMatrixLayoutDestroy,
    .cublasLtMatmulPreferenceCreate = cublasLtMatmulPreferenceCreate,
    .cublasLtMatmulPreferenceDestroy = cublasLtMatmulPreferenceDestroy,
    .cublasLtMatmulPreferenceSetAttribute = cublasLtMatmulPreferenceSetAttribute,
    .cublasLtMatmulAlgoGetHeuristic = cublasLtMatmulAlgoGetHeuristic,
    .cublasLtMatmul = cublasLtMatmul,
};
