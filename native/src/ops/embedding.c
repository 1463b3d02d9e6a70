/* Token embedding lookup over a (possibly quantized) table. */
#include "common.h"
#include "ops/ops.h"
#include "quant/quant.h"
#include "pool.h"

typedef struct {
    float *out;
    const int32_t *tokens;
    int32_t type;
    const void *table;
    const float *dout;
    int64_t n_tok, dim, row_bytes;
} embedding_args;

static void embedding_forward_chunk(void *ctx, int64_t t0, int64_t t1, int worker) {
    const embedding_args *a = ctx;
    for (int64_t t = t0; t < t1; t++)
        pl_dequant_row(a->type, (const char *)a->table + (int64_t)a->tokens[t] * a->row_bytes, a->out + t * a->dim, a->dim);
}

/* out[t] = dequant(table[tokens[t]]): one table row of dim elements per token. */
void embedding_forward(float *out, const int32_t *tokens, int64_t n_tok, int32_t type, const void *table, int64_t dim) {
    embedding_args a = {.out = out, .tokens = tokens, .type = type, .table = table, .n_tok = n_tok, .dim = dim,
                        .row_bytes = dim / pl_type_block_elems(type) * pl_type_block_bytes(type)};
    const int width = pl_threads();
    if (n_tok * dim <= 65536 || width <= 1) embedding_forward_chunk(&a, 0, n_tok, 0);
    else pl_parallel_for(n_tok, pl_grain_for(n_tok, width, 8, 1), width, embedding_forward_chunk, &a);
}

enum { EMB_COLS = 256 };

static void embedding_backward_chunk(void *ctx, int64_t b0, int64_t b1, int worker) {
    const embedding_args *a = ctx;
    float *dtable = a->out;
    for (int64_t blk = b0; blk < b1; blk++) {
        const int64_t i0 = blk * EMB_COLS, n = a->dim - i0 < EMB_COLS ? a->dim - i0 : EMB_COLS;
        for (int64_t t = 0; t < a->n_tok; t++) {
            float *drow = dtable + (int64_t)a->tokens[t] * a->dim + i0;
            const float *dt = a->dout + t * a->dim + i0;
            for (int64_t i = 0; i < n; i++) drow[i] += dt[i];
        }
    }
}

/* dtable[tokens[t]] += dout[t] over an F32 table [n_vocab][dim]. Chunks own blocks of columns and add the
   tokens in order, so repeated tokens are summed deterministically (bit-identical for any thread count). */
void embedding_backward(float *dtable, const int32_t *tokens, const float *dout, int64_t n_tok, int64_t dim) {
    embedding_args a = {.out = dtable, .tokens = tokens, .dout = dout, .n_tok = n_tok, .dim = dim};
    const int64_t n_blocks = (dim + EMB_COLS - 1) / EMB_COLS;
    const int width = pl_threads();
    if (n_tok * dim <= 65536 || width <= 1) embedding_backward_chunk(&a, 0, n_blocks, 0);
    else pl_parallel_for(n_blocks, 1, width, embedding_backward_chunk, &a);
}
