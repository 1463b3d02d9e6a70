/* The interface between the core library and a device backend loaded at run time (libpanlora_cuda.so).
   The core owns every public entry point and its argument checks; a backend runs validated calls on its device.
   Both libraries are built from the same tree: the handshake checks the ABI number and the sizes of the shared
   structs, so a stale backend library is refused instead of misreading them. */
#ifndef PL_BACKEND_H
#define PL_BACKEND_H

#include <stddef.h>
#include <stdint.h>
#include "panlora.h"
#include "model.h"
#include "lora.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PL_BACKEND_ABI 1

/* What the core lends a backend (the backend cannot link the core's hidden symbols). */
typedef struct pl_core_api {
    int32_t abi;
    size_t sizeof_model, sizeof_lora, sizeof_slot, sizeof_layer;
    int32_t (*fail)(int32_t code, const char *fmt, ...);
    int32_t (*dequantize)(int32_t type, const void *src, int64_t src_bytes, float *dst, int64_t n);
    int32_t (*row_bytes)(int32_t type, int64_t n, int64_t *out_bytes);
    int (*threads)(void);
} pl_core_api;

/* Slot parts a backend may hold newer than the host (lora_slot.dev_dirty bits). */
enum { PL_SLOT_WEIGHTS = 1, PL_SLOT_ADAM = 2, PL_SLOT_GRADS = 4 };

/* A device backend. Every function that returns a status sets the message through core->fail. */
typedef struct pl_backend {
    int32_t abi;
    const char *name;
    /* devices */
    int32_t (*device_count)(int32_t *n, char *why, size_t why_len); /* n = 0 with a reason when none is usable */
    int32_t (*device_info)(int32_t device, char *buf, size_t len);
    int32_t (*bench_gemm)(int32_t device, int64_t n, int32_t reps, double *tflops);
    /* models: sync uploads every weight and delta that changed since the last sync (called by pl_model_validate) */
    int32_t (*model_sync)(pl_model *m);
    void (*model_release)(pl_model *m);
    int32_t (*model_memory)(const pl_model *m, int64_t *used, int64_t *peak, int64_t *total);
    int32_t (*forward)(pl_model *m, const int32_t *tokens, int64_t B, int64_t T, float *logits);
    int32_t (*nll)(pl_model *m, const int32_t *tokens, const int32_t *targets, int64_t B, int64_t T, float *nll);
    /* KV caches */
    int32_t (*kv_create)(pl_model *m, int64_t n_ctx, void **dev);
    void (*kv_free)(void *dev);
    int32_t (*decode)(pl_model *m, void *kv, int64_t pos0, const int32_t *tokens, int64_t n_tok, float *logits_last);
    /* adapters: pull copies the device's newer parts (dev_dirty bits) of a slot into its host arrays */
    int32_t (*lora_pull)(pl_lora *l, int32_t slot);
    void (*lora_release)(pl_lora *l);
    /* trainers */
    int32_t (*trainer_create)(pl_model *m, const pl_trainer_params *tp, void **dev);
    void (*trainer_free)(void *dev);
    int32_t (*trainer_zero_grad)(void *dev);
    int32_t (*trainer_accumulate)(void *dev, const int32_t *tokens, const int32_t *targets, float grad_scale,
                                  double *loss_sum, int64_t *n_targets);
    int32_t (*trainer_grad_norm)(void *dev, double *norm);
    int32_t (*trainer_adamw_step)(void *dev, const pl_adamw_params *p);
    int32_t (*trainer_get_weight_grad)(void *dev, int32_t which, int64_t layer, float *dst, int64_t len);
} pl_backend;

/* Exported by libpanlora_cuda.so: checks the core's ABI, loads the CUDA runtime state and cuBLASLt. Returns NULL with a
   one-sentence reason in err when the backend cannot run (no driver, driver too old, no cuBLASLt, stale build). */
typedef const pl_backend *(*pl_backend_init_fn)(const pl_core_api *core, char *err, size_t err_len);
#define PL_CUDA_BACKEND_INIT "pl_cuda_backend_init"

/* Core side: the CUDA backend, loaded on first use; NULL (with the reason in *why) when it is unavailable. */
const pl_backend *pl_cuda_backend(const char **why);

#ifdef __cplusplus
}
#endif

#endif
