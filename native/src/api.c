/* Library-level entry points: errors, version, build info, threads, allocation. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include "common.h"

static _Thread_local char pl_error_buf[1024];
static int pl_num_threads = 0; /* 0 = not set: use the number of cores */

int32_t pl_fail(int32_t code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(pl_error_buf, sizeof pl_error_buf, fmt, ap);
    va_end(ap);
    return code;
}

void pl_clear_error(void) { pl_error_buf[0] = 0; }

PL_EXPORT const char *pl_last_error(void) { return pl_error_buf; }

PL_EXPORT int32_t pl_api_version(void) { return PL_API_VERSION; }

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

PL_EXPORT const char *pl_build_info(void) {
    static char info[256];
    snprintf(info, sizeof info, "panlora api %d; backends: cpu; cpu: avx2=%s avx512=%s; threads=%d; blas=%s",
             PL_API_VERSION, pl_cpu_has_avx2() ? "yes" : "no", pl_cpu_has_avx512() ? "yes" : "no",
             pl_threads(),
#ifdef PANLORA_HAVE_OPENBLAS
             "openblas"
#else
             "none"
#endif
    );
    return info;
}

int pl_threads(void) {
    int n = __atomic_load_n(&pl_num_threads, __ATOMIC_RELAXED);
    return n > 0 ? n : omp_get_num_procs();
}

PL_EXPORT int32_t pl_set_num_threads(int32_t n) {
    PL_REQUIRE(n >= 1 && n <= 1024, "pl_set_num_threads: n must be in 1..1024, got %d", n);
    __atomic_store_n(&pl_num_threads, n, __ATOMIC_RELAXED);
    return PL_OK;
}

PL_EXPORT int32_t pl_get_num_threads(void) { return pl_threads(); }

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
