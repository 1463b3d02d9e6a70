/* Public entry points of the "types and codecs" section of panlora.h: argument checks, then the row codecs,
   split over threads by runs of whole blocks for long rows (each block is coded independently, so the
   result does not depend on the thread count). */
#include <math.h>
#include "common.h"
#include "pool.h"
#include "quant_internal.h"

/* Rows shorter than this many elements are coded on the calling thread. */
#define PL_PARALLEL_MIN_ELEMS (1 << 16)
/* Elements per work item when a row is split over threads (rounded down to whole blocks). */
#define PL_CHUNK_ELEMS (1 << 14)

/* Checks that n elements of type form whole blocks and computes their bytes; fn names the caller in messages. */
static int32_t checked_row_bytes(const char *fn, int32_t type, int64_t n, int64_t *bytes) {
    if (!pl_type_known(type)) return pl_fail(PL_ERR_INVALID_ARGUMENT, "%s: unknown type id %d", fn, type);
    const int64_t block_elems = pl_type_block_elems(type);
    const int64_t block_bytes = pl_type_block_bytes(type);
    PL_REQUIRE(n > 0, "%s: n must be > 0, got %lld", fn, (long long)n);
    PL_REQUIRE(n % block_elems == 0, "%s: n = %lld is not a multiple of the %s block size %lld", fn, (long long)n,
               pl_type_name(type), (long long)block_elems);
    const int64_t n_blocks = n / block_elems;
    PL_REQUIRE(n_blocks <= INT64_MAX / block_bytes, "%s: n = %lld elements of %s overflow a 64-bit byte count", fn,
               (long long)n, pl_type_name(type));
    *bytes = n_blocks * block_bytes;
    return pl_ok();
}

/* Elements per work item for a split of n elements of a type with blocks of block_elems. */
static int64_t chunk_elems_for(int64_t block_elems) {
    const int64_t blocks = PL_CHUNK_ELEMS / block_elems;
    return (blocks > 0 ? blocks : 1) * block_elems;
}

/* One chunked encode or decode over the pool: chunk c covers elements [c * chunk, ...) of n. */
typedef struct {
    int32_t type;
    int64_t n, chunk, block_elems, block_bytes;
    uint8_t *bytes;
    float *floats;
} codec_args;

static void dequant_chunk(void *ctx, int64_t c0, int64_t c1, int worker) {
    const codec_args *a = ctx;
    for (int64_t c = c0; c < c1; c++) {
        const int64_t first = c * a->chunk, count = a->n - first < a->chunk ? a->n - first : a->chunk;
        pl_dequant_row(a->type, a->bytes + first / a->block_elems * a->block_bytes, a->floats + first, count);
    }
}

static void quant_chunk(void *ctx, int64_t c0, int64_t c1, int worker) {
    const codec_args *a = ctx;
    for (int64_t c = c0; c < c1; c++) {
        const int64_t first = c * a->chunk, count = a->n - first < a->chunk ? a->n - first : a->chunk;
        pl_quant_row(a->type, a->floats + first, a->bytes + first / a->block_elems * a->block_bytes, count);
    }
}

/* Elements and bytes per block of a type. */
PL_EXPORT int32_t pl_type_info(int32_t type, int64_t *block_elems, int64_t *block_bytes) {
    PL_REQUIRE(block_elems != NULL, "pl_type_info: block_elems is NULL");
    PL_REQUIRE(block_bytes != NULL, "pl_type_info: block_bytes is NULL");
    if (!pl_type_known(type)) return pl_fail(PL_ERR_INVALID_ARGUMENT, "pl_type_info: unknown type id %d", type);
    *block_elems = pl_type_block_elems(type);
    *block_bytes = pl_type_block_bytes(type);
    return pl_ok();
}

/* Bytes taken by n elements (whole blocks) of a type. */
PL_EXPORT int32_t pl_row_bytes(int32_t type, int64_t n, int64_t *out_bytes) {
    PL_REQUIRE(out_bytes != NULL, "pl_row_bytes: out_bytes is NULL");
    int64_t bytes = 0;
    PL_TRY(checked_row_bytes("pl_row_bytes", type, n, &bytes));
    *out_bytes = bytes;
    return pl_ok();
}

/* Decodes n elements of type from src (src_bytes long) into dst. */
PL_EXPORT int32_t pl_dequantize(int32_t type, const void *src, int64_t src_bytes, float *dst, int64_t n) {
    PL_REQUIRE(src != NULL, "pl_dequantize: src is NULL");
    PL_REQUIRE(dst != NULL, "pl_dequantize: dst is NULL");
    int64_t need = 0;
    PL_TRY(checked_row_bytes("pl_dequantize", type, n, &need));
    if (!pl_type_can_dequantize(type))
        return pl_fail(PL_ERR_UNSUPPORTED, "pl_dequantize: type %s (%d) cannot be dequantized", pl_type_name(type), type);
    PL_REQUIRE(src_bytes >= need, "pl_dequantize: src_bytes = %lld, but %lld elements of %s take %lld bytes",
               (long long)src_bytes, (long long)n, pl_type_name(type), (long long)need);

    const int64_t block_elems = pl_type_block_elems(type);
    const int64_t block_bytes = pl_type_block_bytes(type);
    const int threads = pl_threads();
    if (n < PL_PARALLEL_MIN_ELEMS || threads <= 1) {
        pl_dequant_row(type, src, dst, n);
        return pl_ok();
    }
    const int64_t chunk = chunk_elems_for(block_elems);
    const int64_t n_chunks = (n + chunk - 1) / chunk;
    const uint8_t *bytes = src;
    codec_args a = {.type = type, .n = n, .chunk = chunk, .block_elems = block_elems, .block_bytes = block_bytes,
                    .bytes = (uint8_t *)(uintptr_t)bytes, .floats = dst};
    pl_parallel_for(n_chunks, 1, threads, dequant_chunk, &a);
    return pl_ok();
}

/* Index of the first non-finite value of x[0..n), or -1 if all are finite. */
static int64_t first_non_finite(const float *x, int64_t n) {
    for (int64_t start = 0; start < n; start += 4096) {
        const int64_t end = n - start < 4096 ? n : start + 4096;
        int bad = 0;
        for (int64_t i = start; i < end; i++) bad |= !isfinite(x[i]);
        if (bad) {
            for (int64_t i = start; i < end; i++)
                if (!isfinite(x[i])) return i;
        }
    }
    return -1;
}

/* Encodes n floats into dst (dst_bytes long) with ggml's reference rounding; block types reject NaN/inf. */
PL_EXPORT int32_t pl_quantize(int32_t type, const float *src, int64_t n, void *dst, int64_t dst_bytes) {
    PL_REQUIRE(src != NULL, "pl_quantize: src is NULL");
    PL_REQUIRE(dst != NULL, "pl_quantize: dst is NULL");
    int64_t need = 0;
    PL_TRY(checked_row_bytes("pl_quantize", type, n, &need));
    if (!pl_type_can_quantize(type))
        return pl_fail(PL_ERR_UNSUPPORTED, "pl_quantize: type %s (%d) cannot be quantized", pl_type_name(type), type);
    PL_REQUIRE(dst_bytes >= need, "pl_quantize: dst_bytes = %lld, but %lld elements of %s take %lld bytes",
               (long long)dst_bytes, (long long)n, pl_type_name(type), (long long)need);

    const int64_t block_elems = pl_type_block_elems(type);
    const int64_t block_bytes = pl_type_block_bytes(type);
    if (block_elems > 1) { /* F32/F16/BF16 carry inf and NaN; block codes have no way to */
        const int64_t bad = first_non_finite(src, n);
        if (bad >= 0)
            return pl_fail(PL_ERR_NUMERIC, "pl_quantize: src[%lld] = %g is not finite; %s cannot encode it",
                           (long long)bad, (double)src[bad], pl_type_name(type));
    }
    const int threads = pl_threads();
    if (n < PL_PARALLEL_MIN_ELEMS || threads <= 1) {
        pl_quant_row(type, src, dst, n);
        return pl_ok();
    }
    const int64_t chunk = chunk_elems_for(block_elems);
    const int64_t n_chunks = (n + chunk - 1) / chunk;
    uint8_t *bytes = dst;
    codec_args a = {.type = type, .n = n, .chunk = chunk, .block_elems = block_elems, .block_bytes = block_bytes,
                    .bytes = bytes, .floats = (float *)(uintptr_t)src};
    pl_parallel_for(n_chunks, 1, threads, quant_chunk, &a);
    return pl_ok();
}
