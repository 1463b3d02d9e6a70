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

/* 64-byte aligned allocation (NULL on failure or size 0); pl_free accepts NULL. */
void *pl_alloc(size_t bytes);
void *pl_calloc(size_t bytes);
void pl_free(void *p);

/* Number of threads kernels use (pl_set_num_threads). */
int pl_threads(void);

/* CPU features detected at run time. */
int pl_cpu_has_avx2(void);   /* AVX2 and FMA */
int pl_cpu_has_avx512(void); /* AVX-512 F */

#endif
