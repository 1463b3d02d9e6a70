/* Adapter slots: creation, weights, flags, masks, AdamW state. */
#include <stdlib.h>
#include <string.h>
#include "common.h"
#include "lora.h"
#include "model.h"
#include "backend.h"

PL_EXPORT int32_t pl_lora_create(pl_model *model, pl_lora **out) {
    PL_REQUIRE(model && out, "pl_lora_create: model and out must not be NULL");
    *out = NULL;
    pl_lora *l = calloc(1, sizeof *l);
    if (!l) return pl_fail(PL_ERR_OUT_OF_MEMORY, "pl_lora_create: out of memory");
    l->model = model;
    l->layer_enabled = malloc((size_t)model->p.n_layer);
    if (!l->layer_enabled) { free(l); return pl_fail(PL_ERR_OUT_OF_MEMORY, "pl_lora_create: out of memory"); }
    memset(l->layer_enabled, 1, (size_t)model->p.n_layer);
    l->device = model->device;
    *out = l;
    return pl_ok();
}

static void slot_free(lora_slot *s) {
    pl_free(s->a); pl_free(s->b); pl_free(s->da); pl_free(s->db);
    pl_free(s->ma); pl_free(s->va); pl_free(s->mb); pl_free(s->vb);
}

PL_EXPORT void pl_lora_free(pl_lora *l) {
    if (!l) return;
    if (l->device != PL_DEVICE_CPU) {
        const pl_backend *be = pl_cuda_backend(NULL);
        if (be) be->lora_release(l);
    }
    for (int32_t i = 0; i < l->n_slots; i++) slot_free(&l->slots[i]);
    free(l->slots);
    free(l->layer_enabled);
    free(l);
}

PL_EXPORT int32_t pl_lora_add_slot(pl_lora *l, int64_t layer, int32_t target, int64_t rank, float scale, int32_t *slot_out) {
    PL_REQUIRE(l, "pl_lora_add_slot: lora must not be NULL");
    const pl_model *m = l->model;
    PL_REQUIRE(layer >= 0 && layer < m->p.n_layer, "pl_lora_add_slot: layer %lld out of range 0..%lld", (long long)layer, (long long)m->p.n_layer - 1);
    PL_REQUIRE(target >= 0 && target < PL_N_TARGETS, "pl_lora_add_slot: unknown target %d", target);
    const pl_weight_ref *w = &m->layers[layer].w[pl_target_weight(target)];
    int64_t in = w->ne0, out = w->ne1;
    if (!w->data) { /* shapes from the hyperparameters when the weight is not bound yet */
        const int64_t q = m->p.n_head * m->p.head_dim, kv = m->p.n_head_kv * m->p.head_dim, D = m->p.n_embd, F = m->p.n_ff;
        const int64_t ins[PL_N_TARGETS] = {D, D, D, q, D, D, F}, outs[PL_N_TARGETS] = {q, kv, kv, D, F, F, D};
        in = ins[target]; out = outs[target];
    }
    PL_REQUIRE(rank >= 1 && rank <= in && rank <= out && rank <= 65536, "pl_lora_add_slot: rank %lld must be in 1..min(in %lld, out %lld)",
               (long long)rank, (long long)in, (long long)out);
    PL_REQUIRE(scale - scale == 0.0f, "pl_lora_add_slot: scale %g is not finite", (double)scale); /* as pl_lora_set_flags */
    if (l->n_slots == l->cap) {
        int32_t cap = l->cap ? 2 * l->cap : 16;
        lora_slot *ns = realloc(l->slots, (size_t)cap * sizeof *ns);
        if (!ns) return pl_fail(PL_ERR_OUT_OF_MEMORY, "pl_lora_add_slot: out of memory");
        l->slots = ns; l->cap = cap;
    }
    lora_slot s = {.layer = layer, .target = target, .rank = rank, .in = in, .out = out, .scale = scale,
                   .train_a = 1, .train_b = 1, .enabled = 1};
    int64_t ea, eb;
    size_t na, nb;
    PL_REQUIRE(pl_mul_ok(rank, in, &ea) && pl_mul_ok(out, rank, &eb) && pl_f32_bytes_ok(ea, &na) && pl_f32_bytes_ok(eb, &nb),
               "pl_lora_add_slot: a rank-%lld slot of %lld x %lld overflows a 64-bit size", (long long)rank, (long long)in, (long long)out);
    s.a = pl_calloc(na); s.b = pl_calloc(nb); s.da = pl_calloc(na); s.db = pl_calloc(nb);
    s.ma = pl_calloc(na); s.va = pl_calloc(na); s.mb = pl_calloc(nb); s.vb = pl_calloc(nb);
    if (!s.a || !s.b || !s.da || !s.db || !s.ma || !s.va || !s.mb || !s.vb) {
        slot_free(&s);
        return pl_fail(PL_ERR_OUT_OF_MEMORY, "pl_lora_add_slot: cannot allocate a rank-%lld slot", (long long)rank);
    }
    l->slots[l->n_slots] = s;
    if (slot_out) *slot_out = l->n_slots;
    l->n_slots++;
    return pl_ok();
}

#define SLOT_OR_FAIL(fn) \
    PL_REQUIRE(l, fn ": lora must not be NULL"); \
    PL_REQUIRE(slot >= 0 && slot < l->n_slots, fn ": slot %d out of range (%d slots)", slot, l->n_slots); \
    lora_slot *s = &l->slots[slot]

int32_t lora_check_slot(const pl_model *m, const lora_slot *s, int32_t i, const char *fn) {
    PL_REQUIRE(s->layer >= 0 && s->layer < m->p.n_layer, "%s: slot %d: layer %lld out of range 0..%lld", fn, i, (long long)s->layer,
               (long long)m->p.n_layer - 1);
    PL_REQUIRE(s->target >= 0 && s->target < PL_N_TARGETS, "%s: slot %d: unknown target %d", fn, i, s->target);
    const int64_t q = m->p.n_head * m->p.head_dim, kv = m->p.n_head_kv * m->p.head_dim, D = m->p.n_embd, F = m->p.n_ff;
    const int64_t ins[PL_N_TARGETS] = {D, D, D, q, D, D, F}, outs[PL_N_TARGETS] = {q, kv, kv, D, F, F, D};
    PL_REQUIRE(s->in == ins[s->target] && s->out == outs[s->target],
               "%s: slot %d (layer %lld, target %d) is %lld -> %lld, the model's linear is %lld -> %lld", fn, i, (long long)s->layer,
               s->target, (long long)s->in, (long long)s->out, (long long)ins[s->target], (long long)outs[s->target]);
    PL_REQUIRE(s->rank >= 1 && s->rank <= s->in && s->rank <= s->out && s->rank <= 65536,
               "%s: slot %d: rank %lld out of range 1..min(in %lld, out %lld)", fn, i, (long long)s->rank, (long long)s->in,
               (long long)s->out);
    PL_REQUIRE(s->a && s->b && s->da && s->db && s->ma && s->va && s->mb && s->vb, "%s: slot %d has no storage", fn, i);
    return PL_OK;
}

int32_t lora_pull(pl_lora *l, int32_t slot) {
    if (!l->slots[slot].dev_dirty) return pl_ok();
    const pl_backend *be = pl_cuda_backend(NULL);
    if (!be) return pl_fail(PL_ERR_STATE, "adapter: the CUDA backend holding slot %d is gone", slot);
    return pl_done(be->lora_pull(l, slot));
}

/* Before the host writes part of a slot: the device's newer parts come back first (the upload sends the whole slot). */
#define PULL_OR_FAIL(l, slot) PL_TRY(lora_pull((pl_lora *)(l), (slot)))

PL_EXPORT int32_t pl_lora_slot_count(const pl_lora *l, int32_t *n) {
    PL_REQUIRE(l && n, "pl_lora_slot_count: arguments must not be NULL");
    *n = l->n_slots;
    return pl_ok();
}

PL_EXPORT int32_t pl_lora_slot_info(const pl_lora *l, int32_t slot, int64_t *layer, int32_t *target, int64_t *rank,
                                    int64_t *in, int64_t *out) {
    SLOT_OR_FAIL("pl_lora_slot_info");
    if (layer) *layer = s->layer;
    if (target) *target = s->target;
    if (rank) *rank = s->rank;
    if (in) *in = s->in;
    if (out) *out = s->out;
    return pl_ok();
}

/* Checks the caller's length (n expected) and that every value is finite. */
static int32_t check_values(const float *src, int64_t n, int64_t len, const char *what) {
    PL_REQUIRE(len == n, "%s: length %lld, expected %lld", what, (long long)len, (long long)n);
    for (int64_t i = 0; i < n; i++)
        if (!(src[i] - src[i] == 0.0f))
            return pl_fail(PL_ERR_NUMERIC, "%s: element %lld is not finite", what, (long long)i);
    return PL_OK;
}

PL_EXPORT int32_t pl_lora_set_weights(pl_lora *l, int32_t slot, const float *a, int64_t a_len, const float *b, int64_t b_len) {
    SLOT_OR_FAIL("pl_lora_set_weights");
    /* both factors are checked before either is written: a refused call leaves the slot as it was */
    if (a) PL_TRY(check_values(a, s->rank * s->in, a_len, "pl_lora_set_weights(A)"));
    if (b) PL_TRY(check_values(b, s->out * s->rank, b_len, "pl_lora_set_weights(B)"));
    PULL_OR_FAIL(l, slot);
    if (a) memcpy(s->a, a, (size_t)(s->rank * s->in) * sizeof(float));
    if (b) memcpy(s->b, b, (size_t)(s->out * s->rank) * sizeof(float));
    s->host_gen++;
    return pl_ok();
}

/* Copies a slot's pair of buffers out with length checks. */
static int32_t copy_out(const lora_slot *s, const float *sa, const float *sb, float *a, int64_t a_len, float *b, int64_t b_len, const char *fn) {
    if (a) {
        PL_REQUIRE(a_len == s->rank * s->in, "%s: A length %lld, expected %lld", fn, (long long)a_len, (long long)(s->rank * s->in));
        memcpy(a, sa, (size_t)a_len * sizeof(float));
    }
    if (b) {
        PL_REQUIRE(b_len == s->out * s->rank, "%s: B length %lld, expected %lld", fn, (long long)b_len, (long long)(s->out * s->rank));
        memcpy(b, sb, (size_t)b_len * sizeof(float));
    }
    return pl_ok();
}

PL_EXPORT int32_t pl_lora_get_weights(const pl_lora *l, int32_t slot, float *a, int64_t a_len, float *b, int64_t b_len) {
    SLOT_OR_FAIL("pl_lora_get_weights");
    PULL_OR_FAIL(l, slot);
    return copy_out(s, s->a, s->b, a, a_len, b, b_len, "pl_lora_get_weights");
}

PL_EXPORT int32_t pl_lora_get_grads(const pl_lora *l, int32_t slot, float *da, int64_t a_len, float *db, int64_t b_len) {
    SLOT_OR_FAIL("pl_lora_get_grads");
    PULL_OR_FAIL(l, slot);
    return copy_out(s, s->da, s->db, da, a_len, db, b_len, "pl_lora_get_grads");
}

PL_EXPORT int32_t pl_lora_set_flags(pl_lora *l, int32_t slot, float scale, int32_t train_a, int32_t train_b, int32_t enabled) {
    SLOT_OR_FAIL("pl_lora_set_flags");
    PL_REQUIRE(scale - scale == 0.0f, "pl_lora_set_flags: scale is not finite");
    s->scale = scale;
    s->train_a = train_a != 0;
    s->train_b = train_b != 0;
    s->enabled = enabled != 0;
    return pl_ok();
}

PL_EXPORT int32_t pl_lora_set_layer_enabled(pl_lora *l, int64_t layer, int32_t enabled) {
    PL_REQUIRE(l, "pl_lora_set_layer_enabled: lora must not be NULL");
    PL_REQUIRE(layer >= 0 && layer < l->model->p.n_layer, "pl_lora_set_layer_enabled: layer %lld out of range", (long long)layer);
    l->layer_enabled[layer] = enabled != 0;
    return pl_ok();
}

PL_EXPORT int32_t pl_lora_get_adam(const pl_lora *l, int32_t slot, float *m_a, float *v_a, int64_t a_len, float *m_b,
                                   float *v_b, int64_t b_len, int64_t *step) {
    SLOT_OR_FAIL("pl_lora_get_adam");
    const int64_t na = s->rank * s->in, nb = s->out * s->rank;
    PL_REQUIRE(!(m_a || v_a) || a_len == na, "pl_lora_get_adam: A moments length %lld, expected %lld (rank %lld x in %lld)",
               (long long)a_len, (long long)na, (long long)s->rank, (long long)s->in);
    PL_REQUIRE(!(m_b || v_b) || b_len == nb, "pl_lora_get_adam: B moments length %lld, expected %lld (out %lld x rank %lld)",
               (long long)b_len, (long long)nb, (long long)s->out, (long long)s->rank);
    PULL_OR_FAIL(l, slot);
    if (m_a) memcpy(m_a, s->ma, (size_t)na * sizeof(float));
    if (v_a) memcpy(v_a, s->va, (size_t)na * sizeof(float));
    if (m_b) memcpy(m_b, s->mb, (size_t)nb * sizeof(float));
    if (v_b) memcpy(v_b, s->vb, (size_t)nb * sizeof(float));
    if (step) *step = s->step;
    return pl_ok();
}

/* Checks n restored moments: finite, and (second moments) not negative. */
static int32_t check_moments(const float *x, int64_t n, int second, const char *what) {
    for (int64_t i = 0; i < n; i++)
        if (!(x[i] - x[i] == 0.0f) || (second && x[i] < 0.0f))
            return pl_fail(PL_ERR_NUMERIC, "pl_lora_set_adam: %s element %lld is %g; moments must be finite%s", what, (long long)i,
                           (double)x[i], second ? " and >= 0" : "");
    return PL_OK;
}

PL_EXPORT int32_t pl_lora_set_adam(pl_lora *l, int32_t slot, const float *m_a, const float *v_a, int64_t a_len, const float *m_b,
                                   const float *v_b, int64_t b_len, int64_t step) {
    SLOT_OR_FAIL("pl_lora_set_adam");
    /* AdamW's bias correction raises beta to the step as a float and the trainer counts the step up from here: a bound
       far below INT64_MAX keeps step + 1 from overflowing and 2^53 keeps every step exact as a double. */
    PL_REQUIRE(step >= 0 && step <= PL_MAX_ADAM_STEP, "pl_lora_set_adam: step %lld out of range 0..%lld (2^53)", (long long)step,
               (long long)PL_MAX_ADAM_STEP);
    const int64_t na = s->rank * s->in, nb = s->out * s->rank;
    PL_REQUIRE(!(m_a || v_a) || a_len == na, "pl_lora_set_adam: A moments length %lld, expected %lld (rank %lld x in %lld)",
               (long long)a_len, (long long)na, (long long)s->rank, (long long)s->in);
    PL_REQUIRE(!(m_b || v_b) || b_len == nb, "pl_lora_set_adam: B moments length %lld, expected %lld (out %lld x rank %lld)",
               (long long)b_len, (long long)nb, (long long)s->out, (long long)s->rank);
    if (m_a) PL_TRY(check_moments(m_a, na, 0, "m_a"));
    if (v_a) PL_TRY(check_moments(v_a, na, 1, "v_a"));
    if (m_b) PL_TRY(check_moments(m_b, nb, 0, "m_b"));
    if (v_b) PL_TRY(check_moments(v_b, nb, 1, "v_b"));
    PULL_OR_FAIL(l, slot);
    if (m_a) memcpy(s->ma, m_a, (size_t)na * sizeof(float));
    if (v_a) memcpy(s->va, v_a, (size_t)na * sizeof(float));
    if (m_b) memcpy(s->mb, m_b, (size_t)nb * sizeof(float));
    if (v_b) memcpy(s->vb, v_b, (size_t)nb * sizeof(float));
    s->step = step;
    s->host_gen++;
    return pl_ok();
}

PL_EXPORT int32_t pl_lora_reset_adam(pl_lora *l, int32_t slot) {
    PL_REQUIRE(l, "pl_lora_reset_adam: lora must not be NULL");
    PL_REQUIRE(slot >= -1 && slot < l->n_slots, "pl_lora_reset_adam: slot %d out of range", slot);
    for (int32_t i = slot < 0 ? 0 : slot; i < (slot < 0 ? l->n_slots : slot + 1); i++) {
        lora_slot *s = &l->slots[i];
        PULL_OR_FAIL(l, i);
        const size_t na = (size_t)(s->rank * s->in) * sizeof(float), nb = (size_t)(s->out * s->rank) * sizeof(float);
        memset(s->ma, 0, na); memset(s->va, 0, na); memset(s->mb, 0, nb); memset(s->vb, 0, nb);
        s->step = 0;
        s->host_gen++;
    }
    return pl_ok();
}

PL_EXPORT int32_t pl_model_set_lora(pl_model *m, pl_lora *l) {
    PL_REQUIRE(m, "pl_model_set_lora: model must not be NULL");
    PL_REQUIRE(!l || l->model == m, "pl_model_set_lora: the adapter was created for another model");
    PL_REQUIRE(!l || l->device == m->device, "pl_model_set_lora: the adapter was created on another device");
    for (int32_t i = 0; l && i < l->n_slots; i++) PL_TRY(lora_check_slot(m, &l->slots[i], i, "pl_model_set_lora"));
    m->lora = l;
    return pl_ok();
}
