/* Model creation, weight binding and validation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common.h"
#include "model.h"
#include "quant/quant.h"
#include "backend.h"

static const char *const weight_names[PL_N_WEIGHT_KINDS] = {
    "token_embd", "output_norm", "output", "attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
    "ffn_norm", "ffn_gate", "ffn_up", "ffn_down", "attn_q.bias", "attn_k.bias", "attn_v.bias", "rope_freqs"};

const pl_weight_ref *pl_model_output_weight(const pl_model *m) {
    return m->global[PL_W_OUTPUT].data ? &m->global[PL_W_OUTPUT] : &m->global[PL_W_TOKEN_EMBD];
}

/* Expected (ne0, ne1) of a weight kind; ne1 = 1 for vectors. */
static void expected_shape(const pl_model_params *p, int32_t which, int64_t *ne0, int64_t *ne1) {
    const int64_t q = p->n_head * p->head_dim, kv = p->n_head_kv * p->head_dim;
    switch (which) {
    case PL_W_TOKEN_EMBD: case PL_W_OUTPUT: *ne0 = p->n_embd; *ne1 = p->n_vocab; break;
    case PL_W_OUTPUT_NORM: case PL_W_ATTN_NORM: case PL_W_FFN_NORM: *ne0 = p->n_embd; *ne1 = 1; break;
    case PL_W_ATTN_Q: *ne0 = p->n_embd; *ne1 = q; break;
    case PL_W_ATTN_K: case PL_W_ATTN_V: *ne0 = p->n_embd; *ne1 = kv; break;
    case PL_W_ATTN_OUTPUT: *ne0 = q; *ne1 = p->n_embd; break;
    case PL_W_FFN_GATE: case PL_W_FFN_UP: *ne0 = p->n_embd; *ne1 = p->n_ff; break;
    case PL_W_FFN_DOWN: *ne0 = p->n_ff; *ne1 = p->n_embd; break;
    case PL_W_ATTN_Q_BIAS: *ne0 = q; *ne1 = 1; break;
    case PL_W_ROPE_FREQS: *ne0 = p->n_rot / 2; *ne1 = 1; break;
    default: *ne0 = kv; *ne1 = 1; break; /* K/V bias */
    }
}

/* 1 if f is finite (not NaN, not ±Inf). */
static int finite_f(float f) { return f - f == 0.0f; }

int32_t pl_model_params_check(const pl_model_params *p, const char *fn) {
    PL_REQUIRE(p->n_vocab >= 1 && p->n_vocab <= PL_MAX_VOCAB, "%s: n_vocab %lld out of range 1..%lld", fn, (long long)p->n_vocab, PL_MAX_VOCAB);
    PL_REQUIRE(p->n_embd >= 1 && p->n_embd <= PL_MAX_EMBD, "%s: n_embd %lld out of range 1..%lld", fn, (long long)p->n_embd, PL_MAX_EMBD);
    PL_REQUIRE(p->n_layer >= 1 && p->n_layer <= PL_MAX_LAYERS, "%s: n_layer %lld out of range 1..%lld", fn, (long long)p->n_layer, PL_MAX_LAYERS);
    PL_REQUIRE(p->n_head >= 1 && p->n_head <= PL_MAX_HEADS, "%s: n_head %lld out of range 1..%lld", fn, (long long)p->n_head, PL_MAX_HEADS);
    PL_REQUIRE(p->n_head_kv >= 1 && p->n_head_kv <= PL_MAX_HEADS, "%s: n_head_kv %lld out of range 1..%lld", fn, (long long)p->n_head_kv, PL_MAX_HEADS);
    PL_REQUIRE(p->n_head % p->n_head_kv == 0, "%s: n_head %lld must be a multiple of n_head_kv %lld", fn,
               (long long)p->n_head, (long long)p->n_head_kv);
    PL_REQUIRE(p->head_dim >= 1 && p->head_dim <= PL_MAX_HEAD_DIM, "%s: head_dim %lld out of range 1..%lld", fn, (long long)p->head_dim, PL_MAX_HEAD_DIM);
    int64_t width;
    PL_REQUIRE(pl_mul_ok(p->n_head, p->head_dim, &width) && width <= PL_MAX_ATTN_WIDTH,
               "%s: n_head %lld x head_dim %lld exceeds the attention width limit %lld", fn, (long long)p->n_head,
               (long long)p->head_dim, PL_MAX_ATTN_WIDTH);
    PL_REQUIRE(p->n_ff >= 1 && p->n_ff <= PL_MAX_FF, "%s: n_ff %lld out of range 1..%lld", fn, (long long)p->n_ff, PL_MAX_FF);
    PL_REQUIRE(p->n_rot >= 2 && p->n_rot <= p->head_dim && p->n_rot % 2 == 0,
               "%s: n_rot %lld must be even and in 2..head_dim (%lld)", fn, (long long)p->n_rot, (long long)p->head_dim);
    PL_REQUIRE(p->n_ctx_train >= 1 && p->n_ctx_train <= PL_MAX_CTX, "%s: n_ctx_train %lld out of range 1..%lld", fn,
               (long long)p->n_ctx_train, PL_MAX_CTX);
    PL_REQUIRE(finite_f(p->rope_freq_base) && p->rope_freq_base > 0.0f, "%s: rope_freq_base %g must be finite and positive", fn,
               (double)p->rope_freq_base);
    PL_REQUIRE(finite_f(p->rope_freq_scale) && p->rope_freq_scale > 0.0f, "%s: rope_freq_scale %g must be finite and positive", fn,
               (double)p->rope_freq_scale);
    PL_REQUIRE(finite_f(p->norm_eps) && p->norm_eps > 0.0f && p->norm_eps < 1.0f, "%s: norm_eps %g out of range (0, 1)", fn, (double)p->norm_eps);
    PL_REQUIRE(p->rope_type == PL_ROPE_NORMAL || p->rope_type == PL_ROPE_NEOX, "%s: unknown rope_type %d", fn, p->rope_type);
    /* Every size the engine derives from these fits: the largest is a weight's element count n_vocab x n_embd (< 2^51),
       and each activation row is at most max(n_ff, attention width, n_vocab) floats. Checked here once all the same. */
    int64_t n;
    PL_REQUIRE(pl_mul3_ok(p->n_vocab, p->n_embd, (int64_t)sizeof(float), &n) && pl_mul4_ok(p->n_layer, p->n_embd, p->n_ff, 3 * (int64_t)sizeof(float), &n),
               "%s: the model's size overflows a 64-bit byte count", fn);
    return pl_ok();
}

PL_EXPORT int32_t pl_model_create(const pl_model_params *params, pl_model **out) {
    return pl_model_create_on(params, PL_DEVICE_CPU, out);
}

PL_EXPORT int32_t pl_model_create_on(const pl_model_params *params, int32_t device, pl_model **out) {
    PL_REQUIRE(params && out, "pl_model_create: params and out must not be NULL");
    *out = NULL;
    PL_REQUIRE(device >= PL_DEVICE_CPU && device < 1024, "pl_model_create: device %d is neither -1 (CPU) nor a CUDA device index", device);
    if (device != PL_DEVICE_CPU) {
        int32_t n = 0;
        PL_TRY(pl_cuda_device_count(&n));
        if (n == 0) {
            char why[1024];
            snprintf(why, sizeof why, "%s", pl_last_error());
            return pl_fail(PL_ERR_UNSUPPORTED, "pl_model_create: CUDA device %d was asked for, but %s", device, why);
        }
        if (device >= n) return pl_fail(PL_ERR_INVALID_ARGUMENT, "pl_model_create: CUDA device %d was asked for, but there are %d", device, n);
    }
    PL_TRY(pl_model_params_check(params, "pl_model_create"));
    const pl_model_params *p = params;
    pl_model *m = calloc(1, sizeof *m);
    if (!m) return pl_fail(PL_ERR_OUT_OF_MEMORY, "pl_model_create: out of memory");
    m->p = *p;
    m->device = device;
    m->placement = PL_WEIGHTS_AUTO;
    m->layers = calloc((size_t)p->n_layer, sizeof *m->layers);
    if (!m->layers) { free(m); return pl_fail(PL_ERR_OUT_OF_MEMORY, "pl_model_create: out of memory"); }
    *out = m;
    return pl_ok();
}

PL_EXPORT int32_t pl_model_set_threads(pl_model *m, int32_t n) {
    PL_REQUIRE(m, "pl_model_set_threads: model must not be NULL");
    PL_REQUIRE(n >= 0 && n <= 1024, "pl_model_set_threads: n must be in 0..1024 (0 = the global count), got %d", n);
    m->n_threads = n;
    return pl_ok();
}

PL_EXPORT int32_t pl_model_get_threads(const pl_model *m, int32_t *n) {
    PL_REQUIRE(m && n, "pl_model_get_threads: arguments must not be NULL");
    *n = m->n_threads;
    return pl_ok();
}

PL_EXPORT void pl_model_free(pl_model *m) {
    if (!m) return;
    if (m->dev) {
        const pl_backend *be = pl_cuda_backend(NULL);
        if (be) be->model_release(m);
    }
    free(m->layers);
    free(m);
}

PL_EXPORT int32_t pl_model_set_weight(pl_model *m, int32_t which, int64_t layer, int32_t type,
                                      int64_t ne0, int64_t ne1, const void *data, int64_t nbytes) {
    PL_REQUIRE(m && data, "pl_model_set_weight: model and data must not be NULL");
    PL_REQUIRE(which >= 0 && which < PL_N_WEIGHT_KINDS, "pl_model_set_weight: unknown weight kind %d", which);
    const char *name = weight_names[which];
    if (pl_weight_is_per_layer(which))
        PL_REQUIRE(layer >= 0 && layer < m->p.n_layer, "pl_model_set_weight(%s): layer %lld out of range 0..%lld",
                   name, (long long)layer, (long long)m->p.n_layer - 1);
    int64_t e0, e1;
    expected_shape(&m->p, which, &e0, &e1);
    PL_REQUIRE(ne0 == e0 && ne1 == e1, "pl_model_set_weight(%s, layer %lld): shape [%lld, %lld], expected [%lld, %lld]",
               name, (long long)layer, (long long)ne0, (long long)ne1, (long long)e0, (long long)e1);
    if (!pl_type_known(type) || !pl_type_can_dequantize(type))
        return pl_fail(PL_ERR_UNSUPPORTED, "pl_model_set_weight(%s): tensor type %d (%s) is not supported", name, type, pl_type_name(type));
    int is_vector = which == PL_W_OUTPUT_NORM || which == PL_W_ATTN_NORM || which == PL_W_FFN_NORM || which >= PL_W_ATTN_Q_BIAS;
    if (is_vector && type != PL_TYPE_F32)
        return pl_fail(PL_ERR_UNSUPPORTED, "pl_model_set_weight(%s): vectors must be F32, got %s", name, pl_type_name(type));
    const int64_t be = pl_type_block_elems(type);
    PL_REQUIRE(ne0 % be == 0, "pl_model_set_weight(%s): row length %lld is not a multiple of the %s block (%lld)",
               name, (long long)ne0, pl_type_name(type), (long long)be);
    int64_t need = 0;
    PL_REQUIRE(pl_mul_ok(ne0 / be, pl_type_block_bytes(type), &need) && pl_mul_ok(need, ne1, &need),
               "pl_model_set_weight(%s): a [%lld, %lld] %s tensor overflows a 64-bit size", name, (long long)ne0, (long long)ne1,
               pl_type_name(type));
    PL_REQUIRE(nbytes >= need, "pl_model_set_weight(%s): %lld bytes given, %lld needed", name, (long long)nbytes, (long long)need);
    /* F32 weights are read as floats; the other types byte by byte (packed blocks), so only F32 needs an aligned address */
    PL_REQUIRE(type != PL_TYPE_F32 || ((uintptr_t)data & 3) == 0,
               "pl_model_set_weight(%s): F32 data at %p is not 4-byte aligned (a GGUF file with general.alignment below 4 can place"
               " it so: copy the tensor to an aligned buffer)", name, data);
    if (which == PL_W_ROPE_FREQS) /* read only after the byte count is known to cover them */
        for (int64_t i = 0; i < ne0; i++) {
            const float f = ((const float *)data)[i];
            if (!(f > 0.0f) || f - f != 0.0f)
                return pl_fail(PL_ERR_NUMERIC, "pl_model_set_weight(rope_freqs): factor %lld is %g; factors must be positive and finite", (long long)i, (double)f);
        }
    pl_weight_ref ref = {type, ne0, ne1, data};
    if (pl_weight_is_per_layer(which)) { m->layers[layer].w[which] = ref; m->layers[layer].gen[which]++; }
    else { m->global[which] = ref; m->global_gen[which]++; }
    m->validated = 0;
    return pl_ok();
}

PL_EXPORT int32_t pl_model_set_delta(pl_model *m, int32_t which, int64_t layer, const float *delta, int64_t len) {
    PL_REQUIRE(m, "pl_model_set_delta: model must not be NULL");
    PL_REQUIRE(which >= PL_W_ATTN_Q && which <= PL_W_FFN_DOWN && which != PL_W_FFN_NORM,
               "pl_model_set_delta: weight kind %d is not a linear of a block", which);
    PL_REQUIRE(layer >= 0 && layer < m->p.n_layer, "pl_model_set_delta: layer %lld out of range", (long long)layer);
    if (delta) {
        int64_t e0, e1;
        expected_shape(&m->p, which, &e0, &e1);
        int64_t n = 0;
        PL_REQUIRE(pl_mul_ok(e0, e1, &n) && len == n, "pl_model_set_delta(%s, layer %lld): %lld floats, expected %lld x %lld",
                   weight_names[which], (long long)layer, (long long)len, (long long)e0, (long long)e1);
        PL_REQUIRE(((uintptr_t)delta & 3) == 0, "pl_model_set_delta(%s, layer %lld): the floats at %p are not 4-byte aligned",
                   weight_names[which], (long long)layer, (const void *)delta);
    }
    m->layers[layer].delta[which] = delta;
    m->layers[layer].delta_gen[which]++;
    if (m->dev && m->validated) { /* a device copies the delta now (the caller may change its buffer afterwards) */
        const pl_backend *be = pl_cuda_backend(NULL);
        if (!be) return pl_fail(PL_ERR_STATE, "pl_model_set_delta: the CUDA backend is gone");
        return pl_done(be->model_sync(m));
    }
    return pl_ok();
}

PL_EXPORT int32_t pl_model_validate(pl_model *m) {
    PL_REQUIRE(m, "pl_model_validate: model must not be NULL");
    if (!m->global[PL_W_TOKEN_EMBD].data) return pl_fail(PL_ERR_STATE, "model: weight token_embd is missing");
    if (!m->global[PL_W_OUTPUT_NORM].data) return pl_fail(PL_ERR_STATE, "model: weight output_norm is missing");
    for (int64_t l = 0; l < m->p.n_layer; l++)
        for (int32_t w = PL_W_ATTN_NORM; w <= PL_W_FFN_DOWN; w++)
            if (!m->layers[l].w[w].data)
                return pl_fail(PL_ERR_STATE, "model: weight blk.%lld.%s is missing", (long long)l, weight_names[w]);
    if (m->device != PL_DEVICE_CPU) {
        const char *why = NULL;
        const pl_backend *be = pl_cuda_backend(&why);
        if (!be) return pl_fail(PL_ERR_UNSUPPORTED, "model: the CUDA backend is not available: %s", why);
        PL_TRY(be->model_sync(m));
    }
    m->validated = 1;
    pl_clear_error();
    return pl_ok();
}

PL_EXPORT int32_t pl_model_get_device(const pl_model *m, int32_t *device) {
    PL_REQUIRE(m && device, "pl_model_get_device: arguments must not be NULL");
    *device = m->device;
    return pl_ok();
}

PL_EXPORT int32_t pl_model_set_placement(pl_model *m, int32_t placement) {
    PL_REQUIRE(m, "pl_model_set_placement: model must not be NULL");
    PL_REQUIRE(placement >= PL_WEIGHTS_AUTO && placement <= PL_WEIGHTS_RESIDENT_F32, "pl_model_set_placement: unknown placement %d", placement);
    if (m->dev && placement != m->placement)
        return pl_fail(PL_ERR_STATE, "pl_model_set_placement: the weights are on the device already; set the placement before validating");
    m->placement = placement;
    return pl_ok();
}

PL_EXPORT int32_t pl_model_device_memory(const pl_model *m, int64_t *used, int64_t *peak, int64_t *total) {
    PL_REQUIRE(m, "pl_model_device_memory: model must not be NULL");
    int64_t u = 0, p = 0, t = 0;
    if (m->dev) {
        const pl_backend *be = pl_cuda_backend(NULL);
        if (be) PL_TRY(be->model_memory(m, &u, &p, &t));
    }
    if (used) *used = u;
    if (peak) *peak = p;
    if (total) *total = t;
    return pl_ok();
}
