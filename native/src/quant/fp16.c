/* IEEE half (F16) and bfloat16 (BF16) conversions, scalar and per row (AVX2/F16C when the CPU has it). */
#include <math.h>
#include "common.h"
#include "quant_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define PL_HAVE_X86 1
#else
#define PL_HAVE_X86 0
#endif

/* 1 if this CPU has AVX2, FMA and F16C (every AVX2 CPU has F16C, but ask anyway); a build with
   -DPANLORA_FORCE_GENERIC always uses the portable kernels (to test them on an AVX2 machine). */
int pl_cpu_has_avx2_f16c(void) {
#if PL_HAVE_X86 && !defined(PANLORA_FORCE_GENERIC)
    /* F16C is CPUID leaf 1, ECX bit 29, asked directly (clang before 16 has no "f16c" for __builtin_cpu_supports) and
       once: CPUID is slow (a trap to the hypervisor in a VM) and every row codec asks */
    static int state; /* 0 not asked yet, 1 no, 2 yes */
    int s = __atomic_load_n(&state, __ATOMIC_RELAXED);
    if (s == 0) {
        unsigned eax, ebx, ecx, edx;
        s = pl_cpu_has_avx2() && __get_cpuid(1, &eax, &ebx, &ecx, &edx) && ((ecx >> 29) & 1u) != 0 ? 2 : 1;
        __atomic_store_n(&state, s, __ATOMIC_RELAXED);
    }
    return s == 2;
#else
    return 0;
#endif
}

/* The IEEE half nearest to f (ties to even); overflow gives inf, NaN gives a quiet NaN keeping the top payload bits. */
PL_ALWAYS_INLINE uint16_t float_to_half(float f) {
    uint32_t bits = pl_f32_bits(f);
    uint32_t sign = (bits >> 16) & 0x8000u;
    uint32_t magnitude = bits & 0x7fffffffu;
    /* normal halves (|f| >= 2^-14): round the 13 dropped mantissa bits to even, then rebias 127 -> 15;
       a mantissa carry correctly bumps the exponent */
    uint32_t rounded = magnitude + 0x0fffu + ((magnitude >> 13) & 1u);
    uint32_t normal = (rounded - (112u << 23)) >> 13;
    /* subnormal halves: adding 0.5 leaves |f| rounded to a multiple of 2^-24 (ties to even) in the low bits */
    uint32_t subnormal = pl_f32_bits(pl_f32_from_bits(magnitude) + 0.5f) - 0x3f000000u;
    uint32_t nan = 0x7e00u | ((magnitude >> 13) & 0x03ffu);
    uint32_t out = magnitude > 0x7f800000u ? nan
                 : magnitude >= 0x477ff000u ? 0x7c00u /* >= 65520 rounds to inf */
                 : magnitude >= 0x38800000u ? normal
                 : subnormal;
    return (uint16_t)(out | sign);
}

/* The float value of a bfloat16: its bits are the top half of a float's. */
PL_ALWAYS_INLINE float bfloat_to_float(uint16_t h) {
    return pl_f32_from_bits((uint32_t)h << 16);
}

/* The bfloat16 nearest to f (ties to even, overflow to inf); NaN stays NaN with the quiet bit forced, as ggml does. */
PL_ALWAYS_INLINE uint16_t float_to_bfloat(float f) {
    uint32_t bits = pl_f32_bits(f);
    uint32_t nan = (bits >> 16) | 64u;
    uint32_t rounded = (bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16;
    return (uint16_t)((bits & 0x7fffffffu) > 0x7f800000u ? nan : rounded);
}

/* fp16 -> fp32. */
float pl_fp16_to_fp32(uint16_t h) { return pl_half_to_float(h); }
/* fp32 -> fp16, round to nearest even. */
uint16_t pl_fp32_to_fp16(float f) { return float_to_half(f); }
/* bf16 -> fp32. */
float pl_bf16_to_fp32(uint16_t h) { return bfloat_to_float(h); }
/* fp32 -> bf16, round to nearest even. */
uint16_t pl_fp32_to_bf16(float f) { return float_to_bfloat(f); }

/* dst[i] = float(src[i]) for a row of halves, portable code. */
static void dequant_f16_generic(const uint8_t *restrict src, float *restrict dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = pl_half_to_float(pl_load_u16(src + 2 * i));
}

/* dst[i] = half(src[i]) for a row, portable code. */
static void quant_f16_generic(const float *restrict src, uint8_t *restrict dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) pl_store_u16(dst + 2 * i, float_to_half(src[i]));
}

/* dst[i] = float(src[i]) for a row of bfloat16, portable code. */
static void dequant_bf16_generic(const uint8_t *restrict src, float *restrict dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = bfloat_to_float(pl_load_u16(src + 2 * i));
}

/* dst[i] = bfloat16(src[i]) for a row, portable code. */
static void quant_bf16_generic(const float *restrict src, uint8_t *restrict dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) pl_store_u16(dst + 2 * i, float_to_bfloat(src[i]));
}

#if PL_HAVE_X86
/* dst[i] = float(src[i]) with F16C, 16 at a time. */
PL_TARGET_AVX2 static void dequant_f16_avx2(const uint8_t *restrict src, float *restrict dst, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m128i h0 = _mm_loadu_si128((const __m128i *)(src + 2 * i));
        __m128i h1 = _mm_loadu_si128((const __m128i *)(src + 2 * i + 16));
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h0));
        _mm256_storeu_ps(dst + i + 8, _mm256_cvtph_ps(h1));
    }
    for (; i < n; i++) dst[i] = pl_half_to_float(pl_load_u16(src + 2 * i));
}

/* dst[i] = half(src[i]) with F16C (round to nearest even), 8 at a time. */
PL_TARGET_AVX2 static void quant_f16_avx2(const float *restrict src, uint8_t *restrict dst, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        _mm_storeu_si128((__m128i *)(dst + 2 * i), h);
    }
    for (; i < n; i++) pl_store_u16(dst + 2 * i, float_to_half(src[i]));
}

/* dst[i] = float(src[i]) for bfloat16, compiled for AVX2. */
PL_TARGET_AVX2 static void dequant_bf16_avx2(const uint8_t *restrict src, float *restrict dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = bfloat_to_float(pl_load_u16(src + 2 * i));
}

/* dst[i] = bfloat16(src[i]), compiled for AVX2. */
PL_TARGET_AVX2 static void quant_bf16_avx2(const float *restrict src, uint8_t *restrict dst, int64_t n) {
    for (int64_t i = 0; i < n; i++) pl_store_u16(dst + 2 * i, float_to_bfloat(src[i]));
}
#endif

/* A row of halves to floats (F16C when available: same results, both exact). */
void pl_dequant_row_f16(const void *src, float *dst, int64_t n) {
#if PL_HAVE_X86
    if (pl_cpu_has_avx2_f16c()) { dequant_f16_avx2(src, dst, n); return; }
#endif
    dequant_f16_generic(src, dst, n);
}

/* A row of floats to halves, round to nearest even. */
void pl_quant_row_f16(const float *src, void *dst, int64_t n) {
#if PL_HAVE_X86
    if (pl_cpu_has_avx2_f16c()) { quant_f16_avx2(src, dst, n); return; }
#endif
    quant_f16_generic(src, dst, n);
}

/* A row of bfloat16 to floats. */
void pl_dequant_row_bf16(const void *src, float *dst, int64_t n) {
#if PL_HAVE_X86
    if (pl_cpu_has_avx2_f16c()) { dequant_bf16_avx2(src, dst, n); return; }
#endif
    dequant_bf16_generic(src, dst, n);
}

/* A row of floats to bfloat16, round to nearest even. */
void pl_quant_row_bf16(const float *src, void *dst, int64_t n) {
#if PL_HAVE_X86
    if (pl_cpu_has_avx2_f16c()) { quant_bf16_avx2(src, dst, n); return; }
#endif
    quant_bf16_generic(src, dst, n);
}
