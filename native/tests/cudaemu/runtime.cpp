/* cudaemu's runtime: device memory, copies, streams and events, and the execution of kernel launches (see
   include/cuda_runtime.h for what the emulation is and what it checks). x86-64 Linux only (the fiber switch is a few
   lines of assembly). One launch runs at a time (a process-wide lock); blocks run one after another; the threads of a
   block are fibers that run until they block at a barrier or a warp collective.

   Environment: PLC_EMU_MEM_MIB (device memory, default 16384), PLC_EMU_CC (compute capability, default 90),
   PLC_EMU_DEVICES (default 1), PLC_EMU_PROTECT=0 (leave device memory readable by host code), PLC_EMU_SEGV=1 (print
   what a segmentation fault touched before the process dies; not inside a JVM, which handles SIGSEGV itself). */
#include "cuda_runtime.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <map>
#include <mutex>
#include <set>
#include <vector>

#define EMU_EXPORT __attribute__((visibility("default")))

extern "C" {
EMU_EXPORT uint3 plc_emu_thread_idx, plc_emu_block_idx;
EMU_EXPORT dim3 plc_emu_block_dim, plc_emu_grid_dim;
EMU_EXPORT void plc_emu_access_begin(void);
EMU_EXPORT void plc_emu_access_end(void);
EMU_EXPORT int plc_emu_check_device(const void *p, size_t bytes, const char *what);
}

/* ---- state ---- */

static std::recursive_mutex g_mu; /* every runtime call; a launch holds it for its whole run */
static cudaError_t g_last = cudaSuccess;   /* returned (and cleared) by cudaGetLastError */
static cudaError_t g_sticky = cudaSuccess; /* a failed kernel: every later call fails, as after a GPU fault */
static int g_device = 0;
static const char *g_kernel = NULL; /* the kernel running, for messages */

static size_t env_size(const char *name, size_t dflt) {
    const char *s = getenv(name);
    if (s == NULL || *s == '\0') return dflt;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    return end != s ? (size_t)v : dflt;
}
static size_t mem_total(void) { return env_size("PLC_EMU_MEM_MIB", 16384) << 20; }
static int cc(void) { return (int)env_size("PLC_EMU_CC", 90); }
static int n_devices(void) { return (int)env_size("PLC_EMU_DEVICES", 1); }
static int protect_on(void) { return env_size("PLC_EMU_PROTECT", 1) != 0; }

static void emu_report(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "cudaemu: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

static cudaError_t set_error(cudaError_t e) {
    if (e != cudaSuccess) g_last = e;
    return e;
}

/* ---- device memory: one mapping per allocation, ending one page before an inaccessible guard page, and itself
   inaccessible except while a kernel, a copy or the emulated cuBLASLt runs ---- */

struct Alloc {
    char *span;      /* the mapping (data pages + guard page) */
    size_t span_len; /* data pages only */
    size_t bytes;    /* as asked */
};
static std::map<uintptr_t, Alloc> g_allocs; /* by data start */
static std::set<uintptr_t> g_pinned;
static size_t g_used;
static int g_open;
static long g_page;

static size_t page(void) {
    if (g_page == 0) g_page = sysconf(_SC_PAGESIZE);
    return (size_t)g_page;
}

static void protect_all(int prot) {
    for (auto &kv : g_allocs) mprotect(kv.second.span, kv.second.span_len, prot);
}

void plc_emu_access_begin(void) {
    g_mu.lock();
    if (g_open++ == 0 && protect_on()) protect_all(PROT_READ | PROT_WRITE);
}
void plc_emu_access_end(void) {
    if (--g_open == 0 && protect_on()) protect_all(PROT_NONE);
    g_mu.unlock();
}

/* The allocation holding [p, p + bytes), or NULL. */
static const Alloc *find_alloc(const void *p, size_t bytes, uintptr_t *start) {
    uintptr_t a = (uintptr_t)p;
    auto it = g_allocs.upper_bound(a);
    if (it == g_allocs.begin()) return NULL;
    --it;
    if (a < it->first || a + bytes > it->first + it->second.bytes) return NULL;
    if (start) *start = it->first;
    return &it->second;
}
static int in_any_span(const void *p) {
    uintptr_t a = (uintptr_t)p;
    auto it = g_allocs.upper_bound(a + page() * 2);
    while (it != g_allocs.begin()) {
        --it;
        const Alloc &al = it->second;
        if (a >= (uintptr_t)al.span && a < (uintptr_t)al.span + al.span_len + page()) return 1;
        if ((uintptr_t)al.span + al.span_len + page() < a) break;
    }
    return 0;
}

int plc_emu_check_device(const void *p, size_t bytes, const char *what) {
    std::lock_guard<std::recursive_mutex> l(g_mu);
    if (bytes == 0) return 1;
    if (find_alloc(p, bytes, NULL) != NULL) return 1;
    emu_report("%s: [%p, +%zu) is not inside one device allocation%s", what, p, bytes,
               in_any_span(p) ? " (it runs past the end of one)" : " (host memory?)");
    return 0;
}

static void on_segv(int sig, siginfo_t *si, void *uc) {
    (void)uc;
    const void *a = si->si_addr;
    char msg[512];
    int n;
    if (in_any_span(a) && g_kernel)
        n = snprintf(msg, sizeof msg, "cudaemu: kernel %s touched %p, past the end of a device allocation\n", g_kernel, a);
    else if (in_any_span(a))
        n = snprintf(msg, sizeof msg, "cudaemu: host code touched device memory at %p\n", a);
    else
        n = snprintf(msg, sizeof msg, "cudaemu: segmentation fault at %p%s%s\n", a, g_kernel ? " in kernel " : "",
                     g_kernel ? g_kernel : "");
    if (n > 0) {
        ssize_t w = write(2, msg, (size_t)(n < (int)sizeof msg ? n : (int)sizeof msg - 1));
        (void)w;
    }
    signal(sig, SIG_DFL); /* the access repeats and the process dies with the default action */
}

__attribute__((constructor)) static void emu_init(void) {
    if (env_size("PLC_EMU_SEGV", 0) != 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_segv;
        sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
        sigaction(SIGSEGV, &sa, NULL);
        sigaction(SIGBUS, &sa, NULL);
    }
}

extern "C" {

EMU_EXPORT cudaError_t cudaMalloc(void **p, size_t bytes) {
    std::lock_guard<std::recursive_mutex> l(g_mu);
    if (p == NULL) return set_error(cudaErrorInvalidValue);
    *p = NULL;
    if (g_sticky) return g_sticky;
    const size_t rounded = (bytes + 255) & ~(size_t)255, pg = page();
    const size_t span_len = (rounded + pg - 1) / pg * pg;
    if (bytes == 0) return cudaSuccess;
    if (g_used + rounded > mem_total()) return set_error(cudaErrorMemoryAllocation);
    void *m = mmap(NULL, span_len + pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) return set_error(cudaErrorMemoryAllocation);
    Alloc al = {(char *)m, span_len, bytes};
    char *data = (char *)m + span_len - rounded;
    /* fresh device memory holds garbage on a GPU: here NaN bytes, so that reads of unwritten memory show */
    mprotect(m, span_len, PROT_READ | PROT_WRITE);
    memset(data, 0xff, rounded);
    if (!(g_open > 0 || !protect_on())) mprotect(m, span_len, PROT_NONE);
    g_allocs[(uintptr_t)data] = al;
    g_used += rounded;
    *p = data;
    return cudaSuccess;
}

EMU_EXPORT cudaError_t cudaFree(void *p) {
    std::lock_guard<std::recursive_mutex> l(g_mu);
    if (p == NULL) return cudaSuccess;
    auto it = g_allocs.find((uintptr_t)p);
    if (it == g_allocs.end()) {
        emu_report("cudaFree(%p): not a device allocation", p);
        return set_error(cudaErrorInvalidValue);
    }
    munmap(it->second.span, it->second.span_len + page());
    g_used -= (it->second.bytes + 255) & ~(size_t)255;
    g_allocs.erase(it);
    return cudaSuccess;
}

EMU_EXPORT cudaError_t cudaMallocHost(void **p, size_t bytes) {
    std::lock_guard<std::recursive_mutex> l(g_mu);
    if (p == NULL) return set_error(cudaErrorInvalidValue);
    if (posix_memalign(p, 4096, bytes ? bytes : 1) != 0) return set_error(cudaErrorMemoryAllocation);
    g_pinned.insert((uintptr_t)*p);
    return cudaSuccess;
}

EMU_EXPORT cudaError_t cudaFreeHost(void *p) {
    std::lock_guard<std::recursive_mutex> l(g_mu);
    if (p == NULL) return cudaSuccess;
    if (g_pinned.erase((uintptr_t)p) == 0) {
        emu_report("cudaFreeHost(%p): not pinned host memory", p);
        return set_error(cudaErrorInvalidValue);
    }
    free(p);
    return cudaSuccess;
}

EMU_EXPORT cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes) {
    std::lock_guard<std::recursive_mutex> l(g_mu);
    if (free_bytes) *free_bytes = mem_total() - g_used;
    if (total_bytes) *total_bytes = mem_total();
    return cudaSuccess;
}

/* ---- copies ---- */

static int side_ok(const void *p, size_t bytes, int device, const char *call, const char *which) {
    if (device) {
        if (find_alloc(p, bytes, NULL)) return 1;
        emu_report("%s: %s [%p, +%zu) is not inside one device allocation%s", call, which, p, bytes,
                   in_any_span(p) ? " (it runs past the end)" : " (is it host memory?)");
        return 0;
    }
    if (!in_any_span(p)) return 1;
    emu_report("%s: %s %p is device memory but the copy's kind says host", call, which, p);
    return 0;
}

static cudaError_t copy2d(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width, size_t height,
                          cudaMemcpyKind kind, const char *call) {
    std::lock_guard<std::recursive_mutex> l(g_mu);
    if (g_sticky) return g_sticky;
    if (width == 0 || height == 0) return cudaSuccess;
    if ((dst == NULL || src == NULL) || (height > 1 && (dpitch < width || spitch < width)))
        return set_error(cudaErrorInvalidValue);
    const size_t dspan = dpitch * (height - 1) + width, sspan = spitch * (height - 1) + width;
    int dst_dev, src_dev;
    switch (kind) {
    case cudaMemcpyHostToHost: dst_dev = 0, src_dev = 0; break;
    case cudaMemcpyHostToDevice: dst_dev = 1, src_dev = 0; break;
    case cudaMemcpyDeviceToHost: dst_dev = 0, src_dev = 1; break;
    case cudaMemcpyDeviceToDevice: dst_dev = 1, src_dev = 1; break;
    case cudaMemcpyDefault: dst_dev = find_alloc(dst, dspan, NULL) != NULL, src_dev = find_alloc(src, sspan, NULL) != NULL; break;
    default: return set_error(cudaErrorInvalidValue);
    }
    if (!side_ok(dst, dspan, dst_dev, call, "destination") || !side_ok(src, sspan, src_dev, call, "source"))
        return set_error(cudaErrorInvalidValue);
    plc_emu_access_begin();
    for (size_t r = 0; r < height; r++) memmove((char *)dst + r * dpitch, (const char *)src + r * spitch, width);
    plc_emu_access_end();
    return cudaSuccess;
}

EMU_EXPORT cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind) {
    return copy2d(dst, bytes, src, bytes, bytes, 1, kind, "cudaMemcpy");
}
EMU_EXPORT cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t s) {
    (void)s;
    return copy2d(dst, bytes, src, bytes, bytes, 1, kind, "cudaMemcpyAsync");
}
EMU_EXPORT cudaError_t cudaMemcpy2DAsync(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width,
                                         size_t height, cudaMemcpyKind kind, cudaStream_t s) {
    (void)s;
    return copy2d(dst, dpitch, src, spitch, width, height, kind, "cudaMemcpy2DAsync");
}

static cudaError_t set2d(void *p, size_t pitch, int value, size_t width, size_t height, const char *call) {
    std::lock_guard<std::recursive_mutex> l(g_mu);
    if (g_sticky) return g_sticky;
    if (width == 0 || height == 0) return cudaSuccess;
    if (p == NULL || (height > 1 && pitch < width)) return set_error(cudaErrorInvalidValue);
    if (!side_ok(p, pitch * (height - 1) + width, 1, call, "destination")) return set_error(cudaErrorInvalidValue);
    plc_emu_access_begin();
    for (size_t r = 0; r < height; r++) memset((char *)p + r * pitch, value, width);
    plc_emu_access_end();
    return cudaSuccess;
}
EMU_EXPORT cudaError_t cudaMemset(void *p, int value, size_t bytes) { return set2d(p, bytes, value, bytes, 1, "cudaMemset"); }
EMU_EXPORT cudaError_t cudaMemsetAsync(void *p, int value, size_t bytes, cudaStream_t s) {
    (void)s;
    return set2d(p, bytes, value, bytes, 1, "cudaMemsetAsync");
}
EMU_EXPORT cudaError_t cudaMemset2DAsync(void *p, size_t pitch, int value, size_t width, size_t height, cudaStream_t s) {
    (void)s;
    return set2d(p, pitch, value, width, height, "cudaMemset2DAsync");
}

/* ---- errors, devices ---- */

EMU_EXPORT const char *cudaGetErrorName(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInitializationError: return "cudaErrorInitializationError";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
    case cudaErrorLaunchOutOfResources: return "cudaErrorLaunchOutOfResources";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    default: return "cudaErrorUnknown";
    }
}
EMU_EXPORT const char *cudaGetErrorString(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorLaunchFailure: return "unspecified launch failure (cudaemu: see its message on stderr)";
    default: return cudaGetErrorName(e);
    }
}
EMU_EXPORT cudaError_t cudaGetLastError(void) {
    std::lock_guard<std::recursive_mutex> l(g_mu);
    cudaError_t e = g_last;
    g_last = g_sticky;
    return e;
}
EMU_EXPORT cudaError_t cudaPeekAtLastError(void) {
    std::lock_guard<std::recursive_mutex> l(g_mu);
    return g_last;
}
EMU_EXPORT cudaError_t cudaDriverGetVersion(int *v) {
    if (v) *v = 13000;
    return cudaSuccess;
}
EMU_EXPORT cudaError_t cudaRuntimeGetVersion(int *v) {
    if (v) *v = CUDART_VERSION;
    return cudaSuccess;
}
EMU_EXPORT cudaError_t cudaGetDeviceCount(int *n) {
    if (n) *n = n_devices();
    return n_devices() > 0 ? cudaSuccess : set_error(cudaErrorNoDevice);
}
EMU_EXPORT cudaError_t cudaSetDevice(int d) {
    std::lock_guard<std::recursive_mutex> l(g_mu);
    if (d < 0 || d >= n_devices()) return set_error(cudaErrorInvalidDevice);
    g_device = d;
    return g_sticky;
}
EMU_EXPORT cudaError_t cudaGetDevice(int *d) {
    if (d) *d = g_device;
    return cudaSuccess;
}
static const size_t SMEM_DEFAULT = 48 << 10, SMEM_OPTIN = 232448; /* 227 KiB, Hopper's opt-in limit */
EMU_EXPORT cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int d) {
    if (p == NULL || d < 0 || d >= n_devices()) return set_error(cudaErrorInvalidDevice);
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "cudaemu (CPU emulation, sm_%d)", cc());
    p->totalGlobalMem = mem_total();
    p->sharedMemPerBlock = SMEM_DEFAULT;
    p->sharedMemPerBlockOptin = SMEM_OPTIN;
    p->regsPerBlock = 65536;
    p->warpSize = 32;
    p->maxThreadsPerBlock = 1024;
    p->maxThreadsDim[0] = 1024, p->maxThreadsDim[1] = 1024, p->maxThreadsDim[2] = 64;
    p->maxGridSize[0] = 0x7fffffff, p->maxGridSize[1] = 65535, p->maxGridSize[2] = 65535;
    p->major = cc() / 10, p->minor = cc() % 10;
    p->multiProcessorCount = 132;
    p->memoryBusWidth = 5120;
    p->l2CacheSize = 50 << 20;
    return cudaSuccess;
}
EMU_EXPORT cudaError_t cudaDeviceGetAttribute(int *v, cudaDeviceAttr a, int d) {
    if (v == NULL || d < 0 || d >= n_devices()) return set_error(cudaErrorInvalidDevice);
    switch (a) {
    case cudaDevAttrMaxThreadsPerBlock: *v = 1024; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *v = (int)SMEM_DEFAULT; break;
    case cudaDevAttrMultiProcessorCount: *v = 132; break;
    case cudaDevAttrComputeCapabilityMajor: *v = cc() / 10; break;
    case cudaDevAttrComputeCapabilityMinor: *v = cc() % 10; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *v = (int)SMEM_OPTIN; break;
    default: return set_error(cudaErrorInvalidValue);
    }
    return cudaSuccess;
}
EMU_EXPORT cudaError_t cudaDeviceSynchronize(void) { return g_sticky; }

/* ---- streams and events: everything runs when it is issued ---- */

struct plc_emu_stream { int flags; };
struct plc_emu_event { double t; int recorded; };

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}
EMU_EXPORT cudaError_t cudaStreamCreate(cudaStream_t *s) { return cudaStreamCreateWithFlags(s, 0); }
EMU_EXPORT cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags) {
    if (s == NULL) return set_error(cudaErrorInvalidValue);
    *s = new plc_emu_stream{(int)flags};
    return cudaSuccess;
}
EMU_EXPORT cudaError_t cudaStreamDestroy(cudaStream_t s) {
    delete s;
    return cudaSuccess;
}
EMU_EXPORT cudaError_t cudaStreamSynchronize(cudaStream_t s) {
    (void)s;
    return g_sticky;
}
EMU_EXPORT cudaError_t cudaEventCreate(cudaEvent_t *e) { return cudaEventCreateWithFlags(e, 0); }
EMU_EXPORT cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned flags) {
    (void)flags;
    if (e == NULL) return set_error(cudaErrorInvalidValue);
    *e = new plc_emu_event{0.0, 0};
    return cudaSuccess;
}
EMU_EXPORT cudaError_t cudaEventDestroy(cudaEvent_t e) {
    delete e;
    return cudaSuccess;
}
EMU_EXPORT cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
    (void)s;
    if (e == NULL) return set_error(cudaErrorInvalidResourceHandle);
    e->t = now_ms();
    e->recorded = 1;
    return g_sticky;
}
EMU_EXPORT cudaError_t cudaEventSynchronize(cudaEvent_t e) { return e == NULL ? set_error(cudaErrorInvalidResourceHandle) : g_sticky; }
EMU_EXPORT cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t a, cudaEvent_t b) {
    if (ms == NULL || a == NULL || b == NULL || !a->recorded || !b->recorded) return set_error(cudaErrorInvalidValue);
    *ms = (float)(b->t - a->t);
    return cudaSuccess;
}
EMU_EXPORT cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned flags) {
    (void)s, (void)e, (void)flags;
    return g_sticky;
}

} /* extern "C" */

/* ---- kernels: fibers ---- */

extern "C" void plc_emu_switch(void **save_sp, void *to_sp);
__asm__(".text\n"
        ".globl plc_emu_switch\n"
        ".hidden plc_emu_switch\n"
        ".type plc_emu_switch,@function\n"
        "plc_emu_switch:\n"
        "  pushq %rbp\n  pushq %rbx\n  pushq %r12\n  pushq %r13\n  pushq %r14\n  pushq %r15\n"
        "  movq %rsp, (%rdi)\n  movq %rsi, %rsp\n"
        "  popq %r15\n  popq %r14\n  popq %r13\n  popq %r12\n  popq %rbx\n  popq %rbp\n"
        "  ret\n"
        ".size plc_emu_switch,.-plc_emu_switch\n");

enum { F_RUN, F_BAR, F_WARP, F_DONE };
struct Fiber {
    void *sp;
    int state;
    int op, arg, width;
    unsigned mask;
    uint64_t bits, result;
};

static const size_t STACK = 256 << 10;
static std::vector<char *> g_stacks; /* each STACK bytes above a guard page */
static std::vector<Fiber> g_fibers;
static Fiber *g_cur;
static void *g_sched_sp;
static plc_emu_body g_body;
static void *g_ctx;
static char *g_dyn_smem;
static size_t g_dyn_smem_cap;
static std::map<const void *, int> g_func_smem; /* cudaFuncAttributeMaxDynamicSharedMemorySize per kernel */

static void fail_launch(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "cudaemu: kernel %s, block (%u,%u,%u): ", g_kernel ? g_kernel : "?", blockIdx.x, blockIdx.y,
            blockIdx.z);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    g_sticky = g_last = cudaErrorLaunchFailure;
}

static void yield_to_scheduler(void);
static void fiber_main(void) {
    g_body(g_ctx);
    g_cur->state = F_DONE;
    yield_to_scheduler();
    abort(); /* a finished fiber is never resumed */
}

static void fiber_start(Fiber *f, char *stack) {
    uint64_t *sp = (uint64_t *)(stack + STACK);
    *--sp = 0;                            /* fiber_main's (never used) return address */
    *--sp = (uint64_t)(uintptr_t)fiber_main;
    for (int i = 0; i < 6; i++) *--sp = 0; /* rbp rbx r12 r13 r14 r15 (the FP control words are shared: kernels never
                                              change rounding modes) */
    f->sp = sp;
    f->state = F_RUN;
}

static int g_block_n; /* threads of the running block */

/* Makes fiber i the current thread (its threadIdx from its linear index). */
static inline Fiber *enter(int i) {
    const unsigned bx = blockDim.x, by = blockDim.y;
    threadIdx.x = (unsigned)i % bx;
    threadIdx.y = ((unsigned)i / bx) % by;
    threadIdx.z = (unsigned)i / (bx * by);
    return g_cur = &g_fibers[(size_t)i];
}

/* The current fiber has blocked: the next runnable lane of its warp runs directly, else the scheduler. */
static void yield_to_scheduler(void) {
    Fiber *f = g_cur;
    const int i = (int)(f - g_fibers.data()), hi = (i / 32 + 1) * 32 < g_block_n ? (i / 32 + 1) * 32 : g_block_n;
    for (int j = i + 1; j < hi; j++)
        if (g_fibers[(size_t)j].state == F_RUN) {
            plc_emu_switch(&f->sp, enter(j)->sp);
            return;
        }
    g_cur = NULL;
    plc_emu_switch(&f->sp, g_sched_sp);
}

extern "C" EMU_EXPORT void plc_emu_syncthreads(void) {
    if (g_cur == NULL) {
        emu_report("__syncthreads outside a kernel");
        abort();
    }
    g_cur->state = F_BAR;
    yield_to_scheduler();
}

extern "C" EMU_EXPORT uint64_t plc_emu_warp(int op, unsigned mask, uint64_t bits, int arg, int width) {
    if (g_cur == NULL) {
        emu_report("a warp collective outside a kernel");
        abort();
    }
    g_cur->op = op, g_cur->mask = mask, g_cur->bits = bits, g_cur->arg = arg, g_cur->width = width;
    g_cur->state = F_WARP;
    yield_to_scheduler();
    return g_cur->result;
}

extern "C" EMU_EXPORT void *plc_emu_dynamic_smem(void) { return g_dyn_smem; }

static char g_fault[512]; /* the first fault a kernel's thread reported (plc_emu_fault); the block ends failed */

extern "C" EMU_EXPORT void plc_emu_fault(const char *fmt, ...) {
    if (g_fault[0] != '\0') return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_fault, sizeof g_fault, fmt, ap);
    va_end(ap);
    if (g_fault[0] == '\0') snprintf(g_fault, sizeof g_fault, "a fault");
}

extern "C" EMU_EXPORT cudaError_t plc_emu_func_set_attribute(const void *fn, int attr, int value) {
    std::lock_guard<std::recursive_mutex> l(g_mu);
    if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize) {
        if (value < 0 || (size_t)value > SMEM_OPTIN) return set_error(cudaErrorInvalidValue);
        g_func_smem[fn] = value;
    }
    return cudaSuccess;
}

/* Completes the warp collective of warp w when every lane its mask names waits in it. 1 = done, 0 = not ready,
   -1 = an error (reported). */
static int resolve_warp(int w, int n) {
    const int lo = w * 32, hi = lo + 32 < n ? lo + 32 : n;
    int first = -1;
    for (int i = lo; i < hi; i++)
        if (g_fibers[i].state == F_WARP) { first = i; break; }
    if (first < 0) return 0;
    const unsigned mask = g_fibers[first].mask;
    const int op = g_fibers[first].op;
    if (!(mask >> (first - lo) & 1u)) {
        fail_launch("thread %d calls a warp collective whose mask 0x%08x leaves out its own lane", first, mask);
        return -1;
    }
    for (int l = 0; l < 32; l++) {
        if (!(mask >> l & 1u)) continue;
        const int i = lo + l;
        if (i >= hi) {
            fail_launch("warp collective with mask 0x%08x names lane %d, which does not exist (block of %d threads)",
                        mask, l, n);
            return -1;
        }
        const Fiber &f = g_fibers[i];
        if (f.state == F_DONE) {
            fail_launch("warp collective (op %d) with mask 0x%08x names lane %d, which has exited", op, mask, l);
            return -1;
        }
        if (f.state != F_WARP) return 0; /* still at a block barrier: a deadlock if it stays so (reported later) */
        if (f.op != op || f.mask != mask) {
            fail_launch("lanes %d and %d of warp %d wait in different warp collectives (op %d mask 0x%08x vs op %d "
                        "mask 0x%08x)", first - lo, l, w, op, mask, f.op, f.mask);
            return -1;
        }
    }
    uint64_t any = 0, all = 1, ballot = 0;
    for (int l = 0; l < 32; l++)
        if (mask >> l & 1u) {
            const uint64_t b = g_fibers[lo + l].bits;
            any |= b != 0, all &= b != 0, ballot |= (uint64_t)(b != 0) << l;
        }
    for (int l = 0; l < 32; l++) {
        if (!(mask >> l & 1u)) continue;
        Fiber &f = g_fibers[lo + l];
        const int width = f.width;
        if (op >= PLC_EMU_SHFL && op <= PLC_EMU_SHFL_UP && (width < 1 || width > 32 || (width & (width - 1)))) {
            fail_launch("shuffle width %d is not a power of two from 1 to 32", width);
            return -1;
        }
        const int seg = l & ~(width - 1);
        int src = l;
        switch (op) {
        case PLC_EMU_SHFL: src = seg + (f.arg & (width - 1)); break;
        case PLC_EMU_SHFL_XOR: src = l ^ f.arg; if (src >= seg + width) src = l; break; /* later groups: own value */
        case PLC_EMU_SHFL_DOWN: src = l + f.arg; if (src >= seg + width) src = l; break;
        case PLC_EMU_SHFL_UP: src = l - f.arg; if (src < seg) src = l; break;
        default: break;
        }
        if (op >= PLC_EMU_SHFL && op <= PLC_EMU_SHFL_UP) {
            if (src < 0 || src > 31 || !(mask >> src & 1u)) {
                fail_launch("lane %d shuffles from lane %d, which is not in the mask 0x%08x", l, src, mask);
                return -1;
            }
            f.result = g_fibers[lo + src].bits;
        } else if (op == PLC_EMU_ANY) f.result = any;
        else if (op == PLC_EMU_ALL) f.result = all;
        else if (op == PLC_EMU_BALLOT) f.result = ballot;
        else f.result = 0;
    }
    for (int l = 0; l < 32; l++)
        if (mask >> l & 1u) g_fibers[lo + l].state = F_RUN;
    return 1;
}

/* Runs one block to its end; 0 after a reported failure. */
static int run_block(int n, size_t smem) {
    while ((int)g_stacks.size() < n) {
        const size_t pg = page();
        char *m = (char *)mmap(NULL, STACK + pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                               -1, 0);
        if (m == MAP_FAILED) {
            fail_launch("no memory for %d thread stacks", n);
            return 0;
        }
        mprotect(m, pg, PROT_NONE); /* a stack overflow faults instead of corrupting the next stack */
        g_stacks.push_back(m + pg);
    }
    if (g_fibers.size() < (size_t)n) g_fibers.resize((size_t)n);
    for (int i = 0; i < n; i++) fiber_start(&g_fibers[i], g_stacks[i]);
    if (smem) memset(g_dyn_smem, 0xff, smem); /* shared memory starts as garbage: NaN bytes here */
    const int n_warps = (n + 31) / 32;
    g_block_n = n;
    /* Warp by warp: a warp's lanes run until each blocks; a completed warp collective lets them run on at once, so a
       warp reaches the next __syncthreads (or its end) before the next warp starts. Then, when every live thread of the
       block waits at __syncthreads, they are released together; anything else is a deadlock on a GPU too. */
    for (;;) {
        for (int w = 0; w < n_warps; w++) {
            const int lo = w * 32, hi = lo + 32 < n ? lo + 32 : n;
            for (;;) {
                for (int i = lo; i < hi; i++) /* a lane that blocks passes on to the next runnable one itself */
                    if (g_fibers[i].state == F_RUN) plc_emu_switch(&g_sched_sp, enter(i)->sp);
                g_cur = NULL;
                if (g_fault[0] != '\0') {
                    fail_launch("%s", g_fault);
                    g_fault[0] = '\0';
                    return 0;
                }
                const int r = resolve_warp(w, n);
                if (r < 0) return 0;
                if (r == 0) break;
            }
        }
        int done = 0, bar = 0, in_warp = 0;
        for (int i = 0; i < n; i++) {
            const int st = g_fibers[i].state;
            done += st == F_DONE, bar += st == F_BAR, in_warp += st == F_WARP;
        }
        if (done == n) return 1;
        if (in_warp > 0) {
            fail_launch("deadlock: %d threads wait at __syncthreads, %d in warp collectives whose other lanes wait at "
                        "__syncthreads, %d exited (divergent barriers)", bar, in_warp, done);
            return 0;
        }
        for (int i = 0; i < n; i++) /* every live thread is at __syncthreads (exited ones count as arrived) */
            if (g_fibers[i].state == F_BAR) g_fibers[i].state = F_RUN;
    }
}

extern "C" EMU_EXPORT void plc_emu_launch(const char *name, const void *fn, dim3 grid, dim3 block, size_t smem,
                                          cudaStream_t s, plc_emu_body body, void *ctx) {
    (void)s;
    std::lock_guard<std::recursive_mutex> l(g_mu);
    if (g_sticky) return;
    if (g_body != NULL) {
        emu_report("kernel %s launched from inside kernel %s", name, g_kernel);
        abort();
    }
    const uint64_t n = (uint64_t)block.x * block.y * block.z;
    if (n == 0 || n > 1024 || block.x > 1024 || block.y > 1024 || block.z > 64 || grid.x == 0 || grid.y == 0 ||
        grid.z == 0 || grid.x > 0x7fffffffu || grid.y > 65535 || grid.z > 65535) {
        emu_report("kernel %s: invalid launch configuration grid (%u,%u,%u) block (%u,%u,%u)", name, grid.x, grid.y,
                   grid.z, block.x, block.y, block.z);
        set_error(cudaErrorInvalidConfiguration);
        return;
    }
    if (smem > SMEM_DEFAULT) {
        auto it = g_func_smem.find(fn);
        if (it == g_func_smem.end() || (size_t)it->second < smem) {
            emu_report("kernel %s: %zu bytes of dynamic shared memory without cudaFuncSetAttribute raising the "
                       "kernel's limit to that (%d set)", name, smem, it == g_func_smem.end() ? 0 : it->second);
            set_error(cudaErrorInvalidValue);
            return;
        }
    }
    if (smem > g_dyn_smem_cap) {
        free(g_dyn_smem);
        g_dyn_smem = (char *)aligned_alloc(128, (smem + 127) & ~(size_t)127);
        g_dyn_smem_cap = smem;
    }
    g_kernel = name;
    g_body = body, g_ctx = ctx;
    blockDim = block, gridDim = grid;
    plc_emu_access_begin();
    int ok = 1;
    for (unsigned z = 0; ok && z < grid.z; z++)
        for (unsigned y = 0; ok && y < grid.y; y++)
            for (unsigned x = 0; ok && x < grid.x; x++) {
                blockIdx.x = x, blockIdx.y = y, blockIdx.z = z;
                ok = run_block((int)n, smem);
            }
    plc_emu_access_end();
    g_body = NULL, g_ctx = NULL;
    g_kernel = NULL;
}
