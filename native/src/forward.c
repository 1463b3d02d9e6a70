/* The LLaMA forward pass for inference: batched full forward, per-token NLL, and KV-cache decoding. */
#include <stdlib.h>
#include <string.h>
#include "common.h"
#include "model.h"
#include "ops/matmul.h"
#include "ops/ops.h"

/* Scratch activations of one layer for n_tok tokens, reused layer after layer. */
typedef struct infer_ws {
    float *xn;   /* [N, D] normalized input */
    float *q;    /* [N, Hq*hd] */
    float *att;  /* [N, Hq*hd] attention output */
    float *tmp;  /* [N, D] projection output */
    float *g;    /* [N, F] gate, then the SwiGLU output */
    float *u;    /* [N, F] up */
} infer_ws;

static void ws_free(infer_ws *ws) {
    pl_free(ws->xn); pl_free(ws->q); pl_free(ws->att); pl_free(ws->tmp); pl_free(ws->g); pl_free(ws->u);
    memset(ws, 0, sizeof *ws);
}

static int32_t ws_alloc(infer_ws *ws, const pl_model_params *p, int64_t n) {
    const size_t f = sizeof(float), qd = (size_t)(p->n_head * p->head_dim);
    ws->xn = pl_alloc((size_t)n * p->n_embd * f);
    ws->q = pl_alloc((size_t)n * qd * f);
    ws->att = pl_alloc((size_t)n * qd * f);
    ws->tmp = pl_alloc((size_t)n * p->n_embd * f);
    ws->g = pl_alloc((size_t)n * p->n_ff * f);
    ws->u = pl_alloc((size_t)n * p->n_ff * f);
    if (!ws->xn || !ws->q || !ws->att || !ws->tmp || !ws->g || !ws->u) {
        ws_free(ws);
        return pl_fail(PL_ERR_OUT_OF_MEMORY, "forward: cannot allocate activations for %lld tokens", (long long)n);
    }
    return PL_OK;
}

/* y = x Wᵀ (+ bias): the linear layers of a block, weight by kind. */
static int32_t block_linear(const pl_layer_weights *lw, int32_t which, int32_t bias, const float *x, int64_t n, float *y) {
    const pl_weight_ref *w = &lw->w[which];
    PL_TRY(pl_linear_forward(w->type, w->data, w->ne0, w->ne1, x, n, y, 0));
    if (bias >= 0 && lw->w[bias].data) {
        const float *b = lw->w[bias].data;
        for (int64_t t = 0; t < n; t++)
            for (int64_t o = 0; o < w->ne1; o++) y[t * w->ne1 + o] += b[o];
    }
    return PL_OK;
}

/* One transformer block in place on x [B*T, D]: new keys/values go to k_new/v_new ([B*T, kv]),
   attention reads keys k_all/v_all ([B][Tk][kv], batch stride kv_stride) at positions up to pos0+t. */
static int32_t block_forward(const pl_model *m, int64_t l, float *x, int64_t B, int64_t T, int64_t pos0,
                             float *k_new, float *v_new, const float *k_all, const float *v_all,
                             int64_t Tk, int64_t kv_stride, infer_ws *ws) {
    const pl_model_params *p = &m->p;
    const pl_layer_weights *lw = &m->layers[l];
    const int64_t n = B * T, D = p->n_embd;
    rmsnorm_forward(ws->xn, NULL, x, lw->w[PL_W_ATTN_NORM].data, n, D, p->norm_eps);
    PL_TRY(block_linear(lw, PL_W_ATTN_Q, PL_W_ATTN_Q_BIAS, ws->xn, n, ws->q));
    PL_TRY(block_linear(lw, PL_W_ATTN_K, PL_W_ATTN_K_BIAS, ws->xn, n, k_new));
    PL_TRY(block_linear(lw, PL_W_ATTN_V, PL_W_ATTN_V_BIAS, ws->xn, n, v_new));
    rope_apply(ws->q, B, T, pos0, p->n_head, p->head_dim, p->n_rot, p->rope_freq_base, p->rope_freq_scale, p->rope_type, 1);
    rope_apply(k_new, B, T, pos0, p->n_head_kv, p->head_dim, p->n_rot, p->rope_freq_base, p->rope_freq_scale, p->rope_type, 1);
    PL_TRY(attention_forward(ws->att, NULL, ws->q, k_all, v_all, B, T, Tk, pos0, p->n_head, p->n_head_kv, p->head_dim, kv_stride));
    PL_TRY(block_linear(lw, PL_W_ATTN_OUTPUT, -1, ws->att, n, ws->tmp));
    residual_add(x, ws->tmp, n * D);
    rmsnorm_forward(ws->xn, NULL, x, lw->w[PL_W_FFN_NORM].data, n, D, p->norm_eps);
    PL_TRY(block_linear(lw, PL_W_FFN_GATE, -1, ws->xn, n, ws->g));
    PL_TRY(block_linear(lw, PL_W_FFN_UP, -1, ws->xn, n, ws->u));
    swiglu_forward(ws->g, ws->g, ws->u, n * p->n_ff);
    PL_TRY(block_linear(lw, PL_W_FFN_DOWN, -1, ws->g, n, ws->tmp));
    residual_add(x, ws->tmp, n * D);
    return PL_OK;
}

/* Final norm and logits for rows [r0, r0+nr) of x into logits (nr x V); xn is scratch. */
static int32_t head_forward(const pl_model *m, const float *x, int64_t nr, float *xn, float *logits) {
    const pl_model_params *p = &m->p;
    rmsnorm_forward(xn, NULL, x, m->global[PL_W_OUTPUT_NORM].data, nr, p->n_embd, p->norm_eps);
    const pl_weight_ref *w = pl_model_output_weight(m);
    return pl_linear_forward(w->type, w->data, p->n_embd, p->n_vocab, xn, nr, logits, 0);
}

static int32_t check_tokens(const pl_model *m, const int32_t *tokens, int64_t n, const char *fn) {
    for (int64_t i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= m->p.n_vocab)
            return pl_fail(PL_ERR_INVALID_ARGUMENT, "%s: token %d at index %lld is outside the vocabulary (0..%lld)",
                           fn, tokens[i], (long long)i, (long long)m->p.n_vocab - 1);
    return PL_OK;
}

/* Runs the blocks over tokens [B][T] and leaves the final residual stream in x [B*T, D]. */
static int32_t trunk_forward(const pl_model *m, const int32_t *tokens, int64_t B, int64_t T, float *x) {
    const pl_model_params *p = &m->p;
    const int64_t n = B * T, kvd = p->n_head_kv * p->head_dim;
    const pl_weight_ref *emb = &m->global[PL_W_TOKEN_EMBD];
    embedding_forward(x, tokens, n, emb->type, emb->data, p->n_embd);
    infer_ws ws = {0};
    PL_TRY(ws_alloc(&ws, p, n));
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
    PL_REQUIRE(n_seq > 0 && n_tok > 0 && n_seq <= (1LL << 20) && n_tok <= (1LL << 24), "%s: bad batch shape %lld x %lld",
               fn, (long long)n_seq, (long long)n_tok);
    if (!m->validated) PL_TRY(pl_model_validate(m));
    return check_tokens(m, tokens, n_seq * n_tok, fn);
}

PL_EXPORT int32_t pl_model_forward(pl_model *m, const int32_t *tokens, int64_t n_seq, int64_t n_tok,
                                   float *logits, int64_t logits_len) {
    PL_TRY(check_forward_args(m, tokens, n_seq, n_tok, "pl_model_forward"));
    PL_REQUIRE(logits && logits_len >= n_seq * n_tok * m->p.n_vocab, "pl_model_forward: logits needs %lld floats, got %lld",
               (long long)(n_seq * n_tok * m->p.n_vocab), (long long)logits_len);
    const int64_t n = n_seq * n_tok, D = m->p.n_embd;
    float *x = pl_alloc((size_t)n * D * sizeof(float)), *xn = pl_alloc((size_t)n * D * sizeof(float));
    int32_t rc = (x && xn) ? PL_OK : pl_fail(PL_ERR_OUT_OF_MEMORY, "pl_model_forward: out of memory");
    if (rc == PL_OK) rc = trunk_forward(m, tokens, n_seq, n_tok, x);
    if (rc == PL_OK) rc = head_forward(m, x, n, xn, logits);
    pl_free(x); pl_free(xn);
    return rc;
}

PL_EXPORT int32_t pl_model_nll(pl_model *m, const int32_t *tokens, const int32_t *targets, int64_t n_seq,
                               int64_t n_tok, float *nll) {
    PL_TRY(check_forward_args(m, tokens, n_seq, n_tok, "pl_model_nll"));
    PL_REQUIRE(targets && nll, "pl_model_nll: targets and nll must not be NULL");
    const int64_t n = n_seq * n_tok, D = m->p.n_embd, V = m->p.n_vocab;
    for (int64_t i = 0; i < n; i++)
        PL_REQUIRE(targets[i] < V, "pl_model_nll: target %d at index %lld is outside the vocabulary", targets[i], (long long)i);
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

/* ---- KV cache ---- */

struct pl_kv_cache {
    pl_model *model;
    int64_t n_ctx, n_pos;
    float *k, *v; /* [n_layer][n_ctx][n_head_kv*head_dim] */
};

PL_EXPORT int32_t pl_kv_cache_create(pl_model *m, int64_t n_ctx, pl_kv_cache **out) {
    PL_REQUIRE(m && out, "pl_kv_cache_create: model and out must not be NULL");
    PL_REQUIRE(n_ctx > 0 && n_ctx <= (1LL << 24), "pl_kv_cache_create: n_ctx %lld out of range", (long long)n_ctx);
    *out = NULL;
    const size_t per = (size_t)m->p.n_layer * n_ctx * m->p.n_head_kv * m->p.head_dim * sizeof(float);
    pl_kv_cache *c = calloc(1, sizeof *c);
    if (!c) return pl_fail(PL_ERR_OUT_OF_MEMORY, "pl_kv_cache_create: out of memory");
    c->model = m; c->n_ctx = n_ctx;
    c->k = pl_alloc(per); c->v = pl_alloc(per);
    if (!c->k || !c->v) {
        pl_kv_cache_free(c);
        return pl_fail(PL_ERR_OUT_OF_MEMORY, "pl_kv_cache_create: cannot allocate %zu bytes for %lld positions", 2 * per, (long long)n_ctx);
    }
    *out = c;
    return PL_OK;
}

PL_EXPORT void pl_kv_cache_free(pl_kv_cache *c) {
    if (!c) return;
    pl_free(c->k); pl_free(c->v);
    free(c);
}

PL_EXPORT int32_t pl_kv_cache_clear(pl_kv_cache *c) {
    PL_REQUIRE(c, "pl_kv_cache_clear: cache must not be NULL");
    c->n_pos = 0;
    return PL_OK;
}

PL_EXPORT int32_t pl_kv_cache_length(const pl_kv_cache *c, int64_t *n_pos) {
    PL_REQUIRE(c && n_pos, "pl_kv_cache_length: cache and n_pos must not be NULL");
    *n_pos = c->n_pos;
    return PL_OK;
}

PL_EXPORT int32_t pl_model_decode(pl_model *m, pl_kv_cache *c, const int32_t *tokens, int64_t n_tok,
                                  float *logits_last, int64_t logits_len) {
    PL_TRY(check_forward_args(m, tokens, 1, n_tok, "pl_model_decode"));
    PL_REQUIRE(c && c->model == m, "pl_model_decode: the cache must belong to this model");
    PL_REQUIRE(logits_last && logits_len >= m->p.n_vocab, "pl_model_decode: logits_last needs %lld floats", (long long)m->p.n_vocab);
    if (c->n_pos + n_tok > c->n_ctx)
        return pl_fail(PL_ERR_INVALID_ARGUMENT, "pl_model_decode: context full: %lld positions held + %lld new > n_ctx %lld",
                       (long long)c->n_pos, (long long)n_tok, (long long)c->n_ctx);
    const pl_model_params *p = &m->p;
    const int64_t D = p->n_embd, kvd = p->n_head_kv * p->head_dim, pos0 = c->n_pos;
    float *x = pl_alloc((size_t)n_tok * D * sizeof(float));
    infer_ws ws = {0};
    int32_t rc = x ? ws_alloc(&ws, p, n_tok) : pl_fail(PL_ERR_OUT_OF_MEMORY, "pl_model_decode: out of memory");
    if (rc == PL_OK) {
        const pl_weight_ref *emb = &m->global[PL_W_TOKEN_EMBD];
        embedding_forward(x, tokens, n_tok, emb->type, emb->data, D);
        for (int64_t l = 0; rc == PL_OK && l < p->n_layer; l++) {
            float *kl = c->k + l * c->n_ctx * kvd, *vl = c->v + l * c->n_ctx * kvd;
            rc = block_forward(m, l, x, 1, n_tok, pos0, kl + pos0 * kvd, vl + pos0 * kvd, kl, vl, pos0 + n_tok, 0, &ws);
        }
        if (rc == PL_OK) rc = head_forward(m, x + (n_tok - 1) * D, 1, ws.xn, logits_last);
        if (rc == PL_OK) c->n_pos += n_tok;
    }
    ws_free(&ws);
    pl_free(x);
    return rc;
}
