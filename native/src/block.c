/* A LLaMA block: x += Attn(RMSNorm(x)); x += FFN(RMSNorm(x)), with adapted linears. */
#include <string.h>
#include "common.h"
#include "block.h"
#include "lora.h"
#include "ops/matmul.h"
#include "ops/ops.h"
#include "ops/qdot.h"

/* What block_linear_forward adds to the base product in y: the dense delta, the bias, the active LoRA slots. */
static int32_t linear_extras(const pl_model *m, int64_t l, int32_t which, int32_t bias, const float *x, int64_t n, float *y,
                             block_acts *acts) {
    const pl_weight_ref *w = &m->layers[l].w[which];
    if (m->layers[l].delta[which]) /* y += x Δᵀ */
        PL_TRY(pl_linear_forward(PL_TYPE_F32, m->layers[l].delta[which], w->ne0, w->ne1, x, n, y, 1));
    if (bias >= 0 && m->layers[l].w[bias].data) {
        const float *b = m->layers[l].w[bias].data;
        for (int64_t t = 0; t < n; t++)
            for (int64_t o = 0; o < w->ne1; o++) y[t * w->ne1 + o] += b[o];
    }
    const pl_lora *lo = m->lora;
    for (int32_t i = 0; lo && i < lo->n_slots; i++) {
        const lora_slot *s = &lo->slots[i];
        if (s->layer != l || pl_target_weight(s->target) != which || !lora_slot_active(lo, s)) continue;
        float *u = acts->slot_u ? acts->slot_u[i] : acts->lora_tmp;
        /* u = x Aᵀ [n, r]; y += s · u Bᵀ */
        PL_TRY(pl_sgemm(0, 1, n, s->rank, s->in, 1.0f, x, s->in, s->a, s->in, 0.0f, u, s->rank));
        PL_TRY(pl_sgemm(0, 1, n, s->out, s->rank, s->scale, u, s->rank, s->b, s->rank, 1.0f, y, s->out));
    }
    return pl_ok();
}

int32_t block_linear_forward(const pl_model *m, int64_t l, int32_t which, int32_t bias, const float *x, int64_t n,
                             float *y, block_acts *acts) {
    const pl_weight_ref *w = &m->layers[l].w[which];
    PL_TRY(pl_base_linear_forward(w->type, w->data, w->ne0, w->ne1, x, n, y, 0));
    return linear_extras(m, l, which, bias, x, n, y, acts);
}

/* Several linears of the same input (q, k, v; gate, up). Decode-sized calls whose weights all take the 8-bit path run
   their base products in one pass over the pool (one wake-up, the activations quantized once); otherwise one by one. */
static int32_t linears_forward(const pl_model *m, int64_t l, int count, const int32_t *which, const int32_t *bias,
                               const float *x, int64_t n, float *const *y, block_acts *acts) {
    int fuse = count > 1 && count <= PL_QDOT_MAX_JOBS;
    for (int i = 0; fuse && i < count; i++) {
        const pl_weight_ref *w = &m->layers[l].w[which[i]];
        fuse = w->ne0 == m->layers[l].w[which[0]].ne0 && pl_base_linear_fusable(w->type, w->ne0, n);
    }
    if (!fuse) {
        for (int i = 0; i < count; i++) PL_TRY(block_linear_forward(m, l, which[i], bias[i], x, n, y[i], acts));
        return pl_ok();
    }
    pl_qdot_job jobs[PL_QDOT_MAX_JOBS];
    for (int i = 0; i < count; i++) {
        const pl_weight_ref *w = &m->layers[l].w[which[i]];
        jobs[i] = (pl_qdot_job){w->type, w->data, w->ne1, y[i]};
    }
    PL_TRY(pl_qdot_forward_multi(count, jobs, m->layers[l].w[which[0]].ne0, x, n, 0));
    for (int i = 0; i < count; i++) PL_TRY(linear_extras(m, l, which[i], bias[i], x, n, y[i], acts));
    return pl_ok();
}

int32_t block_linear_backward(const pl_model *m, int64_t l, int32_t which, const float *x, const float *dy, int64_t n,
                              float *dx, int accumulate, float *dw, float *const *slot_u, float *du_tmp) {
    const pl_weight_ref *w = &m->layers[l].w[which];
    if (dx) PL_TRY(pl_base_linear_backward_input(w->type, w->data, w->ne0, w->ne1, dy, n, dx, accumulate));
    if (dx && m->layers[l].delta[which]) /* dx += dy Δ */
        PL_TRY(pl_linear_backward_input(PL_TYPE_F32, m->layers[l].delta[which], w->ne0, w->ne1, dy, n, dx, 1));
    if (dw) PL_TRY(pl_sgemm(1, 0, w->ne1, w->ne0, n, 1.0f, dy, w->ne1, x, w->ne0, 1.0f, dw, w->ne0));
    pl_lora *lo = m->lora;
    for (int32_t i = 0; lo && i < lo->n_slots; i++) {
        lora_slot *s = &lo->slots[i];
        if (s->layer != l || pl_target_weight(s->target) != which || !lora_slot_active(lo, s)) continue;
        /* dB += s · dyᵀ u */
        if (s->train_b) PL_TRY(pl_sgemm(1, 0, s->out, s->rank, n, s->scale, dy, s->out, slot_u[i], s->rank, 1.0f, s->db, s->rank));
        if (!s->train_a && !dx) continue;
        /* du = s · dy B [n, r] */
        PL_TRY(pl_sgemm(0, 0, n, s->rank, s->out, s->scale, dy, s->out, s->b, s->rank, 0.0f, du_tmp, s->rank));
        /* dA += duᵀ x; dx += du A */
        if (s->train_a) PL_TRY(pl_sgemm(1, 0, s->rank, s->in, n, 1.0f, du_tmp, s->rank, x, s->in, 1.0f, s->da, s->in));
        if (dx) PL_TRY(pl_sgemm(0, 0, n, s->in, s->rank, 1.0f, du_tmp, s->rank, s->a, s->in, 1.0f, dx, s->in));
    }
    return pl_ok();
}

int32_t block_forward_qkv(const pl_model *m, int64_t l, const float *x, int64_t B, int64_t T, int64_t pos0,
                          float *k_new, float *v_new, block_acts *a) {
    const pl_model_params *p = &m->p;
    const int64_t n = B * T, D = p->n_embd;
    rmsnorm_forward(a->xn1, a->rstd1, x, m->layers[l].w[PL_W_ATTN_NORM].data, n, D, p->norm_eps);
    const int32_t qkv[3] = {PL_W_ATTN_Q, PL_W_ATTN_K, PL_W_ATTN_V}, qkv_bias[3] = {PL_W_ATTN_Q_BIAS, PL_W_ATTN_K_BIAS, PL_W_ATTN_V_BIAS};
    float *const qkv_out[3] = {a->q, k_new, v_new};
    PL_TRY(linears_forward(m, l, 3, qkv, qkv_bias, a->xn1, n, qkv_out, a));
    rope_apply(a->q, B, T, pos0, p->n_head, p->head_dim, p->n_rot, p->rope_freq_base, p->rope_freq_scale, m->global[PL_W_ROPE_FREQS].data, p->rope_type, 1);
    rope_apply(k_new, B, T, pos0, p->n_head_kv, p->head_dim, p->n_rot, p->rope_freq_base, p->rope_freq_scale, m->global[PL_W_ROPE_FREQS].data, p->rope_type, 1);
    return pl_ok();
}

int32_t block_forward(const pl_model *m, int64_t l, float *x, int64_t B, int64_t T, int64_t pos0,
                      float *k_new, float *v_new, const float *k_all, const float *v_all,
                      int64_t Tk, int64_t kv_stride, block_acts *a) {
    const pl_model_params *p = &m->p;
    PL_TRY(block_forward_qkv(m, l, x, B, T, pos0, k_new, v_new, a));
    PL_TRY(attention_forward(a->att, a->probs, a->q, k_all, v_all, B, T, Tk, pos0, p->n_head, p->n_head_kv, p->head_dim, kv_stride));
    return block_forward_rest(m, l, x, B * T, a);
}

int32_t block_forward_rest(const pl_model *m, int64_t l, float *x, int64_t n, block_acts *a) {
    const pl_model_params *p = &m->p;
    const pl_layer_weights *lw = &m->layers[l];
    const int64_t D = p->n_embd;
    PL_TRY(block_linear_forward(m, l, PL_W_ATTN_OUTPUT, -1, a->att, n, a->tmp, a));
    residual_add(x, a->tmp, n * D);
    if (a->x_mid) memcpy(a->x_mid, x, (size_t)(n * D) * sizeof(float));
    rmsnorm_forward(a->xn2, a->rstd2, x, lw->w[PL_W_FFN_NORM].data, n, D, p->norm_eps);
    const int32_t gate_up[2] = {PL_W_FFN_GATE, PL_W_FFN_UP}, no_bias[2] = {-1, -1};
    float *const gu_out[2] = {a->g, a->u};
    PL_TRY(linears_forward(m, l, 2, gate_up, no_bias, a->xn2, n, gu_out, a));
    swiglu_forward(a->h, a->g, a->u, n * p->n_ff);
    PL_TRY(block_linear_forward(m, l, PL_W_FFN_DOWN, -1, a->h, n, a->tmp, a));
    residual_add(x, a->tmp, n * D);
    return pl_ok();
}
