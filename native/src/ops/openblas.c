/* OpenBLAS at run time: PANLORA_GEMM=openblas loads it with dlopen and takes cblas_sgemm (and OpenBLAS's thread
   setters) with dlsym. Nothing links OpenBLAS, so libpanlora.so loads where it is not installed; when it is asked for
   and cannot be loaded, the GEMM falls back to panlora's own kernels and pl_build_info's blas field says why (the
   library prints nothing; the CLI shows that sentence once). */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ops/openblas.h"

static pthread_once_t ob_once = PTHREAD_ONCE_INIT;
static pl_openblas ob;
static int ob_loaded;
static char ob_text[768] = "none";

/* 1 when PANLORA_GEMM=openblas asks for OpenBLAS's GEMM (multi-threaded with static shares: fastest on an idle
   machine, stalls whenever one of its threads is descheduled). */
static int asked_for(void) {
    const char *e = getenv("PANLORA_GEMM");
    return e && strcmp(e, "openblas") == 0;
}

#ifdef PANLORA_BLAS_RUNTIME
/* Tries one file or soname; on success fills ob and returns 1, else appends "NAME: reason" to why. */
static int try_load(const char *name, char *why, size_t why_len) {
    void *h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    const char *reason = NULL;
    if (!h) {
        reason = dlerror();
        if (!reason) reason = "cannot be loaded";
    } else {
        pl_cblas_sgemm_fn sgemm;
        *(void **)&sgemm = dlsym(h, "cblas_sgemm");
        if (!sgemm) {
            reason = "has no cblas_sgemm";
            dlclose(h);
        } else {
            ob.sgemm = sgemm;
            *(void **)&ob.get_num_threads = dlsym(h, "openblas_get_num_threads");
            *(void **)&ob.set_num_threads = dlsym(h, "openblas_set_num_threads");
            return 1; /* kept loaded for the life of the process */
        }
    }
    /* dlerror() usually starts with the name already; a long reason is cut (the return value says by how much) */
    const int named = strncmp(reason, name, strlen(name)) == 0;
    const size_t used = strlen(why);
    const int wrote = snprintf(why + used, why_len - used, "%s%.200s%s%.300s", used ? "; " : "", named ? "" : name,
                               named ? "" : ": ", reason);
    if (wrote < 0) why[used] = 0;
    return 0;
}
#endif

static void ob_load(void) {
    if (!asked_for()) return; /* "none" */
#ifdef PANLORA_BLAS_RUNTIME
    char why[512] = "";
    const char *env = getenv("PANLORA_OPENBLAS_LIBRARY");
    const char *const defaults[] = {"libopenblas.so.0", "libopenblas.so"};
    const char *names[2];
    int n = 0;
    if (env && *env) names[n++] = env;
    else for (int i = 0; i < 2; i++) names[n++] = defaults[i];
    for (int i = 0; i < n; i++) {
        if (try_load(names[i], why, sizeof why)) {
            snprintf(ob_text, sizeof ob_text, "openblas (%s, loaded at run time)", names[i]);
            ob_loaded = 1;
            return;
        }
    }
    snprintf(ob_text, sizeof ob_text,
             "none (PANLORA_GEMM=openblas, but OpenBLAS could not be loaded: %s; panlora's own GEMM runs instead)", why);
#else
    snprintf(ob_text, sizeof ob_text,
             "none (PANLORA_GEMM=openblas, but this build has no OpenBLAS path (PANLORA_BLAS=OFF); panlora's own GEMM "
             "runs instead)");
#endif
}

const pl_openblas *pl_openblas_get(void) {
    pthread_once(&ob_once, ob_load);
    return ob_loaded ? &ob : NULL;
}

const char *pl_openblas_describe(void) {
    pthread_once(&ob_once, ob_load);
    return ob_text;
}
