/* pl_bench_peak: the machine rates the benchmarks' rooflines need, measured in the same run as what they bound —
 * streaming memory reads (decoding reads every weight once per token) and the 8-bit dot products of the decode path. */
#if defined(__x86_64__) || defined(__i386__)
#define PL_PEAK_X86 1
#include <immintrin.h>
#else
#define PL_PEAK_X86 0
#endif
#include <stdint.h>
#include <string.h>
#include "common.h"
#include "ops/qdot.h"
#include "pool.h"
#include "quant/quant.h"

#define PEAK_CHUNK ((int64_t)1 << 16) /* bytes per pool chunk of the read test */

typedef struct {
    const uint8_t *buf;
    uint64_t sink[64]; /* one word per worker, so the reads are not optimised away */
} read_args;

#if PL_PEAK_X86
__attribute__((target("avx2"))) static uint64_t read_avx2(const uint8_t *p, int64_t n) {
    __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
    for (int64_t i = 0; i < n; i += 128) {
        a = _mm256_xor_si256(a, _mm256_load_si256((const __m256i *)(const void *)(p + i)));
        b = _mm256_xor_si256(b, _mm256_load_si256((const __m256i *)(const void *)(p + i + 32)));
        c = _mm256_xor_si256(c, _mm256_load_si256((const __m256i *)(const void *)(p + i + 64)));
        d = _mm256_xor_si256(d, _mm256_load_si256((const __m256i *)(const void *)(p + i + 96)));
    }
    a = _mm256_xor_si256(_mm256_xor_si256(a, b), _mm256_xor_si256(c, d));
    return (uint64_t)_mm256_extract_epi64(a, 0) ^ (uint64_t)_mm256_extract_epi64(a, 3);
}
#endif

static void read_chunk(void *ctx, int64_t c0, int64_t c1, int worker) {
    read_args *a = ctx;
    uint64_t s = 0;
    for (int64_t c = c0; c < c1; c++) {
        const uint8_t *p = a->buf + c * PEAK_CHUNK;
#if PL_PEAK_X86
        if (pl_cpu_has_avx2()) {
            s ^= read_avx2(p, PEAK_CHUNK);
            continue;
        }
#endif
        const uint64_t *w = (const uint64_t *)(const void *)p;
        for (int64_t i = 0; i < PEAK_CHUNK / 8; i++) s ^= w[i];
    }
    a->sink[worker & 63] ^= s;
}

/* GB/s of reading `bytes` (rounded down to whole chunks) over the pool, the best of reps passes. */
static int32_t peak_memread(int64_t bytes, int32_t reps, double *rate) {
    const int64_t chunks = bytes / PEAK_CHUNK;
    PL_REQUIRE(chunks >= 1 && bytes <= ((int64_t)1 << 36), "pl_bench_peak: memory-read size %lld must be in %lld..2^36 bytes",
               (long long)bytes, (long long)PEAK_CHUNK);
    uint8_t *buf = pl_alloc((size_t)(chunks * PEAK_CHUNK));
    if (!buf) return pl_fail(PL_ERR_OUT_OF_MEMORY, "pl_bench_peak: cannot allocate %lld bytes to read", (long long)(chunks * PEAK_CHUNK));
    memset(buf, 0x5a, (size_t)(chunks * PEAK_CHUNK)); /* every page touched before the timing */
    read_args a = {.buf = buf};
    const int width = pl_threads();
    double best = 0;
    for (int32_t r = -1; r < reps; r++) { /* r = -1: the warm-up */
        const double t0 = pl_seconds();
        pl_parallel_for(chunks, pl_grain_for(chunks, width, 8, 1), width, read_chunk, &a);
        const double s = pl_seconds() - t0;
        if (r >= 0 && s > 0 && (double)(chunks * PEAK_CHUNK) / s / 1e9 > best) best = (double)(chunks * PEAK_CHUNK) / s / 1e9;
    }
    pl_free(buf);
    *rate = best;
    return pl_ok();
}

/* GOP/s (2 per multiply-add) of the 8-bit decode products: a Q8_0 matrix of `in` = 4096 columns and enough rows for about
   `bytes` bytes against 4 tokens of 8-bit activations, the best of reps products. */
static int32_t peak_int8(int64_t bytes, int32_t reps, double *rate) {
    const int64_t in = 4096, row_bytes = in / 32 * 34, out = bytes / row_bytes;
    PL_REQUIRE(out >= 1 && out <= 65536, "pl_bench_peak: int8 matrix size %lld must be in %lld..%lld bytes", (long long)bytes,
               (long long)row_bytes, (long long)(65536 * row_bytes));
    if (!pl_qdot_supported(PL_TYPE_Q8_0, in)) return pl_fail(PL_ERR_UNSUPPORTED, "pl_bench_peak: this CPU has no 8-bit decode path (AVX2)");
    const int64_t n_tok = 4;
    uint8_t *w = pl_alloc((size_t)(out * row_bytes));
    float *x = pl_alloc(sizeof(float) * (size_t)(n_tok * in)), *y = pl_alloc(sizeof(float) * (size_t)(n_tok * out));
    float *row = pl_alloc(sizeof(float) * (size_t)in);
    int32_t rc = w && x && y && row ? PL_OK : pl_fail(PL_ERR_OUT_OF_MEMORY, "pl_bench_peak: cannot allocate the int8 test matrix");
    if (rc == PL_OK) {
        for (int64_t i = 0; i < n_tok * in; i++) x[i] = (float)((i * 7 + 3) % 17) * 0.0625f - 0.5f;
        for (int64_t o = 0; o < out; o++) {
            for (int64_t i = 0; i < in; i++) row[i] = (float)(((o + 1) * (i * 5 + 1)) % 13) * 0.0625f - 0.375f;
            pl_quant_row(PL_TYPE_Q8_0, row, w + o * row_bytes, in);
        }
        double best = 0;
        for (int32_t r = -1; r < reps && rc == PL_OK; r++) {
            const double t0 = pl_seconds();
            rc = pl_qdot_forward_rows(PL_TYPE_Q8_0, w, in, out, x, n_tok, y, 0);
            const double s = pl_seconds() - t0;
            if (r >= 0 && s > 0 && 2.0 * (double)(in * out * n_tok) / s / 1e9 > best) best = 2.0 * (double)(in * out * n_tok) / s / 1e9;
        }
        *rate = best;
    }
    pl_free(w);
    pl_free(x);
    pl_free(y);
    pl_free(row);
    return rc == PL_OK ? pl_ok() : rc;
}

PL_EXPORT int32_t pl_bench_peak(int32_t kind, int64_t bytes, int32_t reps, double *rate) {
    PL_REQUIRE(rate != NULL, "pl_bench_peak: rate is NULL");
    PL_REQUIRE(reps >= 1 && reps <= 1000, "pl_bench_peak: reps must be in 1..1000, got %d", reps);
    if (kind == PL_PEAK_MEMREAD) return peak_memread(bytes, reps, rate);
    if (kind == PL_PEAK_INT8) return peak_int8(bytes, reps, rate);
    return pl_fail(PL_ERR_INVALID_ARGUMENT, "pl_bench_peak: unknown kind %d (PL_PEAK_MEMREAD, PL_PEAK_INT8)", kind);
}
