/* Token embedding lookup over a (possibly quantized) table. */
#include "common.h"
#include "ops/ops.h"
#include "quant/quant.h"

/* out[t] = dequant(table[tokens[t]]): one table row of dim elements per token. */
void embedding_forward(float *out, const int32_t *tokens, int64_t n_tok, int32_t type, const void *table, int64_t dim) {
    const int64_t row_bytes = dim / pl_type_block_elems(type) * pl_type_block_bytes(type);
    #pragma omp parallel for num_threads(pl_threads()) schedule(static) if (n_tok * dim > 65536)
    for (int64_t t = 0; t < n_tok; t++)
        pl_dequant_row(type, (const char *)table + (int64_t)tokens[t] * row_bytes, out + t * dim, dim);
}

/* dtable[tokens[t]] += dout[t] over an F32 table [n_vocab][dim]. Threads own blocks of columns and add the
   tokens in order, so repeated tokens are summed deterministically (bit-identical for any thread count). */
void embedding_backward(float *dtable, const int32_t *tokens, const float *dout, int64_t n_tok, int64_t dim) {
    enum { COLS = 256 };
    const int64_t n_blocks = (dim + COLS - 1) / COLS;
    #pragma omp parallel for num_threads(pl_threads()) schedule(static) if (n_tok * dim > 65536)
    for (int64_t blk = 0; blk < n_blocks; blk++) {
        const int64_t i0 = blk * COLS, n = dim - i0 < COLS ? dim - i0 : COLS;
        for (int64_t t = 0; t < n_tok; t++) {
            float *drow = dtable + (int64_t)tokens[t] * dim + i0;
            const float *dt = dout + t * dim + i0;
            #pragma omp simd
            for (int64_t i = 0; i < n; i++) drow[i] += dt[i];
        }
    }
}
