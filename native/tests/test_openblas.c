/* OpenBLAS at run time: the same F32 product (pl_matmul over an F32 weight, the GEMM path) computed in child processes
   under three settings of the environment, which the engine reads once per process:
     own      PANLORA_GEMM unset: panlora's kernels, blas=none;
     blocked  PANLORA_GEMM=openblas with PANLORA_OPENBLAS_LIBRARY naming a missing file: the fallback sentence in
              pl_build_info's blas field, and results bit for bit those of `own`;
     nosym    PANLORA_GEMM=openblas with PANLORA_OPENBLAS_LIBRARY=libm.so.6 (loads, has no cblas_sgemm): the same fallback;
     openblas PANLORA_GEMM=openblas: OpenBLAS loaded with dlopen where installed (results within float tolerance of
              `own`), else the fallback (results bit for bit those of `own`).
   Every result is also checked against a double-precision loop. A build with PANLORA_BLAS=OFF checks that every request
   falls back, saying so. Prints "openblas: N passed, M failed". */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "panlora.h"

#define IN 96
#define OUT 80
#define NTOK 64 /* > 4 tokens: the GEMM path */

static int passed = 0, failed = 0;

static void check(int ok, const char *what) {
    if (ok) passed++;
    else { failed++; printf("FAIL: %s\n", what); }
}

typedef struct {
    float y[NTOK * OUT];
    char info[1024];
    int rc;
} result;

static float w[OUT * IN], x[NTOK * IN];

/* Runs the product in a child process with the given environment; returns 0 on success. */
static int run_child(const char *gemm, const char *lib, result *out) {
    int fd[2];
    if (pipe(fd) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        close(fd[0]);
        if (gemm) setenv("PANLORA_GEMM", gemm, 1); else unsetenv("PANLORA_GEMM");
        if (lib) setenv("PANLORA_OPENBLAS_LIBRARY", lib, 1); else unsetenv("PANLORA_OPENBLAS_LIBRARY");
        static result r;
        memset(&r, 0, sizeof r);
        r.rc = pl_set_num_threads(2);
        if (r.rc == PL_OK) r.rc = pl_matmul(PL_TYPE_F32, w, (int64_t)sizeof w, IN, OUT, x, NTOK, r.y);
        snprintf(r.info, sizeof r.info, "%s", pl_build_info());
        const char *p = (const char *)&r;
        size_t left = sizeof r;
        while (left > 0) {
            ssize_t n = write(fd[1], p, left);
            if (n <= 0) _exit(2);
            p += n;
            left -= (size_t)n;
        }
        _exit(0);
    }
    close(fd[1]);
    char *p = (char *)out;
    size_t left = sizeof *out;
    while (left > 0) {
        ssize_t n = read(fd[0], p, left);
        if (n <= 0) break;
        p += n;
        left -= (size_t)n;
    }
    close(fd[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return left == 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* The blas field of a build info line. */
static const char *blas_field(const char *info) {
    const char *b = strstr(info, "; blas=");
    return b ? b + 7 : "";
}

/* 1 when every y is within float rounding of the double-precision product. */
static int near_reference(const float *y) {
    for (int t = 0; t < NTOK; t++)
        for (int o = 0; o < OUT; o++) {
            double s = 0, mag = 0;
            for (int i = 0; i < IN; i++) {
                s += (double)w[o * IN + i] * x[t * IN + i];
                mag += fabs((double)w[o * IN + i] * x[t * IN + i]);
            }
            if (fabs(y[t * OUT + o] - s) > 1e-5 * mag + 1e-6) return 0;
        }
    return 1;
}

static int same_bits(const float *a, const float *b) { return memcmp(a, b, sizeof(float) * NTOK * OUT) == 0; }

static int close_to(const float *a, const float *b) {
    for (int i = 0; i < NTOK * OUT; i++)
        if (fabsf(a[i] - b[i]) > 1e-5f * (1.0f + fabsf(b[i]))) return 0;
    return 1;
}

int main(void) {
    uint64_t s = 0x9E3779B97F4A7C15ULL;
    for (int i = 0; i < OUT * IN; i++) { s = s * 6364136223846793005ULL + 1442695040888963407ULL; w[i] = (float)((int64_t)(s >> 40) % 2001 - 1000) / 1000.0f; }
    for (int i = 0; i < NTOK * IN; i++) { s = s * 6364136223846793005ULL + 1442695040888963407ULL; x[i] = (float)((int64_t)(s >> 40) % 2001 - 1000) / 1000.0f; }

    static result own, blocked, nosym, ob;
    char msg[1400];
    check(run_child(NULL, NULL, &own) == 0 && own.rc == PL_OK, "own: child ran");
    snprintf(msg, sizeof msg, "own: blas field is \"none\" (got \"%s\")", blas_field(own.info));
    check(strcmp(blas_field(own.info), "none") == 0, msg);
    check(near_reference(own.y), "own: matches the double-precision product");

#ifndef PANLORA_BLAS_RUNTIME
    /* a PANLORA_BLAS=OFF build (ci/sanitize.sh): every request falls back, saying the build has no OpenBLAS path */
    (void)nosym;
    check(run_child("openblas", NULL, &ob) == 0 && ob.rc == PL_OK, "off: child ran");
    snprintf(msg, sizeof msg, "off: the fallback says the build has no OpenBLAS path (got \"%s\")", blas_field(ob.info));
    check(strncmp(blas_field(ob.info), "none (PANLORA_GEMM=openblas, but this build has no OpenBLAS path", 63) == 0, msg);
    check(same_bits(ob.y, own.y), "off: results bit for bit those of the own GEMM");
    (void)blocked;
    (void)close_to;
#else
    check(run_child("openblas", "/nonexistent/libopenblas.so.0", &blocked) == 0 && blocked.rc == PL_OK, "blocked: child ran");
    snprintf(msg, sizeof msg, "blocked: the fallback sentence names the file and the own GEMM (got \"%s\")", blas_field(blocked.info));
    check(strncmp(blas_field(blocked.info), "none (PANLORA_GEMM=openblas, but OpenBLAS could not be loaded: /nonexistent/libopenblas.so.0", 90) == 0 &&
          strstr(blocked.info, "panlora's own GEMM runs instead)") != NULL, msg);
    check(same_bits(blocked.y, own.y), "blocked: results bit for bit those of the own GEMM");

    check(run_child("openblas", "libm.so.6", &nosym) == 0 && nosym.rc == PL_OK, "nosym: child ran");
    snprintf(msg, sizeof msg, "nosym: the fallback says the library has no cblas_sgemm (got \"%s\")", blas_field(nosym.info));
    check(strstr(blas_field(nosym.info), "libm.so.6: has no cblas_sgemm") != NULL, msg);
    check(same_bits(nosym.y, own.y), "nosym: results bit for bit those of the own GEMM");

    check(run_child("openblas", NULL, &ob) == 0 && ob.rc == PL_OK, "openblas: child ran");
    const char *f = blas_field(ob.info);
    if (strncmp(f, "openblas (", 10) == 0) {
        printf("openblas: %s\n", f);
        check(near_reference(ob.y), "openblas: matches the double-precision product");
        check(close_to(ob.y, own.y), "openblas: within float tolerance of the own GEMM");
    } else {
        printf("openblas: not installed here (%s): checked the fallback only\n", f);
        check(strncmp(f, "none (PANLORA_GEMM=openblas", 27) == 0, "openblas: absent, so the fallback sentence");
        check(same_bits(ob.y, own.y), "openblas: absent, so results bit for bit those of the own GEMM");
    }
#endif
    printf("openblas: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
