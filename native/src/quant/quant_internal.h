/* Block layouts of ggml's quantized types and helpers shared by the codec sources.
   Structs are packed so that blocks may start at any byte address (memory-mapped GGUF rows);
   multi-byte fields are little-endian, as in GGUF files. Internal to src/quant/. */
#ifndef PL_QUANT_INTERNAL_H
#define PL_QUANT_INTERNAL_H

#include <stdint.h>
#include <string.h>
#include "quant.h"

#define PL_QK4_0 32
#define PL_QK4_1 32
#define PL_QK5_0 32
#define PL_QK5_1 32
#define PL_QK8_0 32
#define PL_QK8_1 32
#define PL_QK_K 256
#define PL_K_SCALE_BYTES 12 /* 8 six-bit scales + 8 six-bit mins of Q4_K/Q5_K, or 16 six-bit scales of Q3_K */

/* Compiles one function for AVX2+FMA+F16C; callers choose it at run time. */
#define PL_TARGET_AVX2 __attribute__((target("avx2,fma,f16c")))
#define PL_ALWAYS_INLINE __attribute__((always_inline)) static inline

/* 32 weights: x = d * (q - 8), q a 4-bit code. */
typedef struct __attribute__((packed)) {
    uint16_t d;              /* fp16 scale */
    uint8_t qs[PL_QK4_0 / 2]; /* element j < 16: low nibble of qs[j]; element j >= 16: high nibble of qs[j-16] */
} pl_block_q4_0;

/* 32 weights: x = d * q + m. */
typedef struct __attribute__((packed)) {
    uint16_t d; /* fp16 scale */
    uint16_t m; /* fp16 minimum */
    uint8_t qs[PL_QK4_1 / 2];
} pl_block_q4_1;

/* 32 weights: x = d * (q - 16), q a 5-bit code whose top bit lives in qh. */
typedef struct __attribute__((packed)) {
    uint16_t d;
    uint8_t qh[4]; /* bit j (little-endian uint32) = bit 4 of element j */
    uint8_t qs[PL_QK5_0 / 2];
} pl_block_q5_0;

/* 32 weights: x = d * q + m, q a 5-bit code. */
typedef struct __attribute__((packed)) {
    uint16_t d;
    uint16_t m;
    uint8_t qh[4];
    uint8_t qs[PL_QK5_1 / 2];
} pl_block_q5_1;

/* 32 weights: x = d * q, q a signed byte. */
typedef struct __attribute__((packed)) {
    uint16_t d;
    int8_t qs[PL_QK8_0];
} pl_block_q8_0;

/* 32 weights: x = d * q; s = d * sum(q) (an activation format for dot products). */
typedef struct __attribute__((packed)) {
    uint16_t d;
    uint16_t s;
    int8_t qs[PL_QK8_1];
} pl_block_q8_1;

/* 256 weights in 16 groups of 16: x = d * (scales[g] & 15) * q - dmin * (scales[g] >> 4), q 2-bit. */
typedef struct __attribute__((packed)) {
    uint8_t scales[PL_QK_K / 16];
    uint8_t qs[PL_QK_K / 4];
    uint16_t d;
    uint16_t dmin;
} pl_block_q2_K;

/* 256 weights in 16 groups of 16: x = d * (s6[g] - 32) * (q2 - (hbit ? 0 : 4)). */
typedef struct __attribute__((packed)) {
    uint8_t hmask[PL_QK_K / 8];
    uint8_t qs[PL_QK_K / 4];
    uint8_t scales[PL_K_SCALE_BYTES];
    uint16_t d;
} pl_block_q3_K;

/* 256 weights in 8 groups of 32: x = d * sc[g] * q - dmin * mn[g], sc/mn 6-bit, q 4-bit. */
typedef struct __attribute__((packed)) {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[PL_K_SCALE_BYTES];
    uint8_t qs[PL_QK_K / 2];
} pl_block_q4_K;

/* 256 weights in 8 groups of 32: as Q4_K with a fifth bit per weight in qh. */
typedef struct __attribute__((packed)) {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[PL_K_SCALE_BYTES];
    uint8_t qh[PL_QK_K / 8];
    uint8_t qs[PL_QK_K / 2];
} pl_block_q5_K;

/* 256 weights in 16 groups of 16: x = d * scales[g] * (q - 32), q 6-bit (4 low bits in ql, 2 high in qh). */
typedef struct __attribute__((packed)) {
    uint8_t ql[PL_QK_K / 2];
    uint8_t qh[PL_QK_K / 4];
    int8_t scales[PL_QK_K / 16];
    uint16_t d;
} pl_block_q6_K;

/* 256 weights: x = d * q with an F32 scale; bsums are sums of q over groups of 16. */
typedef struct __attribute__((packed)) {
    float d;
    int8_t qs[PL_QK_K];
    int16_t bsums[PL_QK_K / 16];
} pl_block_q8_K;

_Static_assert(sizeof(pl_block_q4_0) == 18, "Q4_0 block size");
_Static_assert(sizeof(pl_block_q4_1) == 20, "Q4_1 block size");
_Static_assert(sizeof(pl_block_q5_0) == 22, "Q5_0 block size");
_Static_assert(sizeof(pl_block_q5_1) == 24, "Q5_1 block size");
_Static_assert(sizeof(pl_block_q8_0) == 34, "Q8_0 block size");
_Static_assert(sizeof(pl_block_q8_1) == 36, "Q8_1 block size");
_Static_assert(sizeof(pl_block_q2_K) == 84, "Q2_K block size");
_Static_assert(sizeof(pl_block_q3_K) == 110, "Q3_K block size");
_Static_assert(sizeof(pl_block_q4_K) == 144, "Q4_K block size");
_Static_assert(sizeof(pl_block_q5_K) == 176, "Q5_K block size");
_Static_assert(sizeof(pl_block_q6_K) == 210, "Q6_K block size");
_Static_assert(sizeof(pl_block_q8_K) == 292, "Q8_K block size");

/* The bits of a float. */
static inline uint32_t pl_f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* The float with the given bits. */
static inline float pl_f32_from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* The 16-bit code at byte address p (any alignment). */
static inline uint16_t pl_load_u16(const uint8_t *p) {
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Stores a 16-bit code at byte address p (any alignment). */
static inline void pl_store_u16(uint8_t *p, uint16_t v) { memcpy(p, &v, sizeof v); }

/* The float value of an IEEE half: normals rebias the exponent (15 -> 127), subnormals are mant * 2^-24,
   inf/NaN keep their payload. Written with selects so that loops over it vectorize; inlined into the
   block decoders (pl_fp16_to_fp32 is the out-of-line form). */
static inline float pl_half_to_float(uint16_t h) {
    const uint32_t sign = ((uint32_t)h & 0x8000u) << 16;
    const uint32_t magnitude = (uint32_t)h & 0x7fffu;              /* exponent and mantissa */
    const uint32_t normal_bits = (magnitude << 13) + (112u << 23);  /* rebias 15 -> 127 */
    const uint32_t special_bits = (magnitude << 13) | 0x7f800000u; /* inf / NaN */
    const uint32_t subnormal_bits = pl_f32_bits((float)magnitude * 0x1p-24f); /* exact, also for zero */
    const uint32_t bits = magnitude >= 0x7c00u ? special_bits : magnitude >= 0x0400u ? normal_bits : subnormal_bits;
    return pl_f32_from_bits(bits | sign);
}

/* f rounded to the nearest integer, ties to even (valid for |f| < 2^22, as ggml's quantizers assume):
   adding 1.5 * 2^23 leaves the integer in the low mantissa bits. */
static inline int pl_round_nearest_even(float f) {
    uint32_t u = pl_f32_bits(f + 12582912.0f);
    return (int)(u & 0x007fffffu) - 0x00400000;
}

/* Scale and minimum number j (0..7) of the 12-byte 6-bit packing of Q4_K/Q5_K:
   j < 4: low 6 bits of bytes j and j+4; j >= 4: nibbles of byte j+4 plus the top 2 bits of bytes j-4 and j. */
static inline void pl_unpack_k4_scale_min(int j, const uint8_t *packed, uint8_t *scale, uint8_t *min) {
    if (j < 4) {
        *scale = packed[j] & 63;
        *min = packed[j + 4] & 63;
    } else {
        *scale = (uint8_t)((packed[j + 4] & 0x0F) | ((packed[j - 4] >> 6) << 4));
        *min = (uint8_t)((packed[j + 4] >> 4) | ((packed[j] >> 6) << 4));
    }
}

/* Per-type row codecs (src/quant/quant_legacy.c, quant_k.c, fp16.c); n is a multiple of the block size. */
/* F16/BF16 rows may start at any byte address (their 16-bit codes are read and written bytewise). */
void pl_dequant_row_f16(const void *src, float *dst, int64_t n);
void pl_dequant_row_bf16(const void *src, float *dst, int64_t n);
void pl_quant_row_f16(const float *src, void *dst, int64_t n);
void pl_quant_row_bf16(const float *src, void *dst, int64_t n);

void pl_dequant_row_q4_0(const pl_block_q4_0 *src, float *dst, int64_t n);
void pl_dequant_row_q4_1(const pl_block_q4_1 *src, float *dst, int64_t n);
void pl_dequant_row_q5_0(const pl_block_q5_0 *src, float *dst, int64_t n);
void pl_dequant_row_q5_1(const pl_block_q5_1 *src, float *dst, int64_t n);
void pl_dequant_row_q8_0(const pl_block_q8_0 *src, float *dst, int64_t n);
void pl_quant_row_q4_0(const float *src, pl_block_q4_0 *dst, int64_t n);
void pl_quant_row_q4_1(const float *src, pl_block_q4_1 *dst, int64_t n);
void pl_quant_row_q5_0(const float *src, pl_block_q5_0 *dst, int64_t n);
void pl_quant_row_q5_1(const float *src, pl_block_q5_1 *dst, int64_t n);
void pl_quant_row_q8_0(const float *src, pl_block_q8_0 *dst, int64_t n);

void pl_dequant_row_q2_K(const pl_block_q2_K *src, float *dst, int64_t n);
void pl_dequant_row_q3_K(const pl_block_q3_K *src, float *dst, int64_t n);
void pl_dequant_row_q4_K(const pl_block_q4_K *src, float *dst, int64_t n);
void pl_dequant_row_q5_K(const pl_block_q5_K *src, float *dst, int64_t n);
void pl_dequant_row_q6_K(const pl_block_q6_K *src, float *dst, int64_t n);
void pl_quant_row_q2_K(const float *src, pl_block_q2_K *dst, int64_t n);
void pl_quant_row_q3_K(const float *src, pl_block_q3_K *dst, int64_t n);
void pl_quant_row_q4_K(const float *src, pl_block_q4_K *dst, int64_t n);
void pl_quant_row_q5_K(const float *src, pl_block_q5_K *dst, int64_t n);
void pl_quant_row_q6_K(const float *src, pl_block_q6_K *dst, int64_t n);

/* 1 if this CPU runs the PL_TARGET_AVX2 kernels (AVX2, FMA and F16C). */
int pl_cpu_has_avx2_f16c(void);

#endif
