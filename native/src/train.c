/* Training: the forward with saved activations, the backward through every op, gradient norm and AdamW.
   LORA mode trains the attached adapter's trainable factors over a frozen (possibly quantized) base;
   FULL mode trains every weight of an F32 model in place. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "common.h"
#include "pool.h"
#include "block.h"
#include "lora.h"
#include "model.h"
#include "ops/matmul.h"
#include "ops/ops.h"
#include "backend.h"

/* A trainable F32 tensor of FULL mode: the weight, its gradient and AdamW moments. */
typedef struct full_param {
    float *w;
    float *g, *m, *v;
    int64_t n, step;
} full_param;

struct pl_trainer {
    pl_model *model;
    pl_trainer_params tp;
    int64_t N;              /* n_seq · n_tok */
    int64_t chunk;          /* rows of logits made at a time */
    int64_t n_saved;        /* activation sets: n_layer, or 1 with recompute */
    float **x_in;           /* [n_layer][N·D] input of each block */
    block_acts *acts;       /* [n_saved] */
    float **k, **v;         /* [n_saved][N·kv] keys (after RoPE) and values */
    float *x;               /* [N·D] residual stream */
    float *xf_n, *rstd_f;   /* final norm output and its rstd */
    float *logits;          /* [chunk·V] logits, then their gradient */
    float *dx, *dxn, *dq, *dk, *dv, *datt, *dg, *du, *dh, *du_lora; /* gradients */
    float **slot_u;         /* [n_slots] saved A x per slot: [N·rank] */
    int32_t n_slots;
    int64_t *slot_shape;    /* [n_slots][4] layer, target, rank, in·out of each slot when the trainer was made (scratch is sized by them) */
    full_param *full;       /* FULL mode: [PL_N_WEIGHT_KINDS · (n_layer + 1)] indexed by param_index */
    void *dev;              /* device models: the backend's trainer (every other field unused) */
};

/* The backend of a device trainer. */
static const pl_backend *dev_backend(void) { return pl_cuda_backend(NULL); }

/* Index of a weight in the FULL-mode parameter table. */
static int64_t param_index(const pl_model *m, int32_t which, int64_t layer) {
    return pl_weight_is_per_layer(which) ? (layer + 1) * PL_N_WEIGHT_KINDS + which : which;
}

static float *falloc(int64_t n, int *ok) {
    size_t bytes;
    if (!pl_f32_bytes_ok(n, &bytes)) { *ok = 0; return NULL; }
    float *p = pl_alloc(bytes);
    if (!p) *ok = 0;
    return p;
}

static void acts_free(block_acts *a) {
    pl_free(a->xn1); pl_free(a->rstd1); pl_free(a->q); pl_free(a->probs); pl_free(a->att); pl_free(a->x_mid);
    pl_free(a->xn2); pl_free(a->rstd2); pl_free(a->g); pl_free(a->u); pl_free(a->h); pl_free(a->tmp); pl_free(a->lora_tmp);
}

PL_EXPORT void pl_trainer_free(pl_trainer *t) {
    if (!t) return;
    if (t->dev) dev_backend()->trainer_free(t->dev);
    for (int64_t i = 0; t->acts && i < t->n_saved; i++) {
        acts_free(&t->acts[i]);
        pl_free(t->k[i]); pl_free(t->v[i]);
    }
    for (int64_t l = 0; t->x_in && l < t->model->p.n_layer; l++) pl_free(t->x_in[l]);
    for (int32_t i = 0; t->slot_u && i < t->n_slots; i++) pl_free(t->slot_u[i]);
    if (t->full) {
        for (int64_t i = 0; i < (t->model->p.n_layer + 1) * PL_N_WEIGHT_KINDS; i++) {
            pl_free(t->full[i].g); pl_free(t->full[i].m); pl_free(t->full[i].v);
        }
    }
    free(t->acts); free(t->k); free(t->v); free(t->x_in); free(t->slot_u); free(t->full); free(t->slot_shape);
    pl_free(t->x); pl_free(t->xf_n); pl_free(t->rstd_f); pl_free(t->logits);
    pl_free(t->dx); pl_free(t->dxn); pl_free(t->dq); pl_free(t->dk); pl_free(t->dv); pl_free(t->datt);
    pl_free(t->dg); pl_free(t->du); pl_free(t->dh); pl_free(t->du_lora);
    free(t);
}

PL_EXPORT int32_t pl_trainer_create(pl_model *m, const pl_trainer_params *tp, pl_trainer **out) {
    PL_REQUIRE(m && tp && out, "pl_trainer_create: arguments must not be NULL");
    *out = NULL;
    int64_t n_rows = 0;
    PL_REQUIRE(tp->n_seq > 0 && tp->n_tok > 0 && tp->n_tok <= PL_MAX_CTX && pl_mul_ok(tp->n_seq, tp->n_tok, &n_rows) && n_rows <= PL_MAX_CTX,
               "pl_trainer_create: bad batch shape %lld x %lld (n_tok and n_seq x n_tok must be in 1..%lld)", (long long)tp->n_seq,
               (long long)tp->n_tok, PL_MAX_CTX);
    PL_REQUIRE(tp->mode == PL_TRAIN_LORA || tp->mode == PL_TRAIN_FULL, "pl_trainer_create: unknown mode %d", tp->mode);
    if (!m->validated) PL_TRY(pl_model_validate(m));
    const pl_model_params *p = &m->p;
    if (tp->mode == PL_TRAIN_LORA && !m->lora)
        return pl_fail(PL_ERR_STATE, "pl_trainer_create: LORA mode needs an adapter attached to the model (pl_model_set_lora)");
    if (tp->mode == PL_TRAIN_FULL) {
        for (int32_t w = 0; w < PL_N_WEIGHT_KINDS; w++)
            for (int64_t l = 0; l < (pl_weight_is_per_layer(w) ? p->n_layer : 1); l++) {
                const pl_weight_ref *r = pl_weight_is_per_layer(w) ? &m->layers[l].w[w] : &m->global[w];
                if (r->data && r->type != PL_TYPE_F32)
                    return pl_fail(PL_ERR_UNSUPPORTED, "pl_trainer_create: FULL mode needs F32 weights (weight %d of layer %lld is type %d)",
                                   w, (long long)l, r->type);
            }
    }
    /* the attention probabilities are the largest activation: n_seq x n_head x n_tok² floats per saved layer */
    int64_t probs = 0, probs_all = 0;
    PL_REQUIRE(pl_mul4_ok(tp->n_seq, p->n_head, tp->n_tok, tp->n_tok, &probs) && pl_mul3_ok(probs, p->n_layer, (int64_t)sizeof(float), &probs_all),
               "pl_trainer_create: a %lld x %lld batch with %lld heads overflows a 64-bit size", (long long)tp->n_seq,
               (long long)tp->n_tok, (long long)p->n_head);
    for (int32_t i = 0; m->lora && i < m->lora->n_slots; i++) PL_TRY(lora_check_slot(m, &m->lora->slots[i], i, "pl_trainer_create"));
    pl_trainer *t = calloc(1, sizeof *t);
    if (!t) return pl_fail(PL_ERR_OUT_OF_MEMORY, "pl_trainer_create: out of memory");
    t->model = m;
    t->tp = *tp;
    t->n_slots = m->lora ? m->lora->n_slots : 0;
    t->slot_shape = calloc((size_t)(t->n_slots > 0 ? t->n_slots : 1) * 4, sizeof(int64_t));
    if (!t->slot_shape) { free(t); return pl_fail(PL_ERR_OUT_OF_MEMORY, "pl_trainer_create: out of memory"); }
    for (int32_t i = 0; i < t->n_slots; i++) {
        const lora_slot *s = &m->lora->slots[i];
        int64_t *sh = t->slot_shape + 4 * (int64_t)i;
        sh[0] = s->layer; sh[1] = s->target; sh[2] = s->rank; sh[3] = s->in * s->out;
    }
    if (m->dev) {
        int32_t rc = dev_backend()->trainer_create(m, tp, &t->dev);
        if (rc != PL_OK) { free(t->slot_shape); free(t); return rc; }
        *out = t;
        return pl_ok();
    }
    const int64_t N = tp->n_seq * tp->n_tok, D = p->n_embd, F = p->n_ff, V = p->n_vocab;
    const int64_t Q = p->n_head * p->head_dim, KV = p->n_head_kv * p->head_dim;
    const int64_t R = lora_max_rank(m->lora) > 0 ? lora_max_rank(m->lora) : 1;
    t->N = N;
    t->chunk = N < 256 ? N : 256;
    t->n_saved = tp->recompute ? 1 : p->n_layer;
    int ok = 1;
    t->x_in = calloc((size_t)p->n_layer, sizeof(float *));
    t->acts = calloc((size_t)t->n_saved, sizeof(block_acts));
    t->k = calloc((size_t)t->n_saved, sizeof(float *));
    t->v = calloc((size_t)t->n_saved, sizeof(float *));
    if (!t->x_in || !t->acts || !t->k || !t->v) { pl_trainer_free(t); return pl_fail(PL_ERR_OUT_OF_MEMORY, "pl_trainer_create: out of memory"); }
    for (int64_t l = 0; l < p->n_layer; l++) t->x_in[l] = falloc(N * D, &ok);
    for (int64_t i = 0; i < t->n_saved; i++) {
        block_acts *a = &t->acts[i];
        a->xn1 = falloc(N * D, &ok); a->rstd1 = falloc(N, &ok); a->q = falloc(N * Q, &ok);
        a->probs = falloc(tp->n_seq * p->n_head * tp->n_tok * tp->n_tok, &ok);
        a->att = falloc(N * Q, &ok); a->x_mid = falloc(N * D, &ok); a->xn2 = falloc(N * D, &ok); a->rstd2 = falloc(N, &ok);
        a->g = falloc(N * F, &ok); a->u = falloc(N * F, &ok); a->h = falloc(N * F, &ok); a->tmp = falloc(N * D, &ok);
        a->lora_tmp = falloc(N * R, &ok);
        t->k[i] = falloc(N * KV, &ok); t->v[i] = falloc(N * KV, &ok);
    }
    t->x = falloc(N * D, &ok); t->xf_n = falloc(N * D, &ok); t->rstd_f = falloc(N, &ok); t->logits = falloc(t->chunk * V, &ok);
    t->dx = falloc(N * D, &ok); t->dxn = falloc(N * D, &ok); t->dq = falloc(N * Q, &ok); t->dk = falloc(N * KV, &ok);
    t->dv = falloc(N * KV, &ok); t->datt = falloc(N * Q, &ok); t->dg = falloc(N * F, &ok); t->du = falloc(N * F, &ok);
    t->dh = falloc(N * F, &ok); t->du_lora = falloc(N * R, &ok);
    if (m->lora) {
        t->n_slots = m->lora->n_slots;
        t->slot_u = calloc((size_t)(t->n_slots > 0 ? t->n_slots : 1), sizeof(float *));
        if (!t->slot_u) ok = 0;
        for (int32_t i = 0; ok && i < t->n_slots; i++) t->slot_u[i] = falloc(N * m->lora->slots[i].rank, &ok);
    }
    if (ok && tp->mode == PL_TRAIN_FULL) {
        t->full = calloc((size_t)((p->n_layer + 1) * PL_N_WEIGHT_KINDS), sizeof(full_param));
        if (!t->full) ok = 0;
        for (int32_t w = 0; ok && w < PL_N_WEIGHT_KINDS; w++)
            for (int64_t l = 0; ok && l < (pl_weight_is_per_layer(w) ? p->n_layer : 1); l++) {
                const pl_weight_ref *r = pl_weight_is_per_layer(w) ? &m->layers[l].w[w] : &m->global[w];
                if (!r->data || w >= PL_W_ATTN_Q_BIAS) continue; /* biases and RoPE factors stay fixed */
                full_param *fp = &t->full[param_index(m, w, l)];
                fp->w = (float *)r->data; /* FULL mode owns the update of the borrowed F32 weights */
                fp->n = r->ne0 * r->ne1;
                fp->g = pl_calloc((size_t)fp->n * sizeof(float));
                fp->m = pl_calloc((size_t)fp->n * sizeof(float));
                fp->v = pl_calloc((size_t)fp->n * sizeof(float));
                if (!fp->g || !fp->m || !fp->v) ok = 0;
            }
    }
    if (!ok) {
        pl_trainer_free(t);
        return pl_fail(PL_ERR_OUT_OF_MEMORY, "pl_trainer_create: cannot allocate the activations of a %lld x %lld batch",
                       (long long)tp->n_seq, (long long)tp->n_tok);
    }
    *out = t;
    return pl_ok();
}

/* The FULL-mode gradient buffer of a weight, or NULL (LORA mode, or the weight is absent). */
static float *wgrad(pl_trainer *t, int32_t which, int64_t layer) {
    if (!t->full) return NULL;
    return t->full[param_index(t->model, which, layer)].g;
}

/* Runs block l from t->x_in[l] into t->x, saving activations into set i. */
static int32_t block_fwd_saved(pl_trainer *t, int64_t l, int64_t i) {
    const pl_model_params *p = &t->model->p;
    const int64_t D = p->n_embd, KV = p->n_head_kv * p->head_dim, T = t->tp.n_tok;
    memcpy(t->x, t->x_in[l], (size_t)(t->N * D) * sizeof(float));
    t->acts[i].slot_u = t->slot_u;
    return block_forward(t->model, l, t->x, t->tp.n_seq, T, 0, t->k[i], t->v[i], t->k[i], t->v[i], T, T * KV, &t->acts[i]);
}

/* Backward of block l: t->dx holds dL/d(output) on entry and dL/d(input) on return. */
static int32_t block_bwd(pl_trainer *t, int64_t l, int64_t i) {
    const pl_model *m = t->model;
    const pl_model_params *p = &m->p;
    const pl_layer_weights *lw = &m->layers[l];
    block_acts *a = &t->acts[i];
    const int64_t N = t->N, D = p->n_embd, F = p->n_ff, B = t->tp.n_seq, T = t->tp.n_tok;
    float *const *su = t->slot_u;
    /* FFN: x_out = x_mid + down(h), h = silu(g)·u, g = gate(xn2), u = up(xn2), xn2 = norm(x_mid) */
    PL_TRY(block_linear_backward(m, l, PL_W_FFN_DOWN, a->h, t->dx, N, t->dh, 0, wgrad(t, PL_W_FFN_DOWN, l), su, t->du_lora));
    swiglu_backward(t->dg, t->du, t->dh, a->g, a->u, N * F);
    PL_TRY(block_linear_backward(m, l, PL_W_FFN_GATE, a->xn2, t->dg, N, t->dxn, 0, wgrad(t, PL_W_FFN_GATE, l), su, t->du_lora));
    PL_TRY(block_linear_backward(m, l, PL_W_FFN_UP, a->xn2, t->du, N, t->dxn, 1, wgrad(t, PL_W_FFN_UP, l), su, t->du_lora));
    rmsnorm_backward(t->dx, wgrad(t, PL_W_FFN_NORM, l), t->dxn, a->x_mid, lw->w[PL_W_FFN_NORM].data, a->rstd2, N, D);
    /* attention: x_mid = x_in + wo(att), att = attn(rope(q), rope(k), v), q/k/v = W·xn1, xn1 = norm(x_in) */
    PL_TRY(block_linear_backward(m, l, PL_W_ATTN_OUTPUT, a->att, t->dx, N, t->datt, 0, wgrad(t, PL_W_ATTN_OUTPUT, l), su, t->du_lora));
    PL_TRY(attention_backward(t->dq, t->dk, t->dv, t->datt, a->q, t->k[i], t->v[i], a->probs, B, T, p->n_head, p->n_head_kv, p->head_dim));
    rope_apply(t->dq, B, T, 0, p->n_head, p->head_dim, p->n_rot, p->rope_freq_base, p->rope_freq_scale, m->global[PL_W_ROPE_FREQS].data, p->rope_type, -1);
    rope_apply(t->dk, B, T, 0, p->n_head_kv, p->head_dim, p->n_rot, p->rope_freq_base, p->rope_freq_scale, m->global[PL_W_ROPE_FREQS].data, p->rope_type, -1);
    PL_TRY(block_linear_backward(m, l, PL_W_ATTN_Q, a->xn1, t->dq, N, t->dxn, 0, wgrad(t, PL_W_ATTN_Q, l), su, t->du_lora));
    PL_TRY(block_linear_backward(m, l, PL_W_ATTN_K, a->xn1, t->dk, N, t->dxn, 1, wgrad(t, PL_W_ATTN_K, l), su, t->du_lora));
    PL_TRY(block_linear_backward(m, l, PL_W_ATTN_V, a->xn1, t->dv, N, t->dxn, 1, wgrad(t, PL_W_ATTN_V, l), su, t->du_lora));
    rmsnorm_backward(t->dx, wgrad(t, PL_W_ATTN_NORM, l), t->dxn, t->x_in[l], lw->w[PL_W_ATTN_NORM].data, a->rstd1, N, D);
    return pl_ok();
}

/* The attached adapter must have the slots, in the same order and of the same shapes, that the trainer sized its
   scratch for: an adapter swapped or grown since (pl_model_set_lora, pl_lora_add_slot) needs a new trainer. */
static int32_t trainer_check_lora(const pl_trainer *t, const char *fn) {
    const pl_lora *lo = t->model->lora;
    const int32_t n = lo ? lo->n_slots : 0;
    if (t->tp.mode == PL_TRAIN_FULL && !lo) return PL_OK; /* t->full is the CPU trainer's; a device trainer has none */
    PL_REQUIRE(n == t->n_slots, "%s: the attached adapter has %d slots, the trainer was created for %d; create a new trainer",
               fn, n, t->n_slots);
    for (int32_t i = 0; i < n; i++) {
        const lora_slot *s = &lo->slots[i];
        const int64_t *sh = t->slot_shape + 4 * (int64_t)i;
        PL_REQUIRE(s->layer == sh[0] && s->target == sh[1] && s->rank == sh[2] && s->in * s->out == sh[3],
                   "%s: slot %d is now layer %lld target %d rank %lld, the trainer was created for layer %lld target %lld rank %lld;"
                   " create a new trainer", fn, i, (long long)s->layer, s->target, (long long)s->rank, (long long)sh[0],
                   (long long)sh[1], (long long)sh[2]);
        PL_TRY(lora_check_slot(t->model, s, i, fn));
    }
    return PL_OK;
}

/* The lowest layer whose backward matters: below it nothing trains (LORA mode with layers masked off). */
static int64_t lowest_trained_layer(const pl_trainer *t) {
    return t->full ? 0 : lora_lowest_trained_layer(t->model->lora, t->model->p.n_layer);
}

PL_EXPORT int32_t pl_trainer_zero_grad(pl_trainer *t) {
    PL_REQUIRE(t, "pl_trainer_zero_grad: trainer must not be NULL");
    if (t->dev) return pl_done(dev_backend()->trainer_zero_grad(t->dev));
    const pl_lora *lo = t->model->lora;
    for (int32_t i = 0; lo && i < lo->n_slots; i++) {
        const lora_slot *s = &lo->slots[i];
        memset(s->da, 0, (size_t)(s->rank * s->in) * sizeof(float));
        memset(s->db, 0, (size_t)(s->out * s->rank) * sizeof(float));
    }
    for (int64_t i = 0; t->full && i < (t->model->p.n_layer + 1) * PL_N_WEIGHT_KINDS; i++)
        if (t->full[i].g) memset(t->full[i].g, 0, (size_t)t->full[i].n * sizeof(float));
    return pl_ok();
}

static int32_t trainer_accumulate_impl(pl_trainer *t, const int32_t *tokens, const int32_t *targets, float grad_scale,
                                        double *loss_sum, int64_t *n_targets) {
    PL_REQUIRE(t && tokens && targets, "pl_trainer_accumulate: arguments must not be NULL");
    pl_model *m = t->model;
    const pl_model_params *p = &m->p;
    PL_TRY(trainer_check_lora(t, "pl_trainer_accumulate"));
    PL_REQUIRE(t->tp.mode == PL_TRAIN_FULL || m->lora, "pl_trainer_accumulate: no adapter attached");
    PL_REQUIRE(grad_scale - grad_scale == 0.0f, "pl_trainer_accumulate: grad_scale is not finite");
    const int64_t N = t->tp.n_seq * t->tp.n_tok, D = p->n_embd, V = p->n_vocab, L = p->n_layer;
    int64_t counted = 0;
    for (int64_t i = 0; i < N; i++) {
        PL_REQUIRE(tokens[i] >= 0 && tokens[i] < V, "pl_trainer_accumulate: token %d at %lld outside the vocabulary", tokens[i], (long long)i);
        PL_REQUIRE(targets[i] < V, "pl_trainer_accumulate: target %d at %lld outside the vocabulary", targets[i], (long long)i);
        counted += targets[i] >= 0;
    }
    if (t->dev) return pl_done(dev_backend()->trainer_accumulate(t->dev, tokens, targets, grad_scale, loss_sum, n_targets));
    /* forward */
    const pl_weight_ref *emb = &m->global[PL_W_TOKEN_EMBD];
    embedding_forward(t->x, tokens, N, emb->type, emb->data, D);
    for (int64_t l = 0; l < L; l++) {
        memcpy(t->x_in[l], t->x, (size_t)(N * D) * sizeof(float));
        PL_TRY(block_fwd_saved(t, l, t->tp.recompute ? 0 : l));
    }
    const float *xf = t->x; /* the last block's output */
    rmsnorm_forward(t->xf_n, t->rstd_f, xf, m->global[PL_W_OUTPUT_NORM].data, N, D, p->norm_eps);
    /* head, loss and its backward, chunk by chunk: dxn_f = dlogits · W_out */
    const pl_weight_ref *wo = pl_model_output_weight(m);
    float *dw_out = t->full ? wgrad(t, m->global[PL_W_OUTPUT].data ? PL_W_OUTPUT : PL_W_TOKEN_EMBD, -1) : NULL;
    double loss = 0.0;
    float nll[256];
    for (int64_t r = 0; r < N; r += t->chunk) {
        const int64_t nr = N - r < t->chunk ? N - r : t->chunk;
        PL_TRY(pl_base_linear_forward(wo->type, wo->data, D, V, t->xf_n + r * D, nr, t->logits, 0));
        cross_entropy_fused(nll, t->logits, targets + r, nr, V, grad_scale); /* logits become dlogits */
        for (int64_t i = 0; i < nr; i++) loss += nll[i];
        PL_TRY(pl_base_linear_backward_input(wo->type, wo->data, D, V, t->logits, nr, t->dxn + r * D, 0));
        if (dw_out) PL_TRY(pl_sgemm(1, 0, V, D, nr, 1.0f, t->logits, V, t->xf_n + r * D, D, 1.0f, dw_out, D));
    }
    if (!(loss - loss == 0.0))
        return pl_fail(PL_ERR_NUMERIC, "training: the loss is not finite (%g): NaN or Inf in the weights, the adapter or the activations", loss);
    if (loss_sum) *loss_sum = loss;
    if (n_targets) *n_targets = counted;
    memset(t->dx, 0, (size_t)(N * D) * sizeof(float));
    rmsnorm_backward(t->dx, wgrad(t, PL_W_OUTPUT_NORM, -1), t->dxn, xf, m->global[PL_W_OUTPUT_NORM].data, t->rstd_f, N, D);
    /* blocks, top down; stop below the lowest layer that trains */
    const int64_t low = lowest_trained_layer(t);
    for (int64_t l = L - 1; l >= low; l--) {
        if (t->tp.recompute) PL_TRY(block_fwd_saved(t, l, 0));
        PL_TRY(block_bwd(t, l, t->tp.recompute ? 0 : l));
    }
    if (t->full) embedding_backward(wgrad(t, PL_W_TOKEN_EMBD, -1), tokens, t->dx, N, D);
    return pl_ok();
}

PL_EXPORT int32_t pl_trainer_accumulate(pl_trainer *t, const int32_t *tokens, const int32_t *targets, float grad_scale, double *loss_sum, int64_t *n_targets) {
    const int saved = pl_threads_enter(t ? t->model : NULL); /* the model's thread count, if it has one, for this call */
    const int32_t rc = trainer_accumulate_impl(t, tokens, targets, grad_scale, loss_sum, n_targets);
    pl_threads_set_override(saved);
    return rc;
}

/* Σ x² over n floats in double. */
static double sumsq(const float *x, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    return s;
}

PL_EXPORT int32_t pl_trainer_grad_norm(pl_trainer *t, double *norm) {
    PL_REQUIRE(t && norm, "pl_trainer_grad_norm: arguments must not be NULL");
    if (t->dev) return pl_done(dev_backend()->trainer_grad_norm(t->dev, norm));
    double s = 0.0;
    const pl_lora *lo = t->model->lora;
    if (!t->full) {
        for (int32_t i = 0; lo && i < lo->n_slots; i++) {
            const lora_slot *sl = &lo->slots[i];
            if (!lora_slot_active(lo, sl)) continue;
            if (sl->train_a) s += sumsq(sl->da, sl->rank * sl->in);
            if (sl->train_b) s += sumsq(sl->db, sl->out * sl->rank);
        }
    } else {
        for (int64_t i = 0; i < (t->model->p.n_layer + 1) * PL_N_WEIGHT_KINDS; i++)
            if (t->full[i].g) s += sumsq(t->full[i].g, t->full[i].n);
    }
    *norm = sqrt(s);
    return pl_ok();
}

typedef struct {
    float *w, *m, *v;
    const float *g;
    float bc1, bc2;
    const pl_adamw_params *p;
} adamw_args;

static void adamw_chunk(void *ctx, int64_t i0, int64_t i1, int worker) {
    const adamw_args *a = ctx;
    const pl_adamw_params *p = a->p;
    float *w = a->w, *m = a->m, *v = a->v;
    for (int64_t i = i0; i < i1; i++) {
        const float gi = a->g[i] * p->grad_scale;
        m[i] = p->beta1 * m[i] + (1.0f - p->beta1) * gi;
        v[i] = p->beta2 * v[i] + (1.0f - p->beta2) * gi * gi;
        const float mh = m[i] / a->bc1, vh = v[i] / a->bc2;
        w[i] -= p->lr * (mh / (sqrtf(vh) + p->eps) + p->weight_decay * w[i]);
    }
}

/* AdamW on n floats: m = β1 m + (1-β1) g; v = β2 v + (1-β2) g²; w -= lr (m̂/(√v̂+ε) + wd·w). */
static void adamw(float *w, const float *g, float *m, float *v, int64_t n, int64_t step, const pl_adamw_params *p) {
    adamw_args a = {w, m, v, g, 1.0f - powf(p->beta1, (float)step), 1.0f - powf(p->beta2, (float)step), p};
    if (n <= 65536) adamw_chunk(&a, 0, n, 0);
    else pl_parallel_for(n, 16384, pl_threads(), adamw_chunk, &a);
}

static int32_t trainer_adamw_step_impl(pl_trainer *t, const pl_adamw_params *ap) {
    PL_REQUIRE(t && ap, "pl_trainer_adamw_step: arguments must not be NULL");
    /* every value finite: an infinite lr or weight decay turns the weights into NaN, an infinite eps stops training */
    PL_REQUIRE(ap->lr >= 0.0f && ap->lr - ap->lr == 0.0f && ap->beta1 >= 0.0f && ap->beta1 < 1.0f && ap->beta2 >= 0.0f &&
               ap->beta2 < 1.0f && ap->eps > 0.0f && ap->eps - ap->eps == 0.0f && ap->weight_decay >= 0.0f &&
               ap->weight_decay - ap->weight_decay == 0.0f && ap->grad_scale - ap->grad_scale == 0.0f,
               "pl_trainer_adamw_step: bad hyperparameters (lr %g beta1 %g beta2 %g eps %g wd %g scale %g)",
               (double)ap->lr, (double)ap->beta1, (double)ap->beta2, (double)ap->eps, (double)ap->weight_decay, (double)ap->grad_scale);
    if (t->dev) return pl_done(dev_backend()->trainer_adamw_step(t->dev, ap));
    pl_lora *lo = t->model->lora;
    if (!t->full) {
        for (int32_t i = 0; lo && i < lo->n_slots; i++) {
            lora_slot *s = &lo->slots[i];
            if (!lora_slot_active(lo, s) || (!s->train_a && !s->train_b)) continue;
            s->step++;
            if (s->train_a) adamw(s->a, s->da, s->ma, s->va, s->rank * s->in, s->step, ap);
            if (s->train_b) adamw(s->b, s->db, s->mb, s->vb, s->out * s->rank, s->step, ap);
        }
    } else {
        for (int64_t i = 0; i < (t->model->p.n_layer + 1) * PL_N_WEIGHT_KINDS; i++) {
            full_param *fp = &t->full[i];
            if (!fp->g) continue;
            fp->step++;
            adamw(fp->w, fp->g, fp->m, fp->v, fp->n, fp->step, ap);
        }
    }
    return pl_ok();
}

PL_EXPORT int32_t pl_trainer_adamw_step(pl_trainer *t, const pl_adamw_params *ap) {
    const int saved = pl_threads_enter(t ? t->model : NULL); /* the model's thread count, if it has one, for this call */
    const int32_t rc = trainer_adamw_step_impl(t, ap);
    pl_threads_set_override(saved);
    return rc;
}

PL_EXPORT int32_t pl_trainer_get_weight_grad(pl_trainer *t, int32_t which, int64_t layer, float *dst, int64_t len) {
    PL_REQUIRE(t && dst, "pl_trainer_get_weight_grad: arguments must not be NULL");
    if (t->dev) {
        PL_REQUIRE(which >= 0 && which < PL_N_WEIGHT_KINDS, "pl_trainer_get_weight_grad: unknown weight %d", which);
        PL_REQUIRE(!pl_weight_is_per_layer(which) || (layer >= 0 && layer < t->model->p.n_layer),
                   "pl_trainer_get_weight_grad: layer %lld out of range", (long long)layer);
        return pl_done(dev_backend()->trainer_get_weight_grad(t->dev, which, layer, dst, len));
    }
    if (!t->full) return pl_fail(PL_ERR_STATE, "pl_trainer_get_weight_grad: the trainer is not in FULL mode");
    PL_REQUIRE(which >= 0 && which < PL_N_WEIGHT_KINDS, "pl_trainer_get_weight_grad: unknown weight %d", which);
    PL_REQUIRE(!pl_weight_is_per_layer(which) || (layer >= 0 && layer < t->model->p.n_layer),
               "pl_trainer_get_weight_grad: layer %lld out of range", (long long)layer);
    const full_param *fp = &t->full[param_index(t->model, which, layer)];
    if (!fp->g) return pl_fail(PL_ERR_STATE, "pl_trainer_get_weight_grad: weight %d is not bound", which);
    PL_REQUIRE(len == fp->n, "pl_trainer_get_weight_grad: length %lld, expected %lld", (long long)len, (long long)fp->n);
    memcpy(dst, fp->g, (size_t)len * sizeof(float));
    return pl_ok();
}

/* The FULL-mode parameter of a weight on a CPU trainer, or a failure naming fn. */
static int32_t full_param_of(pl_trainer *t, int32_t which, int64_t layer, const char *fn, full_param **out) {
    PL_REQUIRE(t, "%s: trainer must not be NULL", fn);
    if (t->dev) return pl_fail(PL_ERR_UNSUPPORTED, "%s: a device trainer's AdamW state cannot be read or restored (CPU trainers only)", fn);
    if (!t->full) return pl_fail(PL_ERR_STATE, "%s: the trainer is not in FULL mode", fn);
    PL_REQUIRE(which >= 0 && which < PL_N_WEIGHT_KINDS, "%s: unknown weight %d", fn, which);
    PL_REQUIRE(!pl_weight_is_per_layer(which) || (layer >= 0 && layer < t->model->p.n_layer), "%s: layer %lld out of range", fn,
               (long long)layer);
    full_param *fp = &t->full[param_index(t->model, which, layer)];
    if (!fp->g) return pl_fail(PL_ERR_STATE, "%s: weight %d is not trained (absent, a bias or RoPE factors)", fn, which);
    *out = fp;
    return PL_OK;
}

PL_EXPORT int32_t pl_trainer_get_weight_adam(pl_trainer *t, int32_t which, int64_t layer, float *m, float *v, int64_t len,
                                             int64_t *step) {
    full_param *fp = NULL;
    PL_TRY(full_param_of(t, which, layer, "pl_trainer_get_weight_adam", &fp));
    PL_REQUIRE(!(m || v) || len == fp->n, "pl_trainer_get_weight_adam: length %lld, expected %lld", (long long)len, (long long)fp->n);
    if (m) memcpy(m, fp->m, (size_t)fp->n * sizeof(float));
    if (v) memcpy(v, fp->v, (size_t)fp->n * sizeof(float));
    if (step) *step = fp->step;
    return pl_ok();
}

/* Checks n restored moments: finite, and (second moments) not negative. */
static int32_t check_full_moments(const float *x, int64_t n, int second, const char *what) {
    for (int64_t i = 0; i < n; i++)
        if (!(x[i] - x[i] == 0.0f) || (second && x[i] < 0.0f))
            return pl_fail(PL_ERR_NUMERIC, "pl_trainer_set_weight_adam: %s element %lld is %g; moments must be finite%s", what,
                           (long long)i, (double)x[i], second ? " and >= 0" : "");
    return PL_OK;
}

PL_EXPORT int32_t pl_trainer_set_weight_adam(pl_trainer *t, int32_t which, int64_t layer, const float *m, const float *v, int64_t len,
                                             int64_t step) {
    full_param *fp = NULL;
    PL_TRY(full_param_of(t, which, layer, "pl_trainer_set_weight_adam", &fp));
    PL_REQUIRE(step >= 0 && step <= PL_MAX_ADAM_STEP, "pl_trainer_set_weight_adam: step %lld out of range 0..%lld (2^53)",
               (long long)step, (long long)PL_MAX_ADAM_STEP);
    PL_REQUIRE(!(m || v) || len == fp->n, "pl_trainer_set_weight_adam: length %lld, expected %lld", (long long)len, (long long)fp->n);
    if (m) PL_TRY(check_full_moments(m, fp->n, 0, "m"));
    if (v) PL_TRY(check_full_moments(v, fp->n, 1, "v"));
    if (m) memcpy(fp->m, m, (size_t)fp->n * sizeof(float));
    if (v) memcpy(fp->v, v, (size_t)fp->n * sizeof(float));
    fp->step = step;
    return pl_ok();
}
