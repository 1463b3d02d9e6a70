/* Tests of the cuBLASLt loader (src/cuda/cublaslt_loader.c) against the stub library the build makes (no GPU or
   cuBLAS needed): with PANLORA_CUBLAS_DIR at the stub it loads from there and resolves every entry point; and, each
   in a fresh process (the loader keeps its first success), an empty folder yields one sentence naming
   PANLORA_CUBLAS_DIR (or, on a machine with a real cuBLASLt, a library from elsewhere), a corrupt file and a library
   without the symbols are reported by path. Usage: test_cublaslt_loader STUB_DIR.
   Prints "cublaslt_loader: N passed, M failed"; exits non-zero on any failure. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <dlfcn.h>
#include "cublaslt.h"

#define STUB_VERSION 130099

/* Check messages quote long paths and may be cut short; that is fine. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

static int passed = 0, failed = 0;

/* Records one check; prints the failures. */
static void check(int ok, const char *what) {
    if (ok) {
        passed++;
    } else {
        failed++;
        printf("FAIL: %s\n", what);
    }
}

/* Records one check with a formatted description. */
#define CHECKF(ok, ...)                                       \
    do {                                                      \
        char check_msg_[1024];                                \
        snprintf(check_msg_, sizeof check_msg_, __VA_ARGS__); \
        check((ok), check_msg_);                              \
    } while (0)

static int starts_with(const char *s, const char *prefix) {
    return s != NULL && strncmp(s, prefix, strlen(prefix)) == 0;
}

/* One sentence: text, ends with a period, no line break, no sentence break inside. */
static int one_sentence(const char *s) {
    size_t n = strlen(s);
    return n > 20 && s[n - 1] == '.' && strchr(s, '\n') == NULL && strstr(s, ". ") == NULL;
}

/* dir's real path, or dir itself. */
static void real_dir(const char *dir, char *out) {
    if (realpath(dir, out) == NULL) snprintf(out, PATH_MAX, "%s", dir);
}

/* ---- the fresh-process cases (run as: test_cublaslt_loader --child MODE DIR) ---- */

/* MODE empty: DIR is an empty folder. */
static void child_empty(const char *dir) {
    char real[PATH_MAX], want[PATH_MAX + 32], err[2048];
    real_dir(dir, real);
    snprintf(want, sizeof want, "%s/libcublasLt.so.13", real);
    static char cands[8][4096];
    int n = plc_lt_candidates(cands, 8);
    CHECKF(n >= 3 && strcmp(cands[0], want) == 0, "empty: the first candidate is %s (got %s)", want,
           n > 0 ? cands[0] : "none");
    CHECKF(n >= 3 && strcmp(cands[2], "libcublasLt.so.13") == 0, "empty: the loader's own search comes next (got %s)",
           n > 2 ? cands[2] : "none");
    plc_lt_api api;
    int rc = plc_lt_load(&api, err, sizeof err);
    if (rc != 0) {
        printf("empty folder: %s\n", err);
        CHECKF(strstr(err, "PANLORA_CUBLAS_DIR") != NULL, "empty: the message names PANLORA_CUBLAS_DIR: %s", err);
        CHECKF(strstr(err, real) != NULL || strstr(err, dir) != NULL, "empty: the message names the folder: %s", err);
        CHECKF(strstr(err, "nvidia-cublas") != NULL, "empty: the message says what to install: %s", err);
        CHECKF(one_sentence(err), "empty: the message is one sentence: %s", err);
        check(plc_lt_loaded_path() == NULL, "empty: no loaded path after a failure");
    } else {
        const char *p = plc_lt_loaded_path();
        printf("empty folder: this machine has a cuBLASLt elsewhere: %s\n", p ? p : "(null)");
        char prefix[PATH_MAX + 2];
        snprintf(prefix, sizeof prefix, "%s/", real);
        CHECKF(p != NULL && !starts_with(p, prefix), "empty: the library found is not in the empty folder (%s)",
               p ? p : "(null)");
        check(api.cublasLtMatmul != NULL, "empty: the library found elsewhere resolves cublasLtMatmul");
    }
}

/* MODE corrupt: DIR holds a libcublasLt.so.13 that is not a shared library. */
static void child_corrupt(const char *dir) {
    char real[PATH_MAX], file[PATH_MAX + 32], err[2048];
    real_dir(dir, real);
    snprintf(file, sizeof file, "%s/libcublasLt.so.13", real);
    plc_lt_api api;
    int rc = plc_lt_load(&api, err, sizeof err);
    printf("corrupt file: %s\n", err);
    check(rc != 0, "corrupt: a broken library in PANLORA_CUBLAS_DIR fails the load (no silent fallback)");
    CHECKF(strstr(err, file) != NULL, "corrupt: the message names %s: %s", file, err);
    CHECKF(strstr(err, "PANLORA_CUBLAS_DIR") != NULL, "corrupt: the message names PANLORA_CUBLAS_DIR: %s", err);
    CHECKF(one_sentence(err), "corrupt: the message is one sentence: %s", err);
    check(plc_lt_loaded_path() == NULL, "corrupt: no loaded path after a failure");
}

/* MODE nosym: DIR holds a real shared library (a copy of libm) named libcublasLt.so.13. */
static void child_nosym(const char *dir) {
    char real[PATH_MAX], file[PATH_MAX + 32], err[2048];
    real_dir(dir, real);
    snprintf(file, sizeof file, "%s/libcublasLt.so.13", real);
    plc_lt_api api;
    int rc = plc_lt_load(&api, err, sizeof err);
    printf("library without the symbols: %s\n", err);
    check(rc != 0, "nosym: a library without cuBLASLt's symbols fails the load");
    CHECKF(strstr(err, file) != NULL, "nosym: the message names %s: %s", file, err);
    CHECKF(strstr(err, "cublasLtCreate") != NULL, "nosym: the message names the missing symbol: %s", err);
    CHECKF(one_sentence(err), "nosym: the message is one sentence: %s", err);
}

/* Runs this program as --child mode dir with PANLORA_CUBLAS_DIR = dir and an empty LD_LIBRARY_PATH; 1 when all the
   child's checks passed. */
static int run_child(const char *self, const char *mode, const char *dir) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return 0;
    if (pid == 0) {
        setenv("PANLORA_CUBLAS_DIR", dir, 1);
        setenv("LD_LIBRARY_PATH", "", 1);
        char *args[] = {(char *)self, (char *)"--child", (char *)mode, (char *)dir, NULL};
        if (strchr(self, '/') != NULL) execv(self, args); /* argv[0] as run (also right under valgrind) */
        execv("/proc/self/exe", args);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return 0;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* Copies the file at src to dst; 1 on success. */
static int copy_file(const char *src, const char *dst) {
    FILE *in = fopen(src, "rb");
    if (in == NULL) return 0;
    FILE *out = fopen(dst, "wb");
    if (out == NULL) {
        fclose(in);
        return 0;
    }
    char buf[65536];
    size_t n;
    int ok = 1;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n) ok = 0;
    fclose(in);
    if (fclose(out) != 0) ok = 0;
    return ok;
}

/* The path of a small system library that is certainly not cuBLASLt (libm), or 0. */
static int find_libm(char *out, size_t len) {
    void *h = dlopen("libm.so.6", RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) return 0;
    void *sym = dlsym(h, "cos");
    Dl_info info;
    int ok = sym != NULL && dladdr(sym, &info) != 0 && info.dli_fname != NULL && info.dli_fname[0] == '/';
    if (ok) snprintf(out, len, "%s", info.dli_fname);
    dlclose(h);
    return ok;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "--child") == 0) {
        if (strcmp(argv[2], "empty") == 0) child_empty(argv[3]);
        else if (strcmp(argv[2], "corrupt") == 0) child_corrupt(argv[3]);
        else if (strcmp(argv[2], "nosym") == 0) child_nosym(argv[3]);
        else check(0, "unknown child mode");
        return failed == 0 ? 0 : 1;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: %s STUB_DIR\n", argv[0]);
        return 2;
    }
    const char *stub_dir = argv[1];
    char stub_real[PATH_MAX], err[2048];
    real_dir(stub_dir, stub_real);

    /* (a) the stub through PANLORA_CUBLAS_DIR */
    setenv("PANLORA_CUBLAS_DIR", stub_dir, 1);
    static char cands[64][4096];
    int n = plc_lt_candidates(cands, 64);
    char want13[PATH_MAX + 32], want12[PATH_MAX + 32];
    snprintf(want13, sizeof want13, "%s/libcublasLt.so.13", stub_real);
    snprintf(want12, sizeof want12, "%s/libcublasLt.so.12", stub_real);
    CHECKF(n >= 4 && strcmp(cands[0], want13) == 0 && strcmp(cands[1], want12) == 0,
           "candidates start with PANLORA_CUBLAS_DIR's .so.13 then .so.12 (got %s, %s)", n > 0 ? cands[0] : "none",
           n > 1 ? cands[1] : "none");
    CHECKF(n >= 4 && strcmp(cands[2], "libcublasLt.so.13") == 0 && strcmp(cands[3], "libcublasLt.so.12") == 0,
           "then the dynamic loader's search (got %s, %s)", n > 2 ? cands[2] : "none", n > 3 ? cands[3] : "none");
    int dup = 0;
    for (int i = 0; i < n && i < 64; i++)
        for (int j = 0; j < i; j++)
            if (strcmp(cands[i], cands[j]) == 0) dup = 1;
    check(!dup, "no candidate is listed twice");
    check(plc_lt_candidates(NULL, 0) == n, "plc_lt_candidates(NULL, 0) counts the same candidates");
    check(plc_lt_loaded_path() == NULL, "no loaded path before the first load");

    plc_lt_api api;
    memset(&api, 0, sizeof api);
    int rc = plc_lt_load(&api, err, sizeof err);
    CHECKF(rc == 0, "the stub loads from PANLORA_CUBLAS_DIR (%s)", err);
    if (rc == 0) {
        const char *p = plc_lt_loaded_path();
        char prefix[PATH_MAX + 2];
        snprintf(prefix, sizeof prefix, "%s/", stub_real);
        CHECKF(starts_with(p, prefix), "the loaded path %s is inside %s", p ? p : "(null)", stub_real);
        check(err[0] == '\0', "no message on success");
        int all = 1;
        /* every field is a function pointer, each the size of a void * */
        for (size_t i = 0; i < sizeof api / sizeof(void *); i++) {
            void *f;
            memcpy(&f, (const char *)&api + i * sizeof(void *), sizeof f);
            if (f == NULL) all = 0;
        }
        check(all && sizeof api == 13 * sizeof(void *), "all 13 entry points are resolved");
        CHECKF(api.cublasLtGetVersion() == STUB_VERSION, "cublasLtGetVersion() is the stub's (%zu)",
               api.cublasLtGetVersion());
        plc_lt_handle h = NULL;
        check(api.cublasLtCreate(&h) == PLC_LT_STATUS_SUCCESS && h != NULL, "cublasLtCreate succeeds");
        plc_lt_heuristic_result res[1];
        int got = 0;
        check(api.cublasLtMatmulAlgoGetHeuristic(h, NULL, NULL, NULL, NULL, NULL, NULL, 1, res, &got) ==
                      PLC_LT_STATUS_SUCCESS && got == 1 && res[0].state == PLC_LT_STATUS_SUCCESS,
              "the heuristic answers through the table");
        check(api.cublasLtDestroy(h) == PLC_LT_STATUS_SUCCESS, "cublasLtDestroy succeeds");

        /* a second call returns the same library at once, whatever the environment says now */
        setenv("PANLORA_CUBLAS_DIR", "/nonexistent-panlora-dir", 1);
        plc_lt_api again;
        memset(&again, 0, sizeof again);
        check(plc_lt_load(&again, err, sizeof err) == 0 && memcmp(&again, &api, sizeof api) == 0 &&
                      plc_lt_loaded_path() == p,
              "a second load is idempotent");
        setenv("PANLORA_CUBLAS_DIR", stub_dir, 1);
    }

    /* (b), (c), (d) in fresh processes */
    const char *tmp = getenv("TMPDIR");
    char empty[PATH_MAX], corrupt[PATH_MAX], nosym[PATH_MAX];
    snprintf(empty, sizeof empty, "%s/panlora-lt-empty-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    snprintf(corrupt, sizeof corrupt, "%s/panlora-lt-corrupt-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    snprintf(nosym, sizeof nosym, "%s/panlora-lt-nosym-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    char corrupt_file[PATH_MAX + 32], nosym_file[PATH_MAX + 32];
    int have_empty = mkdtemp(empty) != NULL, have_corrupt = mkdtemp(corrupt) != NULL,
        have_nosym = mkdtemp(nosym) != NULL;
    check(have_empty && have_corrupt && have_nosym, "temporary folders are made");
    snprintf(corrupt_file, sizeof corrupt_file, "%s/libcublasLt.so.13", corrupt);
    snprintf(nosym_file, sizeof nosym_file, "%s/libcublasLt.so.13", nosym);

    if (have_empty) check(run_child(argv[0], "empty", empty), "an empty PANLORA_CUBLAS_DIR (fresh process)");
    if (have_corrupt) {
        FILE *f = fopen(corrupt_file, "wb");
        int ok = f != NULL && fputs("this is not a shared library\n", f) >= 0;
        if (f != NULL && fclose(f) != 0) ok = 0;
        check(ok, "the corrupt file is written");
        if (ok) check(run_child(argv[0], "corrupt", corrupt), "a corrupt libcublasLt.so.13 (fresh process)");
    }
    if (have_nosym) {
        char libm[PATH_MAX];
        if (find_libm(libm, sizeof libm) && copy_file(libm, nosym_file))
            check(run_child(argv[0], "nosym", nosym), "a library without cuBLASLt's symbols (fresh process)");
        else
            printf("skipped: no libm to copy for the missing-symbol case\n");
    }

    unlink(corrupt_file);
    unlink(nosym_file);
    rmdir(empty);
    rmdir(corrupt);
    rmdir(nosym);

    printf("cublaslt_loader: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
