/* Per-model thread counts (pl_model_set_threads) and the FULL-mode AdamW state (pl_trainer_get/set_weight_adam).
   Built from the sources (it reads the pool's internal loop counters). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "panlora.h"
#include "pool.h"

static int checks = 0, failures = 0;
#define CHECK(cond, ...)                                             \
    do {                                                             \
        checks++;                                                    \
        if (!(cond)) {                                               \
            failures++;                                              \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);     \
            fprintf(stderr, __VA_ARGS__);                            \
            fprintf(stderr, " [%s]\n", pl_last_error());             \
        }                                                            \
    } while (0)

enum { V = 512, D = 256, H = 4, HKV = 2, HD = 64, FF = 1024, L = 2, T = 128 };

typedef struct {
    pl_model *m;
    float *w[32];
    int32_t which[32];
    int64_t layer[32], n[32];
    int nw;
} model;

static void set(model *md, int32_t which, int64_t layer, int64_t ne0, int64_t ne1, int norm, unsigned seed) {
    const int64_t n = ne0 * ne1;
    float *b = malloc((size_t)n * sizeof(float));
    unsigned s = seed * 2654435761u + 1;
    for (int64_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        b[i] = norm ? 1.0f + 0.01f * (float)((s >> 9) % 7) : ((float)((s >> 9) & 0xffff) / 65536.0f - 0.5f) * 0.1f;
    }
    md->w[md->nw] = b; md->which[md->nw] = which; md->layer[md->nw] = layer; md->n[md->nw] = n; md->nw++;
    if (pl_model_set_weight(md->m, which, layer, PL_TYPE_F32, ne0, ne1, b, n * 4) != PL_OK)
        fprintf(stderr, "set weight %d: %s\n", which, pl_last_error());
}

static int make(model *md) {
    memset(md, 0, sizeof *md);
    pl_model_params p;
    memset(&p, 0, sizeof p);
    p.n_vocab = V; p.n_embd = D; p.n_layer = L; p.n_head = H; p.n_head_kv = HKV; p.head_dim = HD; p.n_ff = FF;
    p.n_ctx_train = T; p.n_rot = HD; p.rope_freq_base = 10000.0f; p.rope_freq_scale = 1.0f; p.norm_eps = 1e-5f;
    p.rope_type = PL_ROPE_NORMAL;
    if (pl_model_create(&p, &md->m) != PL_OK) return 0;
    unsigned seed = 1;
    set(md, PL_W_TOKEN_EMBD, -1, D, V, 0, seed++);
    set(md, PL_W_OUTPUT_NORM, -1, D, 1, 1, seed++);
    for (int64_t l = 0; l < L; l++) {
        set(md, PL_W_ATTN_NORM, l, D, 1, 1, seed++);
        set(md, PL_W_ATTN_Q, l, D, H * HD, 0, seed++);
        set(md, PL_W_ATTN_K, l, D, HKV * HD, 0, seed++);
        set(md, PL_W_ATTN_V, l, D, HKV * HD, 0, seed++);
        set(md, PL_W_ATTN_OUTPUT, l, H * HD, D, 0, seed++);
        set(md, PL_W_FFN_NORM, l, D, 1, 1, seed++);
        set(md, PL_W_FFN_GATE, l, D, FF, 0, seed++);
        set(md, PL_W_FFN_UP, l, D, FF, 0, seed++);
        set(md, PL_W_FFN_DOWN, l, FF, D, 0, seed++);
    }
    return pl_model_validate(md->m) == PL_OK;
}

static void drop(model *md) {
    pl_model_free(md->m);
    for (int i = 0; i < md->nw; i++) free(md->w[i]);
}

static int32_t tokens[T], targets[T];

/* Forward logits with the model's count `mt` and the global count `gt`; *par = parallel loops the call ran. */
static float *forward(model *md, int32_t mt, int32_t gt, int64_t *par) {
    CHECK(pl_set_num_threads(gt) == PL_OK, "global %d", gt);
    CHECK(pl_model_set_threads(md->m, mt) == PL_OK, "model threads %d", mt);
    float *logits = malloc((size_t)T * V * sizeof(float));
    int64_t p0, s0, b0, p1, s1, b1;
    pl_pool_counts(&p0, &s0, &b0);
    CHECK(pl_model_forward(md->m, tokens, 1, T, logits, (int64_t)T * V) == PL_OK, "forward (model %d, global %d)", mt, gt);
    pl_pool_counts(&p1, &s1, &b1);
    *par = p1 - p0;
    CHECK(pl_get_num_threads() == gt, "the global count is %d after a call of a model with %d threads, expected %d",
          pl_get_num_threads(), mt, gt);
    return logits;
}

static void test_model_threads(void) {
    model md;
    CHECK(make(&md), "model");
    for (int i = 0; i < T; i++) { tokens[i] = (i * 37 + 5) % V; targets[i] = (i * 37 + 42) % V; }
    pl_pool_set_adaptive(0); /* every loop that can use workers does */
    int32_t n = -7;
    CHECK(pl_model_get_threads(md.m, &n) == PL_OK && n == 0, "a new model follows the global count (got %d)", n);
    CHECK(pl_model_set_threads(md.m, -1) == PL_ERR_INVALID_ARGUMENT, "-1 refused");
    CHECK(pl_model_set_threads(md.m, 1025) == PL_ERR_INVALID_ARGUMENT && strstr(pl_last_error(), "0..1024"), "1025 refused");
    CHECK(pl_model_set_threads(NULL, 1) == PL_ERR_INVALID_ARGUMENT, "NULL model refused");
    CHECK(pl_model_set_threads(md.m, 3) == PL_OK && pl_model_get_threads(md.m, &n) == PL_OK && n == 3, "3 set and read back (%d)", n);

    int64_t par_one, par_global, par_two;
    float *a = forward(&md, 1, 2, &par_one);    /* the model's 1 thread beats the global 2 */
    float *b = forward(&md, 0, 2, &par_global); /* the global 2 */
    float *c = forward(&md, 2, 1, &par_two);    /* the model's 2 beat the global 1 */
    CHECK(par_one == 0, "a model with 1 thread ran %lld loops in parallel (global count 2)", (long long)par_one);
    CHECK(par_global > 0, "a model following the global count 2 ran no loop in parallel");
    CHECK(par_two > 0, "a model with 2 threads ran no loop in parallel (global count 1)");
    CHECK(memcmp(a, b, (size_t)T * V * sizeof(float)) == 0 && memcmp(a, c, (size_t)T * V * sizeof(float)) == 0,
          "logits equal bit for bit whatever the thread count");
    free(a); free(b); free(c);

    /* two models, two counts, one thread of the program: each call uses its own model's count */
    model other;
    CHECK(make(&other), "second model");
    CHECK(pl_set_num_threads(2) == PL_OK && pl_model_set_threads(md.m, 1) == PL_OK && pl_model_set_threads(other.m, 0) == PL_OK, "counts");
    float *x = malloc((size_t)T * V * sizeof(float));
    int64_t p0, s0, b0, p1, s1, b1;
    pl_pool_counts(&p0, &s0, &b0);
    CHECK(pl_model_nll(md.m, tokens, targets, 1, T, x) == PL_OK, "nll of the 1-thread model");
    pl_pool_counts(&p1, &s1, &b1);
    CHECK(p1 == p0, "the 1-thread model's NLL ran %lld loops in parallel", (long long)(p1 - p0));
    CHECK(pl_model_nll(other.m, tokens, targets, 1, T, x) == PL_OK, "nll of the other model");
    pl_pool_counts(&p0, &s0, &b0);
    CHECK(p0 > p1, "the model following the global count 2 ran no loop in parallel");
    /* training calls too */
    pl_trainer_params tp = {.n_seq = 1, .n_tok = T, .mode = PL_TRAIN_FULL, .recompute = 0};
    pl_trainer *t = NULL;
    CHECK(pl_trainer_create(md.m, &tp, &t) == PL_OK, "FULL trainer");
    double loss = 0;
    int64_t cnt = 0;
    pl_pool_counts(&p0, &s0, &b0);
    CHECK(pl_trainer_accumulate(t, tokens, targets, 1.0f, &loss, &cnt) == PL_OK, "accumulate");
    pl_adamw_params ap = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.0f, .grad_scale = 1.0f};
    CHECK(pl_trainer_adamw_step(t, &ap) == PL_OK, "adamw");
    pl_pool_counts(&p1, &s1, &b1);
    CHECK(p1 == p0, "the 1-thread model's training step ran %lld loops in parallel", (long long)(p1 - p0));
    CHECK(pl_set_num_threads(1) == PL_OK && pl_model_set_threads(md.m, 2) == PL_OK, "counts");
    CHECK(pl_trainer_accumulate(t, tokens, targets, 1.0f, &loss, &cnt) == PL_OK, "accumulate");
    pl_pool_counts(&p0, &s0, &b0);
    CHECK(p0 > p1, "the 2-thread model's training step ran no loop in parallel (global count 1)");
    pl_trainer_free(t);
    free(x);
    drop(&other);
    drop(&md);
    pl_pool_set_adaptive(1);
}

/* FULL mode: two steps in one trainer equal one step, a fresh trainer with the first step's weights and AdamW state
   restored, and the second step. */
static void test_full_adam_state(void) {
    model md;
    CHECK(make(&md), "model");
    pl_trainer_params tp = {.n_seq = 1, .n_tok = T, .mode = PL_TRAIN_FULL, .recompute = 0};
    pl_adamw_params ap = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.99f, .eps = 1e-8f, .weight_decay = 0.01f, .grad_scale = 1.0f};
    double loss;
    int64_t cnt;
    pl_trainer *t = NULL;
    CHECK(pl_trainer_create(md.m, &tp, &t) == PL_OK, "trainer");
    int64_t step = -1;
    CHECK(pl_trainer_get_weight_adam(t, PL_W_ATTN_Q, 0, NULL, NULL, 0, &step) == PL_OK && step == 0, "step 0 before training");
    CHECK(pl_trainer_zero_grad(t) == PL_OK && pl_trainer_accumulate(t, tokens, targets, 1.0f / T, &loss, &cnt) == PL_OK &&
          pl_trainer_adamw_step(t, &ap) == PL_OK, "step 1");
    /* snapshot: weights, moments, steps */
    float *w1[32], *m1[32], *v1[32];
    int64_t st1[32];
    for (int i = 0; i < md.nw; i++) {
        w1[i] = malloc((size_t)md.n[i] * 4); m1[i] = malloc((size_t)md.n[i] * 4); v1[i] = malloc((size_t)md.n[i] * 4);
        memcpy(w1[i], md.w[i], (size_t)md.n[i] * 4);
        CHECK(pl_trainer_get_weight_adam(t, md.which[i], md.layer[i], m1[i], v1[i], md.n[i], &st1[i]) == PL_OK && st1[i] == 1,
              "state of weight %d layer %lld", md.which[i], (long long)md.layer[i]);
    }
    double nz = 0;
    for (int64_t j = 0; j < md.n[2]; j++) nz += fabs(m1[2][j]);
    CHECK(nz > 0, "the first moment after a step is not all zero");
    CHECK(pl_trainer_zero_grad(t) == PL_OK && pl_trainer_accumulate(t, tokens, targets, 1.0f / T, &loss, &cnt) == PL_OK &&
          pl_trainer_adamw_step(t, &ap) == PL_OK, "step 2");
    float *w2[32];
    for (int i = 0; i < md.nw; i++) { w2[i] = malloc((size_t)md.n[i] * 4); memcpy(w2[i], md.w[i], (size_t)md.n[i] * 4); }
    pl_trainer_free(t);

    /* refusals */
    CHECK(pl_trainer_create(md.m, &tp, &t) == PL_OK, "second trainer");
    float *bad = malloc((size_t)md.n[2] * 4);
    memcpy(bad, m1[2], (size_t)md.n[2] * 4);
    bad[5] = NAN;
    CHECK(pl_trainer_set_weight_adam(t, md.which[2], md.layer[2], bad, NULL, md.n[2], 1) == PL_ERR_NUMERIC, "NaN moment refused");
    memcpy(bad, v1[2], (size_t)md.n[2] * 4);
    bad[7] = -1.0f;
    CHECK(pl_trainer_set_weight_adam(t, md.which[2], md.layer[2], NULL, bad, md.n[2], 1) == PL_ERR_NUMERIC, "negative v refused");
    CHECK(pl_trainer_set_weight_adam(t, md.which[2], md.layer[2], m1[2], v1[2], md.n[2] - 1, 1) == PL_ERR_INVALID_ARGUMENT, "length");
    CHECK(pl_trainer_set_weight_adam(t, md.which[2], md.layer[2], m1[2], v1[2], md.n[2], -1) == PL_ERR_INVALID_ARGUMENT, "step -1");
    CHECK(pl_trainer_set_weight_adam(t, PL_W_ATTN_Q, L, m1[2], v1[2], md.n[2], 1) == PL_ERR_INVALID_ARGUMENT, "layer out of range");
    CHECK(pl_trainer_get_weight_adam(t, PL_W_OUTPUT, -1, NULL, NULL, 0, &step) == PL_ERR_STATE, "an absent (tied) output refused");
    CHECK(pl_trainer_get_weight_adam(t, PL_W_ATTN_Q_BIAS, 0, NULL, NULL, 0, &step) == PL_ERR_STATE, "a bias does not train");
    free(bad);

    /* restore and take the second step again */
    for (int i = 0; i < md.nw; i++) {
        memcpy(md.w[i], w1[i], (size_t)md.n[i] * 4);
        CHECK(pl_trainer_set_weight_adam(t, md.which[i], md.layer[i], m1[i], v1[i], md.n[i], st1[i]) == PL_OK, "restore %d", i);
    }
    CHECK(pl_trainer_zero_grad(t) == PL_OK && pl_trainer_accumulate(t, tokens, targets, 1.0f / T, &loss, &cnt) == PL_OK &&
          pl_trainer_adamw_step(t, &ap) == PL_OK, "step 2 again");
    int same = 1;
    for (int i = 0; i < md.nw; i++) same &= memcmp(w2[i], md.w[i], (size_t)md.n[i] * 4) == 0;
    CHECK(same, "the resumed step gives the uninterrupted run's weights bit for bit");
    pl_trainer_free(t);

    /* LORA mode has no weight state */
    pl_lora *lo = NULL;
    int32_t slot;
    CHECK(pl_lora_create(md.m, &lo) == PL_OK && pl_lora_add_slot(lo, 0, PL_TARGET_ATTN_Q, 4, 1.0f, &slot) == PL_OK &&
          pl_model_set_lora(md.m, lo) == PL_OK, "adapter");
    pl_trainer_params tl = {.n_seq = 1, .n_tok = T, .mode = PL_TRAIN_LORA, .recompute = 0};
    CHECK(pl_trainer_create(md.m, &tl, &t) == PL_OK, "LoRA trainer");
    CHECK(pl_trainer_get_weight_adam(t, PL_W_ATTN_Q, 0, NULL, NULL, 0, &step) == PL_ERR_STATE, "LORA mode refused");
    pl_trainer_free(t);
    pl_model_set_lora(md.m, NULL);
    pl_lora_free(lo);
    for (int i = 0; i < md.nw; i++) { free(w1[i]); free(m1[i]); free(v1[i]); free(w2[i]); }
    drop(&md);
}

int main(void) {
    test_model_threads();
    test_full_adam_state();
    printf("test_threads: %d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
