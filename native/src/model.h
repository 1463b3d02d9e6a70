/* The LLaMA model as the engine holds it: hyperparameters and borrowed weights. */
#ifndef PL_MODEL_H
#define PL_MODEL_H

#include <stdint.h>
#include "panlora.h"

#define PL_N_WEIGHT_KINDS 16

/* A borrowed weight: ggml type, shape, and the bytes (not owned). */
typedef struct pl_weight_ref {
    int32_t type;
    int64_t ne0, ne1;
    const void *data;
} pl_weight_ref;

/* One transformer block's weights, indexed by enum pl_weight (per-layer kinds only). */
typedef struct pl_layer_weights {
    pl_weight_ref w[PL_N_WEIGHT_KINDS];
    const float *delta[PL_N_WEIGHT_KINDS]; /* optional dense F32 corrections of the linears, [out][in] */
    uint32_t gen[PL_N_WEIGHT_KINDS];       /* bumped when a weight is set: a device backend re-uploads it */
    uint32_t delta_gen[PL_N_WEIGHT_KINDS]; /* bumped when a delta is set */
} pl_layer_weights;

struct pl_model {
    pl_model_params p;
    pl_weight_ref global[PL_N_WEIGHT_KINDS]; /* TOKEN_EMBD, OUTPUT_NORM, OUTPUT, ROPE_FREQS */
    uint32_t global_gen[PL_N_WEIGHT_KINDS];  /* bumped when a global weight is set */
    pl_layer_weights *layers;                /* n_layer */
    int validated;
    struct pl_lora *lora; /* attached adapter (may be NULL) */
    int32_t device;       /* PL_DEVICE_CPU or a CUDA device index */
    int32_t placement;    /* enum pl_weight_placement (device models) */
    void *dev;            /* the backend's state of this model (device models) */
    int32_t n_threads;    /* CPU threads of this model's calls (pl_model_set_threads); 0 = the global count */
};

/* 1 if the weight kind is per layer. */
static inline int pl_weight_is_per_layer(int32_t which) { return which >= PL_W_ATTN_NORM && which <= PL_W_ATTN_V_BIAS; }
/* Checks hyperparameters against the PL_MAX_* limits (panlora.h); fn names the caller in the message. */
int32_t pl_model_params_check(const pl_model_params *p, const char *fn);
/* The output projection: OUTPUT if set, else the tied TOKEN_EMBD. */
const pl_weight_ref *pl_model_output_weight(const pl_model *m);

#endif
