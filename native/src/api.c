/* Library-level entry points: errors, version, build info, threads, allocation. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>
#include "common.h"
#include "backend.h"
#include "ops/openblas.h"

static _Thread_local char pl_error_buf[1024];
static int pl_num_threads = 0; /* 0 = not set: use the number of cores */
/* The thread count of the model whose call this thread is running (pl_model_set_threads), 0 = none: the global count.
   Set on entry to the model's compute calls and restored on return; pool workers take the submitting thread's value
   for the chunks they run (pool.c), so a loop nested in a chunk sees the same count wherever it runs. */
static _Thread_local int pl_call_threads = 0;

int32_t pl_fail(int32_t code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pl_error_buf, sizeof pl_error_buf, fmt, ap);
    va_end(ap);
    return code;
}

void pl_clear_error(void) { pl_error_buf[0] = 0; }

int32_t pl_ok(void) { pl_error_buf[0] = 0; return PL_OK; }

int32_t pl_done(int32_t rc) {
    if (rc == PL_OK) pl_error_buf[0] = 0;
    return rc;
}

PL_EXPORT const char *pl_last_error(void) { return pl_error_buf; }

PL_EXPORT int32_t pl_api_version(void) { pl_clear_error(); return PL_API_VERSION; }

int pl_cpu_has_avx2(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

int pl_cpu_has_avx512(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
#else
    return 0;
#endif
}

int pl_cpu_has_avx512bf16(void) {
#if defined(__x86_64__) || defined(__i386__)
    static int known = -1; /* asked on every base-weight product: the CPU is asked once */
    int v = __atomic_load_n(&known, __ATOMIC_RELAXED);
    if (v < 0) {
        __builtin_cpu_init();
        v = __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
        __atomic_store_n(&known, v, __ATOMIC_RELAXED);
    }
    return v;
#else
    return 0;
#endif
}

/* ---- the CUDA backend, loaded once on first use ---- */

static pthread_once_t cuda_once = PTHREAD_ONCE_INIT;
static const pl_backend *cuda_be;
static char cuda_why[1024];
static int cuda_tried;

static int32_t core_row_bytes(int32_t type, int64_t n, int64_t *out) { return pl_row_bytes(type, n, out); }

static const pl_core_api core_api = {
    PL_BACKEND_ABI, sizeof(pl_model), sizeof(pl_lora), sizeof(lora_slot), sizeof(pl_layer_weights),
    pl_fail, pl_dequantize, core_row_bytes, pl_threads,
};

static void cuda_load(void) {
    char path[4096];
    const char *env = getenv("PANLORA_CUDA_LIBRARY");
    if (env && *env) {
        snprintf(path, sizeof path, "%s", env);
    } else { /* beside this library */
        Dl_info di;
        if (!dladdr((void *)&pl_api_version, &di) || !di.dli_fname) {
            snprintf(cuda_why, sizeof cuda_why, "cannot locate libpanlora.so to find libpanlora_cuda.so beside it; set PANLORA_CUDA_LIBRARY");
            return;
        }
        snprintf(path, sizeof path, "%s", di.dli_fname);
        char *slash = strrchr(path, '/');
        if (slash) slash[1] = 0; else path[0] = 0;
        strncat(path, "libpanlora_cuda.so", sizeof path - strlen(path) - 1);
    }
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(cuda_why, sizeof cuda_why, "this build has no CUDA backend (%s cannot be loaded: %s); build with nvcc present or set PANLORA_CUDA_LIBRARY",
                 path, e ? e : "unknown error");
        return;
    }
    pl_backend_init_fn init = (pl_backend_init_fn)dlsym(h, PL_CUDA_BACKEND_INIT);
    if (!init) {
        snprintf(cuda_why, sizeof cuda_why, "%s does not export %s (not a panlora CUDA backend)", path, PL_CUDA_BACKEND_INIT);
        dlclose(h);
        return;
    }
    char err[1024] = "";
    const pl_backend *be = init(&core_api, err, sizeof err);
    if (!be) {
        snprintf(cuda_why, sizeof cuda_why, "%s", err[0] ? err : "the CUDA backend failed to start");
        return; /* kept loaded: its static CUDA state may hold resources */
    }
    cuda_be = be;
}

static void cuda_load_once(void) { cuda_load(); __atomic_store_n(&cuda_tried, 1, __ATOMIC_RELEASE); }

const pl_backend *pl_cuda_backend(const char **why) {
    pthread_once(&cuda_once, cuda_load_once);
    if (why) *why = cuda_be ? "" : cuda_why;
    return cuda_be;
}

PL_EXPORT int32_t pl_cuda_device_count(int32_t *n) {
    PL_REQUIRE(n, "pl_cuda_device_count: n must not be NULL");
    *n = 0;
    const char *why = NULL;
    const pl_backend *be = pl_cuda_backend(&why);
    if (!be) { pl_fail(PL_OK, "%s", why); return PL_OK; } /* the reason stays readable (documented exception) */
    char reason[512] = "";
    PL_TRY(be->device_count(n, reason, sizeof reason));
    if (*n == 0) pl_fail(PL_OK, "%s", reason[0] ? reason : "no CUDA GPU found");
    else pl_clear_error();
    return PL_OK;
}

PL_EXPORT int32_t pl_cuda_device_info(int32_t device, char *buf, int64_t buf_len) {
    PL_REQUIRE(buf && buf_len > 0, "pl_cuda_device_info: buf must not be NULL and buf_len positive");
    int32_t n = 0;
    PL_TRY(pl_cuda_device_count(&n));
    if (n == 0) { char why[1024]; snprintf(why, sizeof why, "%s", pl_last_error()); return pl_fail(PL_ERR_UNSUPPORTED, "pl_cuda_device_info: %s", why); }
    PL_REQUIRE(device >= 0 && device < n, "pl_cuda_device_info: device %d out of range (%d devices)", device, n);
    return pl_done(pl_cuda_backend(NULL)->device_info(device, buf, (size_t)buf_len));
}

PL_EXPORT int32_t pl_cuda_bench_gemm(int32_t device, int64_t n, int32_t reps, double *tflops) {
    PL_REQUIRE(tflops && n >= 16 && n <= 32768 && reps >= 1 && reps <= 10000,
               "pl_cuda_bench_gemm: n must be in 16..32768 and reps in 1..10000");
    int32_t count = 0;
    PL_TRY(pl_cuda_device_count(&count));
    if (count == 0) { char why[1024]; snprintf(why, sizeof why, "%s", pl_last_error()); return pl_fail(PL_ERR_UNSUPPORTED, "pl_cuda_bench_gemm: %s", why); }
    PL_REQUIRE(device >= 0 && device < count, "pl_cuda_bench_gemm: device %d out of range (%d devices)", device, count);
    return pl_done(pl_cuda_backend(NULL)->bench_gemm(device, n, reps, tflops));
}

/* The build description, written once (pthread_once) for each state of the CUDA backend and never rewritten, so any
   thread may hold the pointer for the life of the process. The thread count is not part of it (pl_get_num_threads). */
static pthread_once_t info_once = PTHREAD_ONCE_INIT;
static char info_text[3][1024]; /* CUDA not probed yet, loaded, unavailable */

static void info_build(void) {
    static const char *const cuda_state[3] = {", cuda (not probed yet)", ", cuda", ", cuda unavailable"};
    const char *blas = pl_openblas_describe(); /* loads OpenBLAS here when PANLORA_GEMM=openblas asks for it */
    for (int i = 0; i < 3; i++)
        snprintf(info_text[i], sizeof info_text[i], "panlora api %d; backends: cpu%s; cpu: avx2=%s avx512=%s avx512bf16=%s; blas=%s",
                 PL_API_VERSION, cuda_state[i], pl_cpu_has_avx2() ? "yes" : "no", pl_cpu_has_avx512() ? "yes" : "no",
                 pl_cpu_has_avx512bf16() ? "yes" : "no", blas);
}

PL_EXPORT const char *pl_build_info(void) {
    pthread_once(&info_once, info_build);
    const int tried = __atomic_load_n(&cuda_tried, __ATOMIC_ACQUIRE); /* cuda_be is written before cuda_tried */
    pl_clear_error();
    return info_text[!tried ? 0 : cuda_be ? 1 : 2];
}

/* CPUs this process may run on (its affinity mask, as taskset or a container's cpuset sets it), at least 1. */
static int usable_cpus(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        const int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
    const long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int pl_threads(void) {
    if (pl_call_threads > 0) return pl_call_threads;
    int n = __atomic_load_n(&pl_num_threads, __ATOMIC_RELAXED);
    if (n > 0) return n;
    static int cpus; /* read once: the affinity mask is fixed for a run */
    int c = __atomic_load_n(&cpus, __ATOMIC_RELAXED);
    if (c == 0) {
        c = usable_cpus();
        if (c > 1024) c = 1024;
        __atomic_store_n(&cpus, c, __ATOMIC_RELAXED);
    }
    return c;
}

PL_EXPORT int32_t pl_set_num_threads(int32_t n) {
    PL_REQUIRE(n >= 1 && n <= 1024, "pl_set_num_threads: n must be in 1..1024, got %d", n);
    __atomic_store_n(&pl_num_threads, n, __ATOMIC_RELAXED);
    return pl_ok();
}

PL_EXPORT int32_t pl_get_num_threads(void) { pl_clear_error(); return pl_threads(); }

int pl_threads_override(void) { return pl_call_threads; }

void pl_threads_set_override(int n) { pl_call_threads = n; }

int pl_threads_enter(const pl_model *m) {
    const int saved = pl_call_threads;
    if (m && m->n_threads > 0) pl_call_threads = m->n_threads;
    return saved;
}

void *pl_alloc(size_t bytes) {
    if (bytes == 0) return NULL;
    size_t rounded = (bytes + 63) & ~(size_t)63;
    return aligned_alloc(64, rounded);
}

void *pl_calloc(size_t bytes) {
    void *p = pl_alloc(bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

void pl_free(void *p) { free(p); }
