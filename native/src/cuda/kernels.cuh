/* The CUDA twins of src/ops/: each op's forward and backward, launched on a stream. Activations are row-major F32
   [n_tok][dim] like the CPU's; GEMM inputs may also be written as BF16 copies (the *_bf16 outputs, NULL = skip).
   Arguments are validated by the caller; every launcher returns PL_OK or a status with the message set.
   Sizes up to int64; a launcher picks its grid so that no grid dimension overflows. */
#ifndef PLC_KERNELS_CUH
#define PLC_KERNELS_CUH

#include "cuda_common.cuh"

/* ---- conversions and element-wise helpers (convert.cu) ---- */
/* dst[i] = bf16(src[i]) (round to nearest even), n elements. */
int32_t plc_f32_to_bf16(bf16 *dst, const float *src, int64_t n, cudaStream_t s);
/* dst[i] = float(src[i]). */
int32_t plc_bf16_to_f32(float *dst, const bf16 *src, int64_t n, cudaStream_t s);
/* out[i] += x[i] (the residual stream), n elements. */
int32_t plc_residual_add(float *out, const float *x, int64_t n, cudaStream_t s);
/* x[i] = 0 for n floats (cudaMemsetAsync). */
int32_t plc_zero(float *x, int64_t n, cudaStream_t s);

/* ---- embedding.cu ---- */
/* out[t] = table row tokens[t] (dim elements; table is BF16 when table_bf16 != 0, else F32). */
int32_t plc_embedding_forward(float *out, const int32_t *tokens, int64_t n_tok, const void *table, int table_bf16,
                              int64_t dim, cudaStream_t s);
/* dtable[tokens[t]] += dout[t] for an F32 table: parallel over columns, tokens added in order (deterministic). */
int32_t plc_embedding_backward(float *dtable, const int32_t *tokens, const float *dout, int64_t n_tok, int64_t dim,
                               cudaStream_t s);

/* ---- rmsnorm.cu ---- */
/* out[t] = x[t]·rstd[t]·w with rstd[t] = 1/sqrt(mean(x[t]²) + eps); out_bf16 (opt) the same rounded to BF16;
   rstd (opt) saved. One block per row. */
int32_t plc_rmsnorm_forward(float *out, bf16 *out_bf16, float *rstd, const float *x, const float *w, int64_t n_tok,
                            int64_t dim, float eps, cudaStream_t s);
/* dx[t] += rstd·(w⊙dout − x̂·mean(x̂⊙w⊙dout)) with x̂ = x·rstd (accumulates into the residual gradient);
   dw (opt) += Σ_t dout[t]⊙x̂[t], summed over tokens in order (deterministic). */
int32_t plc_rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *w, const float *rstd,
                             int64_t n_tok, int64_t dim, cudaStream_t s);

/* ---- rope.cu ---- */
/* Rotates each head of x [B][T][n_head·head_dim] in place by θ = (pos0+t)·freq_scale·base^(−2i/n_rot) / ff[i] for pair
   i < n_rot/2 (ff = freq_factors, device, may be NULL): pairs (2i, 2i+1) for PL_ROPE_NORMAL, (i, i+n_rot/2) for
   PL_ROPE_NEOX; dims ≥ n_rot untouched. sign = +1 forward, −1 the inverse rotation (the backward). Angles in double
   as the CPU computes them. */
int32_t plc_rope(float *x, int64_t B, int64_t T, int64_t pos0, int64_t n_head, int64_t head_dim, int64_t n_rot,
                 float freq_base, float freq_scale, const float *freq_factors, int32_t rope_type, int sign,
                 cudaStream_t s);

/* ---- swiglu.cu ---- */
/* h = silu(g)·u, h_bf16 (opt) the same as BF16. */
int32_t plc_swiglu_forward(float *h, bf16 *h_bf16, const float *g, const float *u, int64_t n, cudaStream_t s);
/* dg = dh·u·σ(g)·(1 + g(1−σ(g))), du = dh·silu(g); dg/du may alias dh, g or u element-wise. */
int32_t plc_swiglu_backward(float *dg, float *du, const float *dh, const float *g, const float *u, int64_t n,
                            cudaStream_t s);

/* ---- cross_entropy.cu ---- */
/* nll[t] = logsumexp(logits[t]) − logits[t][target[t]] (0 where target < 0). One block per row. */
int32_t plc_cross_entropy_forward(float *nll, const float *logits, const int32_t *targets, int64_t n_tok,
                                  int64_t n_vocab, cudaStream_t s);
/* Training: nll (opt) as above, then dlogits[t] = scale·(softmax(logits[t]) − onehot(target[t])) (zero rows where
   target < 0) written over logits (F32) and/or into dlogits_bf16 (opt). One pass over the row after the max/sum. */
int32_t plc_cross_entropy_fused(float *nll, float *logits, bf16 *dlogits_bf16, const int32_t *targets, int64_t n_tok,
                                int64_t n_vocab, float scale, cudaStream_t s);

/* ---- adamw.cu ---- */
/* m = β1 m + (1−β1) g', v = β2 v + (1−β2) g'², w −= lr (m/bc1 / (sqrt(v/bc2) + eps) + wd·w), g' = grad_scale·g. */
int32_t plc_adamw(float *w, const float *g, float *m, float *v, int64_t n, float lr, float beta1, float beta2,
                  float eps, float weight_decay, float grad_scale, float bc1, float bc2, cudaStream_t s);
/* *out = Σ x[i]² in double over n floats, written to device memory out (fixed reduction order: deterministic). */
int32_t plc_sumsq(double *out, const float *x, int64_t n, cudaStream_t s);

/* ---- attention.cu (flash-style: no T×T matrix in memory) ---- */
/* Causal GQA attention: out[b][t][h] = Σ_{s ≤ pos0+t, s < Tk} softmax_s(q[b][t][h]·k[b][s][h/g]/√hd) v[b][s][h/g].
   q, out [B][Tq][n_head·hd]; k, v [B][Tk][n_head_kv·hd] with batch stride kv_stride floats; lse (opt) [B][n_head][Tq]
   receives the log-sum-exp of the scaled scores of each query (for the backward). use_bf16 = 1: tensor cores (BF16
   operands rounded from the F32 inputs, F32 accumulation and softmax) where hd is a multiple of 16 on an sm_80+ device
   with the shared memory for it, else (and for use_bf16 = 0) F32 on CUDA cores. */
int32_t plc_attention_forward(float *out, float *lse, const float *q, const float *k, const float *v, int64_t B,
                              int64_t Tq, int64_t Tk, int64_t pos0, int64_t n_head, int64_t n_head_kv, int64_t hd,
                              int64_t kv_stride, cudaStream_t s, int use_bf16);
/* Backward over full causal sequences (pos0 = 0, Tq = Tk = T, kv_stride = T·n_head_kv·hd) from the forward's out and lse:
   D = rowsum(dout⊙out), dS = P⊙(dout·vᵀ − D), dq = dS·k/√hd, dk = dSᵀ·q/√hd (summed over the query heads of a K/V
   head), dv = Pᵀ·dout (likewise). Overwrites dq, dk, dv; deterministic (no atomics). scratch: B·n_head·T floats.
   use_bf16 as in the forward (D stays F32). */
int32_t plc_attention_backward(float *dq, float *dk, float *dv, const float *dout, const float *q, const float *k,
                               const float *v, const float *out, const float *lse, float *scratch, int64_t B,
                               int64_t T, int64_t n_head, int64_t n_head_kv, int64_t hd, cudaStream_t s, int use_bf16);

#endif
