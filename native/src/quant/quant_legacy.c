/* ggml's 32-element block types: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 (decode, and encode with ggml's reference rounding). */
#include <float.h>
#include <math.h>
#include "common.h"
#include "quant_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

/* ---- decoding: each *_blocks body is compiled twice (portable and AVX2) and chosen at run time ---- */

/* y = d * (q - 8) per Q4_0 block; element j < 16 is the low nibble of qs[j], element j + 16 its high nibble. */
PL_ALWAYS_INLINE void dequant_q4_0_blocks(const pl_block_q4_0 *restrict blocks, float *restrict y, int64_t nb) {
    for (int64_t b = 0; b < nb; b++) {
        const float d = pl_half_to_float(blocks[b].d);
        const uint8_t *qs = blocks[b].qs;
        float *out = y + b * PL_QK4_0;
        for (int j = 0; j < PL_QK4_0 / 2; j++) {
            out[j] = (float)((int)(qs[j] & 0x0F) - 8) * d;
            out[j + PL_QK4_0 / 2] = (float)((int)(qs[j] >> 4) - 8) * d;
        }
    }
}

/* y = d * q per Q8_0 block of 32 signed bytes. */
PL_ALWAYS_INLINE void dequant_q8_0_blocks(const pl_block_q8_0 *restrict blocks, float *restrict y, int64_t nb) {
    for (int64_t b = 0; b < nb; b++) {
        const float d = pl_half_to_float(blocks[b].d);
        const int8_t *qs = blocks[b].qs;
        float *out = y + b * PL_QK8_0;
        for (int j = 0; j < PL_QK8_0; j++) out[j] = (float)qs[j] * d;
    }
}

/* Portable Q4_0 row decoder. */
static void dequant_q4_0_generic(const pl_block_q4_0 *src, float *dst, int64_t nb) { dequant_q4_0_blocks(src, dst, nb); }
/* Q8_0 row decoder, portable. */
static void dequant_q8_0_generic(const pl_block_q8_0 *src, float *dst, int64_t nb) { dequant_q8_0_blocks(src, dst, nb); }
#if defined(__x86_64__) || defined(__i386__)
/* Q4_0 row decoder with AVX2: 16 bytes give 32 codes, widened to int32, (q - 8) converted and scaled
   (the same single rounding per element as the portable code, so the same results). */
PL_TARGET_AVX2 static void dequant_q4_0_avx2(const pl_block_q4_0 *restrict src, float *restrict dst, int64_t nb) {
    const __m128i low_mask = _mm_set1_epi8(0x0F);
    const __m256i eight = _mm256_set1_epi32(8);
    for (int64_t b = 0; b < nb; b++) {
        const __m256 d = _mm256_set1_ps(pl_half_to_float(src[b].d));
        const __m128i packed = _mm_loadu_si128((const __m128i *)src[b].qs);
        const __m128i lo = _mm_and_si128(packed, low_mask);
        const __m128i hi = _mm_and_si128(_mm_srli_epi16(packed, 4), low_mask);
        const __m256i q0 = _mm256_sub_epi32(_mm256_cvtepu8_epi32(lo), eight);
        const __m256i q1 = _mm256_sub_epi32(_mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8)), eight);
        const __m256i q2 = _mm256_sub_epi32(_mm256_cvtepu8_epi32(hi), eight);
        const __m256i q3 = _mm256_sub_epi32(_mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8)), eight);
        float *out = dst + b * PL_QK4_0;
        _mm256_storeu_ps(out + 0, _mm256_mul_ps(_mm256_cvtepi32_ps(q0), d));
        _mm256_storeu_ps(out + 8, _mm256_mul_ps(_mm256_cvtepi32_ps(q1), d));
        _mm256_storeu_ps(out + 16, _mm256_mul_ps(_mm256_cvtepi32_ps(q2), d));
        _mm256_storeu_ps(out + 24, _mm256_mul_ps(_mm256_cvtepi32_ps(q3), d));
    }
}
/* Q8_0 row decoder compiled for AVX2. */
PL_TARGET_AVX2 static void dequant_q8_0_avx2(const pl_block_q8_0 *src, float *dst, int64_t nb) { dequant_q8_0_blocks(src, dst, nb); }
#endif

/* Decodes a Q4_0 row of n elements. */
void pl_dequant_row_q4_0(const pl_block_q4_0 *restrict src, float *restrict dst, int64_t n) {
#if defined(__x86_64__) || defined(__i386__)
    if (pl_cpu_has_avx2_f16c()) { dequant_q4_0_avx2(src, dst, n / PL_QK4_0); return; }
#endif
    dequant_q4_0_generic(src, dst, n / PL_QK4_0);
}

/* Decodes a Q8_0 row of n elements. */
void pl_dequant_row_q8_0(const pl_block_q8_0 *restrict src, float *restrict dst, int64_t n) {
#if defined(__x86_64__) || defined(__i386__)
    if (pl_cpu_has_avx2_f16c()) { dequant_q8_0_avx2(src, dst, n / PL_QK8_0); return; }
#endif
    dequant_q8_0_generic(src, dst, n / PL_QK8_0);
}

/* Decodes a Q4_1 row: y = d * q + m. */
void pl_dequant_row_q4_1(const pl_block_q4_1 *restrict src, float *restrict dst, int64_t n) {
    const int64_t nb = n / PL_QK4_1;
    for (int64_t b = 0; b < nb; b++) {
        const float d = pl_half_to_float(src[b].d);
        const float m = pl_half_to_float(src[b].m);
        float *out = dst + b * PL_QK4_1;
        for (int j = 0; j < PL_QK4_1 / 2; j++) {
            out[j] = (float)(src[b].qs[j] & 0x0F) * d + m;
            out[j + PL_QK4_1 / 2] = (float)(src[b].qs[j] >> 4) * d + m;
        }
    }
}

/* Q5_0 blocks: y = d * (q - 16), bit 4 of element j is bit j of qh (little-endian 32-bit). */
PL_ALWAYS_INLINE void dequant_q5_0_blocks(const pl_block_q5_0 *restrict blocks, float *restrict y, int64_t nb) {
    for (int64_t b = 0; b < nb; b++) {
        const float d = pl_half_to_float(blocks[b].d);
        uint32_t qh;
        memcpy(&qh, blocks[b].qh, sizeof qh);
        float *out = y + b * PL_QK5_0;
        for (int j = 0; j < PL_QK5_0 / 2; j++) {
            const int high_lo = (int)((qh >> j) & 1u) << 4;
            const int high_hi = (int)((qh >> (j + PL_QK5_0 / 2)) & 1u) << 4;
            out[j] = (float)(((blocks[b].qs[j] & 0x0F) | high_lo) - 16) * d;
            out[j + PL_QK5_0 / 2] = (float)(((blocks[b].qs[j] >> 4) | high_hi) - 16) * d;
        }
    }
}

/* Q5_1 blocks: y = d * q + m with 5-bit q laid out as in Q5_0. */
PL_ALWAYS_INLINE void dequant_q5_1_blocks(const pl_block_q5_1 *restrict blocks, float *restrict y, int64_t nb) {
    for (int64_t b = 0; b < nb; b++) {
        const float d = pl_half_to_float(blocks[b].d);
        const float m = pl_half_to_float(blocks[b].m);
        uint32_t qh;
        memcpy(&qh, blocks[b].qh, sizeof qh);
        float *out = y + b * PL_QK5_1;
        for (int j = 0; j < PL_QK5_1 / 2; j++) {
            const int high_lo = (int)((qh >> j) & 1u) << 4;
            const int high_hi = (int)((qh >> (j + PL_QK5_1 / 2)) & 1u) << 4;
            out[j] = (float)((blocks[b].qs[j] & 0x0F) | high_lo) * d + m;
            out[j + PL_QK5_1 / 2] = (float)((blocks[b].qs[j] >> 4) | high_hi) * d + m;
        }
    }
}

#if defined(__x86_64__) || defined(__i386__)
/* The 32 five-bit codes of a Q5 block as 4 vectors of 8 int32 (elements 0-7, 8-15, 16-23, 24-31):
   nibbles from qs, bit 4 from bit j of qh. */
PL_TARGET_AVX2 static inline void unpack_q5_codes_avx2(const uint8_t qs[16], const uint8_t qh_bytes[4], __m256i codes[4]) {
    uint32_t qh;
    memcpy(&qh, qh_bytes, sizeof qh);
    const __m128i packed = _mm_loadu_si128((const __m128i *)qs);
    const __m128i low_mask = _mm_set1_epi8(0x0F);
    const __m128i lo = _mm_and_si128(packed, low_mask);
    const __m128i hi = _mm_and_si128(_mm_srli_epi16(packed, 4), low_mask);
    const __m256i nibbles[4] = {_mm256_cvtepu8_epi32(lo), _mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8)),
                                _mm256_cvtepu8_epi32(hi), _mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8))};
    const __m256i lane_shift = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i one = _mm256_set1_epi32(1);
    for (int k = 0; k < 4; k++) {
        const __m256i bits = _mm256_srlv_epi32(_mm256_set1_epi32((int)(qh >> (8 * k))), lane_shift);
        codes[k] = _mm256_or_si256(nibbles[k], _mm256_slli_epi32(_mm256_and_si256(bits, one), 4));
    }
}

/* Q5_0 row decoder with AVX2 (one conversion and one multiply per element, as the portable code). */
PL_TARGET_AVX2 static void dequant_q5_0_avx2(const pl_block_q5_0 *restrict src, float *restrict dst, int64_t nb) {
    const __m256i sixteen = _mm256_set1_epi32(16);
    for (int64_t b = 0; b < nb; b++) {
        const __m256 d = _mm256_set1_ps(pl_half_to_float(src[b].d));
        __m256i codes[4];
        unpack_q5_codes_avx2(src[b].qs, src[b].qh, codes);
        for (int k = 0; k < 4; k++)
            _mm256_storeu_ps(dst + b * PL_QK5_0 + 8 * k,
                             _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(codes[k], sixteen)), d));
    }
}

/* Q5_1 row decoder with AVX2: q * d, then + m (two roundings, no fused multiply-add, as the portable code). */
PL_TARGET_AVX2 static void dequant_q5_1_avx2(const pl_block_q5_1 *restrict src, float *restrict dst, int64_t nb) {
    for (int64_t b = 0; b < nb; b++) {
        const __m256 d = _mm256_set1_ps(pl_half_to_float(src[b].d));
        const __m256 m = _mm256_set1_ps(pl_half_to_float(src[b].m));
        __m256i codes[4];
        unpack_q5_codes_avx2(src[b].qs, src[b].qh, codes);
        for (int k = 0; k < 4; k++)
            _mm256_storeu_ps(dst + b * PL_QK5_1 + 8 * k, _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(codes[k]), d), m));
    }
}
#endif

/* Portable Q5_0 row decoder. */
static void dequant_q5_0_generic(const pl_block_q5_0 *src, float *dst, int64_t nb) { dequant_q5_0_blocks(src, dst, nb); }
/* Portable Q5_1 row decoder. */
static void dequant_q5_1_generic(const pl_block_q5_1 *src, float *dst, int64_t nb) { dequant_q5_1_blocks(src, dst, nb); }

/* Decodes a Q5_0 row of n elements. */
void pl_dequant_row_q5_0(const pl_block_q5_0 *restrict src, float *restrict dst, int64_t n) {
#if defined(__x86_64__) || defined(__i386__)
    if (pl_cpu_has_avx2_f16c()) { dequant_q5_0_avx2(src, dst, n / PL_QK5_0); return; }
#endif
    dequant_q5_0_generic(src, dst, n / PL_QK5_0);
}

/* Decodes a Q5_1 row of n elements. */
void pl_dequant_row_q5_1(const pl_block_q5_1 *restrict src, float *restrict dst, int64_t n) {
#if defined(__x86_64__) || defined(__i386__)
    if (pl_cpu_has_avx2_f16c()) { dequant_q5_1_avx2(src, dst, n / PL_QK5_1); return; }
#endif
    dequant_q5_1_generic(src, dst, n / PL_QK5_1);
}

/* ---- encoding (ggml's reference rounding) ---- */

/* 1/d, or 0 where d is 0 or so small (below about 3e-39) that 1/d overflows: such a scale is 0 in fp16, so every code
   decodes to 0 whatever it is, and x * id stays finite (an infinite id made x * id infinite or NaN, whose conversion to
   int is undefined behaviour). */
static float inverse_scale(float d) {
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    return id - id == 0.0f ? id : 0.0f;
}

/* trunc(v) clamped to 0..hi, defined for every float: NaN (from a block whose max - min overflowed, which fp16 cannot
   hold anyway) gives 0. For the v in [0, hi + 1) that finite blocks produce it is min(hi, (int)v), as ggml computes. */
static int code_trunc(float v, int hi) { return v >= 0.0f ? (v < (float)hi ? (int)v : hi) : 0; }

/* The element of largest magnitude of x[0..n) (the first one on ties), signed. */
static float signed_absmax(const float *x, int n) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; j++) {
        const float v = x[j];
        if (amax < fabsf(v)) {
            amax = fabsf(v);
            max = v;
        }
    }
    return max;
}

/* Smallest and largest element of x[0..n). */
static void min_max(const float *x, int n, float *min_out, float *max_out) {
    float min = FLT_MAX, max = -FLT_MAX;
    for (int j = 0; j < n; j++) {
        if (x[j] < min) min = x[j];
        if (x[j] > max) max = x[j];
    }
    *min_out = min;
    *max_out = max;
}

/* Q4_0: d = (signed absmax) / -8, so the extreme maps to code 0; q = min(15, trunc(x/d + 8.5)). */
void pl_quant_row_q4_0(const float *src, pl_block_q4_0 *dst, int64_t n) {
    const int64_t nb = n / PL_QK4_0;
    for (int64_t b = 0; b < nb; b++) {
        const float *x = src + b * PL_QK4_0;
        const float d = signed_absmax(x, PL_QK4_0) / -8.0f;
        const float id = inverse_scale(d);
        dst[b].d = pl_fp32_to_fp16(d);
        for (int j = 0; j < PL_QK4_0 / 2; j++) {
            const int q_lo = code_trunc(x[j] * id + 8.5f, 15);
            const int q_hi = code_trunc(x[j + PL_QK4_0 / 2] * id + 8.5f, 15);
            dst[b].qs[j] = (uint8_t)(q_lo | (q_hi << 4));
        }
    }
}

/* Q4_1: d = (max - min) / 15, m = min; q = min(15, trunc((x - min)/d + 0.5)). */
void pl_quant_row_q4_1(const float *src, pl_block_q4_1 *dst, int64_t n) {
    const int64_t nb = n / PL_QK4_1;
    for (int64_t b = 0; b < nb; b++) {
        const float *x = src + b * PL_QK4_1;
        float min, max;
        min_max(x, PL_QK4_1, &min, &max);
        const float d = (max - min) / 15.0f;
        const float id = inverse_scale(d);
        dst[b].d = pl_fp32_to_fp16(d);
        dst[b].m = pl_fp32_to_fp16(min);
        for (int j = 0; j < PL_QK4_1 / 2; j++) {
            const int q_lo = code_trunc((x[j] - min) * id + 0.5f, 15);
            const int q_hi = code_trunc((x[j + PL_QK4_1 / 2] - min) * id + 0.5f, 15);
            dst[b].qs[j] = (uint8_t)(q_lo | (q_hi << 4));
        }
    }
}

/* Q5_0: d = (signed absmax) / -16; q = min(31, trunc(x/d + 16.5)); low nibbles in qs, bit 4 in qh. */
void pl_quant_row_q5_0(const float *src, pl_block_q5_0 *dst, int64_t n) {
    const int64_t nb = n / PL_QK5_0;
    for (int64_t b = 0; b < nb; b++) {
        const float *x = src + b * PL_QK5_0;
        const float d = signed_absmax(x, PL_QK5_0) / -16.0f;
        const float id = inverse_scale(d);
        dst[b].d = pl_fp32_to_fp16(d);
        uint32_t qh = 0;
        for (int j = 0; j < PL_QK5_0 / 2; j++) {
            const int q_lo = code_trunc(x[j] * id + 16.5f, 31);
            const int q_hi = code_trunc(x[j + PL_QK5_0 / 2] * id + 16.5f, 31);
            dst[b].qs[j] = (uint8_t)((q_lo & 0x0F) | ((q_hi & 0x0F) << 4));
            qh |= ((uint32_t)(q_lo >> 4) & 1u) << j;
            qh |= ((uint32_t)(q_hi >> 4) & 1u) << (j + PL_QK5_0 / 2);
        }
        memcpy(dst[b].qh, &qh, sizeof qh);
    }
}

/* Q5_1: d = (max - min) / 31, m = min; q = trunc((x - min)/d + 0.5). */
void pl_quant_row_q5_1(const float *src, pl_block_q5_1 *dst, int64_t n) {
    const int64_t nb = n / PL_QK5_1;
    for (int64_t b = 0; b < nb; b++) {
        const float *x = src + b * PL_QK5_1;
        float min, max;
        min_max(x, PL_QK5_1, &min, &max);
        const float d = (max - min) / 31.0f;
        const float id = inverse_scale(d);
        dst[b].d = pl_fp32_to_fp16(d);
        dst[b].m = pl_fp32_to_fp16(min);
        uint32_t qh = 0;
        for (int j = 0; j < PL_QK5_1 / 2; j++) {
            const int q_lo = code_trunc((x[j] - min) * id + 0.5f, 31);
            const int q_hi = code_trunc((x[j + PL_QK5_1 / 2] - min) * id + 0.5f, 31);
            dst[b].qs[j] = (uint8_t)((q_lo & 0x0F) | ((q_hi & 0x0F) << 4));
            qh |= ((uint32_t)(q_lo >> 4) & 1u) << j;
            qh |= ((uint32_t)(q_hi >> 4) & 1u) << (j + PL_QK5_1 / 2);
        }
        memcpy(dst[b].qh, &qh, sizeof qh);
    }
}

/* Q8_0: d = absmax / 127; q = round-half-away(x/d). */
void pl_quant_row_q8_0(const float *src, pl_block_q8_0 *dst, int64_t n) {
    const int64_t nb = n / PL_QK8_0;
    for (int64_t b = 0; b < nb; b++) {
        const float *x = src + b * PL_QK8_0;
        float amax = 0.0f;
        for (int j = 0; j < PL_QK8_0; j++) amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127.0f;
        const float id = inverse_scale(d);
        dst[b].d = pl_fp32_to_fp16(d);
        for (int j = 0; j < PL_QK8_0; j++) dst[b].qs[j] = (int8_t)roundf(x[j] * id);
    }
}
