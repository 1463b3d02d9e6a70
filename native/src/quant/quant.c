/* The type table of ggml's tensor types and the row codec dispatch (pl_dequant_row / pl_quant_row). */
#include "common.h"
#include "quant_internal.h"

/* One row of the type table. */
typedef struct {
    int32_t id;             /* enum pl_type */
    const char *name;
    int64_t block_elems;
    int64_t block_bytes;
    int can_dequantize;
    int can_quantize;
} pl_type_traits;

/* Every type this engine knows, with ggml's block sizes. */
static const pl_type_traits PL_TYPE_TABLE[] = {
    {PL_TYPE_F32, "F32", 1, 4, 1, 1},
    {PL_TYPE_F16, "F16", 1, 2, 1, 1},
    {PL_TYPE_Q4_0, "Q4_0", PL_QK4_0, sizeof(pl_block_q4_0), 1, 1},
    {PL_TYPE_Q4_1, "Q4_1", PL_QK4_1, sizeof(pl_block_q4_1), 1, 1},
    {PL_TYPE_Q5_0, "Q5_0", PL_QK5_0, sizeof(pl_block_q5_0), 1, 1},
    {PL_TYPE_Q5_1, "Q5_1", PL_QK5_1, sizeof(pl_block_q5_1), 1, 1},
    {PL_TYPE_Q8_0, "Q8_0", PL_QK8_0, sizeof(pl_block_q8_0), 1, 1},
    {PL_TYPE_Q8_1, "Q8_1", PL_QK8_1, sizeof(pl_block_q8_1), 0, 0},
    {PL_TYPE_Q2_K, "Q2_K", PL_QK_K, sizeof(pl_block_q2_K), 1, 1},
    {PL_TYPE_Q3_K, "Q3_K", PL_QK_K, sizeof(pl_block_q3_K), 1, 1},
    {PL_TYPE_Q4_K, "Q4_K", PL_QK_K, sizeof(pl_block_q4_K), 1, 1},
    {PL_TYPE_Q5_K, "Q5_K", PL_QK_K, sizeof(pl_block_q5_K), 1, 1},
    {PL_TYPE_Q6_K, "Q6_K", PL_QK_K, sizeof(pl_block_q6_K), 1, 1},
    {PL_TYPE_Q8_K, "Q8_K", PL_QK_K, sizeof(pl_block_q8_K), 0, 0},
    {PL_TYPE_BF16, "BF16", 1, 2, 1, 1},
};

/* The table row of a type id, or NULL for an unknown id. */
static const pl_type_traits *type_traits(int32_t type) {
    for (size_t i = 0; i < sizeof PL_TYPE_TABLE / sizeof PL_TYPE_TABLE[0]; i++) {
        if (PL_TYPE_TABLE[i].id == type) return &PL_TYPE_TABLE[i];
    }
    return NULL;
}

/* 1 if the id is in the type table. */
int pl_type_known(int32_t type) { return type_traits(type) != NULL; }

/* Elements per block (0 if unknown). */
int64_t pl_type_block_elems(int32_t type) {
    const pl_type_traits *t = type_traits(type);
    return t ? t->block_elems : 0;
}

/* Bytes per block (0 if unknown). */
int64_t pl_type_block_bytes(int32_t type) {
    const pl_type_traits *t = type_traits(type);
    return t ? t->block_bytes : 0;
}

/* Printable name, "?" if unknown. */
const char *pl_type_name(int32_t type) {
    const pl_type_traits *t = type_traits(type);
    return t ? t->name : "?";
}

/* 1 if pl_dequant_row decodes the type. */
int pl_type_can_dequantize(int32_t type) {
    const pl_type_traits *t = type_traits(type);
    return t ? t->can_dequantize : 0;
}

/* 1 if pl_quant_row encodes the type. */
int pl_type_can_quantize(int32_t type) {
    const pl_type_traits *t = type_traits(type);
    return t ? t->can_quantize : 0;
}

/* Decodes n elements of type from src into dst (n a multiple of the block size; type dequantizable). */
void pl_dequant_row(int32_t type, const void *src, float *dst, int64_t n) {
    switch (type) {
    case PL_TYPE_F32: memcpy(dst, src, (size_t)n * sizeof(float)); break;
    case PL_TYPE_F16: pl_dequant_row_f16(src, dst, n); break;
    case PL_TYPE_BF16: pl_dequant_row_bf16(src, dst, n); break;
    case PL_TYPE_Q4_0: pl_dequant_row_q4_0(src, dst, n); break;
    case PL_TYPE_Q4_1: pl_dequant_row_q4_1(src, dst, n); break;
    case PL_TYPE_Q5_0: pl_dequant_row_q5_0(src, dst, n); break;
    case PL_TYPE_Q5_1: pl_dequant_row_q5_1(src, dst, n); break;
    case PL_TYPE_Q8_0: pl_dequant_row_q8_0(src, dst, n); break;
    case PL_TYPE_Q2_K: pl_dequant_row_q2_K(src, dst, n); break;
    case PL_TYPE_Q3_K: pl_dequant_row_q3_K(src, dst, n); break;
    case PL_TYPE_Q4_K: pl_dequant_row_q4_K(src, dst, n); break;
    case PL_TYPE_Q5_K: pl_dequant_row_q5_K(src, dst, n); break;
    case PL_TYPE_Q6_K: pl_dequant_row_q6_K(src, dst, n); break;
    default: break; /* callers check pl_type_can_dequantize first */
    }
}

/* Encodes n floats from src into dst with ggml's reference rounding (n a multiple of the block size; type quantizable). */
void pl_quant_row(int32_t type, const float *src, void *dst, int64_t n) {
    switch (type) {
    case PL_TYPE_F32: memcpy(dst, src, (size_t)n * sizeof(float)); break;
    case PL_TYPE_F16: pl_quant_row_f16(src, dst, n); break;
    case PL_TYPE_BF16: pl_quant_row_bf16(src, dst, n); break;
    case PL_TYPE_Q4_0: pl_quant_row_q4_0(src, dst, n); break;
    case PL_TYPE_Q4_1: pl_quant_row_q4_1(src, dst, n); break;
    case PL_TYPE_Q5_0: pl_quant_row_q5_0(src, dst, n); break;
    case PL_TYPE_Q5_1: pl_quant_row_q5_1(src, dst, n); break;
    case PL_TYPE_Q8_0: pl_quant_row_q8_0(src, dst, n); break;
    case PL_TYPE_Q2_K: pl_quant_row_q2_K(src, dst, n); break;
    case PL_TYPE_Q3_K: pl_quant_row_q3_K(src, dst, n); break;
    case PL_TYPE_Q4_K: pl_quant_row_q4_K(src, dst, n); break;
    case PL_TYPE_Q5_K: pl_quant_row_q5_K(src, dst, n); break;
    case PL_TYPE_Q6_K: pl_quant_row_q6_K(src, dst, n); break;
    default: break; /* callers check pl_type_can_quantize first */
    }
}
