/* cudaemu: the CUDA runtime as the backend's sources see it, for running those sources on the CPU (tests only).
   The backend's .cu files are compiled as C++ against these headers (after transform.pl rewrites kernel<<<...>>>(...)
   into a call), and runtime.cpp executes every kernel launch: each CUDA thread is a fiber with its own stack, the
   threads of a block run one at a time and switch at __syncthreads, __syncwarp, warp shuffles/votes and wmma
   collectives, so block and warp synchronisation behave as on a GPU while memory is host memory.
   What it checks that a plain CPU port would not: launch configurations (block and grid limits, the 48 KiB dynamic
   shared memory limit unless raised by cudaFuncSetAttribute, the device's opt-in maximum), divergent collectives
   (threads of a block waiting at different barriers; warp collectives whose mask names exited lanes), device memory
   touched by host code (device memory is an mprotect'ed region, open only inside kernels, copies and the emulated
   cuBLASLt), copies whose direction does not match their pointers, reads of memory nothing wrote (fresh device memory
   and dynamic shared memory are filled with NaN bytes), and out-of-memory against a fixed device size.
   What it cannot check: timing, races between blocks (blocks run one after another), the GPU's rounding of fused
   operations (the sources' own plc_f* helpers are plain operators here), or the speed of anything. */
#ifndef PLC_EMU_CUDA_RUNTIME_H
#define PLC_EMU_CUDA_RUNTIME_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <tuple>
#include <utility>

#define CUDART_VERSION 13000
#define PLC_CUDA_EMULATION 1

/* ---- qualifiers ---- */
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __shared__ static
#define __constant__ static
#define __restrict__ __restrict
#define __align__(n) alignas(n)

/* ---- built-in vectors and indices ---- */
struct uint3 { unsigned x, y, z; };
struct dim3 {
    unsigned x, y, z;
    dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
extern "C" {
extern uint3 plc_emu_thread_idx, plc_emu_block_idx;
extern dim3 plc_emu_block_dim, plc_emu_grid_dim;
}
#define threadIdx plc_emu_thread_idx
#define blockIdx plc_emu_block_idx
#define blockDim plc_emu_block_dim
#define gridDim plc_emu_grid_dim
static const int warpSize = 32;

/* ---- errors, enums, structs ---- */
typedef enum cudaError {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInitializationError = 3,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorInvalidDevice = 101,
    cudaErrorInvalidResourceHandle = 400,
    cudaErrorNotReady = 600,
    cudaErrorIllegalAddress = 700,
    cudaErrorLaunchOutOfResources = 701,
    cudaErrorLaunchFailure = 719,
    cudaErrorNoDevice = 100,
    cudaErrorUnknown = 999
} cudaError_t;

typedef enum cudaMemcpyKind {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
    cudaMemcpyDefault = 4
} cudaMemcpyKind;

typedef enum cudaDeviceAttr {
    cudaDevAttrMaxThreadsPerBlock = 1,
    cudaDevAttrMaxSharedMemoryPerBlock = 8,
    cudaDevAttrMultiProcessorCount = 16,
    cudaDevAttrComputeCapabilityMajor = 75,
    cudaDevAttrComputeCapabilityMinor = 76,
    cudaDevAttrMaxSharedMemoryPerBlockOptin = 97
} cudaDeviceAttr;

typedef enum cudaFuncAttribute {
    cudaFuncAttributeMaxDynamicSharedMemorySize = 8,
    cudaFuncAttributePreferredSharedMemoryCarveout = 9
} cudaFuncAttribute;

#define cudaStreamDefault 0x00
#define cudaStreamNonBlocking 0x01
#define cudaEventDefault 0x00

typedef struct plc_emu_stream *cudaStream_t;
typedef struct plc_emu_event *cudaEvent_t;

typedef struct cudaDeviceProp {
    char name[256];
    size_t totalGlobalMem;
    size_t sharedMemPerBlock;
    size_t sharedMemPerBlockOptin;
    int regsPerBlock;
    int warpSize;
    int maxThreadsPerBlock;
    int maxThreadsDim[3];
    int maxGridSize[3];
    int major, minor;
    int multiProcessorCount;
    int memoryBusWidth;
    int l2CacheSize;
} cudaDeviceProp;

extern "C" {
const char *cudaGetErrorString(cudaError_t e);
const char *cudaGetErrorName(cudaError_t e);
cudaError_t cudaGetLastError(void);
cudaError_t cudaPeekAtLastError(void);
cudaError_t cudaDriverGetVersion(int *v);
cudaError_t cudaRuntimeGetVersion(int *v);
cudaError_t cudaGetDeviceCount(int *n);
cudaError_t cudaSetDevice(int d);
cudaError_t cudaGetDevice(int *d);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int d);
cudaError_t cudaDeviceGetAttribute(int *v, cudaDeviceAttr a, int d);
cudaError_t cudaDeviceSynchronize(void);
cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes);
cudaError_t cudaMalloc(void **p, size_t bytes);
cudaError_t cudaFree(void *p);
cudaError_t cudaMallocHost(void **p, size_t bytes);
cudaError_t cudaFreeHost(void *p);
cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t s);
cudaError_t cudaMemcpy2DAsync(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width, size_t height,
                              cudaMemcpyKind kind, cudaStream_t s);
cudaError_t cudaMemset(void *p, int value, size_t bytes);
cudaError_t cudaMemsetAsync(void *p, int value, size_t bytes, cudaStream_t s);
cudaError_t cudaMemset2DAsync(void *p, size_t pitch, int value, size_t width, size_t height, cudaStream_t s);
cudaError_t cudaStreamCreate(cudaStream_t *s);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t s);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t cudaEventCreate(cudaEvent_t *e);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned flags);
cudaError_t cudaEventDestroy(cudaEvent_t e);
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s);
cudaError_t cudaEventSynchronize(cudaEvent_t e);
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t a, cudaEvent_t b);
cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned flags);

/* emulator internals used by the inline functions below */
cudaError_t plc_emu_func_set_attribute(const void *fn, int attr, int value);
void plc_emu_syncthreads(void);
uint64_t plc_emu_warp(int op, unsigned mask, uint64_t bits, int arg, int width);
void *plc_emu_dynamic_smem(void);
void plc_emu_fault(const char *fmt, ...) __attribute__((format(printf, 1, 2))); /* fails the running launch */
typedef void (*plc_emu_body)(void *ctx);
void plc_emu_launch(const char *name, const void *fn, dim3 grid, dim3 block, size_t smem, cudaStream_t s,
                    plc_emu_body body, void *ctx);
}

template <typename F> static inline cudaError_t cudaFuncSetAttribute(F *fn, cudaFuncAttribute attr, int value) {
    return plc_emu_func_set_attribute((const void *)fn, (int)attr, value);
}

/* ---- synchronisation, warp collectives ---- */
enum { PLC_EMU_SYNCWARP = 1, PLC_EMU_SHFL = 2, PLC_EMU_SHFL_XOR = 3, PLC_EMU_SHFL_DOWN = 4, PLC_EMU_SHFL_UP = 5,
       PLC_EMU_ANY = 6, PLC_EMU_ALL = 7, PLC_EMU_BALLOT = 8 };

static inline void __syncthreads(void) { plc_emu_syncthreads(); }
static inline void __syncwarp(unsigned mask = 0xffffffffu) { plc_emu_warp(PLC_EMU_SYNCWARP, mask, 0, 0, 32); }
static inline void __threadfence(void) {}
static inline void __threadfence_block(void) {}

template <typename T> static inline T plc_emu_shuffle(int op, unsigned mask, T v, int arg, int width) {
    static_assert(sizeof(T) <= 8, "shuffles move at most 8 bytes");
    uint64_t bits = 0;
    memcpy(&bits, &v, sizeof v);
    bits = plc_emu_warp(op, mask, bits, arg, width);
    T r;
    memcpy(&r, &bits, sizeof r);
    return r;
}
template <typename T> static inline T __shfl_sync(unsigned mask, T v, int src, int width = 32) {
    return plc_emu_shuffle(PLC_EMU_SHFL, mask, v, src, width);
}
template <typename T> static inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = 32) {
    return plc_emu_shuffle(PLC_EMU_SHFL_XOR, mask, v, lane_mask, width);
}
template <typename T> static inline T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32) {
    return plc_emu_shuffle(PLC_EMU_SHFL_DOWN, mask, v, (int)delta, width);
}
template <typename T> static inline T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = 32) {
    return plc_emu_shuffle(PLC_EMU_SHFL_UP, mask, v, (int)delta, width);
}
static inline int __any_sync(unsigned mask, int pred) { return (int)plc_emu_warp(PLC_EMU_ANY, mask, pred != 0, 0, 32); }
static inline int __all_sync(unsigned mask, int pred) { return (int)plc_emu_warp(PLC_EMU_ALL, mask, pred != 0, 0, 32); }
static inline unsigned __ballot_sync(unsigned mask, int pred) {
    return (unsigned)plc_emu_warp(PLC_EMU_BALLOT, mask, pred != 0, 0, 32);
}

/* ---- device arithmetic (one thread runs at a time: atomics are plain operations) ---- */
template <typename T> static inline T atomicAdd(T *p, T v) { T old = *p; *p = old + v; return old; }
template <typename T> static inline T atomicMax(T *p, T v) { T old = *p; *p = old > v ? old : v; return old; }
template <typename T> static inline T __ldg(const T *p) { return *p; }
static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
/* __expf and __logf: glibc declares them (the same functions as expf, logf) */
static inline float __fdividef(float a, float b) { return a / b; }
static inline float __frcp_rn(float x) { return 1.0f / x; }
static inline float __saturatef(float x) { return x < 0.0f ? 0.0f : x > 1.0f ? 1.0f : x; }
static inline float __int_as_float(int x) { float f; memcpy(&f, &x, 4); return f; }
static inline int __float_as_int(float f) { int x; memcpy(&x, &f, 4); return x; }
static inline float __uint_as_float(unsigned x) { float f; memcpy(&f, &x, 4); return f; }
static inline unsigned __float_as_uint(float f) { unsigned x; memcpy(&x, &f, 4); return x; }

/* ---- launches: transform.pl turns  k<<<g, b, smem, s>>>(args)  into  plc_emu::Launch(g, b, smem, s).go(k, "k")(args) ---- */
namespace plc_emu {
template <typename... A> struct Bound {
    void (*fn)(A...);
    const char *name;
    dim3 grid, block;
    size_t smem;
    cudaStream_t stream;
    template <typename... P> void operator()(P &&...p) const {
        struct Ctx {
            void (*fn)(A...);
            std::tuple<A...> args;
        } ctx{fn, std::tuple<A...>(std::forward<P>(p)...)};
        plc_emu_launch(name, (const void *)fn, grid, block, smem, stream,
                       [](void *c) {
                           Ctx *x = (Ctx *)c;
                           std::apply(x->fn, x->args); /* each thread gets its own copies of the parameters */
                       },
                       &ctx);
    }
};
struct Launch {
    dim3 grid, block;
    size_t smem;
    cudaStream_t stream;
    Launch(dim3 g, dim3 b, size_t sm = 0, cudaStream_t s = 0) : grid(g), block(b), smem(sm), stream(s) {}
    template <typename... A> Bound<A...> go(void (*fn)(A...), const char *name) const {
        return Bound<A...>{fn, name, grid, block, smem, stream};
    }
};
} // namespace plc_emu

#endif
