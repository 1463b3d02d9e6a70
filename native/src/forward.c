/* The LLaMA forward pass for inference: batched full forward, per-token NLL, and KV-cache decoding. */
#include <stdlib.h>
#include <string.h>
#include "common.h"
#include "model.h"
#include "ops/matmul.h"
#include "ops/ops.h"
#include "block.h"
#include "lora.h"
#include "backend.h"
#include "quant/quant.h"

/* Inference activations of one layer for n tokens, reused layer after layer (nothing saved). */
static void ws_free(block_acts *a) {
    pl_free(a->xn1); pl_free(a->q); pl_free(a->att); pl_free(a->tmp); pl_free(a->g); pl_free(a->u); pl_free(a->lora_tmp);
    memset(a, 0, sizeof *a);
}

static int32_t ws_alloc(block_acts *a, const pl_model *m, int64_t n) {
    const pl_model_params *p = &m->p;
    const size_t f = sizeof(float), qd = (size_t)(p->n_head * p->head_dim);
    const int64_t r = lora_max_rank(m->lora);
    memset(a, 0, sizeof *a);
    a->xn1 = pl_alloc((size_t)n * p->n_embd * f);
    a->xn2 = a->xn1;
    a->q = pl_alloc((size_t)n * qd * f);
    a->att = pl_alloc((size_t)n * qd * f);
    a->tmp = pl_alloc((size_t)n * p->n_embd * f);
    a->g = pl_alloc((size_t)n * p->n_ff * f);
    a->h = a->g;
    a->u = pl_alloc((size_t)n * p->n_ff * f);
    a->lora_tmp = r > 0 ? pl_alloc((size_t)(n * r) * f) : NULL;
    if (!a->xn1 || !a->q || !a->att || !a->tmp || !a->g || !a->u || (r > 0 && !a->lora_tmp)) {
        ws_free(a);
        return pl_fail(PL_ERR_OUT_OF_MEMORY, "forward: cannot allocate activations for %lld tokens", (long long)n);
    }
    return pl_ok();
}

/* Final norm and logits for rows [r0, r0+nr) of x into logits (nr x V); xn is scratch. */
static int32_t head_forward(const pl_model *m, const float *x, int64_t nr, float *xn, float *logits) {
    const pl_model_params *p = &m->p;
    rmsnorm_forward(xn, NULL, x, m->global[PL_W_OUTPUT_NORM].data, nr, p->n_embd, p->norm_eps);
    const pl_weight_ref *w = pl_model_output_weight(m);
    return pl_base_linear_forward(w->type, w->data, p->n_embd, p->n_vocab, xn, nr, logits, 0);
}

static int32_t check_tokens(const pl_model *m, const int32_t *tokens, int64_t n, const char *fn) {
    for (int64_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= m->p.n_vocab)
            return pl_fail(PL_ERR_INVALID_ARGUMENT, "%s: token %d at index %lld is outside the vocabulary (0..%lld)",
                           fn, tokens[i], (long long)i, (long long)m->p.n_vocab - 1);
    return pl_ok();
}

/* Runs the blocks over tokens [B][T] and leaves the final residual stream in x [B*T, D]. */
static int32_t trunk_forward(const pl_model *m, const int32_t *tokens, int64_t B, int64_t T, float *x) {
    const pl_model_params *p = &m->p;
    const int64_t n = B * T, kvd = p->n_head_kv * p->head_dim;
    const pl_weight_ref *emb = &m->global[PL_W_TOKEN_EMBD];
    embedding_forward(x, tokens, n, emb->type, emb->data, p->n_embd);
    block_acts ws;
    PL_TRY(ws_alloc(&ws, m, n));
    float *k = pl_alloc((size_t)n * kvd * sizeof(float)), *v = pl_alloc((size_t)n * kvd * sizeof(float));
    int32_t rc = (k && v) ? PL_OK : pl_fail(PL_ERR_OUT_OF_MEMORY, "forward: cannot allocate keys/values for %lld tokens", (long long)n);
    for (int64_t l = 0; rc == PL_OK && l < p->n_layer; l++)
        rc = block_forward(m, l, x, B, T, 0, k, v, k, v, T, T * kvd, &ws);
    pl_free(k); pl_free(v);
    ws_free(&ws);
    return rc;
}

static int32_t check_forward_args(pl_model *m, const int32_t *tokens, int64_t n_seq, int64_t n_tok, const char *fn) {
    PL_REQUIRE(m && tokens, "%s: model and tokens must not be NULL", fn);
    int64_t n = 0;
    PL_REQUIRE(n_seq > 0 && n_tok > 0 && n_tok <= PL_MAX_CTX && pl_mul_ok(n_seq, n_tok, &n) && n <= PL_MAX_CTX,
               "%s: bad batch shape %lld x %lld (n_tok and n_seq x n_tok must be in 1..%lld)", fn, (long long)n_seq, (long long)n_tok,
               PL_MAX_CTX);
    if (!m->validated) PL_TRY(pl_model_validate(m));
    return check_tokens(m, tokens, n_seq * n_tok, fn);
}

static int32_t model_forward_impl(pl_model *m, const int32_t *tokens, int64_t n_seq, int64_t n_tok,
                                   float *logits, int64_t logits_len) {
    PL_TRY(check_forward_args(m, tokens, n_seq, n_tok, "pl_model_forward"));
    int64_t need = 0;
    PL_REQUIRE(pl_mul3_ok(n_seq, n_tok, m->p.n_vocab, &need) && need <= INT64_MAX / (int64_t)sizeof(float),
               "pl_model_forward: %lld x %lld x n_vocab %lld logits overflow a 64-bit size", (long long)n_seq, (long long)n_tok,
               (long long)m->p.n_vocab);
    PL_REQUIRE(logits && logits_len >= need, "pl_model_forward: logits needs %lld floats, got %lld", (long long)need, (long long)logits_len);
    if (m->dev) return pl_done(pl_cuda_backend(NULL)->forward(m, tokens, n_seq, n_tok, logits));
    const int64_t n = n_seq * n_tok, D = m->p.n_embd;
    float *x = pl_alloc((size_t)n * D * sizeof(float)), *xn = pl_alloc((size_t)n * D * sizeof(float));
    int32_t rc = (x && xn) ? PL_OK : pl_fail(PL_ERR_OUT_OF_MEMORY, "pl_model_forward: out of memory");
    if (rc == PL_OK) rc = trunk_forward(m, tokens, n_seq, n_tok, x);
    if (rc == PL_OK) rc = head_forward(m, x, n, xn, logits);
    pl_free(x); pl_free(xn);
    return rc;
}

PL_EXPORT int32_t pl_model_forward(pl_model *m, const int32_t *tokens, int64_t n_seq, int64_t n_tok, float *logits, int64_t logits_len) {
    const int saved = pl_threads_enter(m); /* the model's thread count, if it has one, for this call */
    const int32_t rc = model_forward_impl(m, tokens, n_seq, n_tok, logits, logits_len);
    pl_threads_set_override(saved);
    return rc;
}

static int32_t model_nll_impl(pl_model *m, const int32_t *tokens, const int32_t *targets, int64_t n_seq,
                               int64_t n_tok, float *nll) {
    PL_TRY(check_forward_args(m, tokens, n_seq, n_tok, "pl_model_nll"));
    PL_REQUIRE(targets && nll, "pl_model_nll: targets and nll must not be NULL");
    const int64_t n = n_seq * n_tok, D = m->p.n_embd, V = m->p.n_vocab;
    for (int64_t i = 0; i < n; i++)
        PL_REQUIRE(targets[i] < V, "pl_model_nll: target %d at index %lld is outside the vocabulary", targets[i], (long long)i);
    if (m->dev) return pl_done(pl_cuda_backend(NULL)->nll(m, tokens, targets, n_seq, n_tok, nll));
    const int64_t chunk = n < 256 ? n : 256; /* logits are made chunk rows at a time: N x V can be large */
    float *x = pl_alloc((size_t)n * D * sizeof(float)), *xn = pl_alloc((size_t)chunk * D * sizeof(float));
    float *logits = pl_alloc((size_t)chunk * V * sizeof(float));
    int32_t rc = (x && xn && logits) ? PL_OK : pl_fail(PL_ERR_OUT_OF_MEMORY, "pl_model_nll: out of memory");
    if (rc == PL_OK) rc = trunk_forward(m, tokens, n_seq, n_tok, x);
    for (int64_t r = 0; rc == PL_OK && r < n; r += chunk) {
        const int64_t nr = n - r < chunk ? n - r : chunk;
        rc = head_forward(m, x + r * D, nr, xn, logits);
        if (rc == PL_OK) cross_entropy_forward(nll + r, logits, targets + r, nr, V);
    }
    pl_free(x); pl_free(xn); pl_free(logits);
    return rc;
}

PL_EXPORT int32_t pl_model_nll(pl_model *m, const int32_t *tokens, const int32_t *targets, int64_t n_seq, int64_t n_tok, float *nll) {
    const int saved = pl_threads_enter(m); /* the model's thread count, if it has one, for this call */
    const int32_t rc = model_nll_impl(m, tokens, targets, n_seq, n_tok, nll);
    pl_threads_set_override(saved);
    return rc;
}

/* ---- KV cache ---- */

struct pl_kv_cache {
    pl_model *model;
    int64_t n_ctx, n_pos;
    float *k, *v;     /* [n_layer][n_ctx][n_head_kv*head_dim] (CPU models, F32 cache) */
    uint16_t *kh, *vh; /* F16 and head-major, [n_layer][n_head_kv][n_ctx][head_dim] (CPU models, a cache made under a
                          fast matmul mode) */
    void *dev;        /* the backend's cache (device models) */
};

PL_EXPORT int32_t pl_kv_cache_create(pl_model *m, int64_t n_ctx, pl_kv_cache **out) {
    PL_REQUIRE(m && out, "pl_kv_cache_create: model and out must not be NULL");
    *out = NULL; /* before any other check: a refused call leaves no stale handle behind */
    PL_REQUIRE(n_ctx > 0 && n_ctx <= PL_MAX_CTX, "pl_kv_cache_create: n_ctx %lld out of range 1..%lld", (long long)n_ctx, PL_MAX_CTX);
    if (!m->validated) PL_TRY(pl_model_validate(m));
    int64_t per_bytes = 0;
    PL_REQUIRE(pl_mul4_ok(m->p.n_layer, n_ctx, m->p.n_head_kv * m->p.head_dim, (int64_t)sizeof(float), &per_bytes),
               "pl_kv_cache_create: %lld positions of %lld layers overflow a 64-bit size", (long long)n_ctx, (long long)m->p.n_layer);
    const size_t per = (size_t)per_bytes;
    pl_kv_cache *c = calloc(1, sizeof *c);
    if (!c) return pl_fail(PL_ERR_OUT_OF_MEMORY, "pl_kv_cache_create: out of memory");
    c->model = m; c->n_ctx = n_ctx;
    if (m->dev) {
        int32_t rc = pl_cuda_backend(NULL)->kv_create(m, n_ctx, &c->dev);
        if (rc != PL_OK) { free(c); return rc; }
        *out = c;
        return pl_ok();
    }
    /* under PL_MATMUL_BF16/AUTO the cache is F16, as llama.cpp's default: half the memory and half the bytes each decoded
       token reads; PL_MATMUL_F32 keeps the F32 reference */
    if (pl_matmul_fast() && attention_f16_supported(m->p.head_dim)) {
        c->kh = pl_alloc(per / 2); c->vh = pl_alloc(per / 2);
        if (!c->kh || !c->vh) {
            pl_kv_cache_free(c);
            return pl_fail(PL_ERR_OUT_OF_MEMORY, "pl_kv_cache_create: cannot allocate %zu bytes for %lld positions (F16)", per,
                           (long long)n_ctx);
        }
        *out = c;
        return pl_ok();
    }
    c->k = pl_alloc(per); c->v = pl_alloc(per);
    if (!c->k || !c->v) {
        pl_kv_cache_free(c);
        return pl_fail(PL_ERR_OUT_OF_MEMORY, "pl_kv_cache_create: cannot allocate %zu bytes for %lld positions", 2 * per, (long long)n_ctx);
    }
    *out = c;
    return pl_ok();
}

PL_EXPORT void pl_kv_cache_free(pl_kv_cache *c) {
    if (!c) return;
    if (c->dev) pl_cuda_backend(NULL)->kv_free(c->dev);
    pl_free(c->k); pl_free(c->v);
    pl_free(c->kh); pl_free(c->vh);
    free(c);
}

PL_EXPORT int32_t pl_kv_cache_clear(pl_kv_cache *c) {
    PL_REQUIRE(c, "pl_kv_cache_clear: cache must not be NULL");
    c->n_pos = 0;
    return pl_ok();
}

PL_EXPORT int32_t pl_kv_cache_length(const pl_kv_cache *c, int64_t *n_pos) {
    PL_REQUIRE(c && n_pos, "pl_kv_cache_length: cache and n_pos must not be NULL");
    *n_pos = c->n_pos;
    return pl_ok();
}

static int32_t model_decode_impl(pl_model *m, pl_kv_cache *c, const int32_t *tokens, int64_t n_tok,
                                  float *logits_last, int64_t logits_len) {
    PL_REQUIRE(m && c && c->model == m, "pl_model_decode: the cache must belong to this model");
    if (n_tok > c->n_ctx - c->n_pos) /* before any token is read: n_tok is the length of tokens */
        return pl_fail(PL_ERR_INVALID_ARGUMENT, "pl_model_decode: context full: %lld positions held + %lld new > n_ctx %lld",
                       (long long)c->n_pos, (long long)n_tok, (long long)c->n_ctx);
    PL_TRY(check_forward_args(m, tokens, 1, n_tok, "pl_model_decode"));
    PL_REQUIRE(logits_last && logits_len >= m->p.n_vocab, "pl_model_decode: logits_last needs %lld floats", (long long)m->p.n_vocab);
    if (c->dev) {
        PL_TRY(pl_cuda_backend(NULL)->decode(m, c->dev, c->n_pos, tokens, n_tok, logits_last));
        c->n_pos += n_tok;
        return pl_ok();
    }
    const pl_model_params *p = &m->p;
    const int64_t D = p->n_embd, kvd = p->n_head_kv * p->head_dim, pos0 = c->n_pos;
    float *x = pl_alloc((size_t)n_tok * D * sizeof(float));
    /* an F16 cache: the new keys and values in F32 first, then rounded into the cache */
    float *kv_new = c->kh && x ? pl_alloc((size_t)(2 * n_tok * kvd) * sizeof(float)) : NULL;
    block_acts ws = {0};
    int32_t rc = x && (kv_new || !c->kh) ? ws_alloc(&ws, m, n_tok) : pl_fail(PL_ERR_OUT_OF_MEMORY, "pl_model_decode: out of memory");
    if (rc == PL_OK) {
        const pl_weight_ref *emb = &m->global[PL_W_TOKEN_EMBD];
        embedding_forward(x, tokens, n_tok, emb->type, emb->data, D);
        for (int64_t l = 0; rc == PL_OK && l < p->n_layer; l++) {
            if (c->kh) {
                uint16_t *kl = c->kh + l * c->n_ctx * kvd, *vl = c->vh + l * c->n_ctx * kvd;
                float *k_new = kv_new, *v_new = kv_new + n_tok * kvd;
                rc = block_forward_qkv(m, l, x, 1, n_tok, pos0, k_new, v_new, &ws);
                if (rc != PL_OK) break;
                const int64_t hd = p->head_dim, head_stride = c->n_ctx * hd;
                for (int64_t t = 0; t < n_tok; t++)
                    for (int64_t hk = 0; hk < p->n_head_kv; hk++) {
                        pl_quant_row(PL_TYPE_F16, k_new + t * kvd + hk * hd, kl + hk * head_stride + (pos0 + t) * hd, hd);
                        pl_quant_row(PL_TYPE_F16, v_new + t * kvd + hk * hd, vl + hk * head_stride + (pos0 + t) * hd, hd);
                    }
                rc = attention_forward_f16(ws.att, ws.q, kl, vl, head_stride, n_tok, pos0 + n_tok, pos0, p->n_head, p->n_head_kv, hd);
                if (rc == PL_OK) rc = block_forward_rest(m, l, x, n_tok, &ws);
                continue;
            }
            float *kl = c->k + l * c->n_ctx * kvd, *vl = c->v + l * c->n_ctx * kvd;
            rc = block_forward(m, l, x, 1, n_tok, pos0, kl + pos0 * kvd, vl + pos0 * kvd, kl, vl, pos0 + n_tok, 0, &ws);
        }
        if (rc == PL_OK) rc = head_forward(m, x + (n_tok - 1) * D, 1, ws.xn1, logits_last);
        if (rc == PL_OK) c->n_pos += n_tok;
    }
    ws_free(&ws);
    pl_free(kv_new);
    pl_free(x);
    return rc;
}

PL_EXPORT int32_t pl_model_decode(pl_model *m, pl_kv_cache *c, const int32_t *tokens, int64_t n_tok, float *logits_last, int64_t logits_len) {
    const int saved = pl_threads_enter(m); /* the model's thread count, if it has one, for this call */
    const int32_t rc = model_decode_impl(m, c, tokens, n_tok, logits_last, logits_len);
    pl_threads_set_override(saved);
    return rc;
}
