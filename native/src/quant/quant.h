/* Codecs of ggml's tensor types: block layouts bit-identical to ggml's.
   These internal entry points do not validate; the public pl_dequantize / pl_quantize do. */
#ifndef PL_QUANT_H
#define PL_QUANT_H

#include <stdint.h>

/* IEEE half and bfloat16 conversions (round to nearest even; NaN kept NaN). */
float pl_fp16_to_fp32(uint16_t h);
uint16_t pl_fp32_to_fp16(float f);
float pl_bf16_to_fp32(uint16_t h);
uint16_t pl_fp32_to_bf16(float f);

/* 1 if the type id is one this engine knows (its block size and bytes are defined). */
int pl_type_known(int32_t type);
/* Elements per block, bytes per block (0 for an unknown type). */
int64_t pl_type_block_elems(int32_t type);
int64_t pl_type_block_bytes(int32_t type);
/* Printable name ("Q4_K"), "?" for unknown. */
const char *pl_type_name(int32_t type);
/* 1 if pl_dequant_row / pl_quant_row support the type. */
int pl_type_can_dequantize(int32_t type);
int pl_type_can_quantize(int32_t type);

/* Decodes n elements (a multiple of the block size) starting at src. */
void pl_dequant_row(int32_t type, const void *src, float *dst, int64_t n);
/* Encodes n floats (a multiple of the block size) into dst with ggml's reference rounding. */
void pl_quant_row(int32_t type, const float *src, void *dst, int64_t n);

#endif
