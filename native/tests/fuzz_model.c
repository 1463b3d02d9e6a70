/* fuzz_model — deterministic mutation fuzzing of the public C API (panlora.h).
 *
 * Every iteration draws its choices from a seeded PRNG (or, built as a libFuzzer target, from the input bytes) and
 * runs one scenario: model hyperparameters (pl_model_create / pl_model_create_on), weight and delta upload with
 * mutated kind, layer, type, shape and byte count, adapter slots with mutated layer, target, rank and scale and their
 * weights, flags and AdamW state with mutated lengths, moments and steps, trainers with mutated batch shapes and modes,
 * forward / NLL / KV-cache decoding with mutated batch and buffer lengths, and the codecs and matmuls with mutated
 * types and sizes. Values mix the valid nominal one, its neighbours, boundaries (0, 1, -1, INT32_MAX, 2^31, 2^53,
 * 2^62+1, INT64_MAX, ...; NaN, ±Inf, FLT_MAX, denormals) and random bits.
 *
 * Every call must return a known status with "" in pl_last_error() after success and a message after failure; an
 * independent oracle written from the header's documented rules says whether the call must succeed or must be
 * refused, and the two must agree. A refused call must leave the object as it was (checked for adapter weights and
 * AdamW state); a successful one must leave a usable object: tiny models run a forward, adapters a training step, and
 * their outputs are checked finite when every value fed in was ordinary.
 *
 * Memory: the engine has no allocation limit of its own, so the harness plans the bytes of every call it expects to
 * succeed (weights, activations, KV caches, slots) and skips the call (counted as skipped) when that exceeds
 * PANLORA_FUZZ_MAX_BYTES (16 MiB); calls the oracle expects to be refused are always made (they must be refused before
 * allocating or reading anything). Buffers handed over are as long as their stated lengths, except in calls the
 * oracle expects to be refused for their shape, which get a short buffer: the engine must not touch it.
 *
 * Usage: fuzz_model [iterations [seed [only-iteration]]]; or PANLORA_FUZZ_ITERS, PANLORA_FUZZ_SEED,
 * PANLORA_FUZZ_MAX_BYTES; PANLORA_FUZZ_SCENARIO=params|upload|lora|batch|codecs|library runs one scenario only, and
 * PANLORA_FUZZ_VERBOSE=1 prints every call. Each iteration has its own PRNG stream, so a failure is reproduced by running its iteration
 * alone. Exits non-zero when any check failed.
 */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "panlora.h"

/* ---- the source of choices ---- */

typedef struct fz {
    uint64_t state;      /* splitmix64 state (PRNG mode) */
    const uint8_t *data; /* libFuzzer input (bytes mode); zeros once used up */
    size_t size, pos;
} fz;

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static uint64_t fz_bytes(fz *f, int k) {
    uint64_t v = 0;
    for (int i = 0; i < k; i++) v = v << 8 | (f->pos < f->size ? f->data[f->pos++] : 0);
    return v;
}

static uint64_t fz_u64(fz *f) { return f->data ? fz_bytes(f, 8) : splitmix(&f->state); }

/* Uniform in 0..n-1 (n >= 1). */
static uint32_t fz_below(fz *f, uint32_t n) {
    const uint64_t v = f->data ? fz_bytes(f, n <= 256 ? 1 : 4) : splitmix(&f->state);
    return (uint32_t)(v % n);
}

static int fz_chance(fz *f, int percent) { return (int)fz_below(f, 100) < percent; }

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const int64_t BOUNDARY_I64[] = {
    0, 1, -1, 2, -2, 3, 7, 8, 16, 31, 32, 255, 256, 4096, 4097, 65535, 65536, 65537,
    INT64_C(1) << 20, (INT64_C(1) << 20) + 1, INT64_C(1) << 22, (INT64_C(1) << 22) + 1,
    INT64_C(1) << 24, (INT64_C(1) << 24) + 1, INT32_MAX, INT64_C(1) << 31, -(INT64_C(1) << 31), INT64_C(1) << 32,
    (INT64_C(1) << 32) + 1, INT64_C(1) << 40, INT64_C(1) << 53, (INT64_C(1) << 53) + 1, INT64_C(1) << 62,
    (INT64_C(1) << 62) + 1, INT64_MAX, INT64_MAX - 1, INT64_MIN, INT64_MIN + 1};

/* nominal, or (mutate_pct % of the time) a neighbour, a boundary, a random 64-bit value, a small random value or a
   multiple of nominal. */
static int64_t fz_i64(fz *f, int64_t nominal, int mutate_pct) {
    if (!fz_chance(f, mutate_pct)) return nominal;
    switch (fz_below(f, 7)) {
    case 0: return (int64_t)((uint64_t)nominal + (uint64_t)((int64_t)fz_below(f, 5) - 2));
    case 1: case 2: return BOUNDARY_I64[fz_below(f, COUNT(BOUNDARY_I64))];
    case 3: return (int64_t)fz_u64(f);
    case 4: return (int64_t)fz_below(f, 1025);
    case 5: return (int64_t)((uint64_t)nominal * (2 + fz_below(f, 3)));
    default: return -(int64_t)fz_below(f, 5) - 1;
    }
}

static int32_t fz_i32(fz *f, int32_t nominal, int mutate_pct) {
    static const int32_t b[] = {0, 1, -1, 2, 3, 15, 16, 17, 29, 30, 31, 1024, INT32_MAX, INT32_MIN, INT32_MIN + 1};
    if (!fz_chance(f, mutate_pct)) return nominal;
    switch (fz_below(f, 4)) {
    case 0: return nominal + (int32_t)fz_below(f, 5) - 2;
    case 1: return b[fz_below(f, COUNT(b))];
    case 2: return (int32_t)(uint32_t)fz_u64(f);
    default: return (int32_t)fz_below(f, 40) - 4;
    }
}

static float bits_f32(uint32_t u) {
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* nominal, or a special value (0, -0, ±1, NaN, ±Inf, ±FLT_MAX, FLT_MIN, a denormal, 1 - 2^-24, ...), random bits, or
   nominal scaled. */
static float fz_f32(fz *f, float nominal, int mutate_pct) {
    if (!fz_chance(f, mutate_pct)) return nominal;
    const float special[] = {0.0f, -0.0f, 1.0f, -1.0f, NAN, -NAN, INFINITY, -INFINITY, FLT_MAX, -FLT_MAX, FLT_MIN,
                             bits_f32(1), 1.0f - 0x1p-24f, 0.5f, 2.0f, 1e30f, -1e-30f, 1e-8f};
    switch (fz_below(f, 3)) {
    case 0: return special[fz_below(f, COUNT(special))];
    case 1: return bits_f32((uint32_t)fz_u64(f));
    default: return nominal * (float)((int)fz_below(f, 9) - 4);
    }
}

static int finite_f(float x) { return isfinite(x); }
/* An ordinary value: finite and small enough that products of a few of them stay finite. */
static int ordinary_f(float x) { return isfinite(x) && fabsf(x) <= 16.0f; }

/* ---- checks and counts ---- */

static int64_t n_calls, n_ok, n_refused, n_skipped, n_failures, n_runs;
static uint64_t cur_iter;
static int64_t max_bytes = INT64_C(16) << 20;
static int verbose; /* PANLORA_FUZZ_VERBOSE=1: print every call (to follow one iteration) */

static void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void report(const char *fmt, ...) {
    n_failures++;
    if (n_failures > 40) return;
    va_list ap;
    va_start(ap, fmt);
    printf("FAIL (iteration %" PRIu64 "): ", cur_iter);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

enum { EXP_ANY = -1, EXP_OK = 0, EXP_FAIL = 100 };

/* Checks the status contract of a call described by fmt: a known status, "" after success and a message after failure,
   and the oracle's expectation (EXP_OK, EXP_FAIL, EXP_ANY, or one exact failure status). Returns 1 when rc is PL_OK. */
static int verdict(int32_t rc, int expect, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int verdict(int32_t rc, int expect, const char *fmt, ...) {
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    const char *e = pl_last_error();
    n_calls++;
    if (verbose) printf("  [%" PRIu64 "] %s -> %d %s\n", cur_iter, what, rc, e);
    if (rc == PL_OK) n_ok++;
    else n_refused++;
    if (rc < PL_OK || rc > PL_ERR_INTERNAL) report("%s: unknown status %d", what, rc);
    else if (rc == PL_OK && e[0] != 0) report("%s: succeeded but left the message '%s'", what, e);
    else if (rc != PL_OK && e[0] == 0) report("%s: failed with status %d and an empty message", what, rc);
    else if (rc == PL_ERR_INTERNAL) report("%s: internal error: %s", what, e);
    else if (strlen(e) >= 1023) report("%s: the message fills the whole buffer (truncated?)", what);
    if (rc == PL_OK && expect >= PL_ERR_INVALID_ARGUMENT) report("%s: accepted, expected a refusal", what);
    else if (rc != PL_OK && expect == EXP_OK && rc != PL_ERR_OUT_OF_MEMORY) report("%s: refused (%d: %s), expected success", what, rc, e);
    else if (rc != PL_OK && expect >= PL_ERR_INVALID_ARGUMENT && expect <= PL_ERR_INTERNAL && rc != expect)
        report("%s: refused with status %d (%s), expected status %d", what, rc, e, expect);
    return rc == PL_OK;
}

/* ---- the documented rules (panlora.h), written independently of the engine ---- */

/* ggml's block sizes: elements and bytes per block, dequantizable or not; 0 elements for an unknown id. */
static void type_doc(int32_t type, int64_t *be, int64_t *bb, int *deq) {
    *be = 0; *bb = 0; *deq = 0;
    switch (type) {
    case PL_TYPE_F32: *be = 1; *bb = 4; *deq = 1; break;
    case PL_TYPE_F16: case PL_TYPE_BF16: *be = 1; *bb = 2; *deq = 1; break;
    case PL_TYPE_Q4_0: *be = 32; *bb = 18; *deq = 1; break;
    case PL_TYPE_Q4_1: *be = 32; *bb = 20; *deq = 1; break;
    case PL_TYPE_Q5_0: *be = 32; *bb = 22; *deq = 1; break;
    case PL_TYPE_Q5_1: *be = 32; *bb = 24; *deq = 1; break;
    case PL_TYPE_Q8_0: *be = 32; *bb = 34; *deq = 1; break;
    case PL_TYPE_Q8_1: *be = 32; *bb = 36; break;
    case PL_TYPE_Q2_K: *be = 256; *bb = 84; *deq = 1; break;
    case PL_TYPE_Q3_K: *be = 256; *bb = 110; *deq = 1; break;
    case PL_TYPE_Q4_K: *be = 256; *bb = 144; *deq = 1; break;
    case PL_TYPE_Q5_K: *be = 256; *bb = 176; *deq = 1; break;
    case PL_TYPE_Q6_K: *be = 256; *bb = 210; *deq = 1; break;
    case PL_TYPE_Q8_K: *be = 256; *bb = 292; break;
    default: break;
    }
}

static const int32_t KNOWN_TYPES[] = {PL_TYPE_F32, PL_TYPE_F16, PL_TYPE_Q4_0, PL_TYPE_Q4_1, PL_TYPE_Q5_0, PL_TYPE_Q5_1,
                                      PL_TYPE_Q8_0, PL_TYPE_Q8_1, PL_TYPE_Q2_K, PL_TYPE_Q3_K, PL_TYPE_Q4_K, PL_TYPE_Q5_K,
                                      PL_TYPE_Q6_K, PL_TYPE_Q8_K, PL_TYPE_BF16};

/* A type id: mostly a known one, sometimes an unknown one (4, 5, 16, 29, 31, -1, INT32_MAX, ...). */
static int32_t fz_type(fz *f) {
    if (fz_chance(f, 85)) return KNOWN_TYPES[fz_below(f, COUNT(KNOWN_TYPES))];
    return fz_i32(f, 4, 100);
}

/* Bytes of ne0 x ne1 elements of a type, or -1 when undefined (unknown type, partial block, negative, overflow). */
static int64_t tensor_bytes(int32_t type, int64_t ne0, int64_t ne1) {
    int64_t be, bb, r;
    int deq;
    type_doc(type, &be, &bb, &deq);
    if (be == 0 || ne0 < 0 || ne1 < 0 || ne0 % be != 0) return -1;
    if (__builtin_mul_overflow(ne0 / be, bb, &r) || __builtin_mul_overflow(r, ne1, &r)) return -1;
    return r;
}

static int params_valid(const pl_model_params *p) {
    if (p->n_vocab < 1 || p->n_vocab > PL_MAX_VOCAB || p->n_embd < 1 || p->n_embd > PL_MAX_EMBD) return 0;
    if (p->n_layer < 1 || p->n_layer > PL_MAX_LAYERS || p->n_head < 1 || p->n_head > PL_MAX_HEADS) return 0;
    if (p->n_head_kv < 1 || p->n_head_kv > PL_MAX_HEADS || p->n_head % p->n_head_kv != 0) return 0;
    if (p->head_dim < 1 || p->head_dim > PL_MAX_HEAD_DIM || p->n_head * p->head_dim > PL_MAX_ATTN_WIDTH) return 0;
    if (p->n_ff < 1 || p->n_ff > PL_MAX_FF || p->n_ctx_train < 1 || p->n_ctx_train > PL_MAX_CTX) return 0;
    if (p->n_rot < 2 || p->n_rot > p->head_dim || p->n_rot % 2 != 0) return 0;
    if (!finite_f(p->rope_freq_base) || !(p->rope_freq_base > 0.0f)) return 0;
    if (!finite_f(p->rope_freq_scale) || !(p->rope_freq_scale > 0.0f)) return 0;
    if (!finite_f(p->norm_eps) || !(p->norm_eps > 0.0f) || !(p->norm_eps < 1.0f)) return 0;
    return p->rope_type == PL_ROPE_NORMAL || p->rope_type == PL_ROPE_NEOX;
}

typedef struct dims {
    int64_t V, D, L, H, HKV, HD, Q, KV, F, ROT;
} dims;

static dims dims_of(const pl_model_params *p) {
    dims d = {p->n_vocab, p->n_embd, p->n_layer, p->n_head, p->n_head_kv, p->head_dim, p->n_head * p->head_dim,
              p->n_head_kv * p->head_dim, p->n_ff, p->n_rot};
    return d;
}

static int per_layer(int32_t which) { return which >= PL_W_ATTN_NORM && which <= PL_W_ATTN_V_BIAS; }
static int is_vector(int32_t which) {
    return which == PL_W_OUTPUT_NORM || which == PL_W_ATTN_NORM || which == PL_W_FFN_NORM || which >= PL_W_ATTN_Q_BIAS;
}

/* The shape of a weight kind as the header's table gives it (vectors have ne1 = 1); 0 for an unknown kind. */
static int weight_shape(const dims *d, int32_t which, int64_t *ne0, int64_t *ne1) {
    *ne1 = 1;
    switch (which) {
    case PL_W_TOKEN_EMBD: case PL_W_OUTPUT: *ne0 = d->D; *ne1 = d->V; return 1;
    case PL_W_OUTPUT_NORM: case PL_W_ATTN_NORM: case PL_W_FFN_NORM: *ne0 = d->D; return 1;
    case PL_W_ATTN_Q: *ne0 = d->D; *ne1 = d->Q; return 1;
    case PL_W_ATTN_K: case PL_W_ATTN_V: *ne0 = d->D; *ne1 = d->KV; return 1;
    case PL_W_ATTN_OUTPUT: *ne0 = d->Q; *ne1 = d->D; return 1;
    case PL_W_FFN_GATE: case PL_W_FFN_UP: *ne0 = d->D; *ne1 = d->F; return 1;
    case PL_W_FFN_DOWN: *ne0 = d->F; *ne1 = d->D; return 1;
    case PL_W_ATTN_Q_BIAS: *ne0 = d->Q; return 1;
    case PL_W_ATTN_K_BIAS: case PL_W_ATTN_V_BIAS: *ne0 = d->KV; return 1;
    case PL_W_ROPE_FREQS: *ne0 = d->ROT / 2; return 1;
    default: return 0;
    }
}

/* in and out features of a target's linear; 0 for an unknown target. */
static int target_shape(const dims *d, int32_t target, int64_t *in, int64_t *out) {
    const int64_t ins[7] = {d->D, d->D, d->D, d->Q, d->D, d->D, d->F}, outs[7] = {d->Q, d->KV, d->KV, d->D, d->F, d->F, d->D};
    if (target < 0 || target > 6) return 0;
    *in = ins[target];
    *out = outs[target];
    return 1;
}

/* ---- planned bytes (doubles: the inputs may be absurd) ---- */

static double weights_bytes(const dims *d) {
    return 4.0 * (2.0 * d->V * d->D + d->D +
                  (double)d->L * (2.0 * d->D + (double)d->D * d->Q + 2.0 * d->D * d->KV + (double)d->Q * d->D +
                                  3.0 * d->D * d->F + d->Q + 2.0 * d->KV));
}

/* Activations of a CPU forward of n rows with adapters up to rank r, plus the caller's logits. */
static double forward_bytes(const dims *d, double n, double r, double logits) {
    return 4.0 * (n * (4.0 * d->D + 2.0 * d->Q + 2.0 * d->F + 2.0 * d->KV + r) + logits);
}

static double trainer_bytes(const dims *d, double n_seq, double n_tok, int recompute, double max_rank, double sum_rank,
                            int full) {
    const double N = n_seq * n_tok, R = max_rank > 0 ? max_rank : 1, saved = recompute ? 1 : (double)d->L;
    const double per_saved = N * (4.0 * d->D + 2.0 * d->Q + 4.0 * d->F + 2.0 + R + 2.0 * d->KV) + n_seq * d->H * n_tok * n_tok;
    const double rest = (double)d->L * N * d->D + N * (4.0 * d->D + 1.0 + 2.0 * d->Q + 2.0 * d->KV + 3.0 * d->F + R + sum_rank) +
                        (N < 256 ? N : 256) * d->V;
    return 4.0 * (saved * per_saved + rest) + (full ? 3.0 * weights_bytes(d) : 0.0);
}

static int fits(double bytes) {
    if (bytes <= (double)max_bytes) return 1;
    n_skipped++;
    return 0;
}

/* ---- a world: a model, the buffers it borrows, and what was fed in ---- */

typedef struct world {
    pl_model_params p;
    dims d;
    pl_model *m;
    void **keep;
    int n_keep, cap_keep;
    int all_f32;   /* every bound weight is F32 (FULL mode possible) */
    int ordinary;  /* every accepted value was ordinary: outputs must be finite */
    uint64_t fill; /* PRNG of tensor contents (not drawn from the input bytes) */
} world;

static void *keep(world *w, void *p) {
    if (w->n_keep == w->cap_keep) {
        w->cap_keep = w->cap_keep ? 2 * w->cap_keep : 64;
        w->keep = realloc(w->keep, (size_t)w->cap_keep * sizeof *w->keep);
        if (!w->keep) { printf("fuzz_model: out of memory\n"); exit(2); }
    }
    return w->keep[w->n_keep++] = p;
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) { printf("fuzz_model: out of memory (%zu bytes)\n", n); exit(2); }
    return p;
}

/* Uniform in [lo, hi). */
static float uniform(world *w, float lo, float hi) {
    return lo + (hi - lo) * (float)((double)(splitmix(&w->fill) >> 11) * 0x1p-53);
}

/* ne0 x ne1 values in [lo, hi) encoded as type (which must take ne0); kept alive with the world. */
static void *make_tensor(world *w, int32_t type, int64_t ne0, int64_t ne1, float lo, float hi, int64_t *nbytes) {
    const int64_t n = ne0 * ne1;
    float *x = xmalloc((size_t)n * sizeof(float));
    for (int64_t i = 0; i < n; i++) x[i] = uniform(w, lo, hi);
    if (type == PL_TYPE_F32) {
        *nbytes = n * 4;
        return keep(w, x);
    }
    const int64_t bytes = tensor_bytes(type, ne0, ne1);
    void *q = xmalloc((size_t)bytes);
    verdict(pl_quantize(type, x, n, q, bytes), EXP_OK, "pl_quantize(type %d, %lld x %lld)", type, (long long)ne0, (long long)ne1);
    free(x);
    *nbytes = bytes;
    return keep(w, q);
}

/* A weight type for a linear with rows of ne0: F32 mostly, else a dequantizable type whose block divides ne0. */
static int32_t pick_linear_type(fz *f, int64_t ne0) {
    static const int32_t types[] = {PL_TYPE_F16, PL_TYPE_BF16, PL_TYPE_Q4_0, PL_TYPE_Q4_1, PL_TYPE_Q5_0, PL_TYPE_Q5_1,
                                    PL_TYPE_Q8_0, PL_TYPE_Q2_K, PL_TYPE_Q3_K, PL_TYPE_Q4_K, PL_TYPE_Q5_K, PL_TYPE_Q6_K};
    if (fz_chance(f, 60)) return PL_TYPE_F32;
    const int32_t t = types[fz_below(f, COUNT(types))];
    return tensor_bytes(t, ne0, 1) > 0 ? t : PL_TYPE_F32;
}

/* Small valid hyperparameters: a few layers of width 8..64 (sometimes 256, for the K-quant blocks). */
static pl_model_params small_params(fz *f) {
    pl_model_params p;
    memset(&p, 0, sizeof p);
    static const int64_t widths[] = {8, 16, 32, 64};
    p.n_embd = fz_chance(f, 8) ? 256 : widths[fz_below(f, COUNT(widths))];
    p.n_vocab = 4 + fz_below(f, 61);
    p.n_layer = 1 + fz_below(f, 2);
    p.n_head = INT64_C(1) << fz_below(f, 3);
    p.n_head_kv = p.n_head >> fz_below(f, 3);
    if (p.n_head_kv < 1) p.n_head_kv = 1;
    p.head_dim = fz_chance(f, 80) ? p.n_embd / p.n_head : 8; /* an attention width unlike n_embd now and then */
    p.n_ff = fz_chance(f, 80) ? p.n_embd * (1 + fz_below(f, 3)) : 24;
    p.n_ctx_train = 64;
    p.n_rot = fz_chance(f, 70) ? p.head_dim : (p.head_dim / 2 >= 2 ? p.head_dim / 2 / 2 * 2 : 2);
    p.rope_freq_base = fz_chance(f, 50) ? 10000.0f : 500000.0f;
    p.rope_freq_scale = fz_chance(f, 80) ? 1.0f : 0.25f;
    p.norm_eps = fz_chance(f, 50) ? 1e-5f : 1e-6f;
    p.rope_type = fz_chance(f, 70) ? PL_ROPE_NORMAL : PL_ROPE_NEOX;
    return p;
}

/* Binds every weight (F32 or, now and then, a quantized linear; optional biases, output and RoPE factors). */
static int world_bind(world *w, fz *f, int allow_quant) {
    const dims *d = &w->d;
    w->all_f32 = 1;
    for (int32_t which = 0; which <= PL_W_ROPE_FREQS; which++) {
        if ((which == PL_W_OUTPUT || which >= PL_W_ATTN_Q_BIAS) && fz_chance(f, 60)) continue; /* optional */
        int64_t ne0, ne1, nbytes;
        weight_shape(d, which, &ne0, &ne1);
        const int vec = is_vector(which);
        for (int64_t l = 0; l < (per_layer(which) ? d->L : 1); l++) {
            const int32_t type = vec || !allow_quant ? PL_TYPE_F32 : pick_linear_type(f, ne0);
            if (type != PL_TYPE_F32) w->all_f32 = 0;
            const float lo = which == PL_W_ROPE_FREQS ? 1.0f : vec && which <= PL_W_FFN_NORM ? 0.8f : -0.3f;
            const float hi = which == PL_W_ROPE_FREQS ? 4.0f : vec && which <= PL_W_FFN_NORM ? 1.2f : 0.3f;
            void *data = make_tensor(w, type, ne0, ne1, lo, hi, &nbytes);
            if (!verdict(pl_model_set_weight(w->m, which, per_layer(which) ? l : -1, type, ne0, ne1, data, nbytes), EXP_OK,
                         "binding weight %d layer %lld type %d", which, (long long)l, type))
                return 0;
        }
    }
    return verdict(pl_model_validate(w->m), EXP_OK, "pl_model_validate of a fully bound model");
}

/* Creates a world with params p (valid) and binds its weights. */
static int world_make(world *w, fz *f, const pl_model_params *p, int allow_quant) {
    memset(w, 0, sizeof *w);
    w->p = *p;
    w->d = dims_of(p);
    w->ordinary = 1;
    w->fill = fz_u64(f);
    if (!verdict(pl_model_create(p, &w->m), EXP_OK, "pl_model_create of small valid hyperparameters")) return 0;
    return world_bind(w, f, allow_quant);
}

static void world_free(world *w) {
    pl_model_free(w->m);
    for (int i = 0; i < w->n_keep; i++) free(w->keep[i]);
    free(w->keep);
    memset(w, 0, sizeof *w);
}

static int all_finite(const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

/* The model is usable: a small forward (and sometimes the NLL and a decode) succeeds, finite when inputs were ordinary. */
static void world_run(world *w, fz *f, const char *after) {
    const dims *d = &w->d;
    const int64_t B = 1 + fz_below(f, 2), T = 1 + fz_below(f, 4), n = B * T;
    int32_t tokens[8], targets[8];
    for (int64_t i = 0; i < n; i++) {
        tokens[i] = (int32_t)fz_below(f, (uint32_t)d->V);
        targets[i] = (int32_t)fz_below(f, (uint32_t)d->V + 1) - 1;
    }
    float *logits = xmalloc((size_t)(n * d->V) * sizeof(float));
    n_runs++;
    if (verdict(pl_model_forward(w->m, tokens, B, T, logits, n * d->V), EXP_OK, "forward %lld x %lld after %s", (long long)B,
                (long long)T, after) &&
        w->ordinary && !all_finite(logits, n * d->V))
        report("forward after %s: logits not finite", after);
    if (fz_chance(f, 30)) {
        float nll[8];
        if (verdict(pl_model_nll(w->m, tokens, targets, B, T, nll), EXP_OK, "nll after %s", after) && w->ordinary && !all_finite(nll, n))
            report("nll after %s: not finite", after);
    }
    if (fz_chance(f, 20)) {
        pl_kv_cache *c = NULL;
        if (verdict(pl_kv_cache_create(w->m, 8, &c), EXP_OK, "an 8-position cache after %s", after)) {
            if (verdict(pl_model_decode(w->m, c, tokens, n, logits, d->V), EXP_OK, "decode of %lld tokens after %s", (long long)n, after) &&
                w->ordinary && !all_finite(logits, d->V))
                report("decode after %s: logits not finite", after);
            pl_kv_cache_free(c);
        }
    }
    free(logits);
}

/* ---- scenario: hyperparameters ---- */

static pl_model_params llama7b_params(void) {
    pl_model_params p = {32000, 4096, 32, 32, 32, 128, 11008, 4096, 128, 10000.0f, 1.0f, 1e-5f, PL_ROPE_NORMAL};
    return p;
}

static void scenario_params(fz *f) {
    pl_model_params p = fz_chance(f, 70) ? small_params(f) : llama7b_params();
    const int pct = fz_chance(f, 30) ? 40 : 12; /* now and then many fields at once */
    p.n_vocab = fz_i64(f, p.n_vocab, pct);
    p.n_embd = fz_i64(f, p.n_embd, pct);
    p.n_layer = fz_i64(f, p.n_layer, pct);
    p.n_head = fz_i64(f, p.n_head, pct);
    p.n_head_kv = fz_i64(f, p.n_head_kv, pct);
    p.head_dim = fz_i64(f, p.head_dim, pct);
    p.n_ff = fz_i64(f, p.n_ff, pct);
    p.n_ctx_train = fz_i64(f, p.n_ctx_train, pct);
    p.n_rot = fz_i64(f, p.n_rot, pct);
    const float base = p.rope_freq_base, scale = p.rope_freq_scale, eps = p.norm_eps;
    p.rope_freq_base = fz_f32(f, base, pct);
    p.rope_freq_scale = fz_f32(f, scale, pct);
    p.norm_eps = fz_f32(f, eps, pct);
    p.rope_type = fz_i32(f, p.rope_type, pct);
    const int valid = params_valid(&p);
    int32_t device = PL_DEVICE_CPU;
    if (fz_chance(f, 10)) device = fz_i32(f, 0, 100);
    /* a CUDA device index may exist where this runs; anything below -1 or from 1024 on is no device */
    const int expect = device < PL_DEVICE_CPU || device >= 1024 ? EXP_FAIL : device != PL_DEVICE_CPU ? EXP_ANY : valid ? EXP_OK : EXP_FAIL;
    pl_model *m = (pl_model *)(uintptr_t)8;
    const int32_t rc = pl_model_create_on(&p, device, &m);
    const int ok = verdict(rc, expect, "pl_model_create_on(device %d, vocab %lld embd %lld layer %lld head %lld/%lld head_dim %lld ff %lld "
                           "ctx %lld rot %lld base %g scale %g eps %g rope %d)", device, (long long)p.n_vocab, (long long)p.n_embd,
                           (long long)p.n_layer, (long long)p.n_head, (long long)p.n_head_kv, (long long)p.head_dim,
                           (long long)p.n_ff, (long long)p.n_ctx_train, (long long)p.n_rot, (double)p.rope_freq_base,
                           (double)p.rope_freq_scale, (double)p.norm_eps, p.rope_type);
    if (!ok) {
        if (m != NULL) report("pl_model_create_on failed but left *out = %p", (void *)m);
        return;
    }
    if (m == NULL) { report("pl_model_create_on succeeded with *out = NULL"); return; }
    if (device != PL_DEVICE_CPU) { pl_model_free(m); return; }
    const dims d = dims_of(&p);
    /* an unbound model is not ready: forward, caches and trainers say so */
    int32_t tok[2] = {0, 0};
    float lg[4];
    verdict(pl_model_forward(m, tok, 1, 1, lg, 4), EXP_FAIL, "forward of a model without weights");
    pl_kv_cache *c = NULL;
    verdict(pl_kv_cache_create(m, fz_i64(f, 4, 30), &c), EXP_FAIL, "a cache of a model without weights");
    pl_kv_cache_free(c);
    /* an adapter on the unbound model: slots take their shapes from the hyperparameters */
    pl_lora *lo = NULL;
    if (verdict(pl_lora_create(m, &lo), EXP_OK, "pl_lora_create on valid hyperparameters")) {
        const int32_t target = fz_i32(f, (int32_t)fz_below(f, 7), 10);
        const int64_t layer = fz_i64(f, (int64_t)fz_below(f, (uint32_t)(d.L < 64 ? d.L : 64)), 10);
        int64_t in = 0, out = 0;
        const int tgt_ok = target_shape(&d, target, &in, &out);
        const int64_t rank = fz_i64(f, 1 + fz_below(f, 8), 30);
        const int slot_valid = tgt_ok && layer >= 0 && layer < d.L && rank >= 1 && rank <= in && rank <= out && rank <= 65536;
        if (!slot_valid || fits(8.0 * 4.0 * (double)rank * (double)(in + out) / 2.0 * 2.0)) {
            int32_t s = -1;
            verdict(pl_lora_add_slot(lo, layer, target, rank, 1.0f, &s), slot_valid ? EXP_OK : EXP_FAIL,
                    "add_slot(layer %lld, target %d, rank %lld) on unbound %lld-layer model", (long long)layer, target,
                    (long long)rank, (long long)d.L);
        }
        pl_lora_free(lo);
    }
    /* tiny configurations are bound and run */
    if (fits(weights_bytes(&d)) && d.V <= 4096) {
        world w;
        memset(&w, 0, sizeof w);
        w.p = p; w.d = d; w.m = m; w.fill = fz_u64(f);
        w.ordinary = ordinary_f(p.rope_freq_base) && p.rope_freq_base >= 1.0f && ordinary_f(p.rope_freq_scale) &&
                     p.rope_freq_scale >= 0.01f && p.norm_eps >= 1e-12f;
        if (world_bind(&w, f, 1)) world_run(&w, f, "creating mutated valid hyperparameters");
        world_free(&w);
    } else {
        pl_model_free(m);
    }
}

/* ---- scenario: weight and delta upload ---- */

static void mutate_weight(world *w, fz *f) {
    const dims *d = &w->d;
    const int32_t which = fz_i32(f, (int32_t)fz_below(f, 16), 10);
    int64_t e0 = 0, e1 = 0;
    const int kind_ok = weight_shape(d, which, &e0, &e1);
    const int64_t layer = per_layer(which) ? fz_i64(f, (int64_t)fz_below(f, (uint32_t)d->L), 15) : fz_i64(f, -1, 15);
    const int layer_ok = !per_layer(which) || (layer >= 0 && layer < d->L);
    int32_t type = is_vector(which) || fz_chance(f, 50) ? PL_TYPE_F32 : pick_linear_type(f, e0);
    if (fz_chance(f, 15)) type = fz_type(f);
    const int64_t ne0 = fz_i64(f, e0, 12), ne1 = fz_i64(f, e1, 12);
    int64_t be, bb;
    int deq;
    type_doc(type, &be, &bb, &deq);
    const int64_t need = tensor_bytes(type, ne0, ne1);
    const int shape_ok = kind_ok && layer_ok && ne0 == e0 && ne1 == e1 && deq && (!is_vector(which) || type == PL_TYPE_F32) && need >= 0;
    int64_t nbytes = fz_i64(f, need, 15);
    const int null_data = fz_chance(f, 3);
    /* the data: a real tensor of the documented size when the shape is right, else a short buffer never to be read */
    void *data = NULL;
    int values_ok = 1, values_ordinary = 1, misaligned = 0;
    if (shape_ok) {
        int64_t got = 0;
        data = make_tensor(w, type, ne0, ne1, which == PL_W_ROPE_FREQS ? 0.5f : is_vector(which) ? 0.8f : -0.3f,
                           which == PL_W_ROPE_FREQS ? 2.0f : is_vector(which) ? 1.2f : 0.3f, &got);
        if (type == PL_TYPE_F32 && fz_chance(f, 10)) { /* one odd value */
            float *x = data;
            const int64_t i = (int64_t)fz_below(f, (uint32_t)(ne0 * ne1));
            x[i] = fz_f32(f, x[i], 100);
            values_ordinary = ordinary_f(x[i]) && (which != PL_W_ROPE_FREQS || x[i] >= 1e-3f);
            if (which == PL_W_ROPE_FREQS) values_ok = finite_f(x[i]) && x[i] > 0.0f;
        }
        if (fz_chance(f, 6)) { /* the same bytes at an address 1..3 bytes off (a GGUF with general.alignment 1 maps so) */
            misaligned = 1 + (int)fz_below(f, 3);
            uint8_t *moved = keep(w, xmalloc((size_t)got + 3));
            memcpy(moved + misaligned, data, (size_t)got);
            data = moved + misaligned;
        }
    } else {
        data = keep(w, xmalloc(64));
        memset(data, 0, 64);
    }
    /* F32 is read as floats and must be 4-byte aligned; the other types are read byte by byte */
    const int valid = shape_ok && nbytes >= need && !null_data && values_ok && !(misaligned && type == PL_TYPE_F32);
    const int32_t rc = pl_model_set_weight(w->m, which, layer, type, ne0, ne1, null_data ? NULL : data, nbytes);
    if (verdict(rc, valid ? EXP_OK : EXP_FAIL, "set_weight(kind %d, layer %lld, type %d, [%lld, %lld], %lld bytes%s, address +%d)", which,
                (long long)layer, type, (long long)ne0, (long long)ne1, (long long)nbytes, null_data ? ", NULL" : "", misaligned)) {
        if (type != PL_TYPE_F32) w->all_f32 = 0;
        if (!values_ordinary) w->ordinary = 0;
    }
}

static void mutate_delta(world *w, fz *f) {
    const dims *d = &w->d;
    static const int32_t linears[] = {PL_W_ATTN_Q, PL_W_ATTN_K, PL_W_ATTN_V, PL_W_ATTN_OUTPUT, PL_W_FFN_GATE, PL_W_FFN_UP, PL_W_FFN_DOWN};
    const int32_t which = fz_i32(f, linears[fz_below(f, 7)], 12);
    int is_linear = 0;
    for (int i = 0; i < 7; i++) is_linear |= which == linears[i];
    const int64_t layer = fz_i64(f, (int64_t)fz_below(f, (uint32_t)d->L), 12);
    int64_t e0 = 0, e1 = 0;
    if (is_linear) weight_shape(d, which, &e0, &e1);
    const int64_t len = fz_i64(f, e0 * e1, 12);
    const int clear = fz_chance(f, 15);
    const int valid = is_linear && layer >= 0 && layer < d->L && (clear || len == e0 * e1);
    float *delta = NULL;
    int misaligned = 0;
    if (!clear) {
        const int64_t n = is_linear && len == e0 * e1 ? len : 16;
        misaligned = fz_chance(f, 5) ? 1 + (int)fz_below(f, 3) : 0;
        uint8_t *raw = keep(w, xmalloc((size_t)n * sizeof(float) + 3));
        float tmp;
        for (int64_t i = 0; i < n; i++) { tmp = uniform(w, -0.05f, 0.05f); memcpy(raw + misaligned + 4 * i, &tmp, 4); }
        delta = (float *)(void *)(raw + misaligned); /* deliberately misaligned now and then: it must be refused */
    }
    verdict(pl_model_set_delta(w->m, which, layer, delta, len), valid && !misaligned ? EXP_OK : EXP_FAIL,
            "set_delta(kind %d, layer %lld, len %lld%s, address +%d)", which, (long long)layer, (long long)len, clear ? ", NULL" : "",
            misaligned);
}

static void scenario_upload(fz *f) {
    world w;
    pl_model_params p = small_params(f);
    if (!world_make(&w, f, &p, 1)) { world_free(&w); return; }
    const int k = 1 + (int)fz_below(f, 6);
    for (int i = 0; i < k; i++) {
        if (fz_chance(f, 75)) mutate_weight(&w, f);
        else mutate_delta(&w, f);
    }
    /* every required weight is still bound: the model validates and runs on what was accepted */
    if (verdict(pl_model_validate(w.m), EXP_OK, "validate after mutated uploads")) world_run(&w, f, "mutated uploads");
    world_free(&w);
}

/* ---- scenario: adapters, AdamW state and training ---- */

typedef struct slot_doc {
    int64_t layer, rank, in, out;
    int32_t target;
} slot_doc;

/* Slot index: mostly an existing one, sometimes -1, n, INT32_MAX, ... */
static int32_t fz_slot(fz *f, int32_t n) { return fz_i32(f, n > 0 ? (int32_t)fz_below(f, (uint32_t)n) : 0, 12); }

static float *snapshot_weights(const pl_lora *lo, int32_t s, const slot_doc *sd) {
    const int64_t na = sd->rank * sd->in, nb = sd->out * sd->rank;
    float *x = xmalloc((size_t)(na + nb) * sizeof(float));
    verdict(pl_lora_get_weights(lo, s, x, na, x + na, nb), EXP_OK, "get_weights of slot %d", s);
    return x;
}

/* AdamW state of a slot: m_a, v_a, m_b, v_b, then the step as two floats' worth of bytes. */
static float *snapshot_adam(const pl_lora *lo, int32_t s, const slot_doc *sd) {
    const int64_t na = sd->rank * sd->in, nb = sd->out * sd->rank;
    float *x = xmalloc((size_t)(2 * na + 2 * nb + 2) * sizeof(float));
    int64_t step = -1;
    verdict(pl_lora_get_adam(lo, s, x, x + na, na, x + 2 * na, x + 2 * na + nb, nb, &step), EXP_OK, "get_adam of slot %d", s);
    memcpy(x + 2 * na + 2 * nb, &step, sizeof step);
    return x;
}

static void mutate_slot_calls(world *w, fz *f, pl_lora *lo, const slot_doc *sd, int32_t n_slots) {
    const int32_t s = fz_slot(f, n_slots);
    const int s_ok = s >= 0 && s < n_slots;
    const slot_doc z = {0, 1, 1, 1, 0};
    const slot_doc *q = s_ok ? &sd[s] : &z;
    const int64_t na = q->rank * q->in, nb = q->out * q->rank;
    switch (fz_below(f, 7)) {
    case 0: { /* set_weights */
        const int pa = fz_chance(f, 80), pb = fz_chance(f, 80);
        const int64_t la = fz_i64(f, na, 15), lb = fz_i64(f, nb, 15);
        const int64_t ca = la == na ? na : 4, cb = lb == nb ? nb : 4; /* short buffers only where the length is wrong */
        float *a = xmalloc((size_t)ca * sizeof(float)), *b = xmalloc((size_t)cb * sizeof(float));
        int finite = 1, ordinary = 1;
        for (int64_t i = 0; i < ca; i++) a[i] = uniform(w, -0.2f, 0.2f);
        for (int64_t i = 0; i < cb; i++) b[i] = uniform(w, -0.2f, 0.2f);
        if (fz_chance(f, 10)) {
            float *x = fz_chance(f, 50) ? a : b;
            const int64_t i = (int64_t)fz_below(f, (uint32_t)(x == a ? ca : cb));
            x[i] = fz_f32(f, x[i], 100);
            finite = finite_f(x[i]) || (x == a ? !pa : !pb);
            ordinary = ordinary_f(x[i]) || (x == a ? !pa : !pb);
        }
        const int valid = s_ok && (!pa || la == na) && (!pb || lb == nb) && finite;
        float *before = s_ok ? snapshot_weights(lo, s, q) : NULL;
        const int32_t rc = pl_lora_set_weights(lo, s, pa ? a : NULL, la, pb ? b : NULL, lb);
        if (verdict(rc, valid ? EXP_OK : EXP_FAIL, "set_weights(slot %d of %d, A %s len %lld (needs %lld), B %s len %lld (needs %lld))", s,
                    n_slots, pa ? "given" : "NULL", (long long)la, (long long)na, pb ? "given" : "NULL", (long long)lb, (long long)nb)) {
            if (!ordinary) w->ordinary = 0;
        } else if (before) {
            float *after = snapshot_weights(lo, s, q);
            if (memcmp(before, after, (size_t)(na + nb) * sizeof(float)) != 0)
                report("set_weights(slot %d) was refused but changed the slot's weights", s);
            free(after);
        }
        free(before); free(a); free(b);
        break;
    }
    case 1: { /* get_weights / get_grads */
        const int pa = fz_chance(f, 80), pb = fz_chance(f, 80), grads = fz_chance(f, 50);
        const int64_t la = fz_i64(f, na, 15), lb = fz_i64(f, nb, 15);
        float *a = xmalloc((size_t)(la == na ? na : 4) * sizeof(float)), *b = xmalloc((size_t)(lb == nb ? nb : 4) * sizeof(float));
        const int valid = s_ok && (!pa || la == na) && (!pb || lb == nb);
        const int32_t rc = grads ? pl_lora_get_grads(lo, s, pa ? a : NULL, la, pb ? b : NULL, lb)
                                 : pl_lora_get_weights(lo, s, pa ? a : NULL, la, pb ? b : NULL, lb);
        verdict(rc, valid ? EXP_OK : EXP_FAIL, "%s(slot %d, A len %lld, B len %lld)", grads ? "get_grads" : "get_weights", s,
                (long long)la, (long long)lb);
        free(a); free(b);
        break;
    }
    case 2: { /* flags */
        const float scale = fz_f32(f, 0.5f, 20);
        const int32_t ta = fz_i32(f, 1, 10), tb = fz_i32(f, 1, 10), en = fz_i32(f, 1, 15);
        if (verdict(pl_lora_set_flags(lo, s, scale, ta, tb, en), s_ok && finite_f(scale) ? EXP_OK : EXP_FAIL,
                    "set_flags(slot %d, scale %g, %d, %d, %d)", s, (double)scale, ta, tb, en) && !ordinary_f(scale))
            w->ordinary = 0;
        break;
    }
    case 3: { /* layer mask */
        const int64_t layer = fz_i64(f, (int64_t)fz_below(f, (uint32_t)w->d.L), 15);
        const int32_t en = fz_chance(f, 70) ? 1 : fz_i32(f, 0, 50);
        verdict(pl_lora_set_layer_enabled(lo, layer, en), layer >= 0 && layer < w->d.L ? EXP_OK : EXP_FAIL,
                "set_layer_enabled(layer %lld, %d)", (long long)layer, en);
        break;
    }
    case 4: { /* get_adam */
        const int64_t la = fz_i64(f, na, 15), lb = fz_i64(f, nb, 15);
        const int pm = fz_chance(f, 70), pv = fz_chance(f, 70), pmb = fz_chance(f, 70), pvb = fz_chance(f, 70), pstep = fz_chance(f, 70);
        const int64_t ca = la == na ? na : 4, cb = lb == nb ? nb : 4;
        float *x = xmalloc((size_t)(2 * ca + 2 * cb) * sizeof(float));
        int64_t step = 0;
        const int valid = s_ok && (!(pm || pv) || la == na) && (!(pmb || pvb) || lb == nb);
        verdict(pl_lora_get_adam(lo, s, pm ? x : NULL, pv ? x + ca : NULL, la, pmb ? x + 2 * ca : NULL, pvb ? x + 2 * ca + cb : NULL, lb,
                                 pstep ? &step : NULL),
                valid ? EXP_OK : EXP_FAIL, "get_adam(slot %d, A len %lld (needs %lld), B len %lld (needs %lld))", s, (long long)la,
                (long long)na, (long long)lb, (long long)nb);
        free(x);
        break;
    }
    case 5: { /* set_adam */
        const int64_t la = fz_i64(f, na, 12), lb = fz_i64(f, nb, 12);
        const int pm = fz_chance(f, 75), pv = fz_chance(f, 75), pmb = fz_chance(f, 75), pvb = fz_chance(f, 75);
        const int64_t ca = la == na ? na : 4, cb = lb == nb ? nb : 4;
        float *x = xmalloc((size_t)(2 * ca + 2 * cb) * sizeof(float));
        float *m_a = x, *v_a = x + ca, *m_b = x + 2 * ca, *v_b = x + 2 * ca + cb;
        for (int64_t i = 0; i < ca; i++) { m_a[i] = uniform(w, -0.01f, 0.01f); v_a[i] = uniform(w, 0.0f, 1e-4f); }
        for (int64_t i = 0; i < cb; i++) { m_b[i] = uniform(w, -0.01f, 0.01f); v_b[i] = uniform(w, 0.0f, 1e-4f); }
        int moments_ok = 1, moments_ordinary = 1;
        if (fz_chance(f, 12)) { /* one odd moment */
            const int which = (int)fz_below(f, 4);
            float *arr = which == 0 ? m_a : which == 1 ? v_a : which == 2 ? m_b : v_b;
            const int given = which == 0 ? pm : which == 1 ? pv : which == 2 ? pmb : pvb;
            const int64_t i = (int64_t)fz_below(f, (uint32_t)(which < 2 ? ca : cb));
            arr[i] = fz_f32(f, arr[i], 100);
            if (given) {
                moments_ok = finite_f(arr[i]) && (which % 2 == 0 || arr[i] >= 0.0f);
                moments_ordinary = ordinary_f(arr[i]);
            }
        }
        static const int64_t steps[] = {0, 1, 7, 1000, INT64_C(1) << 53};
        const int64_t step = fz_i64(f, steps[fz_below(f, COUNT(steps))], 20);
        const int lengths_ok = (!(pm || pv) || la == na) && (!(pmb || pvb) || lb == nb);
        const int step_ok = step >= 0 && step <= (INT64_C(1) << 53);
        const int valid = s_ok && lengths_ok && moments_ok && step_ok;
        float *before = s_ok ? snapshot_adam(lo, s, q) : NULL;
        const int32_t rc = pl_lora_set_adam(lo, s, pm ? m_a : NULL, pv ? v_a : NULL, la, pmb ? m_b : NULL, pvb ? v_b : NULL, lb, step);
        /* one fault alone has a known status: a NaN or negative moment PL_ERR_NUMERIC, the rest invalid argument */
        int expect = valid ? EXP_OK : EXP_FAIL;
        if (s_ok && lengths_ok && step_ok && !moments_ok) expect = PL_ERR_NUMERIC;
        if (s_ok && lengths_ok && moments_ok && !step_ok) expect = PL_ERR_INVALID_ARGUMENT;
        if (verdict(rc, expect, "set_adam(slot %d, A %lld (needs %lld), B %lld (needs %lld), step %lld)", s, (long long)la, (long long)na,
                    (long long)lb, (long long)nb, (long long)step)) {
            if (!moments_ordinary) w->ordinary = 0;
        } else if (before) {
            float *after = snapshot_adam(lo, s, q);
            if (memcmp(before, after, (size_t)(2 * na + 2 * nb + 2) * sizeof(float)) != 0)
                report("set_adam(slot %d) was refused but changed the slot's AdamW state", s);
            free(after);
        }
        free(before); free(x);
        break;
    }
    default: { /* reset_adam */
        const int32_t r = fz_chance(f, 30) ? -1 : s;
        verdict(pl_lora_reset_adam(lo, r), r >= -1 && r < n_slots ? EXP_OK : EXP_FAIL, "reset_adam(slot %d of %d)", r, n_slots);
        if (r >= -1 && r < n_slots) {
            for (int32_t i = r < 0 ? 0 : r; i < (r < 0 ? n_slots : r + 1); i++) {
                int64_t step = -1;
                pl_lora_get_adam(lo, i, NULL, NULL, 0, NULL, NULL, 0, &step);
                if (step != 0) report("reset_adam(%d): slot %d has step %lld after the reset", r, i, (long long)step);
            }
        }
        break;
    }
    }
}

static int valid_adamw(const pl_adamw_params *a) {
    return finite_f(a->lr) && a->lr >= 0.0f && a->beta1 >= 0.0f && a->beta1 < 1.0f && a->beta2 >= 0.0f && a->beta2 < 1.0f &&
           finite_f(a->eps) && a->eps > 0.0f && finite_f(a->weight_decay) && a->weight_decay >= 0.0f && finite_f(a->grad_scale);
}

/* Trainer creation with a mutated batch and mode; a step on what was created. */
static void train_round(world *w, fz *f, pl_lora *lo, const slot_doc *sd, int32_t n_slots) {
    const dims *d = &w->d;
    pl_trainer_params tp;
    tp.n_seq = fz_i64(f, 1 + fz_below(f, 2), 10);
    tp.n_tok = fz_i64(f, 1 + fz_below(f, fz_chance(f, 15) ? 48 : 6), 10);
    const int want_full = w->all_f32 ? fz_chance(f, 25) : fz_chance(f, 5);
    tp.mode = fz_i32(f, want_full ? PL_TRAIN_FULL : PL_TRAIN_LORA, 6);
    tp.recompute = fz_chance(f, 30) ? 1 : fz_i32(f, 0, 5);
    int64_t N = 0;
    const int batch_ok = tp.n_seq > 0 && tp.n_tok > 0 && tp.n_tok <= PL_MAX_CTX && !__builtin_mul_overflow(tp.n_seq, tp.n_tok, &N) &&
                         N <= PL_MAX_CTX;
    const int mode_ok = tp.mode == PL_TRAIN_LORA || (tp.mode == PL_TRAIN_FULL && w->all_f32);
    const int lora_needed_ok = tp.mode != PL_TRAIN_LORA || lo != NULL;
    const int valid = batch_ok && mode_ok && lora_needed_ok;
    double max_rank = 0, sum_rank = 0;
    for (int32_t i = 0; i < n_slots; i++) { sum_rank += (double)sd[i].rank; if (sd[i].rank > max_rank) max_rank = (double)sd[i].rank; }
    if (valid && !fits(trainer_bytes(d, (double)tp.n_seq, (double)tp.n_tok, tp.recompute, max_rank, sum_rank, tp.mode == PL_TRAIN_FULL)))
        return;
    pl_trainer *t = (pl_trainer *)(uintptr_t)8;
    const int32_t rc = pl_trainer_create(w->m, &tp, &t);
    if (!verdict(rc, valid ? EXP_OK : EXP_FAIL, "trainer_create(%lld x %lld, mode %d, recompute %d, %d slots)", (long long)tp.n_seq,
                 (long long)tp.n_tok, tp.mode, tp.recompute, n_slots)) {
        if (t != NULL) report("trainer_create failed but left *out = %p", (void *)t);
        return;
    }
    const int full = tp.mode == PL_TRAIN_FULL;
    if (N > 64) { pl_trainer_free(t); return; } /* created is enough: the step costs too much here */
    int32_t *tokens = xmalloc((size_t)N * sizeof(int32_t)), *targets = xmalloc((size_t)N * sizeof(int32_t));
    int tokens_ok = 1;
    for (int64_t i = 0; i < N; i++) {
        tokens[i] = (int32_t)fz_below(f, (uint32_t)d->V);
        targets[i] = fz_chance(f, 10) ? -1 : (int32_t)fz_below(f, (uint32_t)d->V);
    }
    if (fz_chance(f, 8)) { /* one bad token or target */
        const int64_t i = (int64_t)fz_below(f, (uint32_t)N);
        if (fz_chance(f, 50)) { tokens[i] = fz_i32(f, (int32_t)d->V, 70); tokens_ok = tokens[i] >= 0 && tokens[i] < d->V; }
        else { targets[i] = fz_i32(f, (int32_t)d->V, 70); tokens_ok = targets[i] < d->V; }
    }
    const float gs = fz_f32(f, 1.0f, 8);
    verdict(pl_trainer_zero_grad(t), EXP_OK, "zero_grad");
    double loss = -1;
    int64_t counted = -1;
    n_runs++;
    /* a NaN or Inf loss is refused (PL_ERR_NUMERIC): only ordinary inputs must train */
    const int acc_expect = !tokens_ok || !finite_f(gs) ? EXP_FAIL : w->ordinary && ordinary_f(gs) ? EXP_OK : EXP_ANY;
    const int acc_ok = verdict(pl_trainer_accumulate(t, tokens, targets, gs, &loss, &counted), acc_expect,
                               "accumulate (%lld x %lld, %s, grad_scale %g)", (long long)tp.n_seq, (long long)tp.n_tok,
                               full ? "full" : "lora", (double)gs);
    const int ordinary = w->ordinary && ordinary_f(gs);
    if (acc_ok && !ordinary_f(gs)) w->ordinary = 0; /* gradients scaled by 1e30 overflow: the step may make NaN weights */
    if (acc_ok && ordinary && !isfinite(loss)) report("accumulate: loss %g is not finite", loss);
    if (acc_ok) {
        int64_t expect_counted = 0;
        for (int64_t i = 0; i < N; i++) expect_counted += targets[i] >= 0;
        if (counted != expect_counted) report("accumulate counted %lld targets, %lld expected", (long long)counted, (long long)expect_counted);
    }
    double norm = -1;
    if (verdict(pl_trainer_grad_norm(t, &norm), EXP_OK, "grad_norm") && acc_ok && ordinary && !(norm >= 0 && isfinite(norm)))
        report("grad_norm %g after an ordinary step", norm);
    pl_adamw_params ap = {1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, 1.0f};
    ap.lr = fz_f32(f, ap.lr, 8);
    ap.beta1 = fz_f32(f, ap.beta1, 8);
    ap.beta2 = fz_f32(f, ap.beta2, 8);
    ap.eps = fz_f32(f, ap.eps, 8);
    ap.weight_decay = fz_f32(f, ap.weight_decay, 8);
    ap.grad_scale = fz_f32(f, ap.grad_scale, 8);
    const int ap_ok = valid_adamw(&ap);
    const int ap_ordinary = ap.lr <= 1.0f && ap.eps >= 1e-12f && ap.weight_decay <= 1.0f && ordinary_f(ap.grad_scale);
    if (verdict(pl_trainer_adamw_step(t, &ap), ap_ok ? EXP_OK : EXP_FAIL, "adamw_step(lr %g b1 %g b2 %g eps %g wd %g gs %g)", (double)ap.lr,
                (double)ap.beta1, (double)ap.beta2, (double)ap.eps, (double)ap.weight_decay, (double)ap.grad_scale) &&
        !ap_ordinary)
        w->ordinary = 0;
    if (full) { /* FULL-mode gradients: kind, layer and length mutated */
        const int32_t which = fz_i32(f, (int32_t)fz_below(f, 12), 10);
        const int64_t layer = per_layer(which) ? fz_i64(f, (int64_t)fz_below(f, (uint32_t)d->L), 10) : -1;
        int64_t e0 = 0, e1 = 0;
        const int kind_ok = weight_shape(d, which, &e0, &e1) && (!per_layer(which) || (layer >= 0 && layer < d->L));
        const int64_t len = fz_i64(f, e0 * e1, 10);
        float *g = xmalloc((size_t)(kind_ok && len == e0 * e1 ? len : 4) * sizeof(float));
        /* OUTPUT may be unbound (tied) and biases and RoPE factors never train: PL_ERR_STATE then */
        const int expect = !kind_ok || len != e0 * e1 ? EXP_FAIL : (which == PL_W_OUTPUT || which >= PL_W_ATTN_Q_BIAS) ? EXP_ANY : EXP_OK;
        verdict(pl_trainer_get_weight_grad(t, which, layer, g, len), expect, "get_weight_grad(kind %d, layer %lld, len %lld)", which,
                (long long)layer, (long long)len);
        free(g);
    } else {
        float g[4];
        verdict(pl_trainer_get_weight_grad(t, PL_W_ATTN_Q, 0, g, 4), PL_ERR_STATE, "get_weight_grad of a LORA trainer");
    }
    /* an adapter grown under the trainer is refused until a new trainer is made */
    if (lo && !full && fz_chance(f, 10)) {
        int32_t s = -1;
        if (verdict(pl_lora_add_slot(lo, 0, PL_TARGET_ATTN_V, 1, 1.0f, &s), EXP_OK, "add_slot under a trainer"))
            verdict(pl_trainer_accumulate(t, tokens, targets, 1.0f, &loss, &counted), EXP_FAIL, "accumulate after a slot was added");
    }
    pl_trainer_free(t);
    free(tokens); free(targets);
}

static void scenario_lora(fz *f) {
    world w;
    pl_model_params p = small_params(f);
    if (!world_make(&w, f, &p, fz_chance(f, 60))) { world_free(&w); return; }
    const dims *d = &w.d;
    pl_lora *lo = (pl_lora *)(uintptr_t)8;
    if (!verdict(pl_lora_create(w.m, &lo), EXP_OK, "pl_lora_create")) { world_free(&w); return; }
    slot_doc sd[16];
    int32_t n_slots = 0;
    const int k = 1 + (int)fz_below(f, 5);
    for (int i = 0; i < k && n_slots < 16; i++) {
        const int64_t layer = fz_i64(f, (int64_t)fz_below(f, (uint32_t)d->L), 10);
        const int32_t target = fz_i32(f, (int32_t)fz_below(f, 7), 10);
        int64_t in = 0, out = 0;
        const int tgt_ok = target_shape(d, target, &in, &out);
        const int64_t max_rank = tgt_ok ? (in < out ? in : out) : 1;
        const int64_t rank = fz_i64(f, 1 + (int64_t)fz_below(f, (uint32_t)(max_rank < 8 ? max_rank : 8)), 15);
        const float scale = fz_f32(f, fz_chance(f, 50) ? 2.0f : 0.5f, 10);
        const int valid = layer >= 0 && layer < d->L && tgt_ok && rank >= 1 && rank <= in && rank <= out && finite_f(scale);
        int32_t s = -7;
        if (verdict(pl_lora_add_slot(lo, layer, target, rank, scale, fz_chance(f, 90) ? &s : NULL), valid ? EXP_OK : EXP_FAIL,
                    "add_slot(layer %lld, target %d, rank %lld, scale %g)", (long long)layer, target, (long long)rank, (double)scale)) {
            if (s != -7 && s != n_slots) report("add_slot returned index %d, expected %d", s, n_slots);
            slot_doc z = {layer, rank, in, out, target};
            sd[n_slots++] = z;
            if (!ordinary_f(scale)) w.ordinary = 0;
            int64_t il = -1, ir = -1, ii = -1, io = -1;
            int32_t it = -1;
            if (verdict(pl_lora_slot_info(lo, n_slots - 1, &il, &it, &ir, &ii, &io), EXP_OK, "slot_info") &&
                (il != layer || it != target || ir != rank || ii != in || io != out))
                report("slot_info of slot %d: layer %lld target %d rank %lld %lld -> %lld, added as layer %lld target %d rank %lld %lld -> %lld",
                       n_slots - 1, (long long)il, it, (long long)ir, (long long)ii, (long long)io, (long long)layer, target,
                       (long long)rank, (long long)in, (long long)out);
            /* nonzero A and B so that the adapter changes the output */
            const int64_t na = rank * in, nb = out * rank;
            float *a = xmalloc((size_t)(na + nb) * sizeof(float));
            for (int64_t j = 0; j < na + nb; j++) a[j] = uniform(&w, -0.1f, 0.1f);
            verdict(pl_lora_set_weights(lo, n_slots - 1, a, na, a + na, nb), EXP_OK, "set_weights of a new slot");
            free(a);
        }
    }
    int32_t count = -1;
    if (verdict(pl_lora_slot_count(lo, &count), EXP_OK, "slot_count") && count != n_slots)
        report("slot_count %d, %d slots added", count, n_slots);
    const int calls = (int)fz_below(f, 8);
    for (int i = 0; i < calls; i++) mutate_slot_calls(&w, f, lo, sd, n_slots);
    /* another model's adapter is refused */
    if (fz_chance(f, 5)) {
        world other;
        pl_model_params op = small_params(f);
        if (world_make(&other, f, &op, 0)) verdict(pl_model_set_lora(other.m, lo), EXP_FAIL, "attaching another model's adapter");
        world_free(&other);
    }
    if (verdict(pl_model_set_lora(w.m, lo), EXP_OK, "set_lora with %d slots", n_slots)) {
        world_run(&w, f, "attaching an adapter");
        const int rounds = 1 + (int)fz_below(f, 2);
        for (int r = 0; r < rounds; r++) {
            train_round(&w, f, lo, sd, n_slots);
            int32_t c2 = 0;
            pl_lora_slot_count(lo, &c2);
            if (c2 != n_slots) break; /* a slot was added under the trainer: this adapter is done */
            if (fz_chance(f, 50)) mutate_slot_calls(&w, f, lo, sd, n_slots);
        }
        int32_t c2 = 0;
        pl_lora_slot_count(lo, &c2);
        if (c2 == n_slots) world_run(&w, f, "training");
        verdict(pl_model_set_lora(w.m, NULL), EXP_OK, "detaching the adapter");
    }
    if (w.all_f32 && fz_chance(f, 30)) train_round(&w, f, NULL, NULL, 0); /* FULL mode without an adapter, or LORA refused */
    pl_lora_free(lo);
    world_free(&w);
}

/* ---- scenario: batch shapes, buffer lengths and caches ---- */

static void scenario_batch(fz *f) {
    world w;
    pl_model_params p = small_params(f);
    if (!world_make(&w, f, &p, 0)) { world_free(&w); return; }
    const dims *d = &w.d;
    const int ops = 1 + (int)fz_below(f, 4);
    for (int op = 0; op < ops; op++) {
        switch (fz_below(f, 4)) {
        case 0: case 1: { /* forward / nll */
            /* sequences up to 80 long now and then: the attention and GEMM kernels' tile edges */
            const int64_t B = fz_i64(f, 1 + fz_below(f, 3), 20), T = fz_i64(f, 1 + fz_below(f, fz_chance(f, 20) ? 80 : 6), 20);
            int64_t N = 0, need = 0;
            const int shape_ok = B > 0 && T > 0 && T <= PL_MAX_CTX && !__builtin_mul_overflow(B, T, &N) && N <= PL_MAX_CTX;
            const int nll = fz_chance(f, 30);
            const int have_need = shape_ok && !__builtin_mul_overflow(N, d->V, &need);
            const int64_t len = fz_i64(f, have_need ? need : 4, 15);
            if (shape_ok && !fits(forward_bytes(d, (double)N, 0, (double)N * (nll ? 1 : d->V)) + 8.0 * (double)N)) break;
            const int64_t nt = shape_ok ? N : 4;
            int32_t *tokens = xmalloc((size_t)nt * sizeof(int32_t)), *targets = xmalloc((size_t)nt * sizeof(int32_t));
            int tokens_ok = 1;
            for (int64_t i = 0; i < nt; i++) { tokens[i] = (int32_t)fz_below(f, (uint32_t)d->V); targets[i] = (int32_t)fz_below(f, (uint32_t)d->V); }
            if (fz_chance(f, 10)) {
                const int64_t i = (int64_t)fz_below(f, (uint32_t)nt);
                if (fz_chance(f, 50)) { tokens[i] = fz_i32(f, (int32_t)d->V, 80); tokens_ok = tokens[i] >= 0 && tokens[i] < d->V; }
                else { targets[i] = fz_i32(f, (int32_t)d->V, 80); tokens_ok = targets[i] < d->V || !nll; }
            }
            n_runs++;
            if (nll) {
                float *out = xmalloc((size_t)nt * sizeof(float));
                verdict(pl_model_nll(w.m, tokens, targets, B, T, out), shape_ok && tokens_ok ? EXP_OK : EXP_FAIL, "nll(%lld x %lld)",
                        (long long)B, (long long)T);
                free(out);
            } else {
                /* the buffer is len floats long where that is small; a longer len gets the need (all the engine may write);
                   a len too short for a good shape gets len floats, and a bad shape 4 */
                const int64_t alloc = !shape_ok ? 4 : len >= need ? (len <= need + 64 ? len : need) : len >= 0 ? len : 4;
                float *logits = xmalloc((size_t)alloc * sizeof(float));
                verdict(pl_model_forward(w.m, tokens, B, T, logits, len), shape_ok && tokens_ok && len >= need ? EXP_OK : EXP_FAIL,
                        "forward(%lld x %lld, logits_len %lld, needs %lld)", (long long)B, (long long)T, (long long)len, (long long)need);
                free(logits);
            }
            free(tokens); free(targets);
            break;
        }
        case 2: { /* KV cache and decode */
            const int64_t n_ctx = fz_i64(f, 1 + fz_below(f, fz_chance(f, 20) ? 40 : 12), 15);
            const int ctx_ok = n_ctx > 0 && n_ctx <= PL_MAX_CTX;
            if (ctx_ok && !fits(8.0 * (double)d->L * (double)n_ctx * (double)d->KV)) break;
            pl_kv_cache *c = (pl_kv_cache *)(uintptr_t)8;
            if (!verdict(pl_kv_cache_create(w.m, n_ctx, &c), ctx_ok ? EXP_OK : EXP_FAIL, "kv_cache_create(%lld)", (long long)n_ctx)) {
                if (c != NULL) report("kv_cache_create failed but left *out = %p", (void *)c);
                break;
            }
            int64_t pos = 0;
            const int steps = 1 + (int)fz_below(f, 8);
            for (int i = 0; i < steps; i++) {
                if (fz_chance(f, 10)) { verdict(pl_kv_cache_clear(c), EXP_OK, "kv_cache_clear"); pos = 0; }
                const int64_t n = fz_i64(f, 1 + fz_below(f, fz_chance(f, 20) ? 16 : 4), 15);
                const int64_t len = fz_i64(f, d->V, 10);
                const int n_ok = n >= 1 && n <= n_ctx - pos;
                int32_t tokens[16];
                for (int j = 0; j < 16; j++) tokens[j] = (int32_t)fz_below(f, (uint32_t)d->V);
                float *logits = xmalloc((size_t)(len >= d->V ? d->V : 4) * sizeof(float));
                n_runs += n_ok;
                if (n_ok && n > 16) { free(logits); continue; } /* only the refusal of a longer run is tried */
                if (verdict(pl_model_decode(w.m, c, tokens, n, logits, len), n_ok && len >= d->V ? EXP_OK : EXP_FAIL,
                            "decode(%lld tokens at %lld of %lld, logits_len %lld)", (long long)n, (long long)pos, (long long)n_ctx,
                            (long long)len)) {
                    pos += n;
                    if (w.ordinary && !all_finite(logits, d->V)) report("decode: logits not finite");
                }
                free(logits);
                int64_t held = -1;
                if (verdict(pl_kv_cache_length(c, &held), EXP_OK, "kv_cache_length") && held != pos)
                    report("the cache holds %lld positions, %lld decoded", (long long)held, (long long)pos);
            }
            pl_kv_cache_free(c);
            break;
        }
        default: { /* a trainer of the plain model: FULL mode, or LORA refused for want of an adapter */
            train_round(&w, f, NULL, NULL, 0);
            break;
        }
        }
    }
    world_free(&w);
}

/* ---- scenario: codecs and matmuls ---- */

static void scenario_codecs(fz *f) {
    const int32_t type = fz_type(f);
    int64_t be, bb;
    int deq;
    type_doc(type, &be, &bb, &deq);
    const int64_t nominal = (be ? be : 32) * (1 + fz_below(f, 4));
    const int64_t n = fz_i64(f, nominal, 25);
    const int64_t need = n > 0 ? tensor_bytes(type, n, 1) : -1;
    /* type info and row bytes agree with ggml's table */
    int64_t ie = -1, ib = -1, rb = -1;
    if (verdict(pl_type_info(type, &ie, &ib), be ? EXP_OK : EXP_FAIL, "type_info(%d)", type) && (ie != be || ib != bb))
        report("type_info(%d): %lld elements / %lld bytes per block, ggml has %lld / %lld", type, (long long)ie, (long long)ib,
               (long long)be, (long long)bb);
    if (verdict(pl_row_bytes(type, n, &rb), need > 0 ? EXP_OK : EXP_FAIL, "row_bytes(%d, %lld)", type, (long long)n) && rb != need)
        report("row_bytes(%d, %lld) = %lld, expected %lld", type, (long long)n, (long long)rb, (long long)need);
    if (need > 0 && !fits(4.0 * (double)n + (double)need)) return;
    const int64_t cnt = need > 0 ? n : 4, nbytes = need > 0 ? need : 64;
    float *x = xmalloc((size_t)cnt * sizeof(float)), *y = xmalloc((size_t)cnt * sizeof(float));
    uint8_t *q = xmalloc((size_t)nbytes);
    uint64_t fill = fz_u64(f);
    for (int64_t i = 0; i < cnt; i++) x[i] = (float)((double)(splitmix(&fill) >> 11) * 0x1p-53 * 2.0 - 1.0);
    if (fz_chance(f, 30)) { /* the whole row scaled by 2^k, from denormals (k = -149) to near FLT_MAX (k = 127) */
        const int k = (int)fz_below(f, 277) - 149;
        for (int64_t i = 0; i < cnt; i++) x[i] = ldexpf(x[i], k);
    }
    int values_ok = 1;
    if (fz_chance(f, 10)) {
        const int64_t i = (int64_t)fz_below(f, (uint32_t)cnt);
        x[i] = fz_f32(f, x[i], 100);
        values_ok = finite_f(x[i]) || be == 1; /* F32/F16/BF16 carry NaN and Inf */
    }
    const int64_t qbytes = fz_i64(f, need, 15);
    const int q_valid = need > 0 && deq && qbytes >= need;
    const int32_t qrc = pl_quantize(type, x, n, q, qbytes);
    verdict(qrc, q_valid ? (values_ok ? EXP_OK : PL_ERR_NUMERIC) : EXP_FAIL, "quantize(type %d, n %lld, %lld bytes, needs %lld)", type,
            (long long)n, (long long)qbytes, (long long)need);
    if (qrc != PL_OK) /* random blocks: any bytes must decode without undefined behaviour (NaN scales and all) */
        for (int64_t i = 0; i < nbytes; i++) q[i] = (uint8_t)splitmix(&fill);
    const int64_t dbytes = fz_i64(f, need, 15);
    verdict(pl_dequantize(type, q, dbytes, y, n), need > 0 && deq && dbytes >= need ? EXP_OK : EXP_FAIL,
            "dequantize(type %d, n %lld, %lld bytes)", type, (long long)n, (long long)dbytes);
    free(x); free(y); free(q);
    /* a matmul over a weight of this type */
    const int64_t in = fz_i64(f, be ? be : 32, 15), out = fz_i64(f, 1 + fz_below(f, 8), 15), nt = fz_i64(f, 1 + fz_below(f, 4), 15);
    const int64_t wneed = in > 0 && out > 0 ? tensor_bytes(type, in, out) : -1;
    int64_t ax = 0, ay = 0;
    const int shape_ok = wneed > 0 && deq && nt > 0 && !__builtin_mul_overflow(nt, in, &ax) && !__builtin_mul_overflow(nt, out, &ay) &&
                         ax <= INT64_MAX / 4 && ay <= INT64_MAX / 4;
    const int64_t wbytes = fz_i64(f, wneed, 10);
    if (shape_ok && !fits((double)wneed + 4.0 * (double)(ax + ay))) return;
    const int transpose = fz_chance(f, 50), off = fz_chance(f, 8) ? 1 + (int)fz_below(f, 3) : 0; /* the weight 1..3 bytes off now and then */
    uint8_t *wt = xmalloc((size_t)(shape_ok ? wneed : 64) + 3);
    const int random_w = fz_chance(f, 50); /* random bytes (NaN and Inf scales included) or zeros */
    for (int64_t i = 0; i < (shape_ok ? wneed : 64) + 3; i++) wt[i] = random_w ? (uint8_t)splitmix(&fill) : 0;
    float *xa = xmalloc((size_t)(shape_ok ? (transpose ? ay : ax) : 4) * sizeof(float));
    float *ya = xmalloc((size_t)(shape_ok ? (transpose ? ax : ay) : 4) * sizeof(float));
    memset(xa, 0, (size_t)(shape_ok ? (transpose ? ay : ax) : 4) * sizeof(float));
    const int32_t rc = transpose ? pl_matmul_t(type, wt + off, wbytes, in, out, xa, nt, ya) : pl_matmul(type, wt + off, wbytes, in, out, xa, nt, ya);
    verdict(rc, shape_ok && wbytes >= wneed && !(off && type == PL_TYPE_F32) ? EXP_OK : EXP_FAIL,
            "%s(type %d, in %lld, out %lld, n_tok %lld, %lld bytes, needs %lld, address +%d)", transpose ? "matmul_t" : "matmul", type,
            (long long)in, (long long)out, (long long)nt, (long long)wbytes, (long long)wneed, off);
    free(wt); free(xa); free(ya);
}

/* Library calls: threads, version, build info, CUDA devices (none usable on most machines that run this). */
static void scenario_library(fz *f) {
    const int32_t n = fz_i32(f, 2, 60);
    verdict(pl_set_num_threads(n), n >= 1 && n <= 1024 ? EXP_OK : EXP_FAIL, "set_num_threads(%d)", n);
    pl_set_num_threads(1 + (int32_t)fz_below(f, 2)); /* back to what this machine runs well */
    pl_set_num_threads(0);
    if (pl_get_num_threads() < 1 || pl_last_error()[0]) report("pl_get_num_threads: %d, message '%s'", pl_get_num_threads(), pl_last_error());
    pl_set_num_threads(0);
    if (pl_api_version() != PL_API_VERSION || pl_last_error()[0]) report("pl_api_version: %d, message '%s'", pl_api_version(), pl_last_error());
    pl_set_num_threads(0);
    const char *info = pl_build_info();
    if (!info || !strstr(info, "panlora api") || pl_last_error()[0]) report("pl_build_info: '%s', message '%s'", info ? info : "(null)", pl_last_error());
    pl_set_num_threads(1 + (int32_t)fz_below(f, 2));
    int32_t n_dev = -1;
    /* the one documented exception: PL_OK with the reason left in pl_last_error when no device is usable */
    const int32_t rc = pl_cuda_device_count(&n_dev);
    n_calls++;
    n_ok++;
    if (rc != PL_OK || n_dev < 0 || (n_dev == 0 && !pl_last_error()[0])) report("pl_cuda_device_count: rc %d, %d devices, reason '%s'", rc, n_dev, pl_last_error());
    const int32_t dev = fz_i32(f, 0, 40);
    const int64_t len = fz_i64(f, 256, 30);
    char buf[256];
    const int info_ok = n_dev > 0 && dev >= 0 && dev < n_dev && len > 0;
    if (!info_ok || len <= 256) {
        memset(buf, 'x', sizeof buf);
        if (verdict(pl_cuda_device_info(dev, buf, len), info_ok ? EXP_OK : EXP_FAIL, "cuda_device_info(%d, len %lld)", dev, (long long)len) &&
            memchr(buf, 0, (size_t)len) == NULL)
            report("cuda_device_info(%d, len %lld): no terminating NUL within len", dev, (long long)len);
    }
    const int64_t gn = fz_i64(f, 64, 40);
    const int32_t reps = fz_i32(f, 1, 40);
    const int bench_args_ok = gn >= 16 && gn <= 32768 && reps >= 1 && reps <= 10000;
    double tf = 0;
    if (!bench_args_ok || n_dev == 0) /* a real benchmark only runs where a device is; here its refusal is checked */
        verdict(pl_cuda_bench_gemm(fz_i32(f, 0, 30), gn, reps, &tf), EXP_FAIL, "cuda_bench_gemm(n %lld, reps %d) with %d devices",
                (long long)gn, reps, n_dev);
}

/* ---- one iteration ---- */

static const char *only_scenario; /* PANLORA_FUZZ_SCENARIO: params, upload, lora, batch, codecs or library alone */

static void fuzz_one(fz *f) {
    static const char *const names[] = {"params", "upload", "lora", "batch", "codecs", "library"};
    static const uint32_t start[] = {0, 22, 44, 74, 90, 98, 100};
    uint32_t r = fz_below(f, 100);
    for (int i = 0; only_scenario && i < 6; i++)
        if (strcmp(only_scenario, names[i]) == 0) r = start[i] + r % (start[i + 1] - start[i]);
    if (r < 22) scenario_params(f);
    else if (r < 44) scenario_upload(f);
    else if (r < 74) scenario_lora(f);
    else if (r < 90) scenario_batch(f);
    else if (r < 98) scenario_codecs(f);
    else scenario_library(f);
}

#ifdef PANLORA_LIBFUZZER
/* libFuzzer entry: the input bytes are the choices of one iteration; a failed check aborts (libFuzzer keeps the input). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int init;
    if (!init) { pl_set_num_threads(1); init = 1; }
    fz f = {0, data, size, 0};
    const int64_t before = n_failures;
    fuzz_one(&f);
    if (n_failures != before) abort();
    return 0;
}
#else
static int64_t env_i64(const char *name, int64_t dflt) {
    const char *s = getenv(name);
    return s && *s ? strtoll(s, NULL, 0) : dflt;
}

int main(int argc, char **argv) {
    int64_t iters = env_i64("PANLORA_FUZZ_ITERS", 3000);
    uint64_t seed = (uint64_t)env_i64("PANLORA_FUZZ_SEED", 0x70616e6c6f7261); /* "panlora" */
    int64_t only = -1;
    max_bytes = env_i64("PANLORA_FUZZ_MAX_BYTES", max_bytes);
    verbose = (int)env_i64("PANLORA_FUZZ_VERBOSE", 0);
    only_scenario = getenv("PANLORA_FUZZ_SCENARIO");
    if (argc > 1) iters = strtoll(argv[1], NULL, 0);
    if (argc > 2) seed = strtoull(argv[2], NULL, 0);
    if (argc > 3) only = strtoll(argv[3], NULL, 0);
    pl_set_num_threads(2);
    for (int64_t i = only >= 0 ? only : 0; i < (only >= 0 ? only + 1 : iters); i++) {
        cur_iter = (uint64_t)i;
        uint64_t s = seed ^ (UINT64_C(0xD1B54A32D192ED03) * (uint64_t)(i + 1));
        fz f = {splitmix(&s), NULL, 0, 0};
        fuzz_one(&f);
    }
    printf("fuzz_model: seed %#" PRIx64 ", %lld iterations: %lld calls (%lld succeeded, %lld refused), %lld runs of tiny models, "
           "%lld calls skipped as larger than %lld bytes; %lld failed checks\n",
           seed, (long long)(only >= 0 ? 1 : iters), (long long)n_calls, (long long)n_ok, (long long)n_refused, (long long)n_runs,
           (long long)n_skipped, (long long)max_bytes, (long long)n_failures);
    if (n_failures > 40) printf("(only the first 40 failures were printed)\n");
    return n_failures ? 1 : 0;
}
#endif
