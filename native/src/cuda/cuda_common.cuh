/* Shared by the CUDA backend's sources: the device context, error reporting, the memory arena. */
#ifndef PLC_COMMON_CUH
#define PLC_COMMON_CUH

#include <stddef.h>
#include <stdint.h>
#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include "backend.h"

typedef __nv_bfloat16 bf16;

/* The core's services (set once by pl_cuda_backend_init). */
extern const pl_core_api *plc_core;

/* Records a message as the calling thread's last error (through the core) and returns code. */
#define PLC_FAIL(code, ...) (plc_core->fail((code), __VA_ARGS__))

/* Turns a CUDA runtime error into a panlora status naming what was being done. */
#define PLC_CUDA(call, what)                                                                              \
    do {                                                                                                  \
        cudaError_t plc_e_ = (call);                                                                      \
        if (plc_e_ != cudaSuccess)                                                                        \
            return PLC_FAIL(plc_e_ == cudaErrorMemoryAllocation ? PL_ERR_OUT_OF_MEMORY : PL_ERR_INTERNAL, \
                            "CUDA: %s: %s", (what), cudaGetErrorString(plc_e_));                          \
    } while (0)

/* Checks the last kernel launch. */
#define PLC_LAUNCHED(what) PLC_CUDA(cudaGetLastError(), (what))

/* Propagates a non-OK status. */
#define PLC_TRY(expr) \
    do { int32_t plc_rc_ = (expr); if (plc_rc_ != PL_OK) return plc_rc_; } while (0)

/* One CUDA device as the backend uses it: a stream, a cuBLASLt handle and its workspace. */
typedef struct plc_ctx {
    int device;
    cudaStream_t stream;
    void *lt;               /* cublasLtHandle_t */
    void *workspace;        /* cuBLASLt workspace */
    size_t workspace_bytes;
    int64_t held, peak;     /* bytes the engine holds on this device (all models), and the peak */
} plc_ctx;

/* The context of a device (created on first use; NULL with the error set when that fails). */
plc_ctx *plc_context(int device);

/* "1.23 GiB", "45.6 MiB" or "7.8 KiB". */
void plc_format_bytes(char *buf, size_t len, size_t bytes);

/* cudaMalloc that records the bytes in the context (and the model's own counter when given). */
int32_t plc_malloc(plc_ctx *c, void **p, size_t bytes, const char *what);
void plc_free(plc_ctx *c, void *p, size_t bytes);

/* A bump allocator over one device allocation: sizes are planned first (plc_arena_reserve with p = NULL counts),
   then the arena is allocated once and carved (no allocation per step). */
typedef struct plc_arena {
    char *base;
    size_t size, used;
} plc_arena;
/* Rounds to 256 bytes and either counts (a->base == NULL) or hands out the next piece. */
void *plc_arena_take(plc_arena *a, size_t bytes);

#endif
