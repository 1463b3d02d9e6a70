/* Matrix products through cuBLASLt, loaded at run time (cublaslt.h, cublaslt_loader.c).
   Row-major onto column-major: a row-major X[r][c] with row stride ld is, read column-major, the c×r matrix Xᵀ with
   leading dimension ld. So C = op(A)·op(B) (row-major, M×N) is computed as the column-major Cᵀ = op(B)ᵀ·op(A)ᵀ
   (N×M): cuBLASLt's A is our B, its B is our A, and each keeps its own transpose flag.
   A training step repeats the same few shapes, so each shape's descriptors, layouts and the heuristic's algorithm
   are made once and kept in a small table (never freed: they live as long as the process). */
#include "gemm.cuh"
#include "cublaslt.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>


#define PLC_GEMM_WORKSPACE ((size_t)32 << 20) /* cuBLASLt's workspace per device: enough for split-K on H100/H200 */
#define PLC_GEMM_PLANS 256                    /* shapes kept; later ones are planned per call */

/* The loaded entry points (set once under plc_gemm_mutex, before any handle exists; read-only afterwards). */
static pthread_mutex_t plc_gemm_mutex = PTHREAD_MUTEX_INITIALIZER;
static plc_lt_api plc_lt;
static int plc_lt_ready;

/* One GEMM's shape as the caller gave it (row-major terms). */
typedef struct gemm_shape {
    int trans_a, trans_b, ab_type;
    int64_t M, N, K, lda, ldb, ldc;
} gemm_shape;

/* What makes a plan reusable: the shape, the device, beta == 0 and the pointers' alignments (the heuristic may only
   pick kernels that accept them). All int64 so that the struct has no padding and compares with memcmp. */
typedef struct gemm_key {
    int64_t device, trans_a, trans_b, ab_type, M, N, K, lda, ldb, ldc, beta_zero, align_a, align_b, align_c;
} gemm_key;

/* A shape's cuBLASLt objects; lt_a/lt_b are cuBLASLt's A and B, i.e. our B and A. */
typedef struct gemm_plan {
    int used;
    gemm_key key;
    plc_lt_matmul_desc desc;
    plc_lt_layout lt_a, lt_b, lt_c;
    plc_lt_matmul_algo algo;
} gemm_plan;

static gemm_plan plc_gemm_plans[PLC_GEMM_PLANS];

/* ---- messages ---- */

static const char *lt_status_name(int32_t st) {
    switch (st) {
    case PLC_LT_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case PLC_LT_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case PLC_LT_STATUS_ALLOC_FAILED: return "CUBLAS_STATUS_ALLOC_FAILED";
    case PLC_LT_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case PLC_LT_STATUS_ARCH_MISMATCH: return "CUBLAS_STATUS_ARCH_MISMATCH";
    case PLC_LT_STATUS_MAPPING_ERROR: return "CUBLAS_STATUS_MAPPING_ERROR";
    case PLC_LT_STATUS_EXECUTION_FAILED: return "CUBLAS_STATUS_EXECUTION_FAILED";
    case PLC_LT_STATUS_INTERNAL_ERROR: return "CUBLAS_STATUS_INTERNAL_ERROR";
    case PLC_LT_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
    case PLC_LT_STATUS_LICENSE_ERROR: return "CUBLAS_STATUS_LICENSE_ERROR";
    default: return "unknown cuBLAS status";
    }
}

static int32_t lt_status_code(int32_t st) {
    if (st == PLC_LT_STATUS_ALLOC_FAILED) return PL_ERR_OUT_OF_MEMORY;
    if (st == PLC_LT_STATUS_NOT_SUPPORTED || st == PLC_LT_STATUS_ARCH_MISMATCH) return PL_ERR_UNSUPPORTED;
    return PL_ERR_INTERNAL;
}

/* Fails a GEMM naming the step, the cuBLAS status and the whole shape. */
static int32_t gemm_fail(int32_t code, const char *step, int32_t st, const gemm_shape *s) {
    return PLC_FAIL(code,
                    "cuBLASLt: %s failed (%s, %d) for C[%lld][%lld] = op(A)·op(B) with K = %lld (trans_a %d, "
                    "trans_b %d, lda %lld, ldb %lld, ldc %lld, %s inputs)",
                    step, lt_status_name(st), (int)st, (long long)s->M, (long long)s->N, (long long)s->K, s->trans_a,
                    s->trans_b, (long long)s->lda, (long long)s->ldb, (long long)s->ldc,
                    s->ab_type == PLC_BF16 ? "BF16" : "F32");
}

/* ---- plans ---- */

/* The largest power of two (at most 256, cuBLASLt's default assumption) that divides the address. */
static int64_t pointer_alignment(const void *p) {
    uintptr_t a = (uintptr_t)p;
    uintptr_t low = a & (~a + 1);
    return low == 0 || low > 256 ? 256 : (int64_t)low;
}

static uint64_t key_hash(const gemm_key *k) {
    const unsigned char *b = (const unsigned char *)k;
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < sizeof *k; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static void plan_destroy(gemm_plan *p) {
    if (p->lt_c) plc_lt.cublasLtMatrixLayoutDestroy(p->lt_c);
    if (p->lt_b) plc_lt.cublasLtMatrixLayoutDestroy(p->lt_b);
    if (p->lt_a) plc_lt.cublasLtMatrixLayoutDestroy(p->lt_a);
    if (p->desc) plc_lt.cublasLtMatmulDescDestroy(p->desc);
    p->lt_a = p->lt_b = p->lt_c = NULL;
    p->desc = NULL;
}

/* Makes the descriptors and layouts of a shape and asks the heuristic for its best algorithm. */
static int32_t plan_create(plc_ctx *c, const gemm_shape *s, const gemm_key *k, gemm_plan *p) {
    memset(p, 0, sizeof *p);
    p->key = *k;
    const int32_t in_type = s->ab_type == PLC_BF16 ? PLC_LT_R_16BF : PLC_LT_R_32F;
    int32_t st = plc_lt.cublasLtMatmulDescCreate(&p->desc, PLC_LT_COMPUTE_32F, PLC_LT_R_32F);
    if (st != PLC_LT_STATUS_SUCCESS) {
        p->desc = NULL;
        return gemm_fail(lt_status_code(st), "cublasLtMatmulDescCreate", st, s);
    }
    /* cuBLASLt's A is our B: Bᵀ is wanted, and the column-major view of B's storage is already Bᵀ unless trans_b */
    const int32_t op_a = s->trans_b ? PLC_LT_OP_T : PLC_LT_OP_N, op_b = s->trans_a ? PLC_LT_OP_T : PLC_LT_OP_N;
    st = plc_lt.cublasLtMatmulDescSetAttribute(p->desc, PLC_LT_DESC_TRANSA, &op_a, sizeof op_a);
    if (st == PLC_LT_STATUS_SUCCESS)
        st = plc_lt.cublasLtMatmulDescSetAttribute(p->desc, PLC_LT_DESC_TRANSB, &op_b, sizeof op_b);
    if (st != PLC_LT_STATUS_SUCCESS) {
        plan_destroy(p);
        return gemm_fail(lt_status_code(st), "cublasLtMatmulDescSetAttribute", st, s);
    }
    /* Layouts describe the matrices as stored (before op), column-major: a row-major r×c is c rows × r columns. */
    const uint64_t a_rows = (uint64_t)(s->trans_b ? s->K : s->N), a_cols = (uint64_t)(s->trans_b ? s->N : s->K);
    const uint64_t b_rows = (uint64_t)(s->trans_a ? s->M : s->K), b_cols = (uint64_t)(s->trans_a ? s->K : s->M);
    st = plc_lt.cublasLtMatrixLayoutCreate(&p->lt_a, in_type, a_rows, a_cols, s->ldb);
    if (st != PLC_LT_STATUS_SUCCESS) p->lt_a = NULL;
    if (st == PLC_LT_STATUS_SUCCESS) {
        st = plc_lt.cublasLtMatrixLayoutCreate(&p->lt_b, in_type, b_rows, b_cols, s->lda);
        if (st != PLC_LT_STATUS_SUCCESS) p->lt_b = NULL;
    }
    if (st == PLC_LT_STATUS_SUCCESS) {
        st = plc_lt.cublasLtMatrixLayoutCreate(&p->lt_c, PLC_LT_R_32F, (uint64_t)s->N, (uint64_t)s->M, s->ldc);
        if (st != PLC_LT_STATUS_SUCCESS) p->lt_c = NULL;
    }
    if (st != PLC_LT_STATUS_SUCCESS) {
        plan_destroy(p);
        return gemm_fail(lt_status_code(st), "cublasLtMatrixLayoutCreate", st, s);
    }
    /* The heuristic: at most our workspace, and only kernels that accept the pointers' alignments. */
    plc_lt_preference pref = NULL;
    st = plc_lt.cublasLtMatmulPreferenceCreate(&pref);
    if (st != PLC_LT_STATUS_SUCCESS) {
        plan_destroy(p);
        return gemm_fail(lt_status_code(st), "cublasLtMatmulPreferenceCreate", st, s);
    }
    const uint64_t ws = (uint64_t)c->workspace_bytes;
    const uint32_t al_a = (uint32_t)k->align_b, al_b = (uint32_t)k->align_a, al_c = (uint32_t)k->align_c;
    st = plc_lt.cublasLtMatmulPreferenceSetAttribute(pref, PLC_LT_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws);
    if (st == PLC_LT_STATUS_SUCCESS)
        st = plc_lt.cublasLtMatmulPreferenceSetAttribute(pref, PLC_LT_PREF_MIN_ALIGNMENT_A_BYTES, &al_a, sizeof al_a);
    if (st == PLC_LT_STATUS_SUCCESS)
        st = plc_lt.cublasLtMatmulPreferenceSetAttribute(pref, PLC_LT_PREF_MIN_ALIGNMENT_B_BYTES, &al_b, sizeof al_b);
    if (st == PLC_LT_STATUS_SUCCESS)
        st = plc_lt.cublasLtMatmulPreferenceSetAttribute(pref, PLC_LT_PREF_MIN_ALIGNMENT_C_BYTES, &al_c, sizeof al_c);
    if (st == PLC_LT_STATUS_SUCCESS)
        st = plc_lt.cublasLtMatmulPreferenceSetAttribute(pref, PLC_LT_PREF_MIN_ALIGNMENT_D_BYTES, &al_c, sizeof al_c);
    if (st != PLC_LT_STATUS_SUCCESS) {
        plc_lt.cublasLtMatmulPreferenceDestroy(pref);
        plan_destroy(p);
        return gemm_fail(lt_status_code(st), "cublasLtMatmulPreferenceSetAttribute", st, s);
    }
    plc_lt_heuristic_result result;
    memset(&result, 0, sizeof result);
    int found = 0;
    st = plc_lt.cublasLtMatmulAlgoGetHeuristic((plc_lt_handle)c->lt, p->desc, p->lt_a, p->lt_b, p->lt_c, p->lt_c,
                                               pref, 1, &result, &found);
    plc_lt.cublasLtMatmulPreferenceDestroy(pref);
    if (st != PLC_LT_STATUS_SUCCESS) {
        plan_destroy(p);
        return gemm_fail(lt_status_code(st), "cublasLtMatmulAlgoGetHeuristic", st, s);
    }
    if (found < 1 || result.state != PLC_LT_STATUS_SUCCESS) {
        plan_destroy(p);
        return gemm_fail(PL_ERR_UNSUPPORTED, "cublasLtMatmulAlgoGetHeuristic (no algorithm for this shape)",
                         found < 1 ? PLC_LT_STATUS_NOT_SUPPORTED : result.state, s);
    }
    p->algo = result.algo;
    p->used = 1;
    return PL_OK;
}

/* ---- C = beta·C when K = 0 (op(A)·op(B) is an empty sum) ---- */

/* C[r][j] *= beta for r < M, j < N (rows ldc apart). */
static __global__ void gemm_scale_kernel(float *C, int64_t M, int64_t N, int64_t ldc, float beta) {
    const int64_t total = M * N;
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
        const int64_t r = i / N, j = i - r * N;
        C[r * ldc + j] *= beta;
    }
}

static int32_t gemm_scale_c(plc_ctx *c, float beta, float *C, int64_t M, int64_t N, int64_t ldc) {
    if (beta == 1.0f) return PL_OK;
    if (beta == 0.0f) { /* zero without reading C (it may hold NaN), as cuBLAS does for beta = 0 */
        PLC_CUDA(cudaMemset2DAsync(C, (size_t)ldc * sizeof(float), 0, (size_t)N * sizeof(float), (size_t)M, c->stream),
                 "zeroing C of a GEMM with K = 0");
        return PL_OK;
    }
    const int64_t total = M * N;
    const int threads = 256;
    const int64_t want = (total + threads - 1) / threads;
    const unsigned blocks = (unsigned)(want < 4096 ? want : 4096);
    gemm_scale_kernel<<<blocks, threads, 0, c->stream>>>(C, M, N, ldc, beta);
    PLC_LAUNCHED("gemm_scale_kernel (C = beta·C for K = 0)");
    return PL_OK;
}

/* ---- the GEMM ---- */

int32_t plc_gemm(plc_ctx *c, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha, const void *A,
                 int64_t lda, const void *B, int64_t ldb, int ab_type, float beta, float *C, int64_t ldc) {
    gemm_shape s;
    s.trans_a = trans_a != 0;
    s.trans_b = trans_b != 0;
    s.ab_type = ab_type;
    s.M = M, s.N = N, s.K = K, s.lda = lda, s.ldb = ldb, s.ldc = ldc;
    if (c == NULL) return PLC_FAIL(PL_ERR_INVALID_ARGUMENT, "plc_gemm: no device context");
    if (M < 0 || N < 0 || K < 0)
        return PLC_FAIL(PL_ERR_INVALID_ARGUMENT, "plc_gemm: negative size M %lld, N %lld, K %lld", (long long)M,
                        (long long)N, (long long)K);
    if (ab_type != PLC_F32 && ab_type != PLC_BF16)
        return PLC_FAIL(PL_ERR_INVALID_ARGUMENT, "plc_gemm: input type %d is neither F32 (%d) nor BF16 (%d)", ab_type,
                        PLC_F32, PLC_BF16);
    if (M == 0 || N == 0) return PL_OK;
    if (C == NULL) return PLC_FAIL(PL_ERR_INVALID_ARGUMENT, "plc_gemm: C is NULL for a %lldx%lld product",
                                   (long long)M, (long long)N);
    if (ldc < N)
        return PLC_FAIL(PL_ERR_INVALID_ARGUMENT, "plc_gemm: ldc %lld < N %lld (C is %lldx%lld, row-major)",
                        (long long)ldc, (long long)N, (long long)M, (long long)N);
    if (K == 0) return gemm_scale_c(c, beta, C, M, N, ldc);
    if (A == NULL || B == NULL)
        return PLC_FAIL(PL_ERR_INVALID_ARGUMENT, "plc_gemm: %s is NULL for C[%lld][%lld] with K = %lld",
                        A == NULL ? "A" : "B", (long long)M, (long long)N, (long long)K);
    /* stored A is M×K (K×M when transposed), stored B is K×N (N×K when transposed); a row holds ld ≥ cols */
    const int64_t a_cols = s.trans_a ? M : K, b_cols = s.trans_b ? K : N;
    if (lda < a_cols)
        return PLC_FAIL(PL_ERR_INVALID_ARGUMENT, "plc_gemm: lda %lld < %lld, the row length of %s A (%lldx%lld)",
                        (long long)lda, (long long)a_cols, s.trans_a ? "transposed" : "plain",
                        (long long)(s.trans_a ? K : M), (long long)a_cols);
    if (ldb < b_cols)
        return PLC_FAIL(PL_ERR_INVALID_ARGUMENT, "plc_gemm: ldb %lld < %lld, the row length of %s B (%lldx%lld)",
                        (long long)ldb, (long long)b_cols, s.trans_b ? "transposed" : "plain",
                        (long long)(s.trans_b ? N : K), (long long)b_cols);
    if (c->lt == NULL || c->workspace == NULL)
        return PLC_FAIL(PL_ERR_STATE, "plc_gemm: cuBLASLt is not initialised on device %d (plc_gemm_init)", c->device);

    gemm_key k;
    memset(&k, 0, sizeof k);
    k.device = c->device;
    k.trans_a = s.trans_a, k.trans_b = s.trans_b, k.ab_type = ab_type;
    k.M = M, k.N = N, k.K = K, k.lda = lda, k.ldb = ldb, k.ldc = ldc;
    k.beta_zero = beta == 0.0f;
    k.align_a = pointer_alignment(A), k.align_b = pointer_alignment(B), k.align_c = pointer_alignment(C);

    /* Find the shape's plan or make it. Plans are never removed or changed once used, so one found stays valid after
       the lock is released; a full table plans this call alone. */
    const gemm_plan *plan = NULL;
    gemm_plan once;
    int uncached = 0;
    pthread_mutex_lock(&plc_gemm_mutex);
    const uint64_t h = key_hash(&k);
    gemm_plan *slot = NULL;
    for (int probe = 0; probe < PLC_GEMM_PLANS; probe++) {
        gemm_plan *p = &plc_gemm_plans[(h + (uint64_t)probe) % PLC_GEMM_PLANS];
        if (!p->used) {
            slot = p;
            break;
        }
        if (memcmp(&p->key, &k, sizeof k) == 0) {
            plan = p;
            break;
        }
    }
    if (plan == NULL) {
        gemm_plan *target = slot != NULL ? slot : &once;
        int32_t rc = plan_create(c, &s, &k, target);
        if (rc != PL_OK) {
            pthread_mutex_unlock(&plc_gemm_mutex);
            return rc;
        }
        plan = target;
        uncached = slot == NULL;
    }
    pthread_mutex_unlock(&plc_gemm_mutex);

    /* cuBLASLt: D = alpha·op(B')·op(A') + beta·C with its A' = our B, its B' = our A, C = D = our C */
    int32_t st = plc_lt.cublasLtMatmul((plc_lt_handle)c->lt, plan->desc, &alpha, B, plan->lt_a, A, plan->lt_b, &beta, C,
                                       plan->lt_c, C, plan->lt_c, &plan->algo, c->workspace, c->workspace_bytes,
                                       (void *)c->stream);
    if (uncached) plan_destroy(&once); /* the launch has taken what it needs from the descriptors */
    if (st != PLC_LT_STATUS_SUCCESS) return gemm_fail(lt_status_code(st), "cublasLtMatmul", st, &s);
    return PL_OK;
}

/* ---- set-up and information ---- */

/* Writes the reason into err and the thread's last error (when the core is known yet). */
static int32_t init_fail(int32_t code, char *err, size_t err_len, const char *msg) {
    if (err != NULL && err_len > 0) snprintf(err, err_len, "%s", msg);
    if (plc_core != NULL) plc_core->fail(code, "%s", msg);
    return code;
}

int plc_lt_preload(char *err, size_t err_len) {
    plc_lt_api api;
    if (plc_lt_load(&api, err, err_len) != 0) return 0;
    pthread_mutex_lock(&plc_gemm_mutex);
    if (!plc_lt_ready) {
        plc_lt = api;
        plc_lt_ready = 1;
    }
    pthread_mutex_unlock(&plc_gemm_mutex);
    return 1;
}

int32_t plc_gemm_init(plc_ctx *c, char *err, size_t err_len) {
    char msg[1536];
    if (err != NULL && err_len > 0) err[0] = '\0';
    if (c == NULL) return init_fail(PL_ERR_INVALID_ARGUMENT, err, err_len, "plc_gemm_init: no device context.");
    if (c->lt != NULL) return PL_OK;
    if (!plc_lt_preload(msg, sizeof msg)) return init_fail(PL_ERR_UNSUPPORTED, err, err_len, msg);
    const plc_lt_api api = plc_lt; /* set once by plc_lt_preload, never changed afterwards */

    cudaError_t ce = cudaSetDevice(c->device);
    if (ce != cudaSuccess) {
        snprintf(msg, sizeof msg, "CUDA device %d cannot be selected for cuBLASLt: %s.", c->device,
                 cudaGetErrorString(ce));
        return init_fail(PL_ERR_UNSUPPORTED, err, err_len, msg);
    }
    plc_lt_handle h = NULL;
    int32_t st = api.cublasLtCreate(&h);
    if (st != PLC_LT_STATUS_SUCCESS || h == NULL) {
        snprintf(msg, sizeof msg, "cuBLASLt %zu from %s could not create a handle on CUDA device %d (%s, %d).",
                 api.cublasLtGetVersion(), plc_cublaslt_path(), c->device, lt_status_name(st), (int)st);
        return init_fail(st == PLC_LT_STATUS_ALLOC_FAILED ? PL_ERR_OUT_OF_MEMORY : PL_ERR_UNSUPPORTED, err, err_len,
                         msg);
    }
    void *ws = NULL;
    int32_t rc = plc_malloc(c, &ws, PLC_GEMM_WORKSPACE, "cuBLASLt workspace");
    if (rc != PL_OK || ws == NULL) {
        api.cublasLtDestroy(h);
        snprintf(msg, sizeof msg, "CUDA device %d has no room for cuBLASLt's %zu MiB workspace.", c->device,
                 PLC_GEMM_WORKSPACE >> 20);
        return init_fail(rc != PL_OK ? rc : PL_ERR_OUT_OF_MEMORY, err, err_len, msg);
    }
    c->lt = (void *)h;
    c->workspace = ws;
    c->workspace_bytes = PLC_GEMM_WORKSPACE;
    return PL_OK;
}

size_t plc_cublaslt_version(void) {
    pthread_mutex_lock(&plc_gemm_mutex);
    size_t v = plc_lt_ready ? plc_lt.cublasLtGetVersion() : 0;
    pthread_mutex_unlock(&plc_gemm_mutex);
    return v;
}

const char *plc_cublaslt_path(void) {
    const char *p = plc_lt_loaded_path();
    return p != NULL ? p : "";
}

/* ---- the peak benchmark ---- */

/* x[i] = a deterministic pseudo-random value in [-1, 1) as BF16 (a hash of i and seed). */
static __global__ void bench_fill_kernel(bf16 *x, int64_t n, uint32_t seed) {
    for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
        uint32_t v = (uint32_t)i ^ (uint32_t)(i >> 32) * 0x9e3779b9u ^ seed;
        v ^= v >> 16;
        v *= 0x7feb352du;
        v ^= v >> 15;
        v *= 0x846ca68bu;
        v ^= v >> 16;
        x[i] = __float2bfloat16_rn((float)(v >> 8) * (1.0f / 8388608.0f) - 1.0f);
    }
}

/* A CUDA error inside the benchmark: the message set, the status returned through the clean-up path. */
static int32_t bench_cuda(cudaError_t e, const char *what) {
    if (e == cudaSuccess) return PL_OK;
    return PLC_FAIL(e == cudaErrorMemoryAllocation ? PL_ERR_OUT_OF_MEMORY : PL_ERR_INTERNAL, "CUDA: %s: %s", what,
                    cudaGetErrorString(e));
}

int32_t plc_bench_gemm(int device, int64_t n, int32_t reps, double *tflops) {
    if (tflops == NULL) return PLC_FAIL(PL_ERR_INVALID_ARGUMENT, "bench_gemm: tflops is NULL");
    *tflops = 0.0;
    if (n < 1 || n > 32768)
        return PLC_FAIL(PL_ERR_INVALID_ARGUMENT, "bench_gemm: n = %lld is outside 1..32768", (long long)n);
    if (reps < 1 || reps > 100000)
        return PLC_FAIL(PL_ERR_INVALID_ARGUMENT, "bench_gemm: reps = %d is outside 1..100000", (int)reps);
    plc_ctx *c = plc_context(device);
    if (c == NULL) return PL_ERR_UNSUPPORTED; /* plc_context has set the message */
    if (c->lt == NULL) {
        char why[1536];
        PLC_TRY(plc_gemm_init(c, why, sizeof why));
    }
    PLC_CUDA(cudaSetDevice(c->device), "selecting the device of the GEMM benchmark");

    const size_t elems = (size_t)n * (size_t)n, ab_bytes = elems * sizeof(bf16), c_bytes = elems * sizeof(float);
    void *A = NULL, *B = NULL, *C = NULL;
    cudaEvent_t t0 = NULL, t1 = NULL;
    float ms = 0.0f;
    int32_t rc = plc_malloc(c, &A, ab_bytes, "GEMM benchmark A");
    if (rc == PL_OK) rc = plc_malloc(c, &B, ab_bytes, "GEMM benchmark B");
    if (rc == PL_OK) rc = plc_malloc(c, &C, c_bytes, "GEMM benchmark C");
    if (rc == PL_OK) {
        const int64_t want = ((int64_t)elems + 255) / 256;
        const unsigned blocks = (unsigned)(want < 8192 ? want : 8192);
        bench_fill_kernel<<<blocks, 256, 0, c->stream>>>((bf16 *)A, (int64_t)elems, 0x1234567u);
        bench_fill_kernel<<<blocks, 256, 0, c->stream>>>((bf16 *)B, (int64_t)elems, 0x89abcdefu);
        rc = bench_cuda(cudaGetLastError(), "filling the GEMM benchmark's inputs");
    }
    if (rc == PL_OK) rc = bench_cuda(cudaEventCreate(&t0), "creating a timing event");
    if (rc == PL_OK) rc = bench_cuda(cudaEventCreate(&t1), "creating a timing event");
    /* C = A·Bᵀ: cuBLASLt's "TN" form, the fastest layout for BF16 tensor cores; the warm-up also makes the plan */
    if (rc == PL_OK) rc = plc_gemm(c, 0, 1, n, n, n, 1.0f, A, n, B, n, PLC_BF16, 0.0f, (float *)C, n);
    if (rc == PL_OK) rc = bench_cuda(cudaStreamSynchronize(c->stream), "the GEMM benchmark's warm-up");
    if (rc == PL_OK) rc = bench_cuda(cudaEventRecord(t0, c->stream), "recording a timing event");
    for (int32_t r = 0; rc == PL_OK && r < reps; r++)
        rc = plc_gemm(c, 0, 1, n, n, n, 1.0f, A, n, B, n, PLC_BF16, 0.0f, (float *)C, n);
    if (rc == PL_OK) rc = bench_cuda(cudaEventRecord(t1, c->stream), "recording a timing event");
    if (rc == PL_OK) rc = bench_cuda(cudaEventSynchronize(t1), "the GEMM benchmark");
    if (rc == PL_OK) rc = bench_cuda(cudaEventElapsedTime(&ms, t0, t1), "reading the GEMM benchmark's time");
    if (rc == PL_OK) {
        const double seconds = (ms > 0.0f ? (double)ms : 1e-3) * 1e-3;
        *tflops = 2.0 * (double)n * (double)n * (double)n * (double)reps / seconds / 1e12;
    }

    cudaStreamSynchronize(c->stream); /* nothing queued may still use the buffers freed below */
    if (t1 != NULL) cudaEventDestroy(t1);
    if (t0 != NULL) cudaEventDestroy(t0);
    if (C != NULL) plc_free(c, C, c_bytes);
    if (B != NULL) plc_free(c, B, ab_bytes);
    if (A != NULL) plc_free(c, A, ab_bytes);
    return rc;
}
