/* The element-wise and per-row ops of a LLaMA block, forward and backward side by side.
   Activations are row-major [n_tok][dim] F32. These internal kernels assume validated arguments. */
#ifndef PL_OPS_H
#define PL_OPS_H

#include <stdint.h>

/* out[t] = x[t] / sqrt(mean(x[t]^2) + eps) * w; rstd[t] = 1/sqrt(mean(x[t]^2)+eps) is saved when non-NULL. */
void rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int64_t n_tok, int64_t dim, float eps);
/* dx += ∂L/∂x (accumulates: the residual stream's gradient) and, if dw is non-NULL, dw += Σ_t ∂L/∂w (deterministic
   for any thread count), from dout = ∂L/∂out, the forward's x, w and saved rstd. */
void rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *w, const float *rstd,
                      int64_t n_tok, int64_t dim);

/* Rotates each head of x in place by angle pos·scale·base^(-2i/n_rot) for pair i < n_rot/2:
   pairs (2i, 2i+1) for PL_ROPE_NORMAL, (i, i+n_rot/2) for PL_ROPE_NEOX. x is [B][T][n_head*head_dim];
   the position of token t of every sequence is pos0 + t; freq_factors (n_rot/2, may be NULL) divide pair i's
   angle, as llama.cpp's rope_freqs. sign = +1 forward, -1 the inverse rotation. */
void rope_apply(float *x, int64_t B, int64_t T, int64_t pos0, int64_t n_head, int64_t head_dim, int64_t n_rot,
                float freq_base, float freq_scale, const float *freq_factors, int32_t rope_type, int sign);
/* RoPE backward: the rotation is orthogonal, so ∂L/∂x = Rᵀ·∂L/∂out is rope_apply(dx, ..., sign = -1) in place. */

/* Causal GQA attention: out[b][t][h] = Σ_s softmax_s(q[b][t][h]·k[b][s][h/g] / √hd) v[b][s][h/g] over s ≤ pos0+t.
   q, out are [B][Tq][n_head*hd]; k, v are [B][Tk][n_head_kv*hd] (batch stride kv_batch_stride floats);
   probs, if non-NULL, receives the softmax [B][n_head][Tq][Tk] (zeros past the causal limit). */
int32_t attention_forward(float *out, float *probs, const float *q, const float *k, const float *v,
                          int64_t B, int64_t Tq, int64_t Tk, int64_t pos0, int64_t n_head, int64_t n_head_kv,
                          int64_t hd, int64_t kv_batch_stride);
/* 1 if attention_forward_f16 runs here: AVX2 + FMA + F16C and hd a multiple of 8. */
int attention_f16_supported(int64_t hd);
/* attention_forward for one sequence (B = 1) over a head-major F16 cache (llama.cpp's default cache type): key s of K/V
   head hk at k[hk·head_stride + s·hd] (each head's keys contiguous: a decode step streams them), values likewise. Decode
   rows widen the keys and values as they read them; blocks of 8 or more queries widen the cache to F32 first and take the
   GEMM path. PL_ERR_UNSUPPORTED where attention_f16_supported says no. */
int32_t attention_forward_f16(float *out, const float *q, const uint16_t *k, const uint16_t *v, int64_t head_stride, int64_t Tq,
                              int64_t Tk, int64_t pos0, int64_t n_head, int64_t n_head_kv, int64_t hd);
/* Backward of causal attention over full sequences (pos0 = 0, Tq = Tk = T, k/v batch stride T*n_head_kv*hd):
   dP = dout·vᵀ, dS = P ⊙ (dP − rowsum(dP ⊙ P)), dq = dS·k/√hd, dk = dSᵀ·q/√hd, dv = Pᵀ·dout, with probs the
   [B][n_head][T][T] saved by attention_forward. Overwrites dq [B][T][n_head*hd], dk, dv [B][T][n_head_kv*hd];
   a shared K/V head gets the sum over its query heads, bit-identical for any thread count. Fails only for memory. */
int32_t attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                           const float *v, const float *probs, int64_t B, int64_t T, int64_t n_head,
                           int64_t n_head_kv, int64_t hd);
/* The same backward as dot-product loops (used for short sequences; the GEMM path is checked against it). */
int32_t attention_backward_rows(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                                const float *v, const float *probs, int64_t B, int64_t T, int64_t n_head,
                                int64_t n_head_kv, int64_t hd);

/* h = silu(g) * u with silu(x) = x / (1 + e^-x), n elements. */
void swiglu_forward(float *h, const float *g, const float *u, int64_t n);
/* dg = dh·u·σ(g)·(1 + g(1 − σ(g))), du = dh·silu(g) (overwritten); dg or du may alias dh, g or u element-wise. */
void swiglu_backward(float *dg, float *du, const float *dh, const float *g, const float *u, int64_t n);

/* out[i] += x[i], n elements. */
void residual_add(float *out, const float *x, int64_t n);

/* Rows of an embedding table: out[t] = dequant(table row tokens[t]); table rows are dim elements of type. */
void embedding_forward(float *out, const int32_t *tokens, int64_t n_tok, int32_t type, const void *table, int64_t dim);
/* dtable[tokens[t]] += dout[t] for an F32 table of dim-element rows; repeated tokens summed in token order (deterministic). */
void embedding_backward(float *dtable, const int32_t *tokens, const float *dout, int64_t n_tok, int64_t dim);

/* nll[t] = logsumexp(logits[t]) - logits[t][target[t]] (0 where target < 0); logits [n_tok][n_vocab]. */
void cross_entropy_forward(float *nll, const float *logits, const int32_t *targets, int64_t n_tok, int64_t n_vocab);
/* dlogits[t] = scale·(softmax(logits[t]) − onehot(target[t])), zero rows where target < 0; dlogits may alias logits. */
void cross_entropy_backward(float *dlogits, const float *logits, const int32_t *targets, int64_t n_tok, int64_t n_vocab,
                            float scale);
/* The training path: nll[t] exactly as cross_entropy_forward (skipped if nll is NULL) and logits overwritten in place
   by dlogits as cross_entropy_backward, one pass per row. */
void cross_entropy_fused(float *nll, float *logits, const int32_t *targets, int64_t n_tok, int64_t n_vocab, float scale);

#endif
