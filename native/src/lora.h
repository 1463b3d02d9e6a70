/* Adapter slots as the engine holds them (see panlora.h: pl_lora). */
#ifndef PL_LORA_H
#define PL_LORA_H

#include <stdint.h>
#include "panlora.h"

#define PL_N_TARGETS 7
/* Largest AdamW step count pl_lora_set_adam accepts: 2^53. */
#define PL_MAX_ADAM_STEP (INT64_C(1) << 53)

/* One low-rank slot: y += scale · B (A x), with its gradients and AdamW moments. */
typedef struct lora_slot {
    int64_t layer;
    int32_t target;
    int64_t rank, in, out;
    float scale;
    int32_t train_a, train_b, enabled;
    float *a, *b;        /* [rank][in], [out][rank] */
    float *da, *db;      /* gradients, same shapes */
    float *ma, *va, *mb, *vb; /* AdamW moments */
    int64_t step;        /* AdamW steps taken since the last reset */
    uint32_t host_gen;   /* bumped when the host writes A, B or the moments: a device backend uploads them */
    uint32_t dev_dirty;  /* PL_SLOT_* parts (backend.h) the device holds newer than these host arrays */
    void *dev;           /* the backend's copy of this slot (device models) */
} lora_slot;

struct pl_lora {
    const pl_model *model;
    lora_slot *slots;
    int32_t n_slots, cap;
    uint8_t *layer_enabled; /* [n_layer] */
    int32_t device;         /* the model's device when the set was created */
};

/* Checks slot i's layer, target, in/out sizes and rank against the model's shapes (fn names the caller). */
int32_t lora_check_slot(const pl_model *m, const lora_slot *s, int32_t i, const char *fn);
/* Brings a slot's host arrays up to date with its device copy (no-op on the CPU). */
int32_t lora_pull(pl_lora *l, int32_t slot);

/* The weight kind (enum pl_weight) a target adapts. */
static inline int32_t pl_target_weight(int32_t target) {
    return target <= PL_TARGET_ATTN_OUTPUT ? PL_W_ATTN_Q + target : PL_W_FFN_GATE + (target - PL_TARGET_FFN_GATE);
}

/* 1 if the slot takes part in forward and backward now. */
static inline int lora_slot_active(const pl_lora *l, const lora_slot *s) {
    return s->enabled && l->layer_enabled[s->layer];
}

/* Largest rank of any slot (0 if none). */
static inline int64_t lora_max_rank(const pl_lora *l) {
    int64_t r = 0;
    for (int32_t i = 0; l && i < l->n_slots; i++) r = l->slots[i].rank > r ? l->slots[i].rank : r;
    return r;
}

/* The lowest layer whose backward matters in LORA mode: below it no active slot trains (n_layer if none does). */
static inline int64_t lora_lowest_trained_layer(const pl_lora *l, int64_t n_layer) {
    int64_t low = n_layer;
    for (int32_t i = 0; l && i < l->n_slots; i++) {
        const lora_slot *s = &l->slots[i];
        if (lora_slot_active(l, s) && (s->train_a || s->train_b) && s->layer < low) low = s->layer;
    }
    return low;
}

#endif
