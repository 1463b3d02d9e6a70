/* Input bounds of the public API: hyperparameters outside the PL_MAX_* limits (and the crafted ones that used to pass
   through overflowing products), batch and cache sizes whose products overflow, AdamW state with explicit lengths,
   slot shapes re-checked when an adapter is swapped under a trainer, pl_last_error cleared by every successful call,
   and pl_build_info shared safely between threads. Prints "bounds: N passed, M failed"; exits non-zero on a failure. */
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "panlora.h"

static int passed = 0, failed = 0;

static void check(int ok, const char *what) {
    if (ok) passed++;
    else { failed++; printf("FAIL: %s (last error: '%s')\n", what, pl_last_error()); }
}

#define CHECKF(ok, ...)                                       \
    do {                                                      \
        char check_msg_[512];                                 \
        snprintf(check_msg_, sizeof check_msg_, __VA_ARGS__); \
        check((ok), check_msg_);                              \
    } while (0)

/* 1 if the last error mentions every one of the (NULL-terminated) words. */
static int error_mentions(const char *w0, const char *w1) {
    const char *e = pl_last_error();
    return strstr(e, w0) != NULL && (!w1 || strstr(e, w1) != NULL);
}

/* A small valid LLaMA configuration. */
static pl_model_params small_params(int64_t vocab, int64_t embd) {
    pl_model_params p;
    memset(&p, 0, sizeof p);
    p.n_vocab = vocab; p.n_embd = embd; p.n_layer = 1; p.n_head = 2; p.n_head_kv = 1; p.head_dim = embd / 2;
    p.n_ff = 2 * embd; p.n_ctx_train = 64; p.n_rot = embd / 2; p.rope_freq_base = 10000.0f; p.rope_freq_scale = 1.0f;
    p.norm_eps = 1e-5f; p.rope_type = PL_ROPE_NORMAL;
    return p;
}

/* Expects pl_model_create to refuse p with PL_ERR_INVALID_ARGUMENT and a message naming `key` (and `limit` if given). */
static void expect_refused(pl_model_params p, const char *what, const char *key, const char *limit) {
    pl_model *m = (pl_model *)(uintptr_t)1;
    const int32_t rc = pl_model_create(&p, &m);
    CHECKF(rc == PL_ERR_INVALID_ARGUMENT && m == NULL, "%s is refused (rc %d)", what, rc);
    CHECKF(error_mentions(key, limit), "%s: the message names %s%s%s", what, key, limit ? " and " : "", limit ? limit : "");
    if (rc == PL_OK) pl_model_free(m);
}

static void test_hyperparameters(void) {
    /* the crafted model of the hardening issue: n_head = n_head_kv = 2^62+1, key_length 64; n_head * head_dim wraps to 64 */
    pl_model_params p = small_params(16, 8);
    p.n_head = p.n_head_kv = (INT64_C(1) << 62) + 1; p.head_dim = 64; p.n_rot = 64;
    expect_refused(p, "n_head = n_head_kv = 2^62+1", "n_head", "65536");
    p = small_params(16, 8); p.n_head = 512; p.n_head_kv = 512; p.head_dim = 4096; p.n_rot = 64; /* 2^21 */
    expect_refused(p, "n_head x head_dim above the attention width", "attention width", "1048576");
    p = small_params(16, 8); p.n_head_kv = (INT64_C(1) << 62) + 1;
    expect_refused(p, "n_head_kv = 2^62+1", "n_head_kv", NULL);
    p = small_params(16, 8); p.head_dim = 4097; p.n_rot = 2;
    expect_refused(p, "head_dim 4097", "head_dim", "4096");
    p = small_params(16, 8); p.n_ctx_train = INT64_C(1) << 31;
    expect_refused(p, "n_ctx_train = 2^31", "n_ctx_train", "16777216");
    p = small_params(16, 8); p.n_ctx_train = INT64_MAX;
    expect_refused(p, "n_ctx_train = INT64_MAX", "n_ctx_train", NULL);
    p = small_params(16, 8); p.n_vocab = INT64_C(1) << 31;
    expect_refused(p, "n_vocab = 2^31", "n_vocab", NULL);
    p = small_params(16, 8); p.n_layer = 4097;
    expect_refused(p, "n_layer 4097", "n_layer", "4096");
    p = small_params(16, 8); p.n_ff = (INT64_C(1) << 22) + 1;
    expect_refused(p, "n_ff 2^22+1", "n_ff", NULL);
    p = small_params(16, 8); p.n_embd = (INT64_C(1) << 20) + 2;
    expect_refused(p, "n_embd 2^20+2", "n_embd", NULL);
    p = small_params(16, 8); p.n_rot = 0;
    expect_refused(p, "n_rot 0", "n_rot", NULL);
    p = small_params(16, 8); p.n_rot = 3;
    expect_refused(p, "odd n_rot", "n_rot", NULL);
    const float bad[] = {0.0f, -1.0f, NAN, INFINITY, -INFINITY};
    for (int i = 0; i < 5; i++) {
        char what[64];
        p = small_params(16, 8); p.rope_freq_scale = bad[i];
        snprintf(what, sizeof what, "rope_freq_scale %g", (double)bad[i]);
        expect_refused(p, what, "rope_freq_scale", NULL);
        p = small_params(16, 8); p.rope_freq_base = bad[i];
        snprintf(what, sizeof what, "rope_freq_base %g", (double)bad[i]);
        expect_refused(p, what, "rope_freq_base", NULL);
        p = small_params(16, 8); p.norm_eps = bad[i];
        snprintf(what, sizeof what, "norm_eps %g", (double)bad[i]);
        expect_refused(p, what, "norm_eps", NULL);
    }
    /* the limits themselves are accepted (no weights are allocated by pl_model_create) */
    p = small_params(16, 8); p.n_ctx_train = PL_MAX_CTX; p.n_head = 256; p.n_head_kv = 256; p.head_dim = 4096; p.n_rot = 4096;
    pl_model *m = NULL;
    CHECKF(pl_model_create(&p, &m) == PL_OK && m, "the limits themselves (n_ctx %lld, width 2^20) are accepted", (long long)PL_MAX_CTX);
    pl_model_free(m);
}

/* ---- a tiny model with F32 weights ---- */

typedef struct tiny {
    pl_model *m;
    float *buf[16];
    int n_buf;
} tiny;

static float *tiny_buf(tiny *t, int64_t n) {
    float *b = malloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) b[i] = 0.01f * (float)((i * 7919) % 13) - 0.05f;
    t->buf[t->n_buf++] = b;
    return b;
}

static void tiny_set(tiny *t, int32_t which, int64_t layer, int64_t ne0, int64_t ne1, int norm) {
    float *b = tiny_buf(t, ne0 * ne1);
    if (norm) for (int64_t i = 0; i < ne0 * ne1; i++) b[i] = 1.0f;
    const int32_t rc = pl_model_set_weight(t->m, which, layer, PL_TYPE_F32, ne0, ne1, b, ne0 * ne1 * 4);
    if (rc != PL_OK) printf("tiny model: set weight %d failed: %s\n", which, pl_last_error());
}

static int tiny_make(tiny *t, int64_t vocab, int64_t embd) {
    memset(t, 0, sizeof *t);
    pl_model_params p = small_params(vocab, embd);
    if (pl_model_create(&p, &t->m) != PL_OK) { printf("tiny model: %s\n", pl_last_error()); return 0; }
    const int64_t D = embd, Q = p.n_head * p.head_dim, KV = p.n_head_kv * p.head_dim, F = p.n_ff;
    tiny_set(t, PL_W_TOKEN_EMBD, -1, D, vocab, 0);
    tiny_set(t, PL_W_OUTPUT_NORM, -1, D, 1, 1);
    tiny_set(t, PL_W_ATTN_NORM, 0, D, 1, 1);
    tiny_set(t, PL_W_ATTN_Q, 0, D, Q, 0);
    tiny_set(t, PL_W_ATTN_K, 0, D, KV, 0);
    tiny_set(t, PL_W_ATTN_V, 0, D, KV, 0);
    tiny_set(t, PL_W_ATTN_OUTPUT, 0, Q, D, 0);
    tiny_set(t, PL_W_FFN_NORM, 0, D, 1, 1);
    tiny_set(t, PL_W_FFN_GATE, 0, D, F, 0);
    tiny_set(t, PL_W_FFN_UP, 0, D, F, 0);
    tiny_set(t, PL_W_FFN_DOWN, 0, F, D, 0);
    return pl_model_validate(t->m) == PL_OK;
}

static void tiny_free(tiny *t) {
    pl_model_free(t->m);
    for (int i = 0; i < t->n_buf; i++) free(t->buf[i]);
}

static void test_size_products(void) {
    /* n_seq x n_tok x n_vocab = 2^20 · 2^24 · 2^20 = 2^64 wrapped to 0 and passed the logits length check */
    tiny t;
    check(tiny_make(&t, INT64_C(1) << 20, 4), "a tiny model with a 2^20 vocabulary");
    int32_t tokens[4] = {0, 1, 2, 3};
    float logits[4];
    int32_t rc = pl_model_forward(t.m, tokens, INT64_C(1) << 20, INT64_C(1) << 24, logits, 4);
    CHECKF(rc == PL_ERR_INVALID_ARGUMENT && error_mentions("batch shape", NULL), "forward of 2^20 x 2^24 tokens is refused (rc %d)", rc);
    rc = pl_model_forward(t.m, tokens, 1, 4, logits, 4);
    CHECKF(rc == PL_ERR_INVALID_ARGUMENT && error_mentions("logits needs", NULL), "a logits buffer too short is refused (rc %d)", rc);
    tiny_free(&t);

    check(tiny_make(&t, 16, 8), "a tiny model");
    /* n_seq x n_tok = 2^32 · 2^32 wrapped to 0 and made a trainer of zero rows */
    pl_lora *lo = NULL;
    pl_lora_create(t.m, &lo);
    pl_model_set_lora(t.m, lo);
    pl_trainer_params tp = {INT64_C(1) << 32, INT64_C(1) << 32, PL_TRAIN_LORA, 0};
    pl_trainer *tr = NULL;
    rc = pl_trainer_create(t.m, &tp, &tr);
    CHECKF(rc == PL_ERR_INVALID_ARGUMENT && tr == NULL && error_mentions("batch shape", NULL), "a 2^32 x 2^32 trainer batch is refused (rc %d)", rc);
    if (tr) pl_trainer_free(tr);
    pl_model_set_lora(t.m, NULL);
    pl_lora_free(lo);
    pl_kv_cache *c = NULL;
    rc = pl_kv_cache_create(t.m, INT64_C(1) << 40, &c);
    CHECKF(rc == PL_ERR_INVALID_ARGUMENT && c == NULL && error_mentions("16777216", NULL), "a 2^40-position cache is refused (rc %d)", rc);
    if (c) pl_kv_cache_free(c);
    rc = pl_kv_cache_create(t.m, 8, &c);
    check(rc == PL_OK, "an 8-position cache");
    float lg[16];
    rc = pl_model_decode(t.m, c, tokens, INT64_C(1) << 24, lg, 16);
    CHECKF(rc == PL_ERR_INVALID_ARGUMENT, "decoding 2^24 tokens into an 8-position cache is refused (rc %d)", rc);
    pl_kv_cache_free(c);
    /* a delta's length is checked against out x in */
    float d[4] = {0};
    rc = pl_model_set_delta(t.m, PL_W_ATTN_Q, 0, d, 4);
    CHECKF(rc == PL_ERR_INVALID_ARGUMENT, "a 4-float delta of an 8x8 linear is refused (rc %d)", rc);
    tiny_free(&t);
}

static void test_adam_lengths(void) {
    tiny t;
    check(tiny_make(&t, 16, 8), "a tiny model");
    pl_lora *lo = NULL;
    int32_t slot = -1;
    check(pl_lora_create(t.m, &lo) == PL_OK && pl_lora_add_slot(lo, 0, PL_TARGET_ATTN_K, 2, 1.0f, &slot) == PL_OK, "a rank-2 slot on attn_k");
    const int64_t na = 2 * 8, nb = 4 * 2; /* A: rank x in (8), B: out (4) x rank */
    float ma[16], va[16], mb[8], vb[8], big[64];
    for (int i = 0; i < 16; i++) { ma[i] = 0.1f * (float)i; va[i] = 0.2f * (float)i; }
    for (int i = 0; i < 8; i++) { mb[i] = -0.1f * (float)i; vb[i] = 0.3f * (float)i; }
    int32_t rc = pl_lora_set_adam(lo, slot, ma, va, na, mb, vb, nb, 7);
    check(rc == PL_OK, "set_adam with the right lengths");
    float ga[64], gv[64], gb[64], gw[64];
    int64_t step = -1;
    rc = pl_lora_get_adam(lo, slot, ga, gv, na, gb, gw, nb, &step);
    check(rc == PL_OK && step == 7 && memcmp(ga, ma, sizeof ma) == 0 && memcmp(gv, va, sizeof va) == 0 &&
          memcmp(gb, mb, sizeof mb) == 0 && memcmp(gw, vb, sizeof vb) == 0, "get_adam returns what set_adam stored");
    rc = pl_lora_get_adam(lo, slot, ga, gv, na - 1, NULL, NULL, 0, NULL);
    CHECKF(rc == PL_ERR_INVALID_ARGUMENT && error_mentions("length 15", "expected 16"), "get_adam with a short A length is refused (rc %d)", rc);
    rc = pl_lora_get_adam(lo, slot, NULL, NULL, 0, gb, NULL, nb + 1, NULL);
    CHECKF(rc == PL_ERR_INVALID_ARGUMENT, "get_adam with a wrong B length is refused (rc %d)", rc);
    rc = pl_lora_set_adam(lo, slot, big, NULL, 64, NULL, NULL, 0, 1);
    CHECKF(rc == PL_ERR_INVALID_ARGUMENT, "set_adam with a 64-float A moment for a 16-float A is refused (rc %d)", rc);
    rc = pl_lora_set_adam(lo, slot, NULL, NULL, 0, NULL, vb, nb - 2, 1);
    CHECKF(rc == PL_ERR_INVALID_ARGUMENT, "set_adam with a short B moment is refused (rc %d)", rc);
    float nan_v[16];
    memcpy(nan_v, va, sizeof va);
    nan_v[3] = NAN;
    rc = pl_lora_set_adam(lo, slot, NULL, nan_v, na, NULL, NULL, 0, 1);
    CHECKF(rc == PL_ERR_NUMERIC, "set_adam with a NaN second moment is refused (rc %d)", rc);
    nan_v[3] = -1.0f;
    rc = pl_lora_set_adam(lo, slot, NULL, nan_v, na, NULL, NULL, 0, 1);
    CHECKF(rc == PL_ERR_NUMERIC, "set_adam with a negative second moment is refused (rc %d)", rc);
    /* the step: AdamW counts it up (step + 1) and raises beta to it, so it is bounded to 0..2^53 */
    const int64_t bad_steps[] = {-1, (INT64_C(1) << 53) + 1, INT64_C(1) << 62, INT64_MAX - 1, INT64_MAX, INT64_MIN};
    for (int i = 0; i < (int)(sizeof bad_steps / sizeof bad_steps[0]); i++) {
        rc = pl_lora_set_adam(lo, slot, ma, va, na, mb, vb, nb, bad_steps[i]);
        CHECKF(rc == PL_ERR_INVALID_ARGUMENT && error_mentions("step", "2^53"), "set_adam with step %lld is refused (rc %d)",
               (long long)bad_steps[i], rc);
    }
    rc = pl_lora_get_adam(lo, slot, ga, NULL, na, NULL, NULL, 0, &step);
    check(rc == PL_OK && step == 7 && memcmp(ga, ma, sizeof ma) == 0, "refused calls left the state as it was");
    /* 2^53 itself is accepted, and a training step from it counts on and keeps the weights finite */
    rc = pl_lora_set_adam(lo, slot, NULL, NULL, 0, NULL, NULL, 0, INT64_C(1) << 53);
    check(rc == PL_OK, "set_adam with step 2^53 is accepted");
    pl_model_set_lora(t.m, lo);
    pl_trainer_params tp = {1, 4, PL_TRAIN_LORA, 0};
    pl_trainer *tr = NULL;
    int32_t tokens[4] = {1, 2, 3, 4}, targets[4] = {2, 3, 4, 5};
    double loss = 0;
    int64_t n_counted = 0;
    const pl_adamw_params ap = {1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 1.0f};
    check(pl_trainer_create(t.m, &tp, &tr) == PL_OK && pl_trainer_accumulate(tr, tokens, targets, 1.0f, &loss, &n_counted) == PL_OK &&
          pl_trainer_adamw_step(tr, &ap) == PL_OK, "a training step from step 2^53");
    float wa[16];
    rc = pl_lora_get_adam(lo, slot, NULL, NULL, 0, NULL, NULL, 0, &step);
    int finite = pl_lora_get_weights(lo, slot, wa, na, NULL, 0) == PL_OK;
    for (int i = 0; i < 16; i++) finite &= isfinite(wa[i]);
    CHECKF(rc == PL_OK && step == (INT64_C(1) << 53) + 1 && finite, "the step counted on to 2^53 + 1 (got %lld), weights finite",
           (long long)step);
    pl_trainer_free(tr);
    pl_model_set_lora(t.m, NULL);
    rc = pl_lora_get_adam(lo, slot, NULL, NULL, 0, NULL, NULL, 0, &step);
    check(rc == PL_OK, "NULL moments skip their lengths");
    pl_lora_free(lo);
    tiny_free(&t);
}

static void test_slot_shapes_under_trainer(void) {
    tiny t;
    check(tiny_make(&t, 16, 8), "a tiny model");
    pl_lora *small = NULL, *wide = NULL;
    int32_t s = -1;
    pl_lora_create(t.m, &small);
    pl_lora_create(t.m, &wide);
    pl_lora_add_slot(small, 0, PL_TARGET_ATTN_Q, 1, 1.0f, &s);
    pl_lora_add_slot(wide, 0, PL_TARGET_ATTN_Q, 8, 1.0f, &s);
    check(pl_model_set_lora(t.m, small) == PL_OK, "attach the rank-1 adapter");
    pl_trainer_params tp = {1, 4, PL_TRAIN_LORA, 0};
    pl_trainer *tr = NULL;
    check(pl_trainer_create(t.m, &tp, &tr) == PL_OK, "a trainer sized for the rank-1 adapter");
    int32_t tokens[4] = {1, 2, 3, 4}, targets[4] = {2, 3, 4, 5};
    double loss = 0;
    int64_t n = 0;
    check(pl_trainer_accumulate(tr, tokens, targets, 1.0f, &loss, &n) == PL_OK, "accumulate with the adapter it was made for");
    /* same slot count, larger rank: the trainer's per-slot scratch holds rank 1 only */
    check(pl_model_set_lora(t.m, wide) == PL_OK, "attach the rank-8 adapter");
    int32_t rc = pl_trainer_accumulate(tr, tokens, targets, 1.0f, &loss, &n);
    CHECKF(rc != PL_OK && error_mentions("rank 8", "new trainer"), "accumulate after swapping in a wider slot is refused (rc %d)", rc);
    check(pl_model_set_lora(t.m, small) == PL_OK && pl_trainer_accumulate(tr, tokens, targets, 1.0f, &loss, &n) == PL_OK,
          "the original adapter trains again");
    pl_lora_add_slot(small, 0, PL_TARGET_FFN_UP, 2, 1.0f, &s);
    rc = pl_trainer_accumulate(tr, tokens, targets, 1.0f, &loss, &n);
    CHECKF(rc != PL_OK && error_mentions("2 slots", NULL), "accumulate after a slot was added is refused (rc %d)", rc);
    pl_trainer_free(tr);
    pl_model_set_lora(t.m, NULL);
    pl_lora_free(small);
    pl_lora_free(wide);
    tiny_free(&t);
}

/* Fails a call, then runs `call` and checks that it returned PL_OK and cleared the message. */
#define EXPECT_CLEARS(call)                                                                       \
    do {                                                                                          \
        pl_set_num_threads(0); /* fails: leaves a message */                                      \
        const int had = pl_last_error()[0] != 0;                                                  \
        const int32_t rc_ = (call);                                                               \
        CHECKF(had && rc_ == PL_OK && pl_last_error()[0] == 0, "%s clears pl_last_error", #call); \
    } while (0)

static void test_last_error_cleared(void) {
    tiny t;
    check(tiny_make(&t, 16, 8), "a tiny model");
    int64_t be = 0, bb = 0, rb = 0, step = 0, npos = 0;
    int32_t dev = 0, n_slots = 0, slot = -1;
    float x[8] = {0}, y[8];
    int16_t h[8];
    pl_lora *lo = NULL;
    EXPECT_CLEARS(pl_type_info(PL_TYPE_Q8_0, &be, &bb));
    EXPECT_CLEARS(pl_row_bytes(PL_TYPE_F16, 8, &rb));
    EXPECT_CLEARS(pl_quantize(PL_TYPE_F16, x, 8, h, sizeof h));
    EXPECT_CLEARS(pl_dequantize(PL_TYPE_F16, h, sizeof h, y, 8));
    EXPECT_CLEARS(pl_set_num_threads(2));
    EXPECT_CLEARS(pl_model_get_device(t.m, &dev));
    EXPECT_CLEARS(pl_model_validate(t.m));
    EXPECT_CLEARS(pl_lora_create(t.m, &lo));
    EXPECT_CLEARS(pl_lora_add_slot(lo, 0, PL_TARGET_ATTN_V, 1, 1.0f, &slot));
    EXPECT_CLEARS(pl_lora_slot_count(lo, &n_slots));
    EXPECT_CLEARS(pl_lora_set_flags(lo, slot, 0.5f, 1, 1, 1));
    EXPECT_CLEARS(pl_lora_get_adam(lo, slot, NULL, NULL, 0, NULL, NULL, 0, &step));
    EXPECT_CLEARS(pl_lora_reset_adam(lo, -1));
    EXPECT_CLEARS(pl_model_set_lora(t.m, lo));
    pl_kv_cache *c = NULL;
    EXPECT_CLEARS(pl_kv_cache_create(t.m, 4, &c));
    EXPECT_CLEARS(pl_kv_cache_length(c, &npos));
    int32_t tok[2] = {1, 2};
    float lg[16];
    EXPECT_CLEARS(pl_model_decode(t.m, c, tok, 2, lg, 16));
    EXPECT_CLEARS(pl_kv_cache_clear(c));
    float logits[32];
    EXPECT_CLEARS(pl_model_forward(t.m, tok, 1, 2, logits, 32));
    pl_set_num_threads(0);
    (void)pl_api_version();
    check(pl_last_error()[0] == 0, "pl_api_version clears pl_last_error");
    pl_kv_cache_free(c);
    pl_model_set_lora(t.m, NULL);
    pl_lora_free(lo);
    tiny_free(&t);
}

/* Found by fuzz_model: each of these was accepted, or left state behind, before the fix. */
static void test_fuzz_findings(void) {
    tiny t;
    check(tiny_make(&t, 16, 8), "a tiny model");
    /* a refused cache leaves no stale handle in *out */
    pl_kv_cache *c = (pl_kv_cache *)(uintptr_t)8;
    int32_t rc = pl_kv_cache_create(t.m, 0, &c);
    CHECKF(rc == PL_ERR_INVALID_ARGUMENT && c == NULL, "a 0-position cache is refused and *out is NULL (rc %d, out %p)", rc, (void *)c);
    c = (pl_kv_cache *)(uintptr_t)8;
    rc = pl_kv_cache_create(t.m, INT64_MAX, &c);
    CHECKF(rc == PL_ERR_INVALID_ARGUMENT && c == NULL, "an INT64_MAX-position cache is refused and *out is NULL (rc %d)", rc);
    /* a slot's scale must be finite, as pl_lora_set_flags requires */
    pl_lora *lo = NULL;
    int32_t slot = -1;
    pl_lora_create(t.m, &lo);
    const float bad_scales[] = {INFINITY, -INFINITY, NAN};
    for (int i = 0; i < 3; i++) {
        rc = pl_lora_add_slot(lo, 0, PL_TARGET_ATTN_Q, 2, bad_scales[i], &slot);
        CHECKF(rc == PL_ERR_INVALID_ARGUMENT && error_mentions("scale", NULL), "add_slot with scale %g is refused (rc %d)", (double)bad_scales[i], rc);
    }
    check(pl_lora_add_slot(lo, 0, PL_TARGET_ATTN_Q, 2, FLT_MAX, &slot) == PL_OK, "add_slot with scale FLT_MAX (finite) is accepted");
    /* pl_lora_set_weights checks both factors before copying either: a bad B leaves A as it was */
    float a[16], b[16], a_back[16], b_back[16], a_new[16];
    for (int i = 0; i < 16; i++) { a[i] = 0.25f * (float)i; b[i] = -0.5f * (float)i; a_new[i] = 9.0f; }
    check(pl_lora_set_weights(lo, slot, a, 16, b, 16) == PL_OK, "set_weights of a rank-2 8 -> 8 slot");
    rc = pl_lora_set_weights(lo, slot, a_new, 16, b, 15);
    CHECKF(rc == PL_ERR_INVALID_ARGUMENT, "set_weights with a good A and a short B is refused (rc %d)", rc);
    b[3] = NAN;
    rc = pl_lora_set_weights(lo, slot, a_new, 16, b, 16);
    CHECKF(rc == PL_ERR_NUMERIC, "set_weights with a good A and a NaN in B is refused (rc %d)", rc);
    b[3] = -1.5f;
    check(pl_lora_get_weights(lo, slot, a_back, 16, b_back, 16) == PL_OK && memcmp(a_back, a, sizeof a) == 0 &&
          memcmp(b_back, b, sizeof b) == 0, "the refused set_weights calls left A and B unchanged");
    /* AdamW hyperparameters must be finite: an infinite lr or weight decay made NaN weights, an infinite eps no update */
    pl_lora_set_flags(lo, slot, 1.0f, 1, 1, 1);
    pl_model_set_lora(t.m, lo);
    pl_trainer_params tp = {1, 4, PL_TRAIN_LORA, 0};
    pl_trainer *tr = NULL;
    int32_t tokens[4] = {1, 2, 3, 4}, targets[4] = {2, 3, 4, 5};
    double loss = 0;
    int64_t n = 0;
    check(pl_trainer_create(t.m, &tp, &tr) == PL_OK && pl_trainer_accumulate(tr, tokens, targets, 1.0f, &loss, &n) == PL_OK,
          "a trainer and one micro-batch");
    for (int field = 0; field < 3; field++)
        for (int sign = 0; sign < 2; sign++) {
            pl_adamw_params ap = {1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 1.0f};
            float *v = field == 0 ? &ap.lr : field == 1 ? &ap.eps : &ap.weight_decay;
            *v = sign ? NAN : INFINITY;
            rc = pl_trainer_adamw_step(tr, &ap);
            CHECKF(rc == PL_ERR_INVALID_ARGUMENT, "adamw_step with %s = %g is refused (rc %d)", field == 0 ? "lr" : field == 1 ? "eps" : "weight_decay",
                   (double)*v, rc);
        }
    check(pl_lora_get_weights(lo, slot, a_back, 16, NULL, 0) == PL_OK && memcmp(a_back, a, sizeof a) == 0, "the refused steps left A unchanged");
    pl_trainer_free(tr);
    pl_model_set_lora(t.m, NULL);
    pl_lora_free(lo);
    /* F32 weights are read as floats: data 1..3 bytes off a 4-byte boundary is refused (UBSan: misaligned loads in the GEMM
       packing); quantized blocks are packed and may start anywhere */
    uint8_t *raw = malloc(8 * 8 * 4 + 8);
    memset(raw, 0, 8 * 8 * 4 + 8);
    for (int off = 1; off < 4; off++) {
        rc = pl_model_set_weight(t.m, PL_W_ATTN_Q, 0, PL_TYPE_F32, 8, 8, raw + off, 8 * 8 * 4);
        CHECKF(rc == PL_ERR_INVALID_ARGUMENT && error_mentions("aligned", NULL), "an F32 weight at +%d is refused (rc %d)", off, rc);
        rc = pl_model_set_delta(t.m, PL_W_ATTN_Q, 0, (const float *)(const void *)(raw + off), 64);
        CHECKF(rc == PL_ERR_INVALID_ARGUMENT && error_mentions("aligned", NULL), "a delta at +%d is refused (rc %d)", off, rc);
        float x[8 * 8] = {0}, y[8 * 8];
        rc = pl_matmul(PL_TYPE_F32, raw + off, 8 * 8 * 4, 8, 8, x, 8, y);
        CHECKF(rc == PL_ERR_INVALID_ARGUMENT && error_mentions("aligned", NULL), "pl_matmul of an F32 weight at +%d is refused (rc %d)", off, rc);
    }
    tiny_free(&t);
    check(tiny_make(&t, 32, 32), "a tiny model 32 wide");
    float w32[32 * 32];
    for (int i = 0; i < 32 * 32; i++) w32[i] = 0.01f * (float)(i % 7) - 0.03f;
    uint8_t *q = malloc(32 * 34 + 1);
    check(pl_quantize(PL_TYPE_Q8_0, w32, 32 * 32, q + 1, 32 * 34) == PL_OK, "Q8_0 blocks written at an odd address");
    rc = pl_model_set_weight(t.m, PL_W_ATTN_Q, 0, PL_TYPE_Q8_0, 32, 32, q + 1, 32 * 34);
    float logits[2 * 32];
    int32_t tok2[2] = {3, 4};
    CHECKF(rc == PL_OK && pl_model_forward(t.m, tok2, 1, 2, logits, 64) == PL_OK, "a Q8_0 weight at an odd address is accepted and runs (rc %d)", rc);
    tiny_free(&t);
    free(q);
    free(raw);
    /* Rows of denormals made 1/d infinite and x * (1/d) a NaN or Inf converted to int, and rows near FLT_MAX made NaN scales
       that rounded to negative ints shifted left: undefined behaviour that ci/sanitize.sh (UBSan) stops on. Every
       quantizable type encodes them; tiny rows decode to zeros. */
    static const int32_t types[] = {PL_TYPE_Q4_0, PL_TYPE_Q4_1, PL_TYPE_Q5_0, PL_TYPE_Q5_1, PL_TYPE_Q8_0, PL_TYPE_Q2_K,
                                    PL_TYPE_Q3_K, PL_TYPE_Q4_K, PL_TYPE_Q5_K, PL_TYPE_Q6_K};
    float row[256], back[256];
    uint8_t enc[512];
    for (int ti = 0; ti < (int)(sizeof types / sizeof types[0]); ti++)
        for (int kind = 0; kind < 3; kind++) {
            for (int i = 0; i < 256; i++) {
                const float u = (float)((i * 37) % 101) / 50.0f - 1.0f;
                row[i] = kind == 0 ? u * 1e-42f : kind == 1 ? u * FLT_MAX : (i % 2 ? FLT_MAX : -FLT_MAX);
            }
            int64_t nb = 0;
            pl_row_bytes(types[ti], 256, &nb);
            rc = pl_quantize(types[ti], row, 256, enc, nb);
            int ok = rc == PL_OK && pl_dequantize(types[ti], enc, nb, back, 256) == PL_OK;
            if (kind == 0)
                for (int i = 0; i < 256; i++) ok &= back[i] == 0.0f;
            CHECKF(ok, "type %d encodes a row of %s (rc %d)", types[ti], kind == 0 ? "denormals (decoding to 0)" : kind == 1 ? "values up to FLT_MAX" : "+-FLT_MAX", rc);
        }
}

#define INFO_THREADS 8
static const char *info_ptr[INFO_THREADS];
static char info_copy[INFO_THREADS][512];

static void *info_thread(void *arg) {
    const int i = (int)(intptr_t)arg;
    for (int k = 0; k < 2000; k++) {
        const char *s = pl_build_info();
        if (k == 0) { info_ptr[i] = s; snprintf(info_copy[i], sizeof info_copy[i], "%s", s); }
        else if (s != info_ptr[i] || strcmp(s, info_copy[i]) != 0) { info_ptr[i] = NULL; break; }
        pl_set_num_threads(1 + (k % 4)); /* the thread count does not rewrite the description */
    }
    return NULL;
}

static void test_build_info_threads(void) {
    int32_t n = 0;
    pl_cuda_device_count(&n); /* fixes the CUDA state the description reports */
    const char *mine = pl_build_info();
    char before[512];
    snprintf(before, sizeof before, "%s", mine);
    pthread_t th[INFO_THREADS];
    for (int i = 0; i < INFO_THREADS; i++) pthread_create(&th[i], NULL, info_thread, (void *)(intptr_t)i);
    for (int i = 0; i < INFO_THREADS; i++) pthread_join(th[i], NULL);
    int same = 1;
    for (int i = 0; i < INFO_THREADS; i++) same &= info_ptr[i] == mine;
    check(same, "every thread gets the one shared, never rewritten description");
    check(strcmp(mine, before) == 0, "the description is unchanged after other threads' calls");
    check(strstr(mine, "panlora api") != NULL, "the description names the API");
    pl_set_num_threads(2);
}

int main(void) {
    test_hyperparameters();
    test_size_products();
    test_adam_lengths();
    test_slot_shapes_under_trainer();
    test_last_error_cleared();
    test_fuzz_findings();
    test_build_info_threads();
    printf("bounds: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
