/* Finds cuBLASLt at run time and resolves the entry points of plc_lt_api (cublaslt.h), so that the CUDA backend
   builds without cuBLAS and runs with whichever cuBLASLt 13 or 12 the machine has: the CUDA toolkit's or a pip
   wheel's (nvidia-cublas puts it in site-packages/nvidia/cu13/lib, nvidia-cublas-cu12 in nvidia/cublas/lib).
   cuBLASLt needs only system libraries (libcublas.so needs cuBLASLt, not the other way round), so the file is opened
   on its own, with RTLD_LOCAL so that its symbols cannot interpose on another copy in the process (llama.cpp's). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* dladdr, strverscmp */
#endif
#include "cublaslt.h"

#include <dlfcn.h>
#include <glob.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LT_PATH 4096
#define LT_MAX_PLACES 256

/* The sonames tried in each place, newest first. */
static const char *const lt_sonames[] = {"libcublasLt.so.13", "libcublasLt.so.12"};
#define LT_N_SONAMES ((int)(sizeof lt_sonames / sizeof lt_sonames[0]))

/* Every entry point of plc_lt_api: its symbol and where its pointer goes. */
#define LT_SYM(name) {#name, offsetof(plc_lt_api, name)}
static const struct {
    const char *name;
    size_t offset;
} lt_symbols[] = {
    LT_SYM(cublasLtCreate),
    LT_SYM(cublasLtDestroy),
    LT_SYM(cublasLtGetVersion),
    LT_SYM(cublasLtMatmulDescCreate),
    LT_SYM(cublasLtMatmulDescDestroy),
    LT_SYM(cublasLtMatmulDescSetAttribute),
    LT_SYM(cublasLtMatrixLayoutCreate),
    LT_SYM(cublasLtMatrixLayoutDestroy),
    LT_SYM(cublasLtMatmulPreferenceCreate),
    LT_SYM(cublasLtMatmulPreferenceDestroy),
    LT_SYM(cublasLtMatmulPreferenceSetAttribute),
    LT_SYM(cublasLtMatmulAlgoGetHeuristic),
    LT_SYM(cublasLtMatmul),
};
#undef LT_SYM
#define LT_N_SYMBOLS ((int)(sizeof lt_symbols / sizeof lt_symbols[0]))

/* One place to look: a folder, or "" for the dynamic loader's own search (LD_LIBRARY_PATH, ld.so.cache). */
typedef struct lt_place {
    char dir[LT_PATH];
    int from_env; /* $PANLORA_CUBLAS_DIR: a library there that cannot be used ends the search */
} lt_place;

typedef struct lt_places {
    lt_place *v;
    int n;
} lt_places;

/* Adds a folder that exists (by its real path, once); from_env folders are kept as given even when missing. */
static void places_add(lt_places *ps, const char *dir, int from_env) {
    if (ps->n >= LT_MAX_PLACES || dir == NULL) return;
    char real[LT_PATH];
    if (dir[0] == '\0') {
        real[0] = '\0';
    } else if (realpath(dir, real) == NULL) {
        if (!from_env) return;
        if (snprintf(real, sizeof real, "%s", dir) >= (int)sizeof real) return;
    } else {
        struct stat st;
        if (stat(real, &st) != 0 || !S_ISDIR(st.st_mode)) {
            if (!from_env) return;
        }
    }
    for (int i = 0; i < ps->n; i++)
        if (strcmp(ps->v[i].dir, real) == 0) return;
    memcpy(ps->v[ps->n].dir, real, strlen(real) + 1);
    ps->v[ps->n].from_env = from_env;
    ps->n++;
}

/* base + "/" + suffix, skipped when base is unset or empty or the result is too long. */
static void places_add_sub(lt_places *ps, const char *base, const char *suffix) {
    if (base == NULL || base[0] == '\0') return;
    char d[LT_PATH];
    if (snprintf(d, sizeof d, "%s/%s", base, suffix) >= (int)sizeof d) return;
    places_add(ps, d, 0);
}

/* Newest version first: strverscmp orders cuda-12.9 < cuda-12.10 < cuda-13.0 and python3.9 < python3.12. */
static int newest_first(const void *a, const void *b) {
    return strverscmp(*(const char *const *)b, *(const char *const *)a);
}

/* The matches of a glob pattern, newest first (globfree the result; gl_pathc = 0 when none). */
static void glob_newest_first(const char *pattern, glob_t *g) {
    memset(g, 0, sizeof *g);
    if (glob(pattern, GLOB_ONLYDIR, NULL, g) != 0) {
        globfree(g);
        memset(g, 0, sizeof *g);
        return;
    }
    qsort(g->gl_pathv, g->gl_pathc, sizeof(char *), newest_first);
}

/* The nvidia/<pkg>/lib folders of one Python prefix's site-packages and dist-packages. */
static void places_add_python(lt_places *ps, const char *prefix_lib) {
    if (prefix_lib == NULL || prefix_lib[0] == '\0') return;
    char pattern[LT_PATH];
    if (snprintf(pattern, sizeof pattern, "%s/python3*", prefix_lib) >= (int)sizeof pattern) return;
    glob_t pys;
    glob_newest_first(pattern, &pys);
    for (size_t i = 0; i < pys.gl_pathc; i++) {
        static const char *const kinds[] = {"site-packages", "dist-packages"};
        for (int k = 0; k < 2; k++) {
            char site[LT_PATH];
            if (snprintf(site, sizeof site, "%s/%s/nvidia", pys.gl_pathv[i], kinds[k]) >= (int)sizeof site) continue;
            places_add_sub(ps, site, "cu13/lib");   /* nvidia-cublas (13.x) */
            places_add_sub(ps, site, "cublas/lib"); /* nvidia-cublas-cu12 */
            char any[LT_PATH];
            if (snprintf(any, sizeof any, "%s/*/lib", site) >= (int)sizeof any) continue;
            glob_t libs;
            glob_newest_first(any, &libs);
            for (size_t j = 0; j < libs.gl_pathc; j++) places_add(ps, libs.gl_pathv[j], 0);
            globfree(&libs);
        }
    }
    globfree(&pys);
}

/* The places to search, in order (ps->v is malloc'd; NULL when out of memory). */
static void places_build(lt_places *ps) {
    ps->n = 0;
    ps->v = (lt_place *)malloc(sizeof(lt_place) * LT_MAX_PLACES);
    if (ps->v == NULL) return;
    const char *env = getenv("PANLORA_CUBLAS_DIR");
    if (env != NULL && env[0] != '\0') places_add(ps, env, 1);
    places_add(ps, "", 0);
    /* the CUDA toolkit */
    static const char *const toolkit_vars[] = {"CUDA_HOME", "CUDA_PATH"};
    for (int i = 0; i < 2; i++) {
        const char *t = getenv(toolkit_vars[i]);
        places_add_sub(ps, t, "lib64");
        places_add_sub(ps, t, "lib");
    }
    places_add(ps, "/usr/local/cuda/lib64", 0);
    glob_t cudas;
    glob_newest_first("/usr/local/cuda-*/lib64", &cudas);
    for (size_t i = 0; i < cudas.gl_pathc; i++) places_add(ps, cudas.gl_pathv[i], 0);
    globfree(&cudas);
#if defined(__aarch64__)
    places_add(ps, "/usr/lib/aarch64-linux-gnu", 0);
#else
    places_add(ps, "/usr/lib/x86_64-linux-gnu", 0);
#endif
    places_add(ps, "/usr/lib64", 0);
    /* Python installations: the active environment first, then the user's, then the system's */
    const char *venv = getenv("VIRTUAL_ENV"), *conda = getenv("CONDA_PREFIX"), *home = getenv("HOME");
    char lib[LT_PATH];
    if (venv && venv[0] && snprintf(lib, sizeof lib, "%s/lib", venv) < (int)sizeof lib) places_add_python(ps, lib);
    if (conda && conda[0]) {
        places_add_sub(ps, conda, "lib"); /* conda's cuda-toolkit / libcublas packages */
        if (snprintf(lib, sizeof lib, "%s/lib", conda) < (int)sizeof lib) places_add_python(ps, lib);
    }
    if (home && home[0] && snprintf(lib, sizeof lib, "%s/.local/lib", home) < (int)sizeof lib)
        places_add_python(ps, lib);
    places_add_python(ps, "/usr/local/lib");
    places_add_python(ps, "/usr/lib");
}

/* The file of candidate (place, soname): a path, or the bare soname for the loader's search. */
static int candidate_path(const lt_place *p, const char *soname, char *out, size_t out_len) {
    int w = p->dir[0] ? snprintf(out, out_len, "%s/%s", p->dir, soname) : snprintf(out, out_len, "%s", soname);
    return w >= 0 && (size_t)w < out_len;
}

int plc_lt_candidates(char paths[][4096], int max) {
    lt_places ps;
    places_build(&ps);
    if (ps.v == NULL) return 0;
    int n = 0;
    for (int i = 0; i < ps.n; i++)
        for (int s = 0; s < LT_N_SONAMES; s++) {
            if (n < max && paths != NULL) candidate_path(&ps.v[i], lt_sonames[s], paths[n], 4096);
            n++;
        }
    free(ps.v);
    return n;
}

/* ---- loading ---- */

static pthread_mutex_t lt_mutex = PTHREAD_MUTEX_INITIALIZER;
static int lt_loaded;          /* set once, under lt_mutex; never cleared */
static plc_lt_api lt_api;
static char lt_path[LT_PATH];

/* A dlerror() text as one clause: no trailing period or newline. */
static void clause(char *dst, size_t len, const char *msg) {
    snprintf(dst, len, "%s", msg ? msg : "unknown error");
    size_t n = strlen(dst);
    while (n > 0 && (dst[n - 1] == '\n' || dst[n - 1] == '.' || dst[n - 1] == ' ')) dst[--n] = '\0';
    for (size_t i = 0; i < n; i++)
        if (dst[i] == '\n') dst[i] = ' ';
}

/* Opens one candidate and resolves every symbol. Returns 1 on success (api filled, handle kept open), 0 when the
   file is not there, -1 when it is there but cannot be used (the reason in why). */
static int try_candidate(const char *file, int bare, plc_lt_api *api, char *why, size_t why_len) {
    if (!bare && access(file, F_OK) != 0) return 0;
    dlerror();
    void *h = dlopen(file, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        const char *e = dlerror();
        /* a bare name the loader simply does not know is "not there", anything else is a broken library */
        if (bare && (e == NULL || strstr(e, "cannot open shared object file") != NULL)) return 0;
        char c[1024];
        clause(c, sizeof c, e);
        snprintf(why, why_len, "dlopen failed: %s", c);
        return -1;
    }
    plc_lt_api got;
    memset(&got, 0, sizeof got);
    for (int i = 0; i < LT_N_SYMBOLS; i++) {
        dlerror();
        void *sym = dlsym(h, lt_symbols[i].name);
        if (sym == NULL) {
            snprintf(why, why_len, "it lacks the symbol %s", lt_symbols[i].name);
            dlclose(h);
            return -1;
        }
        /* POSIX guarantees a data pointer from dlsym converts to a function pointer; memcpy keeps C11 quiet */
        memcpy((char *)&got + lt_symbols[i].offset, &sym, sizeof sym);
    }
    *api = got;
    return 1;
}

/* Where the library that holds sym came from (the loader knows the full path even for a bare soname). */
static void path_of(void *sym, const char *fallback, char *out, size_t len) {
    Dl_info info;
    if (dladdr(sym, &info) != 0 && info.dli_fname != NULL && info.dli_fname[0] != '\0') {
        char real[LT_PATH];
        snprintf(out, len, "%s", realpath(info.dli_fname, real) ? real : info.dli_fname);
    } else {
        snprintf(out, len, "%s", fallback);
    }
}

static const char LT_FIX[] =
    "install it with `pip install nvidia-cublas` (or the CUDA toolkit's cuBLAS), or set PANLORA_CUBLAS_DIR to the "
    "folder that holds libcublasLt.so.13";

/* The search itself; called with lt_mutex held. */
static int load_locked(char *err, size_t err_len) {
    lt_places ps;
    places_build(&ps);
    if (ps.v == NULL) {
        if (err && err_len) snprintf(err, err_len, "cuBLASLt could not be searched for: out of host memory.");
        return -1;
    }
    char first_bad[LT_PATH] = "", first_why[1200] = "";
    int first_bad_env = 0;
    for (int i = 0; i < ps.n; i++) {
        const lt_place *p = &ps.v[i];
        for (int s = 0; s < LT_N_SONAMES; s++) {
            char file[LT_PATH], why[1200];
            if (!candidate_path(p, lt_sonames[s], file, sizeof file)) continue;
            plc_lt_api api;
            int r = try_candidate(file, p->dir[0] == '\0', &api, why, sizeof why);
            if (r == 1) {
                void *create;
                memcpy(&create, &api.cublasLtCreate, sizeof create);
                path_of(create, file, lt_path, sizeof lt_path);
                lt_api = api;
                lt_loaded = 1;
                free(ps.v);
                return 0;
            }
            if (r < 0 && first_bad[0] == '\0') {
                snprintf(first_bad, sizeof first_bad, "%s", file);
                snprintf(first_why, sizeof first_why, "%s", why);
                first_bad_env = p->from_env;
            }
            /* the folder the user named holds a library we cannot use: say so rather than take another one */
            if (r < 0 && p->from_env) goto fail;
        }
    }
fail:;
    const char *env = getenv("PANLORA_CUBLAS_DIR");
    if (err && err_len) {
        if (first_bad[0] && first_bad_env)
            snprintf(err, err_len,
                     "cuBLASLt at %s (from PANLORA_CUBLAS_DIR) cannot be used (%s); point PANLORA_CUBLAS_DIR at a "
                     "folder that holds a working libcublasLt.so.13 or .so.12, or unset it.",
                     first_bad, first_why);
        else if (first_bad[0])
            snprintf(err, err_len, "cuBLASLt at %s cannot be used (%s) and no other was found; %s.", first_bad,
                     first_why, LT_FIX);
        else
            snprintf(err, err_len,
                     "cuBLASLt (libcublasLt.so.13 or .so.12) was not found in PANLORA_CUBLAS_DIR (%s), the dynamic "
                     "loader's path, the CUDA toolkit (CUDA_HOME, CUDA_PATH, /usr/local/cuda*, /usr/lib) or the "
                     "nvidia/*/lib folders of Python's site-packages (%d places searched); %s.",
                     env && env[0] ? env : "unset", ps.n, LT_FIX);
    }
    free(ps.v);
    return -1;
}

int plc_lt_load(plc_lt_api *api, char *err, size_t err_len) {
    if (err && err_len) err[0] = '\0';
    pthread_mutex_lock(&lt_mutex);
    int rc = lt_loaded ? 0 : load_locked(err, err_len);
    if (rc == 0 && api != NULL) *api = lt_api;
    pthread_mutex_unlock(&lt_mutex);
    return rc;
}

const char *plc_lt_loaded_path(void) {
    pthread_mutex_lock(&lt_mutex);
    const char *p = lt_loaded ? lt_path : NULL;
    pthread_mutex_unlock(&lt_mutex);
    return p;
}
