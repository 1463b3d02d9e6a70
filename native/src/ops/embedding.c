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
