/* Internal helpers shared by every engine source: errors, allocation, threads. */
#ifndef PL_COMMON_H
#define PL_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include "panlora.h"

#define PL_EXPORT __attribute__((visibility("default")))

/* Records a printf-style message as this thread's last error and returns code. */
int32_t pl_fail(int32_t code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Clears this thread's last error. */
void pl_clear_error(void);

/* Fails with PL_ERR_INVALID_ARGUMENT and the message unless cond holds. */
#define PL_REQUIRE(cond, ...) \
    do { if (!(cond)) return pl_fail(PL_ERR_INVALID_ARGUMENT, __VA_ARGS__); } while (0)
/* Propagates a non-OK status. */
#define PL_TRY(expr) \
    do { int32_t pl_try_rc_ = (expr); if (pl_try_rc_ != PL_OK) return pl_try_rc_; } while (0)

/* Checked size arithmetic: every product of sizes that comes (even indirectly) from a caller goes through these.
   Each returns 1 and stores the product when every factor is >= 0 and the product fits in int64_t, else 0. */
static inline int pl_mul_ok(int64_t a, int64_t b, int64_t *out) {
    int64_t r;
    if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &r)) return 0;
    *out = r;
    return 1;
}
static inline int pl_mul3_ok(int64_t a, int64_t b, int64_t c, int64_t *out) {
    int64_t ab;
    return pl_mul_ok(a, b, &ab) && pl_mul_ok(ab, c, out);
}
static inline int pl_mul4_ok(int64_t a, int64_t b, int64_t c, int64_t d, int64_t *out) {
    int64_t abc;
    return pl_mul3_ok(a, b, c, &abc) && pl_mul_ok(abc, d, out);
}
/* Bytes of n floats as a size_t; 0 (and *bytes untouched) when n < 0 or the byte count overflows. */
static inline int pl_f32_bytes_ok(int64_t n, size_t *bytes) {
    int64_t b;
    if (!pl_mul_ok(n, (int64_t)sizeof(float), &b)) return 0;
    *bytes = (size_t)b;
    return 1;
}

/* Clears this thread's last error and returns PL_OK: every public call ends its success path with it. */
int32_t pl_ok(void);
/* rc unchanged; clears this thread's last error first when rc is PL_OK (for calls that return another call's status). */
int32_t pl_done(int32_t rc);

/* 64-byte aligned allocation (NULL on failure or size 0); pl_free accepts NULL. */
void *pl_alloc(size_t bytes);
void *pl_calloc(size_t bytes);
void pl_free(void *p);

/* Number of threads kernels use: the count of the model whose call is running (pl_model_set_threads), else the global
   one (pl_set_num_threads), else the usable cores. */
int pl_threads(void);
/* This thread's per-call count (0 = none) and its setter: pl_threads_enter sets a model's count (if it has one) for the
   duration of a compute call and returns the previous value, which the call restores with pl_threads_set_override. */
int pl_threads_override(void);
void pl_threads_set_override(int n);
int pl_threads_enter(const pl_model *m);

/* CPU features detected at run time. */
int pl_cpu_has_avx2(void);   /* AVX2 and FMA */
int pl_cpu_has_avx512(void); /* AVX-512 F */
int pl_cpu_has_avx512bf16(void); /* AVX512-BF16 with AVX512-BW and -VL: the BF16 matmul path */

#endif
