/* cudaemu's cuBLASLt: the entry points cublaslt_loader.c resolves (src/cuda/cublaslt.h), computing on the CPU over
   cudaemu's device memory, built as libcublasLt.so.13 in its own folder so that the backend finds it through
   PANLORA_CUBLAS_DIR like the real one. D = alpha·op(A)·op(B) + beta·C, column-major, F32 or BF16 inputs, F32 C/D,
   sums in double; C is not read when beta = 0 (cuBLAS's rule). Every operand must lie inside one device allocation
   (a host pointer or an overrun is an error, as an illegal address would be on a GPU); a layout smaller than the
   matmul's sizes, a leading dimension below the rows, or a type other than these is CUBLAS_STATUS_INVALID_VALUE or
   NOT_SUPPORTED, never a silent guess. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cublaslt.h"

#define LT_EXPORT __attribute__((visibility("default")))

void plc_emu_access_begin(void);
void plc_emu_access_end(void);
int plc_emu_check_device(const void *p, size_t bytes, const char *what);

struct plc_lt_context { int magic; };
struct plc_lt_matmul_desc_s { int32_t compute, scale, trans_a, trans_b; };
struct plc_lt_layout_s { int32_t type; uint64_t rows, cols; int64_t ld; };
struct plc_lt_preference_s { uint64_t workspace; };

#define LT_MAGIC 0x4c54454d

LT_EXPORT int32_t cublasLtCreate(plc_lt_handle *h) {
    if (h == NULL) return PLC_LT_STATUS_INVALID_VALUE;
    *h = malloc(sizeof **h);
    if (*h == NULL) return PLC_LT_STATUS_ALLOC_FAILED;
    (*h)->magic = LT_MAGIC;
    return PLC_LT_STATUS_SUCCESS;
}
LT_EXPORT int32_t cublasLtDestroy(plc_lt_handle h) {
    if (h == NULL || h->magic != LT_MAGIC) return PLC_LT_STATUS_NOT_INITIALIZED;
    h->magic = 0;
    free(h);
    return PLC_LT_STATUS_SUCCESS;
}
LT_EXPORT size_t cublasLtGetVersion(void) { return 130000; }

LT_EXPORT int32_t cublasLtMatmulDescCreate(plc_lt_matmul_desc *d, int32_t compute, int32_t scale) {
    if (d == NULL) return PLC_LT_STATUS_INVALID_VALUE;
    if (compute != PLC_LT_COMPUTE_32F || scale != PLC_LT_R_32F) return PLC_LT_STATUS_NOT_SUPPORTED;
    *d = calloc(1, sizeof **d);
    if (*d == NULL) return PLC_LT_STATUS_ALLOC_FAILED;
    (*d)->compute = compute, (*d)->scale = scale;
    return PLC_LT_STATUS_SUCCESS;
}
LT_EXPORT int32_t cublasLtMatmulDescDestroy(plc_lt_matmul_desc d) {
    free(d);
    return PLC_LT_STATUS_SUCCESS;
}
LT_EXPORT int32_t cublasLtMatmulDescSetAttribute(plc_lt_matmul_desc d, int32_t attr, const void *buf, size_t bytes) {
    if (d == NULL || buf == NULL) return PLC_LT_STATUS_INVALID_VALUE;
    if (attr != PLC_LT_DESC_TRANSA && attr != PLC_LT_DESC_TRANSB) return PLC_LT_STATUS_NOT_SUPPORTED;
    if (bytes != sizeof(int32_t)) return PLC_LT_STATUS_INVALID_VALUE;
    int32_t op;
    memcpy(&op, buf, sizeof op);
    if (op != PLC_LT_OP_N && op != PLC_LT_OP_T) return PLC_LT_STATUS_INVALID_VALUE;
    if (attr == PLC_LT_DESC_TRANSA) d->trans_a = op;
    else d->trans_b = op;
    return PLC_LT_STATUS_SUCCESS;
}
LT_EXPORT int32_t cublasLtMatrixLayoutCreate(plc_lt_layout *l, int32_t type, uint64_t rows, uint64_t cols, int64_t ld) {
    if (l == NULL) return PLC_LT_STATUS_INVALID_VALUE;
    if (type != PLC_LT_R_32F && type != PLC_LT_R_16BF) return PLC_LT_STATUS_NOT_SUPPORTED;
    if (ld < 1 || (uint64_t)ld < rows) return PLC_LT_STATUS_INVALID_VALUE;
    *l = malloc(sizeof **l);
    if (*l == NULL) return PLC_LT_STATUS_ALLOC_FAILED;
    (*l)->type = type, (*l)->rows = rows, (*l)->cols = cols, (*l)->ld = ld;
    return PLC_LT_STATUS_SUCCESS;
}
LT_EXPORT int32_t cublasLtMatrixLayoutDestroy(plc_lt_layout l) {
    free(l);
    return PLC_LT_STATUS_SUCCESS;
}
LT_EXPORT int32_t cublasLtMatmulPreferenceCreate(plc_lt_preference *p) {
    if (p == NULL) return PLC_LT_STATUS_INVALID_VALUE;
    *p = calloc(1, sizeof **p);
    return *p ? PLC_LT_STATUS_SUCCESS : PLC_LT_STATUS_ALLOC_FAILED;
}
LT_EXPORT int32_t cublasLtMatmulPreferenceDestroy(plc_lt_preference p) {
    free(p);
    return PLC_LT_STATUS_SUCCESS;
}
LT_EXPORT int32_t cublasLtMatmulPreferenceSetAttribute(plc_lt_preference p, int32_t attr, const void *buf, size_t bytes) {
    if (p == NULL || buf == NULL) return PLC_LT_STATUS_INVALID_VALUE;
    switch (attr) {
    case PLC_LT_PREF_MAX_WORKSPACE_BYTES:
        if (bytes != sizeof(uint64_t)) return PLC_LT_STATUS_INVALID_VALUE;
        memcpy(&p->workspace, buf, sizeof p->workspace);
        return PLC_LT_STATUS_SUCCESS;
    case PLC_LT_PREF_MIN_ALIGNMENT_A_BYTES:
    case PLC_LT_PREF_MIN_ALIGNMENT_B_BYTES:
    case PLC_LT_PREF_MIN_ALIGNMENT_C_BYTES:
    case PLC_LT_PREF_MIN_ALIGNMENT_D_BYTES:
        return bytes == sizeof(uint32_t) ? PLC_LT_STATUS_SUCCESS : PLC_LT_STATUS_INVALID_VALUE;
    default: return PLC_LT_STATUS_NOT_SUPPORTED;
    }
}

/* The sizes of D = op(A)·op(B): m×n with inner k; 0 when the layouts disagree. */
static int matmul_dims(plc_lt_matmul_desc d, plc_lt_layout a, plc_lt_layout b, plc_lt_layout c, plc_lt_layout dd,
                       uint64_t *m, uint64_t *n, uint64_t *k) {
    const uint64_t am = d->trans_a ? a->cols : a->rows, ak = d->trans_a ? a->rows : a->cols;
    const uint64_t bk = d->trans_b ? b->cols : b->rows, bn = d->trans_b ? b->rows : b->cols;
    if (ak != bk || c->rows != am || c->cols != bn || dd->rows != am || dd->cols != bn || a->type != b->type ||
        c->type != PLC_LT_R_32F || dd->type != PLC_LT_R_32F)
        return 0;
    *m = am, *n = bn, *k = ak;
    return 1;
}

LT_EXPORT int32_t cublasLtMatmulAlgoGetHeuristic(plc_lt_handle h, plc_lt_matmul_desc d, plc_lt_layout a,
                                                 plc_lt_layout b, plc_lt_layout c, plc_lt_layout dd,
                                                 plc_lt_preference p, int requested, plc_lt_heuristic_result *res,
                                                 int *found) {
    if (h == NULL || h->magic != LT_MAGIC) return PLC_LT_STATUS_NOT_INITIALIZED;
    if (d == NULL || a == NULL || b == NULL || c == NULL || dd == NULL || p == NULL || res == NULL || found == NULL ||
        requested < 1)
        return PLC_LT_STATUS_INVALID_VALUE;
    uint64_t m, n, k;
    if (!matmul_dims(d, a, b, c, dd, &m, &n, &k)) return PLC_LT_STATUS_INVALID_VALUE;
    memset(res, 0, sizeof *res);
    res->algo.data[0] = 1;
    res->state = PLC_LT_STATUS_SUCCESS;
    res->waves_count = 1.0f;
    *found = 1;
    return PLC_LT_STATUS_SUCCESS;
}

static double elem(const void *p, int32_t type, uint64_t i) {
    if (type == PLC_LT_R_32F) return ((const float *)p)[i];
    uint32_t u = (uint32_t)((const uint16_t *)p)[i] << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static uint64_t span_bytes(plc_lt_layout l) {
    const uint64_t esz = l->type == PLC_LT_R_32F ? 4 : 2;
    return l->cols == 0 || l->rows == 0 ? 0 : ((l->cols - 1) * (uint64_t)l->ld + l->rows) * esz;
}

LT_EXPORT int32_t cublasLtMatmul(plc_lt_handle h, plc_lt_matmul_desc d, const void *alpha, const void *A,
                                 plc_lt_layout al, const void *B, plc_lt_layout bl, const void *beta, const void *C,
                                 plc_lt_layout cl, void *D, plc_lt_layout dl, const plc_lt_matmul_algo *algo,
                                 void *workspace, size_t workspace_bytes, void *stream) {
    (void)workspace, (void)workspace_bytes, (void)stream;
    if (h == NULL || h->magic != LT_MAGIC) return PLC_LT_STATUS_NOT_INITIALIZED;
    if (d == NULL || al == NULL || bl == NULL || cl == NULL || dl == NULL || alpha == NULL || beta == NULL ||
        algo == NULL)
        return PLC_LT_STATUS_INVALID_VALUE;
    uint64_t m, n, k;
    if (!matmul_dims(d, al, bl, cl, dl, &m, &n, &k)) return PLC_LT_STATUS_INVALID_VALUE;
    const float a_s = *(const float *)alpha, b_s = *(const float *)beta;
    if (!plc_emu_check_device(A, span_bytes(al), "cublasLtMatmul A") ||
        !plc_emu_check_device(B, span_bytes(bl), "cublasLtMatmul B") ||
        (b_s != 0.0f && !plc_emu_check_device(C, span_bytes(cl), "cublasLtMatmul C")) ||
        !plc_emu_check_device(D, span_bytes(dl), "cublasLtMatmul D"))
        return PLC_LT_STATUS_EXECUTION_FAILED;
    if (b_s != 0.0f && C != D && (cl->ld != dl->ld)) return PLC_LT_STATUS_NOT_SUPPORTED;
    double *col = malloc((size_t)(m ? m : 1) * sizeof(double));
    if (col == NULL) return PLC_LT_STATUS_ALLOC_FAILED;
    plc_emu_access_begin();
    for (uint64_t j = 0; j < n; j++) {
        for (uint64_t i = 0; i < m; i++) col[i] = 0.0;
        for (uint64_t p = 0; p < k; p++) {
            /* op(B)[p][j] */
            const double bv = d->trans_b ? elem(B, bl->type, p * (uint64_t)bl->ld + j)
                                         : elem(B, bl->type, j * (uint64_t)bl->ld + p);
            for (uint64_t i = 0; i < m; i++) {
                const double av = d->trans_a ? elem(A, al->type, i * (uint64_t)al->ld + p)
                                             : elem(A, al->type, p * (uint64_t)al->ld + i);
                col[i] += av * bv;
            }
        }
        for (uint64_t i = 0; i < m; i++) {
            double v = (double)a_s * col[i];
            if (b_s != 0.0f) v += (double)b_s * ((const float *)C)[j * (uint64_t)cl->ld + i];
            ((float *)D)[j * (uint64_t)dl->ld + i] = (float)v;
        }
    }
    plc_emu_access_end();
    free(col);
    return PLC_LT_STATUS_SUCCESS;
}
