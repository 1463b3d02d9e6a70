/* ggml's 256-element "K" super-block types: Q2_K, Q3_K, Q4_K, Q5_K, Q6_K.
   Decoding follows ggml's layouts exactly; encoding reproduces ggml's reference quantizers
   (the weighted scale/min searches of make_qkx2_quants, make_qx_quants and make_q3_quants). */
#include <math.h>
#include "common.h"
#include "quant_internal.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

/* Below this magnitude a group is treated as all zeros (ggml's GROUP_MAX_EPS). */
#define PL_GROUP_MAX_EPS 1e-15f

/* ---- decoding ---- */

/* Q4_K: for each 64 elements two groups of 32 share 32 bytes: low nibbles then high nibbles;
   y = (d * sc) * q - (dmin * mn). */
PL_ALWAYS_INLINE void dequant_q4_K_blocks(const pl_block_q4_K *restrict blocks, float *restrict y, int64_t nb) {
    for (int64_t b = 0; b < nb; b++) {
        const pl_block_q4_K *blk = &blocks[b];
        const float d = pl_half_to_float(blk->d);
        const float dmin = pl_half_to_float(blk->dmin);
        const uint8_t *q = blk->qs;
        float *out = y + b * PL_QK_K;
        for (int pair = 0; pair < 4; pair++) {
            uint8_t sc_lo, mn_lo, sc_hi, mn_hi;
            pl_unpack_k4_scale_min(2 * pair, blk->scales, &sc_lo, &mn_lo);
            pl_unpack_k4_scale_min(2 * pair + 1, blk->scales, &sc_hi, &mn_hi);
            const float d_lo = d * sc_lo, m_lo = dmin * mn_lo;
            const float d_hi = d * sc_hi, m_hi = dmin * mn_hi;
            for (int l = 0; l < 32; l++) out[l] = d_lo * (float)(q[l] & 0x0F) - m_lo;
            for (int l = 0; l < 32; l++) out[l + 32] = d_hi * (float)(q[l] >> 4) - m_hi;
            q += 32;
            out += 64;
        }
    }
}

/* Q6_K: per 128 elements, 64 bytes of ql (low nibbles of 4 runs of 32) and 32 bytes of qh (2 bits for each run);
   y = (d * scale) * (q - 32), scale per 16 elements. */
PL_ALWAYS_INLINE void dequant_q6_K_blocks(const pl_block_q6_K *restrict blocks, float *restrict y, int64_t nb) {
    for (int64_t b = 0; b < nb; b++) {
        const pl_block_q6_K *blk = &blocks[b];
        const float d = pl_half_to_float(blk->d);
        const uint8_t *ql = blk->ql;
        const uint8_t *qh = blk->qh;
        const int8_t *sc = blk->scales;
        float *out = y + b * PL_QK_K;
        for (int half = 0; half < 2; half++) {
            for (int l = 0; l < 32; l++) {
                const int g = l / 16;
                const int q1 = (int)((ql[l] & 0x0F) | (((qh[l] >> 0) & 3) << 4)) - 32;
                const int q2 = (int)((ql[l + 32] & 0x0F) | (((qh[l] >> 2) & 3) << 4)) - 32;
                const int q3 = (int)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                const int q4 = (int)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                out[l] = d * (float)sc[g] * (float)q1;
                out[l + 32] = d * (float)sc[g + 2] * (float)q2;
                out[l + 64] = d * (float)sc[g + 4] * (float)q3;
                out[l + 96] = d * (float)sc[g + 6] * (float)q4;
            }
            ql += 64;
            qh += 32;
            sc += 8;
            out += 128;
        }
    }
}

/* Portable Q4_K row decoder. */
static void dequant_q4_K_generic(const pl_block_q4_K *src, float *dst, int64_t nb) { dequant_q4_K_blocks(src, dst, nb); }
/* Portable Q6_K row decoder. */
static void dequant_q6_K_generic(const pl_block_q6_K *src, float *dst, int64_t nb) { dequant_q6_K_blocks(src, dst, nb); }
#if defined(__x86_64__) || defined(__i386__)
/* Q4_K row decoder compiled for AVX2 (same arithmetic, same results). */
PL_TARGET_AVX2 static void dequant_q4_K_avx2(const pl_block_q4_K *src, float *dst, int64_t nb) { dequant_q4_K_blocks(src, dst, nb); }
/* 8 bytes at p widened to 8 int32 lanes. */
PL_TARGET_AVX2 static inline __m256i load_8_bytes_epi32(const uint8_t *p) {
    return _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p));
}

/* Q6_K row decoder with AVX2: 8 positions l at a time, the four runs of 32 built from ql/qh in int32 lanes,
   scaled by (d * scale) as the portable code does (same roundings, same results). */
PL_TARGET_AVX2 static void dequant_q6_K_avx2(const pl_block_q6_K *restrict src, float *restrict dst, int64_t nb) {
    const __m256i mask4 = _mm256_set1_epi32(0x0F);
    const __m256i mask2 = _mm256_set1_epi32(3);
    const __m256i offset = _mm256_set1_epi32(32);
    for (int64_t b = 0; b < nb; b++) {
        const pl_block_q6_K *blk = &src[b];
        const float d = pl_half_to_float(blk->d);
        const uint8_t *ql = blk->ql;
        const uint8_t *qh = blk->qh;
        const int8_t *sc = blk->scales;
        float *out = dst + b * PL_QK_K;
        for (int half = 0; half < 2; half++) {
            for (int l = 0; l < 32; l += 8) {
                const int g = l / 16;
                const __m256i lo_a = load_8_bytes_epi32(ql + l);
                const __m256i lo_b = load_8_bytes_epi32(ql + l + 32);
                const __m256i hi = load_8_bytes_epi32(qh + l);
                const __m256i q1 = _mm256_sub_epi32(_mm256_or_si256(_mm256_and_si256(lo_a, mask4),
                    _mm256_slli_epi32(_mm256_and_si256(hi, mask2), 4)), offset);
                const __m256i q2 = _mm256_sub_epi32(_mm256_or_si256(_mm256_and_si256(lo_b, mask4),
                    _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(hi, 2), mask2), 4)), offset);
                const __m256i q3 = _mm256_sub_epi32(_mm256_or_si256(_mm256_srli_epi32(lo_a, 4),
                    _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(hi, 4), mask2), 4)), offset);
                const __m256i q4 = _mm256_sub_epi32(_mm256_or_si256(_mm256_srli_epi32(lo_b, 4),
                    _mm256_slli_epi32(_mm256_srli_epi32(hi, 6), 4)), offset);
                _mm256_storeu_ps(out + l, _mm256_mul_ps(_mm256_set1_ps(d * (float)sc[g]), _mm256_cvtepi32_ps(q1)));
                _mm256_storeu_ps(out + l + 32, _mm256_mul_ps(_mm256_set1_ps(d * (float)sc[g + 2]), _mm256_cvtepi32_ps(q2)));
                _mm256_storeu_ps(out + l + 64, _mm256_mul_ps(_mm256_set1_ps(d * (float)sc[g + 4]), _mm256_cvtepi32_ps(q3)));
                _mm256_storeu_ps(out + l + 96, _mm256_mul_ps(_mm256_set1_ps(d * (float)sc[g + 6]), _mm256_cvtepi32_ps(q4)));
            }
            ql += 64;
            qh += 32;
            sc += 8;
            out += 128;
        }
    }
}
#endif

/* Decodes a Q4_K row of n elements. */
void pl_dequant_row_q4_K(const pl_block_q4_K *restrict src, float *restrict dst, int64_t n) {
#if defined(__x86_64__) || defined(__i386__)
    if (pl_cpu_has_avx2_f16c()) { dequant_q4_K_avx2(src, dst, n / PL_QK_K); return; }
#endif
    dequant_q4_K_generic(src, dst, n / PL_QK_K);
}

/* Decodes a Q6_K row of n elements. */
void pl_dequant_row_q6_K(const pl_block_q6_K *restrict src, float *restrict dst, int64_t n) {
#if defined(__x86_64__) || defined(__i386__)
    if (pl_cpu_has_avx2_f16c()) { dequant_q6_K_avx2(src, dst, n / PL_QK_K); return; }
#endif
    dequant_q6_K_generic(src, dst, n / PL_QK_K);
}

/* Decodes a Q5_K row: as Q4_K with bit 4 of run r (0..7) of 32 elements in bit r of qh[l]. */
void pl_dequant_row_q5_K(const pl_block_q5_K *restrict src, float *restrict dst, int64_t n) {
    const int64_t nb = n / PL_QK_K;
    for (int64_t b = 0; b < nb; b++) {
        const pl_block_q5_K *blk = &src[b];
        const float d = pl_half_to_float(blk->d);
        const float dmin = pl_half_to_float(blk->dmin);
        const uint8_t *ql = blk->qs;
        const uint8_t *qh = blk->qh;
        float *out = dst + b * PL_QK_K;
        for (int pair = 0; pair < 4; pair++) {
            uint8_t sc_lo, mn_lo, sc_hi, mn_hi;
            pl_unpack_k4_scale_min(2 * pair, blk->scales, &sc_lo, &mn_lo);
            pl_unpack_k4_scale_min(2 * pair + 1, blk->scales, &sc_hi, &mn_hi);
            const float d_lo = d * sc_lo, m_lo = dmin * mn_lo;
            const float d_hi = d * sc_hi, m_hi = dmin * mn_hi;
            const int shift_lo = 2 * pair, shift_hi = 2 * pair + 1;
            for (int l = 0; l < 32; l++) {
                const int q = (ql[l] & 0x0F) | (((qh[l] >> shift_lo) & 1) << 4);
                out[l] = d_lo * (float)q - m_lo;
            }
            for (int l = 0; l < 32; l++) {
                const int q = (ql[l] >> 4) | (((qh[l] >> shift_hi) & 1) << 4);
                out[l + 32] = d_hi * (float)q - m_hi;
            }
            ql += 32;
            out += 64;
        }
    }
}

/* Decodes a Q2_K row: per 128 elements, 32 bytes of qs hold 4 runs of 32 2-bit codes (bit pairs 0..3);
   group g of 16 uses scales[g]: y = (d * (sc & 15)) * q - dmin * (sc >> 4). */
void pl_dequant_row_q2_K(const pl_block_q2_K *restrict src, float *restrict dst, int64_t n) {
    const int64_t nb = n / PL_QK_K;
    for (int64_t b = 0; b < nb; b++) {
        const pl_block_q2_K *blk = &src[b];
        const float d = pl_half_to_float(blk->d);
        const float dmin = pl_half_to_float(blk->dmin);
        const uint8_t *q = blk->qs;
        float *out = dst + b * PL_QK_K;
        int g = 0;
        for (int half = 0; half < 2; half++) {
            for (int shift = 0; shift < 8; shift += 2) {
                for (int part = 0; part < 2; part++, g++) {
                    const float dl = d * (float)(blk->scales[g] & 0x0F);
                    const float ml = dmin * (float)(blk->scales[g] >> 4);
                    const uint8_t *qp = q + 16 * part;
                    for (int l = 0; l < 16; l++) out[l] = dl * (float)((qp[l] >> shift) & 3) - ml;
                    out += 16;
                }
            }
            q += 32;
        }
    }
}

/* The 16 signed 6-bit scales of a Q3_K block: low nibbles in bytes 0..7 (groups 0..7 low, 8..15 high nibble),
   top two bits of group g in byte 8 + g%4 at bit 2*(g/4); stored with an offset of 32. */
static void unpack_q3_K_scales(const uint8_t packed[PL_K_SCALE_BYTES], int scales[16]) {
    for (int g = 0; g < 16; g++) {
        const int low = g < 8 ? (packed[g] & 0x0F) : (packed[g - 8] >> 4);
        const int high = (packed[8 + g % 4] >> (2 * (g / 4))) & 3;
        scales[g] = (low | (high << 4)) - 32;
    }
}

/* Decodes a Q3_K row: 2-bit codes as in Q2_K, a third bit in hmask (bit r of hmask[l] for run r of 32);
   y = (d * scale) * (q - (hbit ? 0 : 4)). */
void pl_dequant_row_q3_K(const pl_block_q3_K *restrict src, float *restrict dst, int64_t n) {
    const int64_t nb = n / PL_QK_K;
    for (int64_t b = 0; b < nb; b++) {
        const pl_block_q3_K *blk = &src[b];
        const float d = pl_half_to_float(blk->d);
        int scales[16];
        unpack_q3_K_scales(blk->scales, scales);
        const uint8_t *q = blk->qs;
        float *out = dst + b * PL_QK_K;
        int g = 0, run = 0;
        for (int half = 0; half < 2; half++) {
            for (int shift = 0; shift < 8; shift += 2, run++) {
                for (int part = 0; part < 2; part++, g++) {
                    const float dl = d * (float)scales[g];
                    const uint8_t *qp = q + 16 * part;
                    const uint8_t *hp = blk->hmask + 16 * part;
                    for (int l = 0; l < 16; l++) {
                        const int code = (int)((qp[l] >> shift) & 3) - (((hp[l] >> run) & 1) ? 0 : 4);
                        out[l] = dl * (float)code;
                    }
                    out += 16;
                }
            }
            q += 32;
        }
    }
}

/* ---- encoding helpers: ggml's scale searches ---- */

/* Asymmetric codes L in 0..nmax with x ≈ scale * L - min_out, minimising the weighted error:
   a first guess from the range, then nstep+1 trial scales (nmax + rmin + rdelta*i) / range, each refined by
   weighted least squares for scale and offset (offset clamped to <= 0); errors are squared, or absolute when
   use_abs_error. Returns the scale; *min_out = -offset (>= 0). Mirrors ggml's make_qkx2_quants. */
static float fit_scale_min(int n, int nmax, const float *x, const float *weights, uint8_t *L, float *min_out,
                           uint8_t *L_trial, float rmin, float rdelta, int nstep, int use_abs_error) {
    float min = x[0], max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        const float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        for (int i = 0; i < n; i++) L[i] = 0;
        *min_out = -min;
        return 0.0f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; i++) {
        int l = pl_round_nearest_even(iscale * (x[i] - min));
        l = l < 0 ? 0 : l > nmax ? nmax : l;
        L[i] = (uint8_t)l;
        float diff = scale * L[i] + min - x[i];
        diff = use_abs_error ? fabsf(diff) : diff * diff;
        best_error += weights[i] * diff;
    }
    if (nstep < 1) {
        *min_out = -min;
        return scale;
    }
    for (int step = 0; step <= nstep; step++) {
        iscale = (rmin + rdelta * step + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; i++) {
            int l = pl_round_nearest_even(iscale * (x[i] - min));
            l = l < 0 ? 0 : l > nmax ? nmax : l;
            L_trial[i] = (uint8_t)l;
            const float w = weights[i];
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        const float det = sum_w * sum_l2 - sum_l * sum_l;
        if (det > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; i++) {
                float diff = this_scale * L_trial[i] + this_min - x[i];
                diff = use_abs_error ? fabsf(diff) : diff * diff;
                cur_error += weights[i] * diff;
            }
            if (cur_error < best_error) {
                for (int i = 0; i < n; i++) L[i] = L_trial[i];
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *min_out = -min;
    return scale;
}

/* Weight of element x in the symmetric fits: x^2 (ggml's rmse_type 1). */
static inline float square_weight(float x) { return x * x; }

/* Symmetric codes L in 0..2*nmax-1 (stored offset by nmax) with x ≈ scale * (L - nmax), weights x^2:
   the extreme element maps to -nmax, then 18 nearby trial scales keep the one maximising sumlx^2/suml2.
   Returns the scale (0 for an all-zero group). Mirrors ggml's make_qx_quants with rmse_type 1. */
static float fit_symmetric_scale(int n, int nmax, const float *x, int8_t *L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        const float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < PL_GROUP_MAX_EPS) {
        for (int i = 0; i < n; i++) L[i] = 0;
        return 0.0f;
    }
    float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = pl_round_nearest_even(iscale * x[i]);
        l = l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l;
        L[i] = (int8_t)(l + nmax);
        const float w = square_weight(x[i]);
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int step = -9; step <= 9; step++) {
        if (step == 0) continue;
        iscale = -(nmax + 0.1f * step) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = pl_round_nearest_even(iscale * x[i]);
            l = l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l;
            const float w = square_weight(x[i]);
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++) {
                int l = pl_round_nearest_even(iscale * x[i]);
                l = l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l;
                L[i] = (int8_t)(l + nmax);
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/* Symmetric codes for Q3_K groups: start from the extreme mapping to -nmax, then up to 5 sweeps of
   coordinate descent on each code (weights x^2) while the fit sumlx^2/suml2 improves.
   Codes stored offset by nmax; returns the least-squares scale. Mirrors ggml's make_q3_quants (rmse on). */
static float fit_q3_scale(int n, int nmax, const float *x, int8_t *L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; i++) {
        const float ax = fabsf(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    if (amax < PL_GROUP_MAX_EPS) {
        for (int i = 0; i < n; i++) L[i] = 0;
        return 0.0f;
    }
    const float iscale = -nmax / max;
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = pl_round_nearest_even(iscale * x[i]);
        l = l < -nmax ? -nmax : l > nmax - 1 ? nmax - 1 : l;
        L[i] = (int8_t)l;
        const float w = x[i] * x[i];
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    for (int sweep = 0; sweep < 5; sweep++) {
        int n_changed = 0;
        for (int i = 0; i < n; i++) {
            const float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * L[i];
            if (slx > 0) {
                float sl2 = suml2 - w * L[i] * L[i];
                int new_l = pl_round_nearest_even(x[i] * sl2 / slx);
                new_l = new_l < -nmax ? -nmax : new_l > nmax - 1 ? nmax - 1 : new_l;
                if (new_l != L[i]) {
                    slx += w * x[i] * new_l;
                    sl2 += w * new_l * new_l;
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = (int8_t)new_l;
                        sumlx = slx;
                        suml2 = sl2;
                        n_changed++;
                    }
                }
            }
        }
        if (!n_changed) break;
    }
    for (int i = 0; i < n; i++) L[i] = (int8_t)(L[i] + nmax);
    return sumlx / suml2;
}

/* ---- encoding: the K types ---- */

/* Packs 8 six-bit scales and mins into Q4_K/Q5_K's 12 bytes (the inverse of pl_unpack_k4_scale_min). */
static void pack_k4_scales_mins(const int scales[8], const int mins[8], uint8_t packed[PL_K_SCALE_BYTES]) {
    memset(packed, 0, PL_K_SCALE_BYTES);
    for (int j = 0; j < 8; j++) {
        const int ls = scales[j], lm = mins[j];
        if (j < 4) {
            packed[j] = (uint8_t)ls;
            packed[j + 4] = (uint8_t)lm;
        } else {
            packed[j + 4] = (uint8_t)((ls & 0x0F) | ((lm & 0x0F) << 4));
            packed[j - 4] |= (uint8_t)((ls >> 4) << 6);
            packed[j] |= (uint8_t)((lm >> 4) << 6);
        }
    }
}

/* Q4_K/Q5_K common part: fits 8 groups of 32 (weights rms + |x|), quantizes their scales and mins to 6 bits
   against super-block d and dmin, writes d, dmin, scales, and the final codes L (0..nmax) against the
   6-bit-rounded scales. */
static void quant_k4_superblock(const float *x, int nmax, float rmin, float rdelta, int nstep,
                                uint16_t *d_out, uint16_t *dmin_out, uint8_t packed[PL_K_SCALE_BYTES],
                                uint8_t L[PL_QK_K]) {
    float weights[32];
    uint8_t L_trial[32];
    float group_scale[8], group_min[8];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; j++) {
        const float *xg = x + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; l++) sum_x2 += xg[l] * xg[l];
        const float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; l++) weights[l] = av_x + fabsf(xg[l]);
        group_scale[j] = fit_scale_min(32, nmax, xg, weights, L + 32 * j, &group_min[j], L_trial, rmin, rdelta,
                                       nstep, 0);
        if (group_scale[j] > max_scale) max_scale = group_scale[j];
        if (group_min[j] > max_min) max_min = group_min[j];
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    int ls[8], lm[8];
    for (int j = 0; j < 8; j++) {
        ls[j] = pl_round_nearest_even(inv_scale * group_scale[j]);
        lm[j] = pl_round_nearest_even(inv_min * group_min[j]);
        /* 0..63 also below: a NaN scale (sums of values near FLT_MAX overflow) rounds to a negative int, and the
           packing shifts these left */
        ls[j] = ls[j] < 0 ? 0 : ls[j] < 63 ? ls[j] : 63;
        lm[j] = lm[j] < 0 ? 0 : lm[j] < 63 ? lm[j] : 63;
    }
    pack_k4_scales_mins(ls, lm, packed);
    *d_out = pl_fp32_to_fp16(max_scale / 63.f);
    *dmin_out = pl_fp32_to_fp16(max_min / 63.f);
    const float d_all = pl_half_to_float(*d_out);
    const float dmin_all = pl_half_to_float(*dmin_out);
    for (int j = 0; j < 8; j++) {
        uint8_t sc, mn;
        pl_unpack_k4_scale_min(j, packed, &sc, &mn);
        const float d = d_all * sc;
        if (d == 0.0f) continue; /* keep the codes of the fit */
        const float dm = dmin_all * mn;
        for (int i = 0; i < 32; i++) {
            int l = pl_round_nearest_even((x[32 * j + i] + dm) / d);
            l = l < 0 ? 0 : l > nmax ? nmax : l;
            L[32 * j + i] = (uint8_t)l;
        }
    }
}

/* Encodes a Q4_K row (ggml's reference: fit with rmin -1, rdelta 0.1, 20 steps). */
void pl_quant_row_q4_K(const float *src, pl_block_q4_K *dst, int64_t n) {
    const int64_t nb = n / PL_QK_K;
    uint8_t L[PL_QK_K];
    for (int64_t b = 0; b < nb; b++) {
        const float *x = src + b * PL_QK_K;
        pl_block_q4_K *blk = &dst[b];
        uint16_t d, dmin;
        quant_k4_superblock(x, 15, -1.0f, 0.1f, 20, &d, &dmin, blk->scales, L);
        blk->d = d;
        blk->dmin = dmin;
        uint8_t *q = blk->qs;
        for (int j = 0; j < PL_QK_K; j += 64) {
            for (int l = 0; l < 32; l++) q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
            q += 32;
        }
    }
}

/* Encodes a Q5_K row (ggml's reference: fit with rmin -0.5, rdelta 0.1, 15 steps). */
void pl_quant_row_q5_K(const float *src, pl_block_q5_K *dst, int64_t n) {
    const int64_t nb = n / PL_QK_K;
    uint8_t L[PL_QK_K];
    for (int64_t b = 0; b < nb; b++) {
        const float *x = src + b * PL_QK_K;
        pl_block_q5_K *blk = &dst[b];
        uint16_t d, dmin;
        quant_k4_superblock(x, 31, -0.5f, 0.1f, 15, &d, &dmin, blk->scales, L);
        blk->d = d;
        blk->dmin = dmin;
        memset(blk->qh, 0, sizeof blk->qh);
        uint8_t *ql = blk->qs;
        uint8_t bit_lo = 1, bit_hi = 2;
        for (int j = 0; j < PL_QK_K; j += 64) {
            for (int l = 0; l < 32; l++) {
                int q_lo = L[j + l], q_hi = L[j + l + 32];
                if (q_lo > 15) { q_lo -= 16; blk->qh[l] |= bit_lo; }
                if (q_hi > 15) { q_hi -= 16; blk->qh[l] |= bit_hi; }
                ql[l] = (uint8_t)(q_lo | (q_hi << 4));
            }
            bit_lo = (uint8_t)(bit_lo << 2);
            bit_hi = (uint8_t)(bit_hi << 2);
            ql += 32;
        }
    }
}

/* Encodes a Q6_K row: 16 groups fitted symmetrically (nmax 32), group scales quantized to int8 against
   d = max_scale / -128, then codes -32..31 against the rounded scales. */
void pl_quant_row_q6_K(const float *src, pl_block_q6_K *dst, int64_t n) {
    const int64_t nb = n / PL_QK_K;
    int8_t L[PL_QK_K];
    float group_scale[16];
    for (int64_t b = 0; b < nb; b++) {
        const float *x = src + b * PL_QK_K;
        pl_block_q6_K *blk = &dst[b];
        float max_scale = 0, max_abs_scale = 0;
        for (int g = 0; g < 16; g++) {
            group_scale[g] = fit_symmetric_scale(16, 32, x + 16 * g, L + 16 * g);
            const float abs_scale = fabsf(group_scale[g]);
            if (abs_scale > max_abs_scale) {
                max_abs_scale = abs_scale;
                max_scale = group_scale[g];
            }
        }
        if (max_abs_scale < PL_GROUP_MAX_EPS) {
            memset(blk, 0, sizeof *blk);
            blk->d = pl_fp32_to_fp16(0.0f);
            continue;
        }
        const float iscale = -128.f / max_scale;
        blk->d = pl_fp32_to_fp16(1 / iscale);
        for (int g = 0; g < 16; g++) {
            const int s = pl_round_nearest_even(iscale * group_scale[g]);
            blk->scales[g] = (int8_t)(s < 127 ? s : 127);
        }
        const float d_all = pl_half_to_float(blk->d);
        for (int g = 0; g < 16; g++) {
            const float d = d_all * blk->scales[g];
            if (d == 0.0f) continue;
            for (int i = 0; i < 16; i++) {
                int l = pl_round_nearest_even(x[16 * g + i] / d);
                l = l < -32 ? -32 : l > 31 ? 31 : l;
                L[16 * g + i] = (int8_t)(l + 32);
            }
        }
        uint8_t *ql = blk->ql;
        uint8_t *qh = blk->qh;
        for (int j = 0; j < PL_QK_K; j += 128) {
            for (int l = 0; l < 32; l++) {
                const int q1 = L[j + l], q2 = L[j + l + 32], q3 = L[j + l + 64], q4 = L[j + l + 96];
                ql[l] = (uint8_t)((q1 & 0x0F) | ((q3 & 0x0F) << 4));
                ql[l + 32] = (uint8_t)((q2 & 0x0F) | ((q4 & 0x0F) << 4));
                qh[l] = (uint8_t)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
            }
            ql += 64;
            qh += 32;
        }
    }
}

/* Packs 2-bit codes L (0..3) of 256 elements: per 128, byte l holds runs 0..3 of 32 at bit pairs 0..3. */
static void pack_2bit_codes(const uint8_t L[PL_QK_K], uint8_t qs[PL_QK_K / 4]) {
    for (int j = 0; j < PL_QK_K; j += 128) {
        for (int l = 0; l < 32; l++) {
            qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
        }
    }
}

/* Encodes a Q2_K row: 16 groups of 16 fitted asymmetrically (weights |x|, absolute error), scales and mins
   quantized to 4 bits against d and dmin, then codes 0..3 against the rounded values. */
void pl_quant_row_q2_K(const float *src, pl_block_q2_K *dst, int64_t n) {
    const int64_t nb = n / PL_QK_K;
    const float q4_scale = 15.f;
    uint8_t L[PL_QK_K];
    uint8_t L_trial[16];
    float weights[16];
    float group_scale[16], group_min[16];
    for (int64_t b = 0; b < nb; b++) {
        const float *x = src + b * PL_QK_K;
        pl_block_q2_K *blk = &dst[b];
        float max_scale = 0, max_min = 0;
        for (int g = 0; g < 16; g++) {
            for (int l = 0; l < 16; l++) weights[l] = fabsf(x[16 * g + l]);
            group_scale[g] = fit_scale_min(16, 3, x + 16 * g, weights, L + 16 * g, &group_min[g], L_trial, -0.5f,
                                           0.1f, 15, 1);
            if (group_scale[g] > max_scale) max_scale = group_scale[g];
            if (group_min[g] > max_min) max_min = group_min[g];
        }
        if (max_scale > 0) {
            const float iscale = q4_scale / max_scale;
            for (int g = 0; g < 16; g++) blk->scales[g] = (uint8_t)pl_round_nearest_even(iscale * group_scale[g]);
            blk->d = pl_fp32_to_fp16(max_scale / q4_scale);
        } else {
            for (int g = 0; g < 16; g++) blk->scales[g] = 0;
            blk->d = pl_fp32_to_fp16(0.f);
        }
        if (max_min > 0) {
            const float iscale = q4_scale / max_min;
            for (int g = 0; g < 16; g++) {
                int l = pl_round_nearest_even(iscale * group_min[g]);
                l = l < 0 ? 0 : l > 15 ? 15 : l; /* as the scales: a NaN minimum must not shift a negative int */
                blk->scales[g] |= (uint8_t)(l << 4);
            }
            blk->dmin = pl_fp32_to_fp16(max_min / q4_scale);
        } else {
            blk->dmin = pl_fp32_to_fp16(0.f);
        }
        const float d_all = pl_half_to_float(blk->d);
        const float dmin_all = pl_half_to_float(blk->dmin);
        for (int g = 0; g < 16; g++) {
            const float d = d_all * (blk->scales[g] & 0xF);
            if (d == 0.0f) continue;
            const float dm = dmin_all * (blk->scales[g] >> 4);
            for (int i = 0; i < 16; i++) {
                int l = pl_round_nearest_even((x[16 * g + i] + dm) / d);
                l = l < 0 ? 0 : l > 3 ? 3 : l;
                L[16 * g + i] = (uint8_t)l;
            }
        }
        pack_2bit_codes(L, blk->qs);
    }
}

/* Encodes a Q3_K row: 16 groups fitted symmetrically (nmax 4, coordinate descent), scales quantized to
   6 bits against d = max_scale / -32, codes -4..3 against the rounded scales, the top code bit in hmask. */
void pl_quant_row_q3_K(const float *src, pl_block_q3_K *dst, int64_t n) {
    const int64_t nb = n / PL_QK_K;
    int8_t L[PL_QK_K];
    uint8_t codes[PL_QK_K];
    float group_scale[16];
    for (int64_t b = 0; b < nb; b++) {
        const float *x = src + b * PL_QK_K;
        pl_block_q3_K *blk = &dst[b];
        float max_scale = 0, amax = 0;
        for (int g = 0; g < 16; g++) {
            group_scale[g] = fit_q3_scale(16, 4, x + 16 * g, L + 16 * g);
            const float a = fabsf(group_scale[g]);
            if (a > amax) {
                amax = a;
                max_scale = group_scale[g];
            }
        }
        memset(blk->scales, 0, sizeof blk->scales);
        if (max_scale != 0.0f) {
            const float iscale = -32.f / max_scale;
            for (int g = 0; g < 16; g++) {
                int l = pl_round_nearest_even(iscale * group_scale[g]);
                l = (l < -32 ? -32 : l > 31 ? 31 : l) + 32;
                if (g < 8) blk->scales[g] = (uint8_t)(l & 0xF);
                else blk->scales[g - 8] |= (uint8_t)((l & 0xF) << 4);
                blk->scales[8 + g % 4] |= (uint8_t)((l >> 4) << (2 * (g / 4)));
            }
            blk->d = pl_fp32_to_fp16(1 / iscale);
        } else {
            blk->d = pl_fp32_to_fp16(0.f);
        }
        int scales[16];
        unpack_q3_K_scales(blk->scales, scales);
        const float d_all = pl_half_to_float(blk->d);
        for (int g = 0; g < 16; g++) {
            const float d = d_all * scales[g];
            if (d == 0.0f) continue;
            for (int i = 0; i < 16; i++) {
                int l = pl_round_nearest_even(x[16 * g + i] / d);
                l = l < -4 ? -4 : l > 3 ? 3 : l;
                L[16 * g + i] = (int8_t)(l + 4);
            }
        }
        memset(blk->hmask, 0, sizeof blk->hmask);
        for (int j = 0; j < PL_QK_K; j++) {
            int code = L[j];
            if (code > 3) {
                blk->hmask[j % 32] |= (uint8_t)(1u << (j / 32));
                code -= 4;
            }
            codes[j] = (uint8_t)code;
        }
        pack_2bit_codes(codes, blk->qs);
    }
}
