/* Tests of the ggml-compatible codecs through the public API (pl_type_info, pl_row_bytes, pl_dequantize,
   pl_quantize): hand-packed blocks of every dequantizable type decode to the values the layout defines,
   F16/BF16 conversions are exact, quantize -> dequantize round trips stay within per-type error bounds,
   and bad arguments fail cleanly. Prints "quant: N passed, M failed"; exits non-zero on any failure. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "panlora.h"

static int passed = 0, failed = 0;

/* Records one check; prints the failures. */
static void check(int ok, const char *what) {
    if (ok) {
        passed++;
    } else {
        failed++;
        printf("FAIL: %s\n", what);
    }
}

/* Records one check with a formatted description. */
#define CHECKF(ok, ...)                                         \
    do {                                                        \
        char check_msg_[512];                                   \
        snprintf(check_msg_, sizeof check_msg_, __VA_ARGS__);   \
        check((ok), check_msg_);                                \
    } while (0)

/* ---- deterministic random numbers ---- */

typedef struct { uint64_t state; } rng_t;

/* Next 64 random bits (xorshift64*). */
static uint64_t rng_next(rng_t *r) {
    r->state ^= r->state >> 12;
    r->state ^= r->state << 25;
    r->state ^= r->state >> 27;
    return r->state * 0x2545F4914F6CDD1DULL;
}

/* Uniform in [0, 1). */
static double rng_uniform(rng_t *r) { return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0); }

/* Standard normal (Box-Muller). */
static float rng_gauss(rng_t *r) {
    double u = rng_uniform(r) + 1e-12, v = rng_uniform(r);
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

/* Integer uniform in [0, n). */
static int rng_int(rng_t *r, int n) { return (int)(rng_next(r) % (uint64_t)n); }

/* ---- independent reference conversions (plain double arithmetic, no bit tricks shared with the library) ---- */

/* Value of an IEEE half from its fields. */
static double ref_half_value(uint16_t h) {
    int sign = h >> 15, exp = (h >> 10) & 31, mant = h & 1023;
    double v;
    if (exp == 31) v = mant ? NAN : INFINITY;
    else if (exp == 0) v = ldexp((double)mant, -24);
    else v = ldexp((double)(mant + 1024), exp - 25);
    return sign ? -v : v;
}

/* Nearest IEEE half to f, ties to the even code, by binary search over the (monotone) positive half codes. */
static uint16_t ref_half_from_float(float f) {
    if (isnan(f)) return 0x7e00;
    uint16_t sign = signbit(f) ? 0x8000 : 0;
    double a = fabs((double)f);
    if (a >= 65520.0) return sign | 0x7c00;
    int lo = 0, hi = 0x7bff; /* find largest code with value <= a */
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (ref_half_value((uint16_t)mid) <= a) lo = mid;
        else hi = mid - 1;
    }
    int code = lo;
    if (code < 0x7bff) {
        double below = a - ref_half_value((uint16_t)code), above = ref_half_value((uint16_t)(code + 1)) - a;
        if (above < below || (above == below && (code & 1))) code++;
    }
    return (uint16_t)(sign | code);
}

/* Nearest bfloat16 to f: the top 16 bits, rounded on the dropped 16 bits, ties to even. */
static uint16_t ref_bf16_from_float(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t top = u >> 16, rest = u & 0xffff;
    if (rest > 0x8000 || (rest == 0x8000 && (top & 1))) top++;
    return (uint16_t)top;
}

/* A float with the given bits. */
static float float_from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* The bits of a float. */
static uint32_t bits_of_float(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* Stores a little-endian 16-bit value at p. */
static void put_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v & 0xff);
    p[1] = (uint8_t)(v >> 8);
}

/* Exact-in-binary block scales used by the hand-built blocks (all products below are exact in float). */
#define H_0_5 0x3800  /* 0.5 */
#define H_0_25 0x3400 /* 0.25 */
#define H_1_5 0x3e00  /* 1.5 */
#define H_M0_75 0xba00 /* -0.75 */
#define H_0_125 0x3000 /* 0.125 */

/* Decodes buffer bytes with pl_dequantize and compares with expected values exactly (bitwise). */
static void expect_decode(int32_t type, const char *name, const uint8_t *bytes, int64_t nbytes,
                          const float *expected, int64_t n) {
    float *out = malloc((size_t)n * sizeof(float));
    int32_t rc = pl_dequantize(type, bytes, nbytes, out, n);
    CHECKF(rc == PL_OK, "%s: pl_dequantize rc=%d (%s)", name, rc, pl_last_error());
    int64_t bad = 0, first_bad = -1;
    for (int64_t i = 0; i < n; i++) {
        if (bits_of_float(out[i]) != bits_of_float(expected[i])) {
            if (first_bad < 0) first_bad = i;
            bad++;
        }
    }
    CHECKF(bad == 0, "%s: %lld of %lld decoded values differ (first at %lld: got %.9g want %.9g)", name,
           (long long)bad, (long long)n, (long long)first_bad, first_bad >= 0 ? out[first_bad] : 0.0,
           first_bad >= 0 ? expected[first_bad] : 0.0);
    free(out);
}

/* ---- (a) hand-built blocks ---- */

/* Q4_0 and Q4_1: 32 codes; element j < 16 in the low nibble of qs[j], element j >= 16 in the high nibble of qs[j-16]. */
static void test_hand_q4(rng_t *r) {
    enum { NB = 3 };
    uint8_t b40[NB * 18], b41[NB * 20];
    float e40[NB * 32], e41[NB * 32];
    const uint16_t dh[NB] = {H_0_5, H_M0_75, H_0_125};
    const double dv[NB] = {0.5, -0.75, 0.125};
    const uint16_t mh[NB] = {H_0_25, H_1_5, H_M0_75};
    const double mv[NB] = {0.25, 1.5, -0.75};
    for (int b = 0; b < NB; b++) {
        uint8_t *p0 = b40 + 18 * b, *p1 = b41 + 20 * b;
        put_u16(p0, dh[b]);
        put_u16(p1, dh[b]);
        put_u16(p1 + 2, mh[b]);
        int codes[32];
        for (int e = 0; e < 32; e++) codes[e] = rng_int(r, 16);
        for (int j = 0; j < 16; j++) {
            p0[2 + j] = (uint8_t)(codes[j] | (codes[j + 16] << 4));
            p1[4 + j] = (uint8_t)(codes[j] | (codes[j + 16] << 4));
        }
        for (int e = 0; e < 32; e++) {
            e40[32 * b + e] = (float)((codes[e] - 8) * dv[b]);
            e41[32 * b + e] = (float)(codes[e] * dv[b] + mv[b]);
        }
    }
    expect_decode(PL_TYPE_Q4_0, "Q4_0 hand", b40, sizeof b40, e40, NB * 32);
    expect_decode(PL_TYPE_Q4_1, "Q4_1 hand", b41, sizeof b41, e41, NB * 32);

    /* literal spot check: d = 0.5, qs[0] = 0x1f -> x[0] = (15-8)*0.5, x[16] = (1-8)*0.5 */
    uint8_t lit[18] = {0x00, 0x38, 0x1f};
    float out[32];
    check(pl_dequantize(PL_TYPE_Q4_0, lit, 18, out, 32) == PL_OK && out[0] == 3.5f && out[16] == -3.5f &&
              out[1] == -4.0f && out[17] == -4.0f,
          "Q4_0 literal block: x[0]=3.5, x[16]=-3.5, zero nibbles -4");
}

/* Q5_0 and Q5_1: as Q4 with bit 4 of element j in bit j of the little-endian 32-bit qh. */
static void test_hand_q5(rng_t *r) {
    enum { NB = 3 };
    uint8_t b50[NB * 22], b51[NB * 24];
    float e50[NB * 32], e51[NB * 32];
    const uint16_t dh[NB] = {H_0_25, H_1_5, H_M0_75};
    const double dv[NB] = {0.25, 1.5, -0.75};
    const uint16_t mh[NB] = {H_0_5, H_M0_75, H_0_125};
    const double mv[NB] = {0.5, -0.75, 0.125};
    for (int b = 0; b < NB; b++) {
        uint8_t *p0 = b50 + 22 * b, *p1 = b51 + 24 * b;
        put_u16(p0, dh[b]);
        put_u16(p1, dh[b]);
        put_u16(p1 + 2, mh[b]);
        int codes[32];
        uint32_t qh = 0;
        for (int e = 0; e < 32; e++) {
            codes[e] = rng_int(r, 32);
            if (codes[e] & 16) qh |= 1u << e;
        }
        for (int k = 0; k < 4; k++) {
            p0[2 + k] = (uint8_t)(qh >> (8 * k));
            p1[4 + k] = (uint8_t)(qh >> (8 * k));
        }
        for (int j = 0; j < 16; j++) {
            p0[6 + j] = (uint8_t)((codes[j] & 15) | ((codes[j + 16] & 15) << 4));
            p1[8 + j] = (uint8_t)((codes[j] & 15) | ((codes[j + 16] & 15) << 4));
        }
        for (int e = 0; e < 32; e++) {
            e50[32 * b + e] = (float)((codes[e] - 16) * dv[b]);
            e51[32 * b + e] = (float)(codes[e] * dv[b] + mv[b]);
        }
    }
    expect_decode(PL_TYPE_Q5_0, "Q5_0 hand", b50, sizeof b50, e50, NB * 32);
    expect_decode(PL_TYPE_Q5_1, "Q5_1 hand", b51, sizeof b51, e51, NB * 32);
}

/* Q8_0: fp16 d then 32 signed bytes. */
static void test_hand_q8_0(rng_t *r) {
    enum { NB = 4 };
    uint8_t bytes[NB * 34];
    float expected[NB * 32];
    const uint16_t dh[NB] = {H_0_5, H_M0_75, H_0_125, 0x0001 /* smallest subnormal, 2^-24 */};
    const double dv[NB] = {0.5, -0.75, 0.125, ldexp(1.0, -24)};
    for (int b = 0; b < NB; b++) {
        uint8_t *p = bytes + 34 * b;
        put_u16(p, dh[b]);
        for (int e = 0; e < 32; e++) {
            int q = rng_int(r, 256) - 128;
            p[2 + e] = (uint8_t)(int8_t)q;
            expected[32 * b + e] = (float)(q * dv[b]);
        }
    }
    expect_decode(PL_TYPE_Q8_0, "Q8_0 hand", bytes, sizeof bytes, expected, NB * 32);
}

/* Q2_K: scales[16] (low nibble scale, high nibble min), qs[64], d, dmin. Element e: half h = e/128, run = (e%128)/32,
   l = e%32; code = bits 2*run..2*run+1 of qs[32h + l]; group e/16; x = d*sc*code - dmin*mn. */
static void test_hand_q2_K(rng_t *r) {
    enum { NB = 2 };
    uint8_t bytes[NB * 84];
    float expected[NB * 256];
    memset(bytes, 0, sizeof bytes);
    const double dv[NB] = {0.5, 0.125}, mv[NB] = {0.25, -0.75};
    const uint16_t dh[NB] = {H_0_5, H_0_125}, mh[NB] = {H_0_25, H_M0_75};
    for (int b = 0; b < NB; b++) {
        uint8_t *p = bytes + 84 * b;
        int sc[16], mn[16], code[256];
        for (int g = 0; g < 16; g++) {
            sc[g] = rng_int(r, 16);
            mn[g] = rng_int(r, 16);
            p[g] = (uint8_t)(sc[g] | (mn[g] << 4));
        }
        for (int e = 0; e < 256; e++) {
            code[e] = rng_int(r, 4);
            int h = e / 128, run = (e % 128) / 32, l = e % 32;
            p[16 + 32 * h + l] |= (uint8_t)(code[e] << (2 * run));
        }
        put_u16(p + 80, dh[b]);
        put_u16(p + 82, mh[b]);
        for (int e = 0; e < 256; e++)
            expected[256 * b + e] = (float)(dv[b] * sc[e / 16] * code[e] - mv[b] * mn[e / 16]);
    }
    expect_decode(PL_TYPE_Q2_K, "Q2_K hand", bytes, sizeof bytes, expected, NB * 256);
}

/* Q3_K: hmask[32], qs[64], scales[12], d. 16 six-bit scales stored with +32: low nibble of group g in byte g (g < 8)
   or the high nibble of byte g-8, top 2 bits in byte 8 + g%4 at bit 2*(g/4). Code = 2 bits as in Q2_K minus 4 unless
   bit (e/32) of hmask[e%32] is set; x = d * (scale-32) * code. */
static void test_hand_q3_K(rng_t *r) {
    enum { NB = 2 };
    uint8_t bytes[NB * 110];
    float expected[NB * 256];
    memset(bytes, 0, sizeof bytes);
    const double dv[NB] = {0.5, -0.75};
    const uint16_t dh[NB] = {H_0_5, H_M0_75};
    for (int b = 0; b < NB; b++) {
        uint8_t *p = bytes + 110 * b;
        uint8_t *hmask = p, *qs = p + 32, *scales = p + 96;
        int scale6[16], code[256];
        for (int g = 0; g < 16; g++) {
            scale6[g] = rng_int(r, 64);
            if (g < 8) scales[g] |= (uint8_t)(scale6[g] & 15);
            else scales[g - 8] |= (uint8_t)((scale6[g] & 15) << 4);
            scales[8 + g % 4] |= (uint8_t)((scale6[g] >> 4) << (2 * (g / 4)));
        }
        for (int e = 0; e < 256; e++) {
            int low2 = rng_int(r, 4), high = rng_int(r, 2);
            code[e] = low2 - (high ? 0 : 4);
            int h = e / 128, run = (e % 128) / 32, l = e % 32;
            qs[32 * h + l] |= (uint8_t)(low2 << (2 * run));
            if (high) hmask[l] |= (uint8_t)(1 << (e / 32));
        }
        put_u16(p + 108, dh[b]);
        for (int e = 0; e < 256; e++) expected[256 * b + e] = (float)(dv[b] * (scale6[e / 16] - 32) * code[e]);
    }
    expect_decode(PL_TYPE_Q3_K, "Q3_K hand", bytes, sizeof bytes, expected, NB * 256);
}

/* Packs 8 six-bit scales and mins into the 12 bytes of Q4_K/Q5_K: groups 0..3 in the low 6 bits of bytes 0..3
   (scales) and 4..7 (mins); groups 4..7: low nibbles in bytes 8..11 (scale low, min high), their top 2 bits in the
   top 2 bits of bytes 0..3 (scales) and 4..7 (mins). */
static void pack_6bit_scales(const int sc[8], const int mn[8], uint8_t out[12]) {
    memset(out, 0, 12);
    for (int g = 0; g < 4; g++) {
        out[g] = (uint8_t)sc[g];
        out[g + 4] = (uint8_t)mn[g];
    }
    for (int g = 4; g < 8; g++) {
        out[g + 4] = (uint8_t)((sc[g] & 15) | ((mn[g] & 15) << 4));
        out[g - 4] |= (uint8_t)((sc[g] >> 4) << 6);
        out[g] |= (uint8_t)((mn[g] >> 4) << 6);
    }
}

/* Q4_K: d, dmin, scales[12], qs[128]. Per 64 elements 32 bytes: first 32 elements in the low nibbles, next 32 in the
   high nibbles; group e/32; x = d*sc*q - dmin*mn.  Q5_K adds qh[32]: bit (e/32) of qh[e%32] is bit 4 of q. */
static void test_hand_q4_K_q5_K(rng_t *r) {
    enum { NB = 2 };
    uint8_t b4[NB * 144], b5[NB * 176];
    float e4[NB * 256], e5[NB * 256];
    memset(b4, 0, sizeof b4);
    memset(b5, 0, sizeof b5);
    const double dv[NB] = {0.5, 0.125}, mv[NB] = {0.25, 1.5};
    const uint16_t dh[NB] = {H_0_5, H_0_125}, mh[NB] = {H_0_25, H_1_5};
    for (int b = 0; b < NB; b++) {
        uint8_t *p4 = b4 + 144 * b, *p5 = b5 + 176 * b;
        int sc[8], mn[8], q4[256], q5[256];
        for (int g = 0; g < 8; g++) {
            sc[g] = rng_int(r, 64);
            mn[g] = rng_int(r, 64);
        }
        if (b == 0) { sc[5] = 63; mn[6] = 63; sc[7] = 48; mn[4] = 33; } /* exercise the top bits */
        put_u16(p4, dh[b]);
        put_u16(p4 + 2, mh[b]);
        put_u16(p5, dh[b]);
        put_u16(p5 + 2, mh[b]);
        pack_6bit_scales(sc, mn, p4 + 4);
        pack_6bit_scales(sc, mn, p5 + 4);
        for (int e = 0; e < 256; e++) {
            q4[e] = rng_int(r, 16);
            q5[e] = rng_int(r, 32);
            int chunk = e / 64, within = e % 64, l = within % 32, high_nibble = within >= 32;
            p4[16 + 32 * chunk + l] |= (uint8_t)(q4[e] << (high_nibble ? 4 : 0));
            p5[48 + 32 * chunk + l] |= (uint8_t)((q5[e] & 15) << (high_nibble ? 4 : 0));
            if (q5[e] & 16) p5[16 + l] |= (uint8_t)(1 << (e / 32));
        }
        for (int e = 0; e < 256; e++) {
            int g = e / 32;
            e4[256 * b + e] = (float)(dv[b] * sc[g] * q4[e] - mv[b] * mn[g]);
            e5[256 * b + e] = (float)(dv[b] * sc[g] * q5[e] - mv[b] * mn[g]);
        }
    }
    expect_decode(PL_TYPE_Q4_K, "Q4_K hand", b4, sizeof b4, e4, NB * 256);
    expect_decode(PL_TYPE_Q5_K, "Q5_K hand", b5, sizeof b5, e5, NB * 256);

    /* literal spot check: d = 1 (0x3c00), dmin = 0.5, scale/min of group 0 = 3/2, of group 4 = 33/34 (top bits used),
       qs[0] = 0xA5 -> x[0] = 1*3*5 - 0.5*2 = 14, x[32] = group 1 (scale 0) * 10 - 0 = 0 */
    uint8_t lit[144] = {0};
    put_u16(lit, 0x3c00);
    put_u16(lit + 2, 0x3800);
    lit[4 + 0] = 3;                 /* scale 0 */
    lit[4 + 4] = 2;                 /* min 0 */
    lit[4 + 8] = (uint8_t)(1 | (2 << 4)); /* group 4: low nibbles 1 and 2 */
    lit[4 + 0] |= 2 << 6;           /* group 4 scale top bits = 2 -> 33 */
    lit[4 + 4] |= 2 << 6;           /* group 4 min top bits = 2 -> 34 */
    lit[16] = 0xA5;
    lit[16 + 64] = 0x07;            /* element 128 = group 4, code 7 */
    float out[256];
    int32_t rc = pl_dequantize(PL_TYPE_Q4_K, lit, 144, out, 256);
    CHECKF(rc == PL_OK && out[0] == 14.0f && out[32] == 0.0f && out[128] == 33.0f * 7 - 17.0f && out[1] == -1.0f,
           "Q4_K literal block: x[0]=%g (14) x[32]=%g (0) x[128]=%g (214) x[1]=%g (-1)", out[0], out[32], out[128],
           out[1]);
}

/* Q6_K: ql[128], qh[64], scales[16] (int8), d. Per 128 elements (half h): runs of 32 k = 0..3; low nibble of code e
   in ql[64h + 32*(k&1) + l] (low nibble for k < 2, high for k >= 2), its 2 high bits in qh[32h + l] at bit 2k;
   x = d * scale[e/16] * (q - 32). */
static void test_hand_q6_K(rng_t *r) {
    enum { NB = 2 };
    uint8_t bytes[NB * 210];
    float expected[NB * 256];
    memset(bytes, 0, sizeof bytes);
    const double dv[NB] = {0.125, -0.75};
    const uint16_t dh[NB] = {H_0_125, H_M0_75};
    for (int b = 0; b < NB; b++) {
        uint8_t *p = bytes + 210 * b;
        uint8_t *ql = p, *qh = p + 128;
        int8_t *scales = (int8_t *)(p + 192);
        int sc[16], q[256];
        for (int g = 0; g < 16; g++) {
            sc[g] = rng_int(r, 256) - 128;
            scales[g] = (int8_t)sc[g];
        }
        for (int e = 0; e < 256; e++) {
            q[e] = rng_int(r, 64);
            int h = e / 128, k = (e % 128) / 32, l = e % 32;
            ql[64 * h + 32 * (k & 1) + l] |= (uint8_t)((q[e] & 15) << (k >= 2 ? 4 : 0));
            qh[32 * h + l] |= (uint8_t)((q[e] >> 4) << (2 * k));
        }
        put_u16(p + 208, dh[b]);
        for (int e = 0; e < 256; e++) expected[256 * b + e] = (float)(dv[b] * sc[e / 16] * (q[e] - 32));
    }
    expect_decode(PL_TYPE_Q6_K, "Q6_K hand", bytes, sizeof bytes, expected, NB * 256);
}

/* F32, F16 and BF16 decode element by element; F16 over all 65536 codes against the field formula. */
static void test_hand_float_types(void) {
    uint16_t *halves = malloc(65536 * 2);
    float *expected = malloc(65536 * 4);
    for (uint32_t h = 0; h < 65536; h++) {
        halves[h] = (uint16_t)h;
        expected[h] = (float)ref_half_value((uint16_t)h);
    }
    float *out = malloc(65536 * 4);
    int32_t rc = pl_dequantize(PL_TYPE_F16, halves, 65536 * 2, out, 65536);
    int64_t bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        int both_nan = isnan(out[h]) && isnan(expected[h]);
        if (!both_nan && bits_of_float(out[h]) != bits_of_float(expected[h])) bad++;
    }
    CHECKF(rc == PL_OK && bad == 0, "F16 decode of all 65536 codes: %lld differ", (long long)bad);
    /* the same through an odd element count and an odd start (tails of vector loops, unaligned source) */
    uint8_t *shifted = malloc(2 * 65536 + 1);
    memcpy(shifted + 1, halves, 2 * 65536);
    rc = pl_dequantize(PL_TYPE_F16, shifted + 1 + 2 * 3, 2 * 1001, out, 1001);
    bad = 0;
    for (int i = 0; i < 1001; i++)
        if (bits_of_float(out[i]) != bits_of_float(expected[i + 3])) bad++;
    CHECKF(rc == PL_OK && bad == 0, "F16 decode, 1001 codes from an odd address: %lld differ", (long long)bad);

    rc = pl_dequantize(PL_TYPE_BF16, halves, 65536 * 2, out, 65536);
    bad = 0;
    for (uint32_t h = 0; h < 65536; h++)
        if (bits_of_float(out[h]) != (h << 16)) bad++;
    CHECKF(rc == PL_OK && bad == 0, "BF16 decode of all 65536 codes: %lld differ", (long long)bad);

    float f32_in[5] = {1.0f, -0.0f, INFINITY, 1e-40f, 3.25f};
    rc = pl_dequantize(PL_TYPE_F32, f32_in, sizeof f32_in, out, 5);
    check(rc == PL_OK && memcmp(out, f32_in, sizeof f32_in) == 0, "F32 decode copies");
    free(shifted);
    free(out);
    free(expected);
    free(halves);
}

/* ---- (b) F16/BF16 encoding exactness ---- */

/* Encodes one float to F16 through the API. */
static uint16_t api_half(float f) {
    uint16_t h = 0xffff;
    pl_quantize(PL_TYPE_F16, &f, 1, &h, 2);
    return h;
}

/* Encodes one float to BF16 through the API. */
static uint16_t api_bf16(float f) {
    uint16_t h = 0xffff;
    pl_quantize(PL_TYPE_BF16, &f, 1, &h, 2);
    return h;
}

/* Special values and a random sweep of F16 and BF16 encoding against the reference rounding. */
static void test_float_encodings(rng_t *r) {
    struct { float f; uint16_t half; const char *what; } cases[] = {
        {0.0f, 0x0000, "+0"},
        {-0.0f, 0x8000, "-0"},
        {1.0f, 0x3c00, "1"},
        {-2.0f, 0xc000, "-2"},
        {65504.0f, 0x7bff, "max half"},
        {65519.99f, 0x7bff, "just below the inf threshold"},
        {65520.0f, 0x7c00, "halfway to 65536 rounds to inf"},
        {1e10f, 0x7c00, "overflow"},
        {-1e10f, 0xfc00, "negative overflow"},
        {INFINITY, 0x7c00, "+inf"},
        {-INFINITY, 0xfc00, "-inf"},
        {0x1p-24f, 0x0001, "smallest subnormal"},
        {0x1p-25f, 0x0000, "half the smallest subnormal ties to even 0"},
        {0x1.000002p-25f, 0x0001, "just over half the smallest subnormal"},
        {0x3p-25f, 0x0002, "1.5 subnormal units tie to even 2"},
        {0x1.ff8p-15f, 0x03ff, "largest subnormal"},
        {0x1p-14f, 0x0400, "smallest normal"},
        {0x1.ffcp-15f, 0x0400, "rounding up from subnormal to normal"},
        {1.0f + 0x1p-11f, 0x3c00, "1 + half ulp ties to even 1"},
        {1.0f + 0x3p-11f, 0x3c02, "1 + 1.5 ulp ties to even"},
        {0x1.002002p+0f, 0x3c01, "1 + just over half ulp"},
        {-0x1p-30f, 0x8000, "negative underflow keeps sign"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint16_t got = api_half(cases[i].f);
        CHECKF(got == cases[i].half, "F16 encode %s (%a): got 0x%04x want 0x%04x", cases[i].what, cases[i].f, got,
               cases[i].half);
        CHECKF(got == ref_half_from_float(cases[i].f), "F16 reference agrees on %s", cases[i].what);
    }
    uint16_t nan_half = api_half(NAN);
    check((nan_half & 0x7c00) == 0x7c00 && (nan_half & 0x03ff) != 0, "F16 encode NaN stays NaN");

    /* random sweep over bit patterns around the half range, through one long row (vector path + tail) */
    enum { N = 200003 };
    float *x = malloc(N * sizeof(float));
    uint16_t *h = malloc(N * sizeof(uint16_t));
    for (int i = 0; i < N; i++) {
        uint32_t exp = 100 + (uint32_t)rng_int(r, 45); /* 2^-27 .. 2^17 */
        uint32_t bits = (exp << 23) | (uint32_t)(rng_next(r) & 0x7fffff);
        if (i % 5 == 0) bits &= ~0x1fffu, bits |= 0x1000; /* exact ties */
        if (rng_int(r, 2)) bits |= 0x80000000u;
        x[i] = float_from_bits(bits);
    }
    int32_t rc = pl_quantize(PL_TYPE_F16, x, N, h, N * 2);
    int64_t bad = 0;
    for (int i = 0; i < N; i++)
        if (h[i] != ref_half_from_float(x[i])) bad++;
    CHECKF(rc == PL_OK && bad == 0, "F16 encode of %d random floats: %lld differ from nearest-even", N, (long long)bad);

    /* BF16 */
    check(api_bf16(1.0f) == 0x3f80, "BF16 encode 1");
    check(api_bf16(-0.0f) == 0x8000, "BF16 encode -0");
    check(api_bf16(INFINITY) == 0x7f80 && api_bf16(-INFINITY) == 0xff80, "BF16 encode inf");
    check(api_bf16(float_from_bits(0x3f808000)) == 0x3f80, "BF16 tie rounds to even (down)");
    check(api_bf16(float_from_bits(0x3f818000)) == 0x3f82, "BF16 tie rounds to even (up)");
    check(api_bf16(float_from_bits(0x3f808001)) == 0x3f81, "BF16 above tie rounds up");
    check(api_bf16(float_from_bits(0x7f7fffff)) == 0x7f80, "BF16 max float rounds to inf");
    check(api_bf16(float_from_bits(0x00008000)) == 0x0000, "BF16 subnormal tie to even 0");
    check(api_bf16(float_from_bits(0x00018000)) == 0x0002, "BF16 subnormal tie to even 2");
    uint16_t bnan = api_bf16(NAN), snan = api_bf16(float_from_bits(0x7f800001));
    check((bnan & 0x7f80) == 0x7f80 && (bnan & 0x7f) != 0, "BF16 NaN stays NaN");
    check((snan & 0x7f80) == 0x7f80 && (snan & 0x7f) != 0, "BF16 NaN with payload only in the low bits stays NaN");
    for (int i = 0; i < N; i++) x[i] = float_from_bits((uint32_t)rng_next(r));
    rc = pl_quantize(PL_TYPE_BF16, x, N, h, N * 2);
    bad = 0;
    for (int i = 0; i < N; i++) {
        if (isnan(x[i])) {
            if ((h[i] & 0x7f80) != 0x7f80 || (h[i] & 0x7f) == 0) bad++;
        } else if (h[i] != ref_bf16_from_float(x[i])) {
            bad++;
        }
    }
    CHECKF(rc == PL_OK && bad == 0, "BF16 encode of %d random bit patterns: %lld differ", N, (long long)bad);
    free(h);
    free(x);
}

/* ---- (c) round trips ---- */

/* Root mean square of x. */
static double rms(const float *x, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)x[i] * x[i];
    return sqrt(s / (double)n);
}

/* One type's round-trip bound: RMS(dequant(quant(x)) - x) / RMS(x) must stay below max_rel_rms. */
typedef struct {
    int32_t type;
    const char *name;
    double max_rel_rms;
    int idempotent; /* quant(dequant(quant(x))) == quant(x) byte for byte */
} roundtrip_case;

/* Quantizes Gaussian data (plus a block of zeros and a block with an outlier), checks error and idempotence. */
static void test_roundtrip(rng_t *r, const roundtrip_case *c) {
    enum { N = 256 * 256 };
    float *x = malloc(N * sizeof(float)), *y = malloc(N * sizeof(float));
    int64_t bytes = 0;
    pl_row_bytes(c->type, N, &bytes);
    uint8_t *q = malloc((size_t)bytes), *q2 = malloc((size_t)bytes);
    for (int i = 0; i < N; i++) x[i] = rng_gauss(r) * 0.02f; /* weight-like scale */
    for (int i = 256; i < 512; i++) x[i] = 0.0f;            /* an all-zero super-block */
    x[1000] = 0.5f;                                          /* an outlier */
    int32_t rc = pl_quantize(c->type, x, N, q, bytes);
    CHECKF(rc == PL_OK, "%s: quantize rc=%d (%s)", c->name, rc, pl_last_error());
    rc = pl_dequantize(c->type, q, bytes, y, N);
    CHECKF(rc == PL_OK, "%s: dequantize rc=%d (%s)", c->name, rc, pl_last_error());
    double err = 0;
    for (int i = 0; i < N; i++) err += ((double)y[i] - x[i]) * ((double)y[i] - x[i]);
    const double rel = sqrt(err / N) / rms(x, N);
    int zeros_ok = 1;
    for (int i = 256; i < 512; i++) zeros_ok &= y[i] == 0.0f;
    printf("  %-5s round-trip relative RMS error %.5f%% (bound %.2f%%)\n", c->name, 100 * rel, 100 * c->max_rel_rms);
    CHECKF(rel < c->max_rel_rms, "%s: relative RMS error %.6f exceeds %.6f", c->name, rel, c->max_rel_rms);
    CHECKF(zeros_ok, "%s: zeros decode to exactly 0", c->name);
    if (c->idempotent) {
        rc = pl_quantize(c->type, y, N, q2, bytes);
        CHECKF(rc == PL_OK && memcmp(q, q2, (size_t)bytes) == 0, "%s: quantize(dequantize(q)) == q byte for byte",
               c->name);
    }
    free(q2);
    free(q);
    free(y);
    free(x);
}

/* Large rows are split over threads: the bytes and values must not depend on the thread count. */
static void test_thread_invariance(rng_t *r) {
    enum { N = 256 * 1024 + 256 * 3 };
    const int32_t types[] = {PL_TYPE_Q4_0, PL_TYPE_Q8_0, PL_TYPE_Q4_K, PL_TYPE_Q6_K, PL_TYPE_F16};
    float *x = malloc(N * sizeof(float)), *y1 = malloc(N * sizeof(float)), *y4 = malloc(N * sizeof(float));
    for (int i = 0; i < N; i++) x[i] = rng_gauss(r);
    const int32_t saved = pl_get_num_threads();
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        int64_t bytes = 0;
        pl_row_bytes(types[t], N, &bytes);
        uint8_t *q1 = malloc((size_t)bytes), *q4 = malloc((size_t)bytes);
        pl_set_num_threads(1);
        int ok = pl_quantize(types[t], x, N, q1, bytes) == PL_OK && pl_dequantize(types[t], q1, bytes, y1, N) == PL_OK;
        pl_set_num_threads(4);
        ok = ok && pl_quantize(types[t], x, N, q4, bytes) == PL_OK && pl_dequantize(types[t], q4, bytes, y4, N) == PL_OK;
        CHECKF(ok && memcmp(q1, q4, (size_t)bytes) == 0 && memcmp(y1, y4, N * sizeof(float)) == 0,
               "type %d: 1 and 4 threads give identical bytes and values", types[t]);
        /* a row-by-row decode (as matmul does) equals the one-call decode */
        int64_t row_bytes = 0;
        pl_row_bytes(types[t], 256, &row_bytes);
        int rows_ok = 1;
        for (int64_t row = 0; row < N / 256; row += 97) {
            float y_row[256];
            rows_ok &= pl_dequantize(types[t], q1 + row * row_bytes, row_bytes, y_row, 256) == PL_OK &&
                       memcmp(y_row, y1 + row * 256, sizeof y_row) == 0;
        }
        CHECKF(rows_ok, "type %d: row-by-row decode equals whole decode", types[t]);
        free(q4);
        free(q1);
    }
    pl_set_num_threads(saved);
    free(y4);
    free(y1);
    free(x);
}

/* Blocks starting at odd addresses (rows inside memory-mapped files) decode like aligned ones. */
static void test_unaligned(rng_t *r) {
    const int32_t types[] = {PL_TYPE_Q4_0, PL_TYPE_Q4_1, PL_TYPE_Q5_0, PL_TYPE_Q5_1, PL_TYPE_Q8_0, PL_TYPE_Q2_K,
                             PL_TYPE_Q3_K, PL_TYPE_Q4_K, PL_TYPE_Q5_K, PL_TYPE_Q6_K, PL_TYPE_F16, PL_TYPE_BF16, PL_TYPE_F32};
    enum { N = 512 };
    float x[N], y_aligned[N], y_odd[N];
    for (int i = 0; i < N; i++) x[i] = rng_gauss(r);
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        int64_t bytes = 0;
        pl_row_bytes(types[t], N, &bytes);
        uint8_t *buf = malloc((size_t)bytes + 1);
        int ok = pl_quantize(types[t], x, N, buf, bytes) == PL_OK &&
                 pl_dequantize(types[t], buf, bytes, y_aligned, N) == PL_OK;
        uint8_t *odd = malloc((size_t)bytes + 1);
        ok = ok && pl_quantize(types[t], x, N, odd + 1, bytes) == PL_OK && memcmp(buf, odd + 1, (size_t)bytes) == 0;
        ok = ok && pl_dequantize(types[t], odd + 1, bytes, y_odd, N) == PL_OK;
        CHECKF(ok && memcmp(y_aligned, y_odd, sizeof y_odd) == 0, "type %d encodes to and decodes from an odd address",
               types[t]);
        free(odd);
        free(buf);
    }
}

/* ---- type table ---- */

/* pl_type_info and pl_row_bytes give ggml's block sizes. */
static void test_type_table(void) {
    struct { int32_t type; int64_t elems, bytes; } table[] = {
        {PL_TYPE_F32, 1, 4},      {PL_TYPE_F16, 1, 2},      {PL_TYPE_Q4_0, 32, 18},   {PL_TYPE_Q4_1, 32, 20},
        {PL_TYPE_Q5_0, 32, 22},   {PL_TYPE_Q5_1, 32, 24},   {PL_TYPE_Q8_0, 32, 34},   {PL_TYPE_Q8_1, 32, 36},
        {PL_TYPE_Q2_K, 256, 84},  {PL_TYPE_Q3_K, 256, 110}, {PL_TYPE_Q4_K, 256, 144}, {PL_TYPE_Q5_K, 256, 176},
        {PL_TYPE_Q6_K, 256, 210}, {PL_TYPE_Q8_K, 256, 292}, {PL_TYPE_BF16, 1, 2},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        int64_t elems = -1, bytes = -1, row = -1;
        int32_t rc = pl_type_info(table[i].type, &elems, &bytes);
        CHECKF(rc == PL_OK && elems == table[i].elems && bytes == table[i].bytes,
               "pl_type_info(%d) = %lld elems, %lld bytes; want %lld, %lld", table[i].type, (long long)elems,
               (long long)bytes, (long long)table[i].elems, (long long)table[i].bytes);
        rc = pl_row_bytes(table[i].type, 4096, &row);
        CHECKF(rc == PL_OK && row == 4096 / table[i].elems * table[i].bytes, "pl_row_bytes(%d, 4096) = %lld",
               table[i].type, (long long)row);
    }
}

/* ---- (d) bad arguments ---- */

/* A call failed with the expected status and left a message naming the function. */
static void expect_error(int32_t rc, int32_t want, const char *fn, const char *what) {
    const char *msg = pl_last_error();
    CHECKF(rc == want && msg != NULL && msg[0] != 0 && strstr(msg, fn) != NULL,
           "%s: rc=%d want %d, message \"%s\" should name %s", what, rc, want, msg ? msg : "(null)", fn);
}

/* Every argument check of the four codec entry points. */
static void test_errors(void) {
    float x[512] = {0};
    uint8_t buf[1024] = {0};
    int64_t a = 0, b = 0;
    const int32_t INV = PL_ERR_INVALID_ARGUMENT;
    expect_error(pl_type_info(4, &a, &b), INV, "pl_type_info", "type_info unknown id 4");
    expect_error(pl_type_info(99, &a, &b), INV, "pl_type_info", "type_info unknown id 99");
    expect_error(pl_type_info(-1, &a, &b), INV, "pl_type_info", "type_info id -1");
    expect_error(pl_type_info(PL_TYPE_Q4_0, NULL, &b), INV, "pl_type_info", "type_info NULL block_elems");
    expect_error(pl_type_info(PL_TYPE_Q4_0, &a, NULL), INV, "pl_type_info", "type_info NULL block_bytes");

    expect_error(pl_row_bytes(PL_TYPE_Q4_0, 33, &a), INV, "pl_row_bytes", "row_bytes n not a block multiple");
    expect_error(pl_row_bytes(PL_TYPE_Q4_0, 0, &a), INV, "pl_row_bytes", "row_bytes n = 0");
    expect_error(pl_row_bytes(PL_TYPE_F32, -4, &a), INV, "pl_row_bytes", "row_bytes n < 0");
    expect_error(pl_row_bytes(PL_TYPE_Q4_0, 32, NULL), INV, "pl_row_bytes", "row_bytes NULL out");
    expect_error(pl_row_bytes(5, 32, &a), INV, "pl_row_bytes", "row_bytes unknown type");
    expect_error(pl_row_bytes(PL_TYPE_Q8_K, INT64_MAX - INT64_MAX % 256, &a), INV, "pl_row_bytes",
                 "row_bytes Q8_K overflow");
    check(pl_row_bytes(PL_TYPE_Q4_K, INT64_MAX - INT64_MAX % 256, &a) == PL_OK && a == (INT64_MAX / 256) * 144,
          "row_bytes of the largest Q4_K row fits");
    expect_error(pl_row_bytes(PL_TYPE_F32, INT64_MAX / 2, &a), INV, "pl_row_bytes", "row_bytes F32 overflow");

    expect_error(pl_dequantize(PL_TYPE_Q4_0, NULL, 18, x, 32), INV, "pl_dequantize", "dequantize NULL src");
    expect_error(pl_dequantize(PL_TYPE_Q4_0, buf, 18, NULL, 32), INV, "pl_dequantize", "dequantize NULL dst");
    expect_error(pl_dequantize(PL_TYPE_Q4_0, buf, 18, x, 0), INV, "pl_dequantize", "dequantize n = 0");
    expect_error(pl_dequantize(PL_TYPE_Q4_0, buf, 18, x, -32), INV, "pl_dequantize", "dequantize n < 0");
    expect_error(pl_dequantize(PL_TYPE_Q4_0, buf, 1024, x, 48), INV, "pl_dequantize", "dequantize n = 48");
    expect_error(pl_dequantize(PL_TYPE_Q4_K, buf, 1024, x, 128), INV, "pl_dequantize", "dequantize Q4_K n = 128");
    expect_error(pl_dequantize(PL_TYPE_Q4_0, buf, 35, x, 64), INV, "pl_dequantize", "dequantize src_bytes short");
    expect_error(pl_dequantize(PL_TYPE_Q6_K, buf, 209, x, 256), INV, "pl_dequantize", "dequantize Q6_K src short");
    expect_error(pl_dequantize(PL_TYPE_F32, buf, -1, x, 1), INV, "pl_dequantize", "dequantize src_bytes < 0");
    expect_error(pl_dequantize(12345, buf, 1024, x, 32), INV, "pl_dequantize", "dequantize unknown type");
    expect_error(pl_dequantize(PL_TYPE_Q8_1, buf, 1024, x, 32), PL_ERR_UNSUPPORTED, "pl_dequantize",
                 "dequantize Q8_1 unsupported");
    expect_error(pl_dequantize(PL_TYPE_Q8_K, buf, 1024, x, 256), PL_ERR_UNSUPPORTED, "pl_dequantize",
                 "dequantize Q8_K unsupported");

    expect_error(pl_quantize(PL_TYPE_Q4_0, NULL, 32, buf, 18), INV, "pl_quantize", "quantize NULL src");
    expect_error(pl_quantize(PL_TYPE_Q4_0, x, 32, NULL, 18), INV, "pl_quantize", "quantize NULL dst");
    expect_error(pl_quantize(PL_TYPE_Q4_0, x, 0, buf, 18), INV, "pl_quantize", "quantize n = 0");
    expect_error(pl_quantize(PL_TYPE_Q4_0, x, -32, buf, 18), INV, "pl_quantize", "quantize n < 0");
    expect_error(pl_quantize(PL_TYPE_Q5_K, x, 100, buf, 1024), INV, "pl_quantize", "quantize Q5_K n = 100");
    expect_error(pl_quantize(PL_TYPE_Q8_0, x, 64, buf, 67), INV, "pl_quantize", "quantize dst_bytes short");
    expect_error(pl_quantize(PL_TYPE_F16, x, 8, buf, 15), INV, "pl_quantize", "quantize F16 dst_bytes short");
    expect_error(pl_quantize(31, x, 32, buf, 1024), INV, "pl_quantize", "quantize unknown type");
    expect_error(pl_quantize(PL_TYPE_Q8_K, x, 256, buf, 1024), PL_ERR_UNSUPPORTED, "pl_quantize",
                 "quantize Q8_K unsupported");
    expect_error(pl_quantize(PL_TYPE_Q8_1, x, 32, buf, 1024), PL_ERR_UNSUPPORTED, "pl_quantize",
                 "quantize Q8_1 unsupported");
    x[37] = NAN;
    expect_error(pl_quantize(PL_TYPE_Q4_0, x, 64, buf, 1024), PL_ERR_NUMERIC, "pl_quantize", "quantize NaN to Q4_0");
    x[37] = INFINITY;
    expect_error(pl_quantize(PL_TYPE_Q4_K, x, 256, buf, 1024), PL_ERR_NUMERIC, "pl_quantize", "quantize inf to Q4_K");
    check(pl_quantize(PL_TYPE_F16, x, 64, buf, 1024) == PL_OK, "quantize inf to F16 is fine");
    x[37] = 0.0f;
    check(pl_quantize(PL_TYPE_Q4_0, x, 64, buf, 1024) == PL_OK && pl_dequantize(PL_TYPE_Q4_0, buf, 1024, x, 64) == PL_OK,
          "larger buffers than needed are accepted");
}

/* Runs every test and prints the summary line. */
int main(void) {
    rng_t r = {0x9E3779B97F4A7C15ULL};
    test_type_table();
    test_hand_q4(&r);
    test_hand_q5(&r);
    test_hand_q8_0(&r);
    test_hand_q2_K(&r);
    test_hand_q3_K(&r);
    test_hand_q4_K_q5_K(&r);
    test_hand_q6_K(&r);
    test_hand_float_types();
    test_float_encodings(&r);

    /* Bounds: the measured errors (printed; this data is fixed by the seed) plus about 20% headroom.
       Data: Gaussian with RMS 0.02, one all-zero super-block and one 25-sigma outlier. */
    const roundtrip_case cases[] = {
        {PL_TYPE_F32, "F32", 1e-12, 1},
        {PL_TYPE_F16, "F16", 0.00025, 1},  /* measured 0.021% */
        {PL_TYPE_BF16, "BF16", 0.002, 1},  /* measured 0.16% */
        {PL_TYPE_Q8_0, "Q8_0", 0.0065, 1}, /* measured 0.55% */
        {PL_TYPE_Q5_0, "Q5_0", 0.052, 1},  /* measured 4.3% */
        {PL_TYPE_Q5_1, "Q5_1", 0.046, 1},  /* measured 3.8% */
        {PL_TYPE_Q4_0, "Q4_0", 0.105, 1},  /* measured 8.7% */
        {PL_TYPE_Q4_1, "Q4_1", 0.095, 1},  /* measured 7.9% */
        {PL_TYPE_Q6_K, "Q6_K", 0.022, 0},  /* measured 1.8% */
        {PL_TYPE_Q5_K, "Q5_K", 0.044, 0},  /* measured 3.7% */
        {PL_TYPE_Q4_K, "Q4_K", 0.086, 0},  /* measured 7.2% */
        {PL_TYPE_Q3_K, "Q3_K", 0.18, 0},   /* measured 15.1% */
        {PL_TYPE_Q2_K, "Q2_K", 0.355, 0},  /* measured 29.6% */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) test_roundtrip(&r, &cases[i]);
    test_thread_invariance(&r);
    test_unaligned(&r);
    test_errors();

    printf("quant: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
