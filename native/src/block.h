/* One transformer block's forward with optional saved activations (shared by inference and training),
   and the adapted linear y = W x + Σ s·B(A x) forward/backward. */
#ifndef PL_BLOCK_H
#define PL_BLOCK_H

#include <stdint.h>
#include "model.h"

/* Activations of one block for N = B·T tokens. Fields marked (opt) may be NULL for inference. */
typedef struct block_acts {
    float *xn1;    /* [N, D] attn_norm(x_in) */
    float *rstd1;  /* [N] (opt) */
    float *q;      /* [N, Hq·hd] after RoPE */
    float *probs;  /* [B, Hq, T, Tk] (opt) softmax of the attention */
    float *att;    /* [N, Hq·hd] attention output (input of attn_output) */
    float *x_mid;  /* [N, D] (opt) residual after attention */
    float *xn2;    /* [N, D] ffn_norm(x_mid) */
    float *rstd2;  /* [N] (opt) */
    float *g;      /* [N, F] gate pre-activation */
    float *u;      /* [N, F] up */
    float *h;      /* [N, F] silu(g)·u (may equal g when nothing is saved) */
    float *tmp;    /* [N, D] projection output scratch */
    float *lora_tmp; /* [N, max rank] scratch of the adapter path when slot_u is NULL */
    float **slot_u;  /* (opt) per slot of the attached adapter: [N, rank] saved A x */
} block_acts;

/* y = W x + Σ_active slots s·B(A x) (+ bias) for the weight kind `which` of layer l over n rows;
   saves A x per slot into acts->slot_u when given. */
int32_t block_linear_forward(const pl_model *m, int64_t l, int32_t which, int32_t bias, const float *x, int64_t n,
                             float *y, block_acts *acts);

/* dx (+)= dy W + Σ s·(dy B) A, and the adapter gradients dB += s·dyᵀ(A x), dA += (s·dy B)ᵀ x for trainable
   factors; dw (F32 [out][in]), when non-NULL, += dyᵀ x. du_tmp is [n, max rank] scratch. */
int32_t block_linear_backward(const pl_model *m, int64_t l, int32_t which, const float *x, const float *dy, int64_t n,
                              float *dx, int accumulate, float *dw, float *const *slot_u, float *du_tmp);

/* One block in place on x [B·T, D]: new keys/values to k_new/v_new ([B·T, kv]); attention over k_all/v_all
   ([B][Tk][kv], batch stride kv_stride) at positions ≤ pos0+t. */
int32_t block_forward(const pl_model *m, int64_t l, float *x, int64_t B, int64_t T, int64_t pos0,
                      float *k_new, float *v_new, const float *k_all, const float *v_all,
                      int64_t Tk, int64_t kv_stride, block_acts *acts);
/* The two halves of block_forward around its attention: the normalised input's queries (acts->q, roped), keys (k_new,
   roped) and values (v_new); then, from the attention's output in acts->att, the output projection, the residual,
   and the feed-forward half, in place on x [n, D]. */
int32_t block_forward_qkv(const pl_model *m, int64_t l, const float *x, int64_t B, int64_t T, int64_t pos0,
                          float *k_new, float *v_new, block_acts *acts);
int32_t block_forward_rest(const pl_model *m, int64_t l, float *x, int64_t n, block_acts *acts);

#endif
