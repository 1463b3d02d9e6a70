/* test_cuda: the CUDA backend against the CPU engine on the same inputs, through the public API only.
   Every op runs forward and backward on the GPU inside these model-level checks (embedding, RMSNorm, RoPE normal/NeoX
   with frequency factors, GQA attention, SwiGLU, biases, the output projection and cross-entropy, the adapted linears
   with several slots, frozen and half-frozen slots, a masked layer, a dense delta, AdamW, the gradient norm, FULL
   mode, recompute, KV-cache decoding, streamed weights), for every weight type the engine reads.
   Two precisions: the F32 placement (F32 weights and GEMMs on the GPU: agreement to rounding, tight tolerances) and
   the default BF16 placement (BF16 weights and GEMM inputs: looser tolerances stated per check).
   Without a GPU only the checks that need none run (the backend loads and says why there is no GPU); the GPU checks
   are reported as skipped. Prints "N passed, N failed"; exit 1 on any failure. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "panlora.h"

#include "check.h" /* native/tests */

#define OK(call) do { int32_t rc_ = (call); if (rc_ != PL_OK) { printf("FAIL %s:%d %s: %s\n", __FILE__, __LINE__, #call, pl_last_error()); n_fail++; goto done; } } while (0)

/* ---- deterministic random numbers ---- */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static float frand(void) { /* uniform in [-1, 1) */
    rng_state ^= rng_state << 13; rng_state ^= rng_state >> 7; rng_state ^= rng_state << 17;
    return (float)((rng_state >> 40) * (1.0 / 16777216.0)) * 2.0f - 1.0f;
}

/* max |a - b| / max(max |b|, floor) */
static double rel_err(const float *a, const float *b, int64_t n, double floor_) {
    double mx = 0.0, md = 0.0;
    for (int64_t i = 0; i < n; i++) {
        if (fabs(b[i]) > mx) mx = fabs(b[i]);
        double d = fabs((double)a[i] - (double)b[i]);
        if (!(d == d)) return INFINITY;
        if (d > md) md = d;
    }
    return md / (mx > floor_ ? mx : floor_);
}

/* ---- a random model, built once as host buffers and bound to a CPU and a CUDA model ---- */
typedef struct tensor { int32_t type; int64_t ne0, ne1; void *data; int64_t bytes; } tensor;

typedef struct spec {
    const char *name;
    int64_t vocab, embd, layers, head, head_kv, head_dim, ff, rot;
    int32_t rope_type, wtype, bias, rope_freqs, tied;
} spec;

typedef struct weights {
    tensor global[16];
    tensor *layer; /* [layers][16] */
    float *delta;  /* one dense delta on layer 0's attn_v */
    int64_t n_layers;
} weights;

static int make_tensor(tensor *t, int32_t type, int64_t ne0, int64_t ne1, float amp, float bias) {
    float *f = malloc((size_t)(ne0 * ne1) * sizeof(float));
    if (!f) return 0;
    for (int64_t i = 0; i < ne0 * ne1; i++) f[i] = bias + amp * frand();
    int64_t rb = 0;
    if (pl_row_bytes(type, ne0, &rb) != PL_OK) { free(f); return 0; }
    t->type = type; t->ne0 = ne0; t->ne1 = ne1; t->bytes = rb * ne1;
    t->data = malloc((size_t)t->bytes);
    int ok = t->data && pl_quantize(type, f, ne0 * ne1, t->data, t->bytes) == PL_OK;
    free(f);
    return ok;
}

static void free_weights(weights *w) {
    for (int k = 0; k < 16; k++) free(w->global[k].data);
    for (int64_t i = 0; w->layer && i < w->n_layers * 16; i++) free(w->layer[i].data);
    free(w->layer); free(w->delta);
    memset(w, 0, sizeof *w);
}

static int make_weights(const spec *s, weights *w) {
    memset(w, 0, sizeof *w);
    const int64_t q = s->head * s->head_dim, kv = s->head_kv * s->head_dim;
    w->n_layers = s->layers;
    w->layer = calloc((size_t)(s->layers * 16), sizeof(tensor));
    if (!w->layer) return 0;
    const float a_in = 1.0f / sqrtf((float)s->embd);
    int ok = make_tensor(&w->global[PL_W_TOKEN_EMBD], s->wtype, s->embd, s->vocab, 1.0f, 0.0f)
          && make_tensor(&w->global[PL_W_OUTPUT_NORM], PL_TYPE_F32, s->embd, 1, 0.2f, 1.0f);
    if (ok && !s->tied) ok = make_tensor(&w->global[PL_W_OUTPUT], s->wtype, s->embd, s->vocab, 2.0f * a_in, 0.0f);
    if (ok && s->rope_freqs) ok = make_tensor(&w->global[PL_W_ROPE_FREQS], PL_TYPE_F32, s->rot / 2, 1, 0.5f, 1.5f);
    for (int64_t l = 0; ok && l < s->layers; l++) {
        tensor *L = &w->layer[l * 16];
        ok = make_tensor(&L[PL_W_ATTN_NORM], PL_TYPE_F32, s->embd, 1, 0.2f, 1.0f)
          && make_tensor(&L[PL_W_FFN_NORM], PL_TYPE_F32, s->embd, 1, 0.2f, 1.0f)
          && make_tensor(&L[PL_W_ATTN_Q], s->wtype, s->embd, q, 2.0f * a_in, 0.0f)
          && make_tensor(&L[PL_W_ATTN_K], s->wtype, s->embd, kv, 2.0f * a_in, 0.0f)
          && make_tensor(&L[PL_W_ATTN_V], s->wtype, s->embd, kv, 2.0f * a_in, 0.0f)
          && make_tensor(&L[PL_W_ATTN_OUTPUT], s->wtype, q, s->embd, 2.0f / sqrtf((float)q), 0.0f)
          && make_tensor(&L[PL_W_FFN_GATE], s->wtype, s->embd, s->ff, 2.0f * a_in, 0.0f)
          && make_tensor(&L[PL_W_FFN_UP], s->wtype, s->embd, s->ff, 2.0f * a_in, 0.0f)
          && make_tensor(&L[PL_W_FFN_DOWN], s->wtype, s->ff, s->embd, 2.0f / sqrtf((float)s->ff), 0.0f);
        if (ok && s->bias)
            ok = make_tensor(&L[PL_W_ATTN_Q_BIAS], PL_TYPE_F32, q, 1, 0.1f, 0.0f)
              && make_tensor(&L[PL_W_ATTN_K_BIAS], PL_TYPE_F32, kv, 1, 0.1f, 0.0f)
              && make_tensor(&L[PL_W_ATTN_V_BIAS], PL_TYPE_F32, kv, 1, 0.1f, 0.0f);
    }
    if (ok) {
        w->delta = malloc((size_t)(kv * s->embd) * sizeof(float));
        ok = w->delta != NULL;
        for (int64_t i = 0; ok && i < kv * s->embd; i++) w->delta[i] = 0.02f * frand();
    }
    return ok;
}

/* A model bound to copies of the weights (FULL mode updates its own copy). */
typedef struct bound { pl_model *m; weights own; } bound;

static int32_t copy_tensor(tensor *dst, const tensor *src) {
    *dst = *src;
    if (!src->data) return PL_OK;
    dst->data = malloc((size_t)src->bytes);
    if (!dst->data) return PL_ERR_OUT_OF_MEMORY;
    memcpy(dst->data, src->data, (size_t)src->bytes);
    return PL_OK;
}

static int32_t bind(const spec *s, const weights *w, int32_t device, int32_t placement, int with_delta, bound *b) {
    memset(b, 0, sizeof *b);
    pl_model_params p = {s->vocab, s->embd, s->layers, s->head, s->head_kv, s->head_dim, s->ff, 4096, s->rot,
                         10000.0f, 1.0f, 1e-5f, s->rope_type};
    int32_t rc = pl_model_create_on(&p, device, &b->m);
    if (rc != PL_OK) return rc;
    if (device >= 0) { rc = pl_model_set_placement(b->m, placement); if (rc) return rc; }
    b->own.n_layers = w->n_layers;
    b->own.layer = calloc((size_t)(w->n_layers * 16), sizeof(tensor));
    if (!b->own.layer) return PL_ERR_OUT_OF_MEMORY;
    for (int k = 0; k < 16; k++) {
        if ((rc = copy_tensor(&b->own.global[k], &w->global[k]))) return rc;
        const tensor *t = &b->own.global[k];
        if (t->data && (rc = pl_model_set_weight(b->m, k, -1, t->type, t->ne0, t->ne1, t->data, t->bytes))) return rc;
    }
    for (int64_t l = 0; l < w->n_layers; l++)
        for (int k = PL_W_ATTN_NORM; k <= PL_W_ATTN_V_BIAS; k++) {
            if ((rc = copy_tensor(&b->own.layer[l * 16 + k], &w->layer[l * 16 + k]))) return rc;
            const tensor *t = &b->own.layer[l * 16 + k];
            if (t->data && (rc = pl_model_set_weight(b->m, k, l, t->type, t->ne0, t->ne1, t->data, t->bytes))) return rc;
        }
    if ((rc = pl_model_validate(b->m))) return rc;
    if (with_delta) rc = pl_model_set_delta(b->m, PL_W_ATTN_V, 0, w->delta, s->head_kv * s->head_dim * s->embd);
    return rc;
}

static void unbind(bound *b) {
    pl_model_free(b->m);
    free_weights(&b->own);
}

static void make_tokens(int32_t *tok, int32_t *tgt, int64_t n, int64_t vocab) {
    for (int64_t i = 0; i < n; i++) {
        tok[i] = (int32_t)((frand() * 0.5f + 0.5f) * (float)(vocab - 1));
        tgt[i] = (i % 7 == 3) ? -1 : (int32_t)((frand() * 0.5f + 0.5f) * (float)(vocab - 1));
    }
}

/* ---- inference checks: logits, NLL, decoding ---- */
static void check_inference(const spec *s, int32_t placement, double tol) {
    weights w;
    bound cpu = {0}, gpu = {0};
    const int64_t B = 2, T = 33, n = B * T;
    float *lc = NULL, *lg = NULL, *nc = NULL, *ng = NULL, *dc = NULL, *dg = NULL;
    int32_t *tok = malloc((size_t)n * 4), *tgt = malloc((size_t)n * 4);
    pl_kv_cache *kc = NULL, *kg = NULL;
    const char *pn = placement == PL_WEIGHTS_RESIDENT_F32 ? "f32" : placement == PL_WEIGHTS_STREAMED ? "streamed bf16" : "bf16";
    if (!make_weights(s, &w)) { check(0, "%s: cannot make weights", s->name); free(tok); free(tgt); return; }
    make_tokens(tok, tgt, n, s->vocab);
    lc = malloc((size_t)(n * s->vocab) * 4); lg = malloc((size_t)(n * s->vocab) * 4);
    nc = malloc((size_t)n * 4); ng = malloc((size_t)n * 4);
    dc = malloc((size_t)s->vocab * 4); dg = malloc((size_t)s->vocab * 4);
    OK(bind(s, &w, PL_DEVICE_CPU, 0, 1, &cpu));
    OK(bind(s, &w, 0, placement, 1, &gpu));
    OK(pl_model_forward(cpu.m, tok, B, T, lc, n * s->vocab));
    OK(pl_model_forward(gpu.m, tok, B, T, lg, n * s->vocab));
    double e = rel_err(lg, lc, n * s->vocab, 1.0);
    check(e < tol, "%s [%s]: logits on the GPU vs CPU: rel err %.2e (tol %.0e)", s->name, pn, e, tol);
    OK(pl_model_nll(cpu.m, tok, tgt, B, T, nc));
    OK(pl_model_nll(gpu.m, tok, tgt, B, T, ng));
    e = rel_err(ng, nc, n, 1.0);
    check(e < tol, "%s [%s]: per-token NLL: rel err %.2e (tol %.0e)", s->name, pn, e, tol);
    /* decoding: 20 tokens then 13, against the CPU's decode of the same */
    OK(pl_kv_cache_create(cpu.m, 64, &kc));
    OK(pl_kv_cache_create(gpu.m, 64, &kg));
    OK(pl_model_decode(cpu.m, kc, tok, 20, dc, s->vocab));
    OK(pl_model_decode(gpu.m, kg, tok, 20, dg, s->vocab));
    OK(pl_model_decode(cpu.m, kc, tok + 20, 13, dc, s->vocab));
    OK(pl_model_decode(gpu.m, kg, tok + 20, 13, dg, s->vocab));
    e = rel_err(dg, dc, s->vocab, 1.0);
    check(e < tol, "%s [%s]: KV-cache decoding (20 + 13 tokens): rel err %.2e (tol %.0e)", s->name, pn, e, tol);
    /* the decode's last logits equal the GPU's own full forward of the first 33 tokens of sequence 0 */
    e = rel_err(dg, lg + (T - 1) * s->vocab, s->vocab, 1.0);
    check(e < tol, "%s [%s]: decoding equals the full forward on the GPU: rel err %.2e", s->name, pn, e);
done:
    pl_kv_cache_free(kc); pl_kv_cache_free(kg);
    unbind(&cpu); unbind(&gpu);
    free_weights(&w);
    free(tok); free(tgt); free(lc); free(lg); free(nc); free(ng); free(dc); free(dg);
}

/* ---- LoRA training: every slot feature, loss, gradients, grad norm, AdamW, a second step ---- */
typedef struct slotdef { int64_t layer; int32_t target; int64_t rank; float scale; int32_t ta, tb, en; } slotdef;

static int32_t add_slots(pl_lora *lo, const slotdef *d, int n, const spec *s) {
    uint64_t keep = rng_state;
    for (int i = 0; i < n; i++) {
        int32_t id;
        int64_t layer, rank, in, out;
        int32_t target;
        int32_t rc = pl_lora_add_slot(lo, d[i].layer, d[i].target, d[i].rank, d[i].scale, &id);
        if (rc) return rc;
        if ((rc = pl_lora_slot_info(lo, id, &layer, &target, &rank, &in, &out))) return rc;
        float *a = malloc((size_t)(rank * in) * 4), *b = malloc((size_t)(out * rank) * 4);
        for (int64_t j = 0; j < rank * in; j++) a[j] = 0.3f * frand();
        for (int64_t j = 0; j < out * rank; j++) b[j] = 0.3f * frand();
        rc = pl_lora_set_weights(lo, id, a, rank * in, b, out * rank);
        free(a); free(b);
        if (rc) return rc;
        if ((rc = pl_lora_set_flags(lo, id, d[i].scale, d[i].ta, d[i].tb, d[i].en))) return rc;
    }
    (void)s;
    rng_state = keep;
    return PL_OK;
}

static double compare_slots(pl_lora *a, pl_lora *b, int n, int grads, int adam) {
    double worst = 0.0;
    for (int i = 0; i < n; i++) {
        int64_t layer, rank, in, out;
        int32_t target;
        if (pl_lora_slot_info(a, i, &layer, &target, &rank, &in, &out)) return INFINITY;
        const int64_t na = rank * in, nb = out * rank;
        float *x1 = malloc((size_t)na * 4), *y1 = malloc((size_t)nb * 4), *x2 = malloc((size_t)na * 4), *y2 = malloc((size_t)nb * 4);
        float *m1 = malloc((size_t)na * 4), *m2 = malloc((size_t)na * 4), *v1 = malloc((size_t)nb * 4), *v2 = malloc((size_t)nb * 4);
        int32_t rc;
        if (grads) rc = pl_lora_get_grads(a, i, x1, na, y1, nb) | pl_lora_get_grads(b, i, x2, na, y2, nb);
        else rc = pl_lora_get_weights(a, i, x1, na, y1, nb) | pl_lora_get_weights(b, i, x2, na, y2, nb);
        if (rc) worst = INFINITY;
        double e = fmax(rel_err(x2, x1, na, 1e-6), rel_err(y2, y1, nb, 1e-6));
        if (adam) {
            int64_t s1, s2;
            rc = pl_lora_get_adam(a, i, m1, NULL, na, v1, NULL, nb, &s1) | pl_lora_get_adam(b, i, m2, NULL, na, v2, NULL, nb, &s2);
            if (rc || s1 != s2) worst = INFINITY;
            e = fmax(e, fmax(rel_err(m2, m1, na, 1e-6), rel_err(v2, v1, nb, 1e-6)));
        }
        if (e > worst) worst = e;
        free(x1); free(y1); free(x2); free(y2); free(m1); free(m2); free(v1); free(v2);
    }
    return worst;
}

static void check_lora_training(const spec *s, int32_t placement, int recompute, double tol) {
    weights w;
    bound cpu = {0}, gpu = {0};
    pl_lora *lc = NULL, *lg = NULL;
    pl_trainer *tc = NULL, *tg = NULL;
    const int64_t B = 2, T = 40, n = B * T;
    int32_t *tok = malloc((size_t)n * 4), *tgt = malloc((size_t)n * 4);
    const char *pn = placement == PL_WEIGHTS_RESIDENT_F32 ? "f32" : "bf16";
    const slotdef defs[] = {
        {0, PL_TARGET_ATTN_Q, 4, 2.0f, 1, 1, 1}, {0, PL_TARGET_ATTN_K, 4, 2.0f, 1, 1, 1}, {0, PL_TARGET_ATTN_V, 3, 1.5f, 1, 1, 1},
        {0, PL_TARGET_ATTN_OUTPUT, 4, 2.0f, 1, 1, 1}, {0, PL_TARGET_FFN_GATE, 4, 2.0f, 1, 1, 1}, {0, PL_TARGET_FFN_UP, 4, 2.0f, 1, 1, 1},
        {0, PL_TARGET_FFN_DOWN, 4, 2.0f, 1, 1, 1},
        {0, PL_TARGET_ATTN_Q, 2, 0.7f, 0, 0, 1},   /* a frozen slot (COLA's finished link) */
        {1, PL_TARGET_ATTN_V, 4, 1.0f, 1, 0, 1},   /* A only (CoRA's frozen B) */
        {1, PL_TARGET_FFN_DOWN, 4, 1.0f, 0, 1, 1}, /* B only */
        {1, PL_TARGET_ATTN_OUTPUT, 4, 1.0f, 1, 1, 0}, /* disabled */
        {2, PL_TARGET_ATTN_Q, 4, 2.0f, 1, 1, 1},   /* on the masked layer */
    };
    const int nd = (int)(sizeof defs / sizeof defs[0]) - (s->layers < 3 ? 1 : 0);
    if (!make_weights(s, &w)) { check(0, "%s: cannot make weights", s->name); free(tok); free(tgt); return; }
    make_tokens(tok, tgt, n, s->vocab);
    OK(bind(s, &w, PL_DEVICE_CPU, 0, 1, &cpu));
    OK(bind(s, &w, 0, placement, 1, &gpu));
    OK(pl_lora_create(cpu.m, &lc)); OK(pl_lora_create(gpu.m, &lg));
    OK(add_slots(lc, defs, nd, s)); OK(add_slots(lg, defs, nd, s));
    if (s->layers >= 3) { OK(pl_lora_set_layer_enabled(lc, 2, 0)); OK(pl_lora_set_layer_enabled(lg, 2, 0)); }
    OK(pl_model_set_lora(cpu.m, lc)); OK(pl_model_set_lora(gpu.m, lg));
    pl_trainer_params tp = {B, T, PL_TRAIN_LORA, recompute};
    OK(pl_trainer_create(cpu.m, &tp, &tc)); OK(pl_trainer_create(gpu.m, &tp, &tg));
    /* AdamW's first steps move every weight by about ±lr whatever the gradient's size, so a gradient element near zero
       whose sign BF16 rounding flips moves its weight 2·lr the other way, and step 1 then starts from other weights:
       the BF16 placement takes a small lr so that step 1 still measures rounding, not two diverged trajectories
       (the tensor-core attention rounds Q, K, V, P and dS to BF16, and random weights give sharp attention) */
    const float lr = placement == PL_WEIGHTS_RESIDENT_F32 ? 1e-2f : 1e-3f;
    pl_adamw_params ap = {lr, 0.9f, 0.999f, 1e-8f, 0.01f, 0.5f};
    for (int step = 0; step < 2; step++) {
        double l1 = 0, l2 = 0, g1 = 0, g2 = 0;
        int64_t c1 = 0, c2 = 0;
        OK(pl_trainer_zero_grad(tc)); OK(pl_trainer_zero_grad(tg));
        OK(pl_trainer_accumulate(tc, tok, tgt, 0.5f, &l1, &c1));
        OK(pl_trainer_accumulate(tg, tok, tgt, 0.5f, &l2, &c2));
        check(c1 == c2 && fabs(l1 - l2) <= tol * fabs(l1), "%s [%s%s] step %d: loss %.6f vs CPU %.6f", s->name, pn,
              recompute ? ", recompute" : "", step, l2, l1);
        double e = compare_slots(lc, lg, nd, 1, 0);
        check(e < 10 * tol, "%s [%s%s] step %d: every slot's dA, dB (frozen, half-frozen, disabled, masked): rel err %.2e (tol %.0e)",
              s->name, pn, recompute ? ", recompute" : "", step, e, 10 * tol);
        OK(pl_trainer_grad_norm(tc, &g1)); OK(pl_trainer_grad_norm(tg, &g2));
        check(fabs(g1 - g2) <= 10 * tol * g1, "%s [%s] step %d: gradient norm %.6f vs CPU %.6f", s->name, pn, step, g2, g1);
        OK(pl_trainer_adamw_step(tc, &ap)); OK(pl_trainer_adamw_step(tg, &ap));
        e = compare_slots(lc, lg, nd, 0, 1);
        /* AdamW normalises the gradient: tiny gradient differences can move a weight by up to lr; compare against lr */
        const double tol_w = placement == PL_WEIGHTS_RESIDENT_F32 ? 1e-3 : 1e-1;
        check(e < tol_w, "%s [%s] step %d: weights and moments after AdamW: rel err %.2e (tol %.0e)", s->name, pn, step, e,
              tol_w);
    }
done:
    pl_trainer_free(tc); pl_trainer_free(tg);
    if (cpu.m) pl_model_set_lora(cpu.m, NULL);
    if (gpu.m) pl_model_set_lora(gpu.m, NULL);
    pl_lora_free(lc); pl_lora_free(lg);
    unbind(&cpu); unbind(&gpu);
    free_weights(&w);
    free(tok); free(tgt);
}

/* ---- FULL mode: every weight's gradient, and the host weights after a step ---- */
static void check_full(const spec *s0) {
    spec s = *s0;
    s.wtype = PL_TYPE_F32;
    weights w;
    bound cpu = {0}, gpu = {0};
    pl_trainer *tc = NULL, *tg = NULL;
    const int64_t B = 2, T = 24, n = B * T;
    int32_t *tok = malloc((size_t)n * 4), *tgt = malloc((size_t)n * 4);
    float *g1 = NULL, *g2 = NULL;
    if (!make_weights(&s, &w)) { check(0, "%s: cannot make weights", s.name); free(tok); free(tgt); return; }
    make_tokens(tok, tgt, n, s.vocab);
    OK(bind(&s, &w, PL_DEVICE_CPU, 0, 0, &cpu));
    OK(bind(&s, &w, 0, PL_WEIGHTS_AUTO, 0, &gpu)); /* FULL mode switches the device weights to F32 itself */
    pl_trainer_params tp = {B, T, PL_TRAIN_FULL, 0};
    OK(pl_trainer_create(cpu.m, &tp, &tc)); OK(pl_trainer_create(gpu.m, &tp, &tg));
    double l1, l2;
    int64_t c1, c2;
    OK(pl_trainer_zero_grad(tc)); OK(pl_trainer_zero_grad(tg));
    OK(pl_trainer_accumulate(tc, tok, tgt, 1.0f, &l1, &c1));
    OK(pl_trainer_accumulate(tg, tok, tgt, 1.0f, &l2, &c2));
    check(fabs(l1 - l2) < 1e-4 * fabs(l1), "%s FULL: loss %.6f vs CPU %.6f", s.name, l2, l1);
    double worst = 0.0;
    const int32_t kinds[] = {PL_W_TOKEN_EMBD, PL_W_OUTPUT_NORM, PL_W_OUTPUT, PL_W_ATTN_NORM, PL_W_ATTN_Q, PL_W_ATTN_K, PL_W_ATTN_V,
                             PL_W_ATTN_OUTPUT, PL_W_FFN_NORM, PL_W_FFN_GATE, PL_W_FFN_UP, PL_W_FFN_DOWN};
    for (unsigned k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        const int32_t which = kinds[k];
        const int per_layer = which >= PL_W_ATTN_NORM;
        for (int64_t l = 0; l < (per_layer ? s.layers : 1); l++) {
            const tensor *t = per_layer ? &w.layer[l * 16 + which] : &w.global[which];
            if (!t->data) continue;
            const int64_t len = t->ne0 * t->ne1;
            g1 = realloc(g1, (size_t)len * 4); g2 = realloc(g2, (size_t)len * 4);
            OK(pl_trainer_get_weight_grad(tc, which, per_layer ? l : -1, g1, len));
            OK(pl_trainer_get_weight_grad(tg, which, per_layer ? l : -1, g2, len));
            double e = rel_err(g2, g1, len, 1e-6);
            if (e > worst) worst = e;
        }
    }
    check(worst < 1e-3, "%s FULL: every weight's gradient: worst rel err %.2e (tol 1e-3)", s.name, worst);
    pl_adamw_params ap = {1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 1.0f};
    OK(pl_trainer_adamw_step(tc, &ap)); OK(pl_trainer_adamw_step(tg, &ap));
    const tensor *q1 = &cpu.own.layer[0 * 16 + PL_W_ATTN_Q], *q2 = &gpu.own.layer[0 * 16 + PL_W_ATTN_Q];
    double e = rel_err((const float *)q2->data, (const float *)q1->data, q1->ne0 * q1->ne1, 1e-6);
    check(e < 1e-4, "%s FULL: host weights written back after AdamW: rel err %.2e", s.name, e);
done:
    pl_trainer_free(tc); pl_trainer_free(tg);
    unbind(&cpu); unbind(&gpu);
    free_weights(&w);
    free(tok); free(tgt); free(g1); free(g2);
}

/* ---- errors on the device: bad input and a trainer too big for the device ---- */
static void check_errors(const spec *s) {
    weights w;
    bound gpu = {0};
    pl_trainer *t = NULL;
    pl_lora *lo = NULL;
    if (!make_weights(s, &w)) { check(0, "cannot make weights"); return; }
    OK(bind(s, &w, 0, PL_WEIGHTS_AUTO, 0, &gpu));
    int32_t tok[4] = {1, 2, (int32_t)s->vocab, 3};
    float logits[4 * 512];
    int32_t rc = pl_model_forward(gpu.m, tok, 1, 4, logits, 4 * 512);
    check(rc == PL_ERR_INVALID_ARGUMENT && strstr(pl_last_error(), "vocabulary"), "a token outside the vocabulary is refused on the GPU: %s", pl_last_error());
    OK(pl_lora_create(gpu.m, &lo));
    OK(pl_lora_add_slot(lo, 0, PL_TARGET_ATTN_Q, 4, 1.0f, NULL));
    OK(pl_model_set_lora(gpu.m, lo));
    pl_trainer_params tp = {1 << 12, 1 << 12, PL_TRAIN_LORA, 0}; /* 16M tokens: far more than any GPU holds */
    rc = pl_trainer_create(gpu.m, &tp, &t);
    check(rc == PL_ERR_OUT_OF_MEMORY && strstr(pl_last_error(), "GiB"), "a trainer too big for the device: a clear error: %s", pl_last_error());
    /* the model still works after that */
    int32_t ok_tok[4] = {1, 2, 3, 4};
    rc = pl_model_forward(gpu.m, ok_tok, 1, 4, logits, 4 * 512);
    check(rc == PL_OK, "the model still runs after the failed trainer");
done:
    pl_trainer_free(t);
    if (gpu.m) pl_model_set_lora(gpu.m, NULL);
    pl_lora_free(lo);
    unbind(&gpu);
    free_weights(&w);
}

int main(int argc, char **argv) {
    /* --require-gpu: no usable device is a failure (the emulated backend's test), not a skip */
    const int require_gpu = argc > 1 && strcmp(argv[1], "--require-gpu") == 0;
    /* what runs without a GPU: the backend library loads and says why there is no GPU */
    int32_t n = -1;
    int32_t rc = pl_cuda_device_count(&n);
    check(rc == PL_OK && n >= 0, "pl_cuda_device_count returns PL_OK (n = %d)", n);
    char why[1024];
    snprintf(why, sizeof why, "%s", pl_last_error());
    if (n == 0 && require_gpu) {
        check(0, "--require-gpu: no usable CUDA device: %s", why);
        printf("%d passed, %d failed\n", n_pass, n_fail);
        return 1;
    }
    if (n == 0 && require_gpu) {
        check(0, "--require-gpu: no usable CUDA device: %s", why);
        printf("%d passed, %d failed\n", n_pass, n_fail);
        return 1;
    }
    if (n == 0) {
        check(why[0] != 0, "without a GPU the reason is given: \"%s\"", why);
        check(strstr(why, "has no CUDA backend") == NULL, "the CUDA backend library loads (the reason is about the machine, not the build)");
        pl_model_params p = {32, 32, 1, 2, 2, 16, 64, 64, 16, 10000.0f, 1.0f, 1e-5f, 0};
        pl_model *m = NULL;
        rc = pl_model_create_on(&p, 0, &m);
        check(rc == PL_ERR_UNSUPPORTED && m == NULL && strstr(pl_last_error(), "CUDA device 0"), "asking for cuda:0 without a GPU fails cleanly: %s", pl_last_error());
        rc = pl_model_create_on(&p, PL_DEVICE_CPU, &m);
        check(rc == PL_OK && m != NULL, "the CPU still works");
        pl_model_free(m);
        printf("test_cuda: GPU checks skipped: %s\n", why);
        printf("%d passed, %d failed\n", n_pass, n_fail);
        return n_fail ? 1 : 0;
    }
    char info[512];
    if (pl_cuda_device_info(0, info, sizeof info) == PL_OK) printf("device 0: %s\n", info);

    const spec small = {"llama gqa", 97, 64, 3, 4, 2, 16, 96, 16, PL_ROPE_NORMAL, PL_TYPE_F32, 0, 0, 0};
    const spec neox = {"qwen2-style (biases, NeoX, partial rope, rope_freqs, tied output)", 101, 64, 2, 4, 1, 16, 80, 8, PL_ROPE_NEOX, PL_TYPE_F32, 1, 1, 1};
    const spec odd = {"odd sizes (head_dim 24, MQA)", 53, 96, 2, 4, 1, 24, 72, 24, PL_ROPE_NORMAL, PL_TYPE_F32, 0, 0, 0};
    const spec big = {"head_dim 128", 300, 256, 2, 2, 1, 128, 256, 128, PL_ROPE_NORMAL, PL_TYPE_F32, 0, 0, 0};
    const spec *shapes[] = {&small, &neox, &odd, &big};
    for (unsigned i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        check_inference(shapes[i], PL_WEIGHTS_RESIDENT_F32, 1e-4);
        check_inference(shapes[i], PL_WEIGHTS_RESIDENT, 3e-2);
    }
    check_inference(&small, PL_WEIGHTS_STREAMED, 3e-2);
    /* every weight type (K-quants need rows of 256) */
    const int32_t types[] = {PL_TYPE_F16, PL_TYPE_BF16, PL_TYPE_Q8_0, PL_TYPE_Q4_0, PL_TYPE_Q4_1, PL_TYPE_Q5_0, PL_TYPE_Q5_1,
                             PL_TYPE_Q2_K, PL_TYPE_Q3_K, PL_TYPE_Q4_K, PL_TYPE_Q5_K, PL_TYPE_Q6_K};
    for (unsigned i = 0; i < sizeof types / sizeof types[0]; i++) {
        spec t = {"type", 64, 256, 2, 4, 2, 64, 512, 64, PL_ROPE_NORMAL, types[i], 0, 0, 0};
        char name[64];
        snprintf(name, sizeof name, "weights of type %d", types[i]);
        t.name = name;
        check_inference(&t, PL_WEIGHTS_RESIDENT_F32, 1e-4);
        check_inference(&t, PL_WEIGHTS_RESIDENT, 3e-2);
    }
    for (unsigned i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        check_lora_training(shapes[i], PL_WEIGHTS_RESIDENT_F32, 0, 1e-4);
        check_lora_training(shapes[i], PL_WEIGHTS_RESIDENT, 0, 3e-2);
    }
    check_lora_training(&small, PL_WEIGHTS_RESIDENT_F32, 1, 1e-4);
    spec q4 = {"Q4_K base", 64, 256, 2, 4, 2, 64, 512, 64, PL_ROPE_NORMAL, PL_TYPE_Q4_K, 0, 0, 0};
    check_lora_training(&q4, PL_WEIGHTS_RESIDENT_F32, 0, 1e-4);
    check_full(&small);
    check_full(&neox);
    check_errors(&small);
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
