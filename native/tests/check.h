/* The PASS/FAIL lines of the GPU self-tests (gpu/test_cuda.c, cudaemu/test_cudaemu.cu): check() prints one line per check
   and counts it; the program ends with printf("%d passed, %d failed\n", n_pass, n_fail). C and C++. */
#ifndef PL_TESTS_CHECK_H
#define PL_TESTS_CHECK_H

#include <stdarg.h>
#include <stdio.h>

static int n_pass, n_fail;

static void check(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(int ok, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("%s ", ok ? "PASS" : "FAIL");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    if (ok) n_pass++; else n_fail++;
}

#endif
