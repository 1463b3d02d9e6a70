/* The CUDA backend: device contexts, models (weights uploaded once as BF16, or F32 for the reference mode and FULL
   training), KV caches, adapter slots on the device, and the training step — the CUDA twin of forward.c, block.c,
   lora.c and train.c. The core (libpanlora) validates every public argument and calls in through pl_backend. */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <thread>
#include <vector>
#include "cuda_common.cuh"
#include "kernels.cuh"
#include "gemm.cuh"

const pl_core_api *plc_core;

/* ------------------------------------------------------------------------------------------------------------------
   Contexts, device memory accounting, arenas
   ------------------------------------------------------------------------------------------------------------------ */

#define PLC_MAX_DEVICES 64
static plc_ctx *g_ctx[PLC_MAX_DEVICES];
static pthread_mutex_t g_ctx_mu = PTHREAD_MUTEX_INITIALIZER;

plc_ctx *plc_context(int device) {
    if (device < 0 || device >= PLC_MAX_DEVICES) { PLC_FAIL(PL_ERR_INVALID_ARGUMENT, "CUDA: device %d out of range", device); return NULL; }
    pthread_mutex_lock(&g_ctx_mu);
    plc_ctx *c = g_ctx[device];
    if (!c) {
        c = (plc_ctx *)calloc(1, sizeof *c);
        char err[512] = "";
        cudaError_t e = c ? cudaSetDevice(device) : cudaErrorMemoryAllocation;
        if (e == cudaSuccess) e = cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking);
        if (e != cudaSuccess) {
            PLC_FAIL(PL_ERR_INTERNAL, "CUDA: cannot start device %d: %s", device, cudaGetErrorString(e));
            free(c);
            c = NULL;
        } else {
            c->device = device;
            if (plc_gemm_init(c, err, sizeof err) != PL_OK) {
                PLC_FAIL(PL_ERR_UNSUPPORTED, "CUDA device %d: %s", device, err);
                cudaStreamDestroy(c->stream);
                free(c);
                c = NULL;
            } else {
                g_ctx[device] = c;
            }
        }
    }
    pthread_mutex_unlock(&g_ctx_mu);
    if (c) cudaSetDevice(device); /* the runtime's current device is per host thread */
    return c;
}

void plc_format_bytes(char *buf, size_t len, size_t bytes) {
    if (bytes >= ((size_t)1 << 30)) snprintf(buf, len, "%.2f GiB", bytes / 1073741824.0);
    else if (bytes >= ((size_t)1 << 20)) snprintf(buf, len, "%.1f MiB", bytes / 1048576.0);
    else snprintf(buf, len, "%.1f KiB", bytes / 1024.0);
}

int32_t plc_malloc(plc_ctx *c, void **p, size_t bytes, const char *what) {
    *p = NULL;
    if (bytes == 0) return PL_OK;
    cudaError_t e = cudaMalloc(p, bytes);
    if (e != cudaSuccess) {
        cudaGetLastError(); /* clear the sticky-free error state of a failed allocation */
        size_t fr = 0, tot = 0;
        cudaMemGetInfo(&fr, &tot);
        *p = NULL;
        char need[32], have[32], all[32];
        plc_format_bytes(need, sizeof need, bytes);
        plc_format_bytes(have, sizeof have, fr);
        plc_format_bytes(all, sizeof all, tot);
        return PLC_FAIL(PL_ERR_OUT_OF_MEMORY, "CUDA device %d: %s: %s needed, but only %s of %s are free", c->device,
                        what, need, have, all);
    }
    __atomic_add_fetch(&c->held, (int64_t)bytes, __ATOMIC_RELAXED);
    int64_t h = __atomic_load_n(&c->held, __ATOMIC_RELAXED), pk = __atomic_load_n(&c->peak, __ATOMIC_RELAXED);
    while (h > pk && !__atomic_compare_exchange_n(&c->peak, &pk, h, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {}
    return PL_OK;
}

void plc_free(plc_ctx *c, void *p, size_t bytes) {
    if (!p) return;
    cudaFree(p);
    __atomic_sub_fetch(&c->held, (int64_t)bytes, __ATOMIC_RELAXED);
}

void *plc_arena_take(plc_arena *a, size_t bytes) {
    const size_t r = (bytes + 255) & ~(size_t)255;
    void *p = a->base ? a->base + a->used : NULL;
    a->used += r;
    return bytes ? p : NULL;
}

/* Takes n elements of type T from an arena (counting pass: NULL). */
template <typename T> static T *take(plc_arena *a, int64_t n) { return (T *)plc_arena_take(a, (size_t)n * sizeof(T)); }

/* A planned arena: `plan` is called twice, once to count (base NULL) and once to carve one allocation. */
template <typename F> static int32_t arena_build(plc_ctx *c, plc_arena *a, size_t *bytes, const char *what, F plan) {
    plc_arena count = {NULL, 0, 0};
    plan(&count);
    void *base = NULL;
    PLC_TRY(plc_malloc(c, &base, count.used, what));
    a->base = (char *)base; a->size = count.used; a->used = 0;
    plan(a);
    *bytes = count.used;
    return PL_OK;
}

/* ------------------------------------------------------------------------------------------------------------------
   Small kernels of the orchestration
   ------------------------------------------------------------------------------------------------------------------ */

/* y[t][o] += b[o] (a linear's bias). */
__global__ void add_bias_kernel(float *__restrict__ y, const float *__restrict__ b, int64_t n, int64_t out) {
    for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n * out; i += (int64_t)gridDim.x * blockDim.x)
        y[i] += b[i % out];
}

static int32_t add_bias(float *y, const float *b, int64_t n, int64_t out, cudaStream_t s) {
    const int64_t total = n * out;
    if (total == 0) return PL_OK;
    const int threads = 256;
    const int64_t blocks = (total + threads - 1) / threads;
    add_bias_kernel<<<(unsigned)(blocks < 65535 * 16 ? blocks : 65535 * 16), threads, 0, s>>>(y, b, n, out);
    PLC_LAUNCHED("bias");
    return PL_OK;
}

/* ------------------------------------------------------------------------------------------------------------------
   Device models
   ------------------------------------------------------------------------------------------------------------------ */

/* A weight as the device holds it: BF16 or F32, resident (ptr) or streamed (host copy + offset in the layer buffer). */
typedef struct dev_weight {
    void *ptr;          /* device copy (resident), or NULL */
    void *host;         /* pinned host copy (streamed), or NULL */
    size_t bytes, offset;
    int type;           /* PLC_F32 / PLC_BF16 */
    uint32_t gen;       /* the model's gen of the uploaded version */
    const void *src;    /* host data it came from */
    int32_t src_type;
} dev_weight;

typedef struct dev_delta {
    float *ptr;
    size_t bytes;
    uint32_t gen;
} dev_delta;

typedef struct dev_model {
    plc_ctx *c;
    int f32;                  /* weights as F32 (RESIDENT_F32 placement, or FULL training) */
    int streamed;             /* per-layer weights streamed from pinned host memory */
    int synced;
    dev_weight global[PL_N_WEIGHT_KINDS];
    dev_weight *layers;       /* [n_layer][PL_N_WEIGHT_KINDS] */
    dev_delta *deltas;        /* [n_layer][PL_N_WEIGHT_KINDS] */
    void *layer_buf;          /* streamed: one layer's linears */
    size_t layer_buf_bytes;
    int64_t loaded_layer;     /* streamed: which layer layer_buf holds (-1 none) */
    /* inference work space, grown on demand (not used by trainers) */
    plc_arena inf;
    size_t inf_bytes;
    int64_t inf_tokens, inf_rank;
} dev_model;

static dev_model *DM(const pl_model *m) { return (dev_model *)m->dev; }

static int is_linear(int32_t w) { return w >= PL_W_ATTN_Q && w <= PL_W_FFN_DOWN && w != PL_W_FFN_NORM; }

/* Element count of a weight. */
static int64_t wcount(const pl_weight_ref *r) { return r->ne0 * r->ne1; }

static void dev_weight_free(plc_ctx *c, dev_weight *w) {
    if (w->ptr) plc_free(c, w->ptr, w->bytes);
    if (w->host) cudaFreeHost(w->host);
    memset(w, 0, sizeof *w);
}

/* Dequantizes rows [r0, r1) of a weight into dst (F32, (r1-r0)·ne0), in parallel over host threads. */
static int32_t dequant_rows(const pl_weight_ref *r, int64_t r0, int64_t r1, float *dst) {
    int64_t row_bytes = 0;
    PLC_TRY(plc_core->row_bytes(r->type, r->ne0, &row_bytes));
    const int64_t rows = r1 - r0;
    int nth = plc_core->threads();
    if (nth < 1) nth = 1;
    if (rows * r->ne0 < (1 << 20)) nth = 1;
    if (nth > 64) nth = 64;
    std::vector<int32_t> rc((size_t)nth, PL_OK);
    auto work = [&](int i) {
        const int64_t a = r0 + rows * i / nth, b = r0 + rows * (i + 1) / nth;
        if (b > a)
            rc[(size_t)i] = plc_core->dequantize(r->type, (const char *)r->data + a * row_bytes, (b - a) * row_bytes,
                                                 dst + (a - r0) * r->ne0, (b - a) * r->ne0);
    };
    if (nth == 1) work(0);
    else {
        std::vector<std::thread> ts;
        for (int i = 0; i < nth; i++) ts.emplace_back(work, i);
        for (auto &t : ts) t.join();
    }
    for (int i = 0; i < nth; i++) if (rc[(size_t)i] != PL_OK) return rc[(size_t)i];
    return PL_OK;
}

/* Uploads a host weight into dst (device, or pinned host when to_host) as BF16 or F32, in row chunks through a
   staging buffer (dequantized on the host in parallel, converted to BF16 on the device). */
static int32_t upload_weight(plc_ctx *c, const pl_weight_ref *r, int type, void *dst, int to_host, float *stage_h,
                             float *stage_d, bf16 *stage_b, int64_t stage_elems) {
    const int64_t ne0 = r->ne0, rows_per = stage_elems / ne0 > 0 ? stage_elems / ne0 : 1;
    const size_t esz = type == PLC_BF16 ? 2 : 4;
    for (int64_t r0 = 0; r0 < r->ne1; r0 += rows_per) {
        const int64_t r1 = r0 + rows_per < r->ne1 ? r0 + rows_per : r->ne1, n = (r1 - r0) * ne0;
        PLC_TRY(dequant_rows(r, r0, r1, stage_h));
        char *out = (char *)dst + (size_t)(r0 * ne0) * esz;
        PLC_CUDA(cudaMemcpyAsync(stage_d, stage_h, (size_t)n * 4, cudaMemcpyHostToDevice, c->stream), "upload a weight");
        if (type == PLC_F32) {
            PLC_CUDA(cudaMemcpyAsync(out, stage_d, (size_t)n * 4, to_host ? cudaMemcpyDeviceToHost : cudaMemcpyDeviceToDevice,
                                     c->stream), "upload a weight");
        } else if (to_host) {
            PLC_TRY(plc_f32_to_bf16(stage_b, stage_d, n, c->stream));
            PLC_CUDA(cudaMemcpyAsync(out, stage_b, (size_t)n * 2, cudaMemcpyDeviceToHost, c->stream), "stage a weight");
        } else {
            PLC_TRY(plc_f32_to_bf16((bf16 *)out, stage_d, n, c->stream));
        }
        PLC_CUDA(cudaStreamSynchronize(c->stream), "upload a weight"); /* stage_h is reused next round */
    }
    return PL_OK;
}

/* The pointer of a per-layer weight for the current step (streamed: loads the layer first). */
static int32_t layer_weight(dev_model *dm, const pl_model *m, int64_t l, int32_t which, const void **out) {
    dev_weight *w = &dm->layers[l * PL_N_WEIGHT_KINDS + which];
    if (!dm->streamed || !is_linear(which)) { *out = w->ptr; return PL_OK; }
    if (dm->loaded_layer != l) {
        for (int32_t k = PL_W_ATTN_Q; k <= PL_W_FFN_DOWN; k++) {
            if (!is_linear(k)) continue;
            dev_weight *wk = &dm->layers[l * PL_N_WEIGHT_KINDS + k];
            PLC_CUDA(cudaMemcpyAsync((char *)dm->layer_buf + wk->offset, wk->host, wk->bytes, cudaMemcpyHostToDevice,
                                     dm->c->stream), "stream a layer's weights");
        }
        dm->loaded_layer = l;
    }
    *out = (const char *)dm->layer_buf + w->offset;
    return PL_OK;
}

/* Frees every device weight and delta of a model (keeps the context). */
static void dm_free_weights(dev_model *dm, const pl_model *m) {
    plc_ctx *c = dm->c;
    for (int k = 0; k < PL_N_WEIGHT_KINDS; k++) dev_weight_free(c, &dm->global[k]);
    for (int64_t i = 0; dm->layers && i < m->p.n_layer * PL_N_WEIGHT_KINDS; i++) dev_weight_free(c, &dm->layers[i]);
    for (int64_t i = 0; dm->deltas && i < m->p.n_layer * PL_N_WEIGHT_KINDS; i++) {
        if (dm->deltas[i].ptr) plc_free(c, dm->deltas[i].ptr, dm->deltas[i].bytes);
        memset(&dm->deltas[i], 0, sizeof dm->deltas[i]);
    }
    if (dm->layer_buf) plc_free(c, dm->layer_buf, dm->layer_buf_bytes);
    dm->layer_buf = NULL; dm->layer_buf_bytes = 0; dm->loaded_layer = -1;
    dm->synced = 0;
}

static void dm_free_inference(dev_model *dm) {
    if (dm->inf.base) plc_free(dm->c, dm->inf.base, dm->inf_bytes);
    memset(&dm->inf, 0, sizeof dm->inf);
    dm->inf_bytes = 0; dm->inf_tokens = 0; dm->inf_rank = 0;
}

/* Bytes of the BF16 (or F32) copies of every linear of the blocks. */
static size_t linear_bytes(const pl_model *m, int f32) {
    size_t b = 0;
    for (int64_t l = 0; l < m->p.n_layer; l++)
        for (int32_t k = PL_W_ATTN_Q; k <= PL_W_FFN_DOWN; k++)
            if (is_linear(k) && m->layers[l].w[k].data) b += (size_t)wcount(&m->layers[l].w[k]) * (f32 ? 4 : 2);
    return b;
}

/* Device bytes of every weight held resident: matrices as BF16 (F32 with f32), norms, biases and RoPE factors F32. */
static size_t resident_weight_bytes(const pl_model *m, int f32) {
    size_t b = linear_bytes(m, f32);
    for (int32_t k = 0; k < PL_N_WEIGHT_KINDS; k++)
        if (!pl_weight_is_per_layer(k) && m->global[k].data)
            b += (size_t)wcount(&m->global[k]) * ((k == PL_W_TOKEN_EMBD || k == PL_W_OUTPUT) && !f32 ? 2 : 4);
    for (int64_t l = 0; l < m->p.n_layer; l++)
        for (int32_t k = PL_W_ATTN_NORM; k <= PL_W_ATTN_V_BIAS; k++)
            if (!is_linear(k) && m->layers[l].w[k].data) b += (size_t)wcount(&m->layers[l].w[k]) * 4;
    return b;
}

/* Uploads every weight whose generation changed (all of them the first time). */
static int32_t model_sync_impl(pl_model *m) {
    dev_model *dm = DM(m);
    if (!dm) {
        plc_ctx *c = plc_context(m->device);
        if (!c) return PL_ERR_UNSUPPORTED;
        dm = (dev_model *)calloc(1, sizeof *dm);
        if (!dm) return PLC_FAIL(PL_ERR_OUT_OF_MEMORY, "CUDA: out of host memory");
        dm->layers = (dev_weight *)calloc((size_t)(m->p.n_layer * PL_N_WEIGHT_KINDS), sizeof(dev_weight));
        dm->deltas = (dev_delta *)calloc((size_t)(m->p.n_layer * PL_N_WEIGHT_KINDS), sizeof(dev_delta));
        if (!dm->layers || !dm->deltas) { free(dm->layers); free(dm->deltas); free(dm); return PLC_FAIL(PL_ERR_OUT_OF_MEMORY, "CUDA: out of host memory"); }
        dm->c = c;
        dm->loaded_layer = -1;
        dm->f32 = m->placement == PL_WEIGHTS_RESIDENT_F32;
        m->dev = dm;
    }
    plc_ctx *c = plc_context(m->device);
    if (!c) return PL_ERR_UNSUPPORTED;
    const int64_t L = m->p.n_layer;
    /* placement: decided at the first upload */
    if (!dm->synced) {
        /* everything resident, plus the upload's device staging buffers (64 MiB F32 + 32 MiB BF16) */
        const size_t all = resident_weight_bytes(m, dm->f32), staging = (size_t)96 << 20;
        size_t fr = 0, tot = 0;
        PLC_CUDA(cudaMemGetInfo(&fr, &tot), "query free memory");
        if (m->placement == PL_WEIGHTS_STREAMED) dm->streamed = 1;
        else if (m->placement == PL_WEIGHTS_AUTO && !dm->f32)
            dm->streamed = all > fr * 6 / 10; /* keep ≥ 40 % of what is free for activations, caches and adapters */
        else dm->streamed = 0;
        if (dm->streamed && dm->f32) return PLC_FAIL(PL_ERR_UNSUPPORTED, "CUDA: F32 weights cannot be streamed");
        if (!dm->streamed && all + staging > fr) { /* say so before anything is allocated, and what to do */
            char need[32], have[32], all_[32];
            plc_format_bytes(need, sizeof need, all + staging);
            plc_format_bytes(have, sizeof have, fr);
            plc_format_bytes(all_, sizeof all_, tot);
            return PLC_FAIL(PL_ERR_OUT_OF_MEMORY,
                            "CUDA device %d: the model's weights held resident as %s need %s with the upload's buffers, "
                            "but only %s of %s are free%s", m->device, dm->f32 ? "F32" : "BF16", need, have, all_,
                            dm->f32 ? "" : "; stream them from host memory instead (--weights streamed or auto)");
        }
    }
    /* staging buffers for this sync */
    const int64_t stage_elems = 1 << 24; /* 64 MiB of F32 */
    float *stage_h = NULL, *stage_d = NULL;
    bf16 *stage_b = NULL;
    int32_t rc = PL_OK;
    /* the staging buffers are taken at the first weight that needs an upload (a delta alone needs none) */
    auto upload = [&](const pl_weight_ref *r, int t, void *dst, int to_host) -> int32_t {
        if (!stage_h) {
            if (cudaMallocHost((void **)&stage_h, (size_t)stage_elems * 4) != cudaSuccess) {
                cudaGetLastError();
                stage_h = NULL;
                return PLC_FAIL(PL_ERR_OUT_OF_MEMORY, "CUDA: cannot pin a 64 MiB staging buffer");
            }
            PLC_TRY(plc_malloc(c, (void **)&stage_d, (size_t)stage_elems * 4, "the weight upload's staging buffer"));
            PLC_TRY(plc_malloc(c, (void **)&stage_b, (size_t)stage_elems * 2, "the weight upload's staging buffer"));
        }
        return upload_weight(c, r, t, dst, to_host, stage_h, stage_d, stage_b, stage_elems);
    };
    const int wt = dm->f32 ? PLC_F32 : PLC_BF16;
    /* globals: token_embd, output (BF16/F32), output_norm and rope_freqs (F32) */
    for (int32_t k = 0; rc == PL_OK && k < PL_N_WEIGHT_KINDS; k++) {
        if (pl_weight_is_per_layer(k)) continue;
        const pl_weight_ref *r = &m->global[k];
        dev_weight *w = &dm->global[k];
        if (!r->data) { if (w->ptr) dev_weight_free(c, w); continue; }
        const int t = (k == PL_W_TOKEN_EMBD || k == PL_W_OUTPUT) ? wt : PLC_F32;
        if (dm->synced && w->gen == m->global_gen[k] && w->src == r->data && w->type == t) continue;
        const size_t bytes = (size_t)wcount(r) * (t == PLC_BF16 ? 2 : 4);
        if (w->ptr && w->bytes != bytes) dev_weight_free(c, w);
        if (!w->ptr) rc = plc_malloc(c, &w->ptr, bytes, "a weight");
        if (rc == PL_OK) rc = upload(r, t, w->ptr, 0);
        if (rc == PL_OK) { w->bytes = bytes; w->type = t; w->gen = m->global_gen[k]; w->src = r->data; w->src_type = r->type; }
    }
    /* per layer */
    size_t layer_max = 0;
    for (int64_t l = 0; rc == PL_OK && l < L; l++) {
        size_t off = 0;
        for (int32_t k = PL_W_ATTN_NORM; rc == PL_OK && k <= PL_W_ATTN_V_BIAS; k++) {
            const pl_weight_ref *r = &m->layers[l].w[k];
            dev_weight *w = &dm->layers[l * PL_N_WEIGHT_KINDS + k];
            const int lin = is_linear(k);
            if (r->data) {
                const int t = lin ? wt : PLC_F32;
                const size_t bytes = (size_t)wcount(r) * (t == PLC_BF16 ? 2 : 4);
                const int stream_it = lin && dm->streamed;
                if (!(dm->synced && w->gen == m->layers[l].gen[k] && w->src == r->data && w->type == t)) {
                    if ((w->ptr || w->host) && w->bytes != bytes) dev_weight_free(c, w);
                    if (stream_it) {
                        if (!w->host && cudaMallocHost(&w->host, bytes) != cudaSuccess) {
                            cudaGetLastError();
                            rc = PLC_FAIL(PL_ERR_OUT_OF_MEMORY, "CUDA: cannot pin %.2f GiB of host memory for streamed weights", bytes / 1073741824.0);
                        }
                        if (rc == PL_OK) rc = upload(r, t, w->host, 1);
                    } else {
                        if (!w->ptr) rc = plc_malloc(c, &w->ptr, bytes, "a weight");
                        if (rc == PL_OK) rc = upload(r, t, w->ptr, 0);
                    }
                    if (rc == PL_OK) { w->bytes = bytes; w->type = t; w->gen = m->layers[l].gen[k]; w->src = r->data; w->src_type = r->type; }
                }
                if (stream_it) { w->offset = off; off += (bytes + 255) & ~(size_t)255; }
            } else if (w->ptr || w->host) {
                dev_weight_free(c, w);
            }
            /* dense corrections (frozen, F32) */
            if (lin) {
                dev_delta *d = &dm->deltas[l * PL_N_WEIGHT_KINDS + k];
                const float *src = m->layers[l].delta[k];
                if (!src) {
                    if (d->ptr) { plc_free(c, d->ptr, d->bytes); memset(d, 0, sizeof *d); }
                } else if (!d->ptr || d->gen != m->layers[l].delta_gen[k]) {
                    const size_t bytes = (size_t)wcount(r) * 4;
                    if (d->ptr && d->bytes != bytes) { plc_free(c, d->ptr, d->bytes); d->ptr = NULL; }
                    if (!d->ptr) rc = plc_malloc(c, (void **)&d->ptr, bytes, "a dense correction");
                    if (rc == PL_OK) rc = cudaMemcpyAsync(d->ptr, src, bytes, cudaMemcpyHostToDevice, c->stream) == cudaSuccess
                                              ? PL_OK : PLC_FAIL(PL_ERR_INTERNAL, "CUDA: cannot upload a dense correction");
                    if (rc == PL_OK) { d->bytes = bytes; d->gen = m->layers[l].delta_gen[k]; }
                }
            }
        }
        if (off > layer_max) layer_max = off;
    }
    if (rc == PL_OK && dm->streamed && layer_max > dm->layer_buf_bytes) {
        if (dm->layer_buf) plc_free(c, dm->layer_buf, dm->layer_buf_bytes);
        dm->layer_buf = NULL; dm->layer_buf_bytes = 0;
        rc = plc_malloc(c, &dm->layer_buf, layer_max, "the streamed layer buffer");
        if (rc == PL_OK) dm->layer_buf_bytes = layer_max;
    }
    dm->loaded_layer = -1;
    if (rc == PL_OK && cudaStreamSynchronize(c->stream) != cudaSuccess) rc = PLC_FAIL(PL_ERR_INTERNAL, "CUDA: weight upload failed: %s", cudaGetErrorString(cudaGetLastError()));
    if (stage_b) plc_free(c, stage_b, (size_t)stage_elems * 2);
    if (stage_d) plc_free(c, stage_d, (size_t)stage_elems * 4);
    if (stage_h) cudaFreeHost(stage_h);
    if (rc == PL_OK) dm->synced = 1;
    return rc;
}

static int32_t be_model_sync(pl_model *m) { return model_sync_impl(m); }

static void be_model_release(pl_model *m) {
    dev_model *dm = DM(m);
    if (!dm) return;
    cudaSetDevice(dm->c->device);
    cudaStreamSynchronize(dm->c->stream);
    dm_free_weights(dm, m);
    dm_free_inference(dm);
    free(dm->layers); free(dm->deltas); free(dm);
    m->dev = NULL;
}

/* Switches a model's device weights to F32 (FULL training needs F32 master weights on the device). */
static int32_t dm_make_f32(pl_model *m) {
    dev_model *dm = DM(m);
    if (dm->f32) return PL_OK;
    dm_free_weights(dm, m);
    dm->f32 = 1;
    dm->streamed = 0;
    return model_sync_impl(m);
}

static int32_t be_model_memory(const pl_model *m, int64_t *used, int64_t *peak, int64_t *total) {
    dev_model *dm = DM(m);
    plc_ctx *c = dm->c;
    size_t fr = 0, tot = 0;
    cudaSetDevice(c->device);
    PLC_CUDA(cudaMemGetInfo(&fr, &tot), "query device memory");
    *used = __atomic_load_n(&c->held, __ATOMIC_RELAXED);
    *peak = __atomic_load_n(&c->peak, __ATOMIC_RELAXED);
    *total = (int64_t)tot;
    return PL_OK;
}

/* ------------------------------------------------------------------------------------------------------------------
   Adapter slots on the device
   ------------------------------------------------------------------------------------------------------------------ */

/* One slot's device arrays, in one allocation: a, b, da, db, ma, va, mb, vb. */
typedef struct dev_slot {
    float *a, *b, *da, *db, *ma, *va, *mb, *vb;
    size_t bytes;
    uint32_t gen;
    plc_ctx *c;
} dev_slot;

/* Brings every slot's device copy up to date with host writes (allocating new slots). */
static int32_t lora_push(pl_lora *l, plc_ctx *c) {
    for (int32_t i = 0; l && i < l->n_slots; i++) {
        lora_slot *s = &l->slots[i];
        dev_slot *d = (dev_slot *)s->dev;
        const size_t na = (size_t)(s->rank * s->in), nb = (size_t)(s->out * s->rank);
        if (!d) {
            d = (dev_slot *)calloc(1, sizeof *d);
            if (!d) return PLC_FAIL(PL_ERR_OUT_OF_MEMORY, "CUDA: out of host memory");
            const size_t bytes = 4 * (na + nb) * sizeof(float) + 8 * 256;
            void *base = NULL;
            int32_t rc = plc_malloc(c, &base, bytes, "an adapter slot");
            if (rc != PL_OK) { free(d); return rc; }
            plc_arena a = {(char *)base, bytes, 0};
            d->a = take<float>(&a, (int64_t)na); d->b = take<float>(&a, (int64_t)nb);
            d->da = take<float>(&a, (int64_t)na); d->db = take<float>(&a, (int64_t)nb);
            d->ma = take<float>(&a, (int64_t)na); d->va = take<float>(&a, (int64_t)na);
            d->mb = take<float>(&a, (int64_t)nb); d->vb = take<float>(&a, (int64_t)nb);
            d->bytes = bytes; d->c = c;
            PLC_CUDA(cudaMemsetAsync(base, 0, bytes, c->stream), "clear an adapter slot");
            d->gen = s->host_gen - 1; /* forces the upload below */
            s->dev = d;
            s->dev_dirty = 0;
        }
        if (d->gen != s->host_gen) {
            PLC_CUDA(cudaMemcpyAsync(d->a, s->a, na * 4, cudaMemcpyHostToDevice, c->stream), "upload an adapter slot");
            PLC_CUDA(cudaMemcpyAsync(d->b, s->b, nb * 4, cudaMemcpyHostToDevice, c->stream), "upload an adapter slot");
            PLC_CUDA(cudaMemcpyAsync(d->ma, s->ma, na * 4, cudaMemcpyHostToDevice, c->stream), "upload an adapter slot");
            PLC_CUDA(cudaMemcpyAsync(d->va, s->va, na * 4, cudaMemcpyHostToDevice, c->stream), "upload an adapter slot");
            PLC_CUDA(cudaMemcpyAsync(d->mb, s->mb, nb * 4, cudaMemcpyHostToDevice, c->stream), "upload an adapter slot");
            PLC_CUDA(cudaMemcpyAsync(d->vb, s->vb, nb * 4, cudaMemcpyHostToDevice, c->stream), "upload an adapter slot");
            d->gen = s->host_gen;
        }
    }
    /* host arrays may be rewritten as soon as the caller returns */
    PLC_CUDA(cudaStreamSynchronize(c->stream), "upload adapter slots");
    return PL_OK;
}

static int32_t be_lora_pull(pl_lora *l, int32_t slot) {
    lora_slot *s = &l->slots[slot];
    dev_slot *d = (dev_slot *)s->dev;
    if (!d || !s->dev_dirty) { s->dev_dirty = 0; return PL_OK; }
    plc_ctx *c = d->c;
    cudaSetDevice(c->device);
    const size_t na = (size_t)(s->rank * s->in) * 4, nb = (size_t)(s->out * s->rank) * 4;
    if (s->dev_dirty & PL_SLOT_WEIGHTS) {
        PLC_CUDA(cudaMemcpyAsync(s->a, d->a, na, cudaMemcpyDeviceToHost, c->stream), "download an adapter slot");
        PLC_CUDA(cudaMemcpyAsync(s->b, d->b, nb, cudaMemcpyDeviceToHost, c->stream), "download an adapter slot");
    }
    if (s->dev_dirty & PL_SLOT_ADAM) {
        PLC_CUDA(cudaMemcpyAsync(s->ma, d->ma, na, cudaMemcpyDeviceToHost, c->stream), "download an adapter slot");
        PLC_CUDA(cudaMemcpyAsync(s->va, d->va, na, cudaMemcpyDeviceToHost, c->stream), "download an adapter slot");
        PLC_CUDA(cudaMemcpyAsync(s->mb, d->mb, nb, cudaMemcpyDeviceToHost, c->stream), "download an adapter slot");
        PLC_CUDA(cudaMemcpyAsync(s->vb, d->vb, nb, cudaMemcpyDeviceToHost, c->stream), "download an adapter slot");
    }
    if (s->dev_dirty & PL_SLOT_GRADS) {
        PLC_CUDA(cudaMemcpyAsync(s->da, d->da, na, cudaMemcpyDeviceToHost, c->stream), "download adapter gradients");
        PLC_CUDA(cudaMemcpyAsync(s->db, d->db, nb, cudaMemcpyDeviceToHost, c->stream), "download adapter gradients");
    }
    PLC_CUDA(cudaStreamSynchronize(c->stream), "download an adapter slot");
    s->dev_dirty = 0;
    return PL_OK;
}

static void be_lora_release(pl_lora *l) {
    for (int32_t i = 0; i < l->n_slots; i++) {
        dev_slot *d = (dev_slot *)l->slots[i].dev;
        if (!d) continue;
        cudaSetDevice(d->c->device);
        cudaStreamSynchronize(d->c->stream);
        plc_free(d->c, d->a, d->bytes); /* a is the start of the slot's one allocation */
        free(d);
        l->slots[i].dev = NULL;
    }
}

/* ------------------------------------------------------------------------------------------------------------------
   The block: adapted linears, forward, backward (the twin of block.c and train.c)
   ------------------------------------------------------------------------------------------------------------------ */

/* Activations of one block on the device; (opt) fields NULL in inference. */
typedef struct dacts {
    float *xn1, *rstd1 /*opt*/, *q, *lse /*opt*/, *att, *x_mid /*opt*/, *xn2, *rstd2 /*opt*/, *g, *u;
} dacts;

/* Scratch shared by the ops of a step. */
typedef struct dscratch {
    bf16 *xb;        /* [N · max(D, Q, F)] BF16 copy of a GEMM input */
    float *h;        /* [N · F] silu(g)·u (recomputed in the backward) */
    float *tmp;      /* [N · D] projection output */
    float *lora_tmp; /* [N · R] A x when not saved, or s·dy·B in the backward */
    float **slot_u;  /* (opt) [n_slots] saved A x per slot */
} dscratch;

/* The step: the model, its device state and the stream. */
typedef struct dstep {
    pl_model *m;
    dev_model *dm;
    plc_ctx *c;
} dstep;

/* y = W x (+Δx) (+bias) + Σ s·B(A x): xb is x in BF16 when the weights are BF16 (made by the caller). */
static int32_t linear_forward(dstep *st, int64_t l, int32_t which, int32_t bias, const float *x, const bf16 *xb, int64_t n,
                              float *y, dscratch *sc) {
    const pl_model *m = st->m;
    dev_model *dm = st->dm;
    const pl_weight_ref *w = &m->layers[l].w[which];
    const dev_weight *dw = &dm->layers[l * PL_N_WEIGHT_KINDS + which];
    const void *wp = NULL;
    PLC_TRY(layer_weight(dm, m, l, which, &wp));
    const int64_t in = w->ne0, out = w->ne1;
    if (dw->type == PLC_BF16) PLC_TRY(plc_gemm(st->c, 0, 1, n, out, in, 1.0f, xb, in, wp, in, PLC_BF16, 0.0f, y, out));
    else PLC_TRY(plc_gemm(st->c, 0, 1, n, out, in, 1.0f, x, in, wp, in, PLC_F32, 0.0f, y, out));
    const dev_delta *dd = &dm->deltas[l * PL_N_WEIGHT_KINDS + which];
    if (dd->ptr) PLC_TRY(plc_gemm(st->c, 0, 1, n, out, in, 1.0f, x, in, dd->ptr, in, PLC_F32, 1.0f, y, out));
    if (bias >= 0 && m->layers[l].w[bias].data)
        PLC_TRY(add_bias(y, (const float *)dm->layers[l * PL_N_WEIGHT_KINDS + bias].ptr, n, out, st->c->stream));
    const pl_lora *lo = m->lora;
    for (int32_t i = 0; lo && i < lo->n_slots; i++) {
        const lora_slot *s = &lo->slots[i];
        if (s->layer != l || pl_target_weight(s->target) != which || !lora_slot_active(lo, s)) continue;
        const dev_slot *d = (const dev_slot *)s->dev;
        float *u = sc->slot_u ? sc->slot_u[i] : sc->lora_tmp;
        /* u = x Aᵀ [n, r]; y += s · u Bᵀ */
        PLC_TRY(plc_gemm(st->c, 0, 1, n, s->rank, s->in, 1.0f, x, s->in, d->a, s->in, PLC_F32, 0.0f, u, s->rank));
        PLC_TRY(plc_gemm(st->c, 0, 1, n, s->out, s->rank, s->scale, u, s->rank, d->b, s->rank, PLC_F32, 1.0f, y, s->out));
    }
    return PL_OK;
}

/* dx (+)= dy W (+ dy Δ) + Σ s·(dy B) A; dB += s·dyᵀ u, dA += (s·dy B)ᵀ x for trainable factors; dwg (FULL) += dyᵀ x.
   x is the forward input (F32); slot_u the saved A x per slot. */
static int32_t linear_backward(dstep *st, int64_t l, int32_t which, const float *x, const float *dy, int64_t n, float *dx,
                               int accumulate, float *dwg, dscratch *sc, uint32_t *touched) {
    const pl_model *m = st->m;
    dev_model *dm = st->dm;
    const pl_weight_ref *w = &m->layers[l].w[which];
    const dev_weight *dw = &dm->layers[l * PL_N_WEIGHT_KINDS + which];
    const int64_t in = w->ne0, out = w->ne1;
    const float beta = accumulate ? 1.0f : 0.0f;
    if (dx) {
        const void *wp = NULL;
        PLC_TRY(layer_weight(dm, m, l, which, &wp));
        if (dw->type == PLC_BF16) {
            PLC_TRY(plc_f32_to_bf16(sc->xb, dy, n * out, st->c->stream));
            PLC_TRY(plc_gemm(st->c, 0, 0, n, in, out, 1.0f, sc->xb, out, wp, in, PLC_BF16, beta, dx, in));
        } else {
            PLC_TRY(plc_gemm(st->c, 0, 0, n, in, out, 1.0f, dy, out, wp, in, PLC_F32, beta, dx, in));
        }
        const dev_delta *dd = &dm->deltas[l * PL_N_WEIGHT_KINDS + which];
        if (dd->ptr) PLC_TRY(plc_gemm(st->c, 0, 0, n, in, out, 1.0f, dy, out, dd->ptr, in, PLC_F32, 1.0f, dx, in));
    }
    if (dwg) PLC_TRY(plc_gemm(st->c, 1, 0, out, in, n, 1.0f, dy, out, x, in, PLC_F32, 1.0f, dwg, in));
    pl_lora *lo = m->lora;
    for (int32_t i = 0; lo && i < lo->n_slots; i++) {
        lora_slot *s = &lo->slots[i];
        if (s->layer != l || pl_target_weight(s->target) != which || !lora_slot_active(lo, s)) continue;
        const dev_slot *d = (const dev_slot *)s->dev;
        if (s->train_a || s->train_b) touched[i] = 1;
        /* dB += s · dyᵀ u */
        if (s->train_b)
            PLC_TRY(plc_gemm(st->c, 1, 0, s->out, s->rank, n, s->scale, dy, s->out, sc->slot_u[i], s->rank, PLC_F32, 1.0f, d->db, s->rank));
        if (!s->train_a && !dx) continue;
        /* du = s · dy B [n, r] */
        PLC_TRY(plc_gemm(st->c, 0, 0, n, s->rank, s->out, s->scale, dy, s->out, d->b, s->rank, PLC_F32, 0.0f, sc->lora_tmp, s->rank));
        /* dA += duᵀ x; dx += du A */
        if (s->train_a)
            PLC_TRY(plc_gemm(st->c, 1, 0, s->rank, s->in, n, 1.0f, sc->lora_tmp, s->rank, x, s->in, PLC_F32, 1.0f, d->da, s->in));
        if (dx) PLC_TRY(plc_gemm(st->c, 0, 0, n, s->in, s->rank, 1.0f, sc->lora_tmp, s->rank, d->a, s->in, PLC_F32, 1.0f, dx, s->in));
    }
    return PL_OK;
}

static const float *rope_factors(const dev_model *dm) { return (const float *)dm->global[PL_W_ROPE_FREQS].ptr; }

/* One block in place on x [B·T, D] (the twin of block_forward): new keys/values into k_new/v_new, attention over
   k_all/v_all ([B][Tk][kv], batch stride kv_stride) at positions ≤ pos0 + t. */
static int32_t block_forward(dstep *st, int64_t l, float *x, int64_t B, int64_t T, int64_t pos0, float *k_new, float *v_new,
                             const float *k_all, const float *v_all, int64_t Tk, int64_t kv_stride, dacts *a, dscratch *sc) {
    const pl_model *m = st->m;
    const pl_model_params *p = &m->p;
    dev_model *dm = st->dm;
    cudaStream_t s = st->c->stream;
    const int64_t n = B * T, D = p->n_embd, F = p->n_ff, Q = p->n_head * p->head_dim;
    const int bf = !dm->f32;
    const dev_weight *lw = &dm->layers[l * PL_N_WEIGHT_KINDS];
    PLC_TRY(plc_rmsnorm_forward(a->xn1, bf ? sc->xb : NULL, a->rstd1, x, (const float *)lw[PL_W_ATTN_NORM].ptr, n, D, p->norm_eps, s));
    PLC_TRY(linear_forward(st, l, PL_W_ATTN_Q, PL_W_ATTN_Q_BIAS, a->xn1, sc->xb, n, a->q, sc));
    PLC_TRY(linear_forward(st, l, PL_W_ATTN_K, PL_W_ATTN_K_BIAS, a->xn1, sc->xb, n, k_new, sc));
    PLC_TRY(linear_forward(st, l, PL_W_ATTN_V, PL_W_ATTN_V_BIAS, a->xn1, sc->xb, n, v_new, sc));
    PLC_TRY(plc_rope(a->q, B, T, pos0, p->n_head, p->head_dim, p->n_rot, p->rope_freq_base, p->rope_freq_scale, rope_factors(dm), p->rope_type, 1, s));
    PLC_TRY(plc_rope(k_new, B, T, pos0, p->n_head_kv, p->head_dim, p->n_rot, p->rope_freq_base, p->rope_freq_scale, rope_factors(dm), p->rope_type, 1, s));
    PLC_TRY(plc_attention_forward(a->att, a->lse, a->q, k_all, v_all, B, T, Tk, pos0, p->n_head, p->n_head_kv, p->head_dim, kv_stride, s, !dm->f32));
    if (bf) PLC_TRY(plc_f32_to_bf16(sc->xb, a->att, n * Q, s));
    PLC_TRY(linear_forward(st, l, PL_W_ATTN_OUTPUT, -1, a->att, sc->xb, n, sc->tmp, sc));
    PLC_TRY(plc_residual_add(x, sc->tmp, n * D, s));
    if (a->x_mid) PLC_CUDA(cudaMemcpyAsync(a->x_mid, x, (size_t)(n * D) * 4, cudaMemcpyDeviceToDevice, s), "save the residual");
    PLC_TRY(plc_rmsnorm_forward(a->xn2, bf ? sc->xb : NULL, a->rstd2, x, (const float *)lw[PL_W_FFN_NORM].ptr, n, D, p->norm_eps, s));
    PLC_TRY(linear_forward(st, l, PL_W_FFN_GATE, -1, a->xn2, sc->xb, n, a->g, sc));
    PLC_TRY(linear_forward(st, l, PL_W_FFN_UP, -1, a->xn2, sc->xb, n, a->u, sc));
    PLC_TRY(plc_swiglu_forward(sc->h, bf ? sc->xb : NULL, a->g, a->u, n * F, s));
    PLC_TRY(linear_forward(st, l, PL_W_FFN_DOWN, -1, sc->h, sc->xb, n, sc->tmp, sc));
    PLC_TRY(plc_residual_add(x, sc->tmp, n * D, s));
    return PL_OK;
}

/* ------------------------------------------------------------------------------------------------------------------
   Inference: full forward, NLL, KV-cache decoding
   ------------------------------------------------------------------------------------------------------------------ */

/* Inference work space for n tokens: x, acts (one layer, reused), scratch, k/v, logits chunk. */
typedef struct infer_ws {
    int32_t *tokens, *targets;
    float *x, *k, *v, *logits, *nll;
    dacts a;
    dscratch sc;
    int64_t chunk;
} infer_ws;

static int64_t logits_chunk(int64_t n, int64_t V) {
    int64_t c = ((int64_t)1 << 26) / (V > 0 ? V : 1); /* ≤ 256 MiB of F32 logits at a time */
    if (c < 1) c = 1;
    return n < c ? n : c;
}

static void plan_infer(plc_arena *ar, const pl_model *m, int64_t n, int64_t R, infer_ws *w) {
    const pl_model_params *p = &m->p;
    const int64_t D = p->n_embd, F = p->n_ff, Q = p->n_head * p->head_dim, KV = p->n_head_kv * p->head_dim, V = p->n_vocab;
    int64_t wmax = D > Q ? D : Q;
    wmax = wmax > F ? wmax : F;
    w->chunk = logits_chunk(n, V);
    w->tokens = take<int32_t>(ar, n); w->targets = take<int32_t>(ar, n);
    w->x = take<float>(ar, n * D); w->k = take<float>(ar, n * KV); w->v = take<float>(ar, n * KV);
    w->logits = take<float>(ar, w->chunk * V); w->nll = take<float>(ar, n);
    w->a.xn1 = take<float>(ar, n * D); w->a.xn2 = w->a.xn1; w->a.q = take<float>(ar, n * Q); w->a.att = take<float>(ar, n * Q);
    w->a.g = take<float>(ar, n * F); w->a.u = take<float>(ar, n * F);
    w->a.rstd1 = w->a.rstd2 = w->a.lse = w->a.x_mid = NULL;
    w->sc.xb = take<bf16>(ar, n * (wmax > D ? wmax : D));
    w->sc.h = take<float>(ar, n * F); w->sc.tmp = take<float>(ar, n * D); w->sc.lora_tmp = take<float>(ar, n * (R > 0 ? R : 1));
    w->sc.slot_u = NULL;
}

/* The inference work space for n tokens (grown when needed; a bigger call reallocates it). */
static int32_t infer_workspace(dstep *st, int64_t n, infer_ws *w) {
    dev_model *dm = st->dm;
    const int64_t R = lora_max_rank(st->m->lora);
    if (!dm->inf.base || n > dm->inf_tokens || R > dm->inf_rank) {
        dm_free_inference(dm);
        infer_ws tmp;
        const int64_t nn = n;
        PLC_TRY(arena_build(st->c, &dm->inf, &dm->inf_bytes, "the forward's activations", [&](plc_arena *a) { plan_infer(a, st->m, nn, R, &tmp); }));
        dm->inf_tokens = n; dm->inf_rank = R;
    }
    dm->inf.used = 0;
    plan_infer(&dm->inf, st->m, n, R, w);
    return PL_OK;
}

static int32_t step_begin(pl_model *m, dstep *st) {
    st->m = m;
    st->dm = DM(m);
    st->c = plc_context(m->device);
    if (!st->c || !st->dm) return PLC_FAIL(PL_ERR_STATE, "CUDA: the model is not on its device");
    st->dm->loaded_layer = -1;
    return lora_push(m->lora, st->c);
}

/* Embedding and every block over tokens (already on the device) into w->x. */
static int32_t trunk_forward(dstep *st, infer_ws *w, int64_t B, int64_t T) {
    const pl_model *m = st->m;
    const pl_model_params *p = &m->p;
    const int64_t n = B * T, KV = p->n_head_kv * p->head_dim;
    const dev_weight *emb = &st->dm->global[PL_W_TOKEN_EMBD];
    PLC_TRY(plc_embedding_forward(w->x, w->tokens, n, emb->ptr, emb->type == PLC_BF16, p->n_embd, st->c->stream));
    for (int64_t l = 0; l < p->n_layer; l++)
        PLC_TRY(block_forward(st, l, w->x, B, T, 0, w->k, w->v, w->k, w->v, T, T * KV, &w->a, &w->sc));
    return PL_OK;
}

/* The output weight on the device (OUTPUT, or the tied TOKEN_EMBD). */
static const dev_weight *out_weight(const dev_model *dm) {
    return dm->global[PL_W_OUTPUT].ptr ? &dm->global[PL_W_OUTPUT] : &dm->global[PL_W_TOKEN_EMBD];
}

/* Final norm and logits of nr rows of x into logits. */
static int32_t head_forward(dstep *st, const float *x, int64_t nr, infer_ws *w, float *logits) {
    const pl_model_params *p = &st->m->p;
    const dev_weight *wo = out_weight(st->dm);
    const int bf = wo->type == PLC_BF16;
    PLC_TRY(plc_rmsnorm_forward(w->a.xn1, bf ? w->sc.xb : NULL, NULL, x, (const float *)st->dm->global[PL_W_OUTPUT_NORM].ptr,
                                nr, p->n_embd, p->norm_eps, st->c->stream));
    return plc_gemm(st->c, 0, 1, nr, p->n_vocab, p->n_embd, 1.0f, bf ? (const void *)w->sc.xb : (const void *)w->a.xn1, p->n_embd,
                    wo->ptr, p->n_embd, wo->type, 0.0f, logits, p->n_vocab);
}

static int32_t be_forward(pl_model *m, const int32_t *tokens, int64_t B, int64_t T, float *logits) {
    dstep st;
    PLC_TRY(step_begin(m, &st));
    infer_ws w;
    const int64_t n = B * T, D = m->p.n_embd, V = m->p.n_vocab;
    PLC_TRY(infer_workspace(&st, n, &w));
    PLC_CUDA(cudaMemcpyAsync(w.tokens, tokens, (size_t)n * 4, cudaMemcpyHostToDevice, st.c->stream), "upload tokens");
    PLC_TRY(trunk_forward(&st, &w, B, T));
    for (int64_t r = 0; r < n; r += w.chunk) {
        const int64_t nr = n - r < w.chunk ? n - r : w.chunk;
        PLC_TRY(head_forward(&st, w.x + r * D, nr, &w, w.logits));
        PLC_CUDA(cudaMemcpyAsync(logits + r * V, w.logits, (size_t)(nr * V) * 4, cudaMemcpyDeviceToHost, st.c->stream), "download logits");
        PLC_CUDA(cudaStreamSynchronize(st.c->stream), "forward");
    }
    PLC_CUDA(cudaStreamSynchronize(st.c->stream), "forward");
    return PL_OK;
}

static int32_t be_nll(pl_model *m, const int32_t *tokens, const int32_t *targets, int64_t B, int64_t T, float *nll) {
    dstep st;
    PLC_TRY(step_begin(m, &st));
    infer_ws w;
    const int64_t n = B * T, D = m->p.n_embd, V = m->p.n_vocab;
    PLC_TRY(infer_workspace(&st, n, &w));
    PLC_CUDA(cudaMemcpyAsync(w.tokens, tokens, (size_t)n * 4, cudaMemcpyHostToDevice, st.c->stream), "upload tokens");
    PLC_CUDA(cudaMemcpyAsync(w.targets, targets, (size_t)n * 4, cudaMemcpyHostToDevice, st.c->stream), "upload targets");
    PLC_TRY(trunk_forward(&st, &w, B, T));
    for (int64_t r = 0; r < n; r += w.chunk) {
        const int64_t nr = n - r < w.chunk ? n - r : w.chunk;
        PLC_TRY(head_forward(&st, w.x + r * D, nr, &w, w.logits));
        PLC_TRY(plc_cross_entropy_forward(w.nll + r, w.logits, w.targets + r, nr, V, st.c->stream));
    }
    PLC_CUDA(cudaMemcpyAsync(nll, w.nll, (size_t)n * 4, cudaMemcpyDeviceToHost, st.c->stream), "download the NLL");
    PLC_CUDA(cudaStreamSynchronize(st.c->stream), "nll");
    return PL_OK;
}

/* A KV cache on the device: [n_layer][n_ctx][kv] keys (after RoPE) and values. */
typedef struct dev_kv {
    plc_ctx *c;
    float *k, *v;
    size_t bytes;
    int64_t n_ctx;
} dev_kv;

static int32_t be_kv_create(pl_model *m, int64_t n_ctx, void **out) {
    plc_ctx *c = plc_context(m->device);
    if (!c) return PL_ERR_UNSUPPORTED;
    dev_kv *kv = (dev_kv *)calloc(1, sizeof *kv);
    if (!kv) return PLC_FAIL(PL_ERR_OUT_OF_MEMORY, "CUDA: out of host memory");
    kv->c = c; kv->n_ctx = n_ctx;
    kv->bytes = (size_t)(m->p.n_layer * n_ctx * m->p.n_head_kv * m->p.head_dim) * sizeof(float);
    int32_t rc = plc_malloc(c, (void **)&kv->k, kv->bytes, "the KV cache's keys");
    if (rc == PL_OK) rc = plc_malloc(c, (void **)&kv->v, kv->bytes, "the KV cache's values");
    if (rc != PL_OK) { plc_free(c, kv->k, kv->bytes); free(kv); return rc; }
    *out = kv;
    return PL_OK;
}

static void be_kv_free(void *p) {
    dev_kv *kv = (dev_kv *)p;
    if (!kv) return;
    cudaSetDevice(kv->c->device);
    cudaStreamSynchronize(kv->c->stream);
    plc_free(kv->c, kv->k, kv->bytes);
    plc_free(kv->c, kv->v, kv->bytes);
    free(kv);
}

static int32_t be_decode(pl_model *m, void *kvp, int64_t pos0, const int32_t *tokens, int64_t n_tok, float *logits_last) {
    dev_kv *kv = (dev_kv *)kvp;
    dstep st;
    PLC_TRY(step_begin(m, &st));
    infer_ws w;
    const pl_model_params *p = &m->p;
    const int64_t D = p->n_embd, KV = p->n_head_kv * p->head_dim;
    PLC_TRY(infer_workspace(&st, n_tok, &w));
    PLC_CUDA(cudaMemcpyAsync(w.tokens, tokens, (size_t)n_tok * 4, cudaMemcpyHostToDevice, st.c->stream), "upload tokens");
    const dev_weight *emb = &st.dm->global[PL_W_TOKEN_EMBD];
    PLC_TRY(plc_embedding_forward(w.x, w.tokens, n_tok, emb->ptr, emb->type == PLC_BF16, D, st.c->stream));
    for (int64_t l = 0; l < p->n_layer; l++) {
        float *kl = kv->k + l * kv->n_ctx * KV, *vl = kv->v + l * kv->n_ctx * KV;
        PLC_TRY(block_forward(&st, l, w.x, 1, n_tok, pos0, kl + pos0 * KV, vl + pos0 * KV, kl, vl, pos0 + n_tok, 0, &w.a, &w.sc));
    }
    PLC_TRY(head_forward(&st, w.x + (n_tok - 1) * D, 1, &w, w.logits));
    PLC_CUDA(cudaMemcpyAsync(logits_last, w.logits, (size_t)p->n_vocab * 4, cudaMemcpyDeviceToHost, st.c->stream), "download logits");
    PLC_CUDA(cudaStreamSynchronize(st.c->stream), "decode");
    return PL_OK;
}

/* ------------------------------------------------------------------------------------------------------------------
   Training (the twin of train.c)
   ------------------------------------------------------------------------------------------------------------------ */

/* A FULL-mode parameter: the model's F32 device weight, its gradient and moments. */
typedef struct dfull {
    float *w, *g, *m, *v;
    int64_t n, step;
    void *host; /* the borrowed host weight it is written back to after each step */
} dfull;

typedef struct dtrainer {
    pl_model *model;
    pl_trainer_params tp;
    plc_ctx *c;
    int64_t N, chunk, n_saved;
    plc_arena ar;
    size_t bytes;
    int32_t *tokens, *targets;
    float **x_in;        /* [n_layer] */
    dacts *acts;         /* [n_saved] */
    float **k, **v;      /* [n_saved] */
    float *x, *xf_n, *rstd_f, *logits, *nll;
    bf16 *dlogits_b;     /* BF16 dlogits of a chunk (BF16 output weight) */
    float *dx, *dxn, *dq, *dk, *dv, *datt, *dg, *du, *dh, *att_scratch;
    double *sumsq;       /* [2·n_slots + n_full] */
    dscratch sc;
    int32_t n_slots;
    uint32_t *touched;   /* [n_slots] host: slots that received gradients since zero_grad */
    dfull *full;         /* FULL mode: [(n_layer + 1)·PL_N_WEIGHT_KINDS] */
    float *nll_host;     /* [N] */
} dtrainer;

static int64_t param_index(int32_t which, int64_t layer) {
    return pl_weight_is_per_layer(which) ? (layer + 1) * PL_N_WEIGHT_KINDS + which : which;
}

static void plan_trainer(plc_arena *ar, dtrainer *t) {
    const pl_model *m = t->model;
    const pl_model_params *p = &m->p;
    const int64_t N = t->N, D = p->n_embd, F = p->n_ff, V = p->n_vocab, L = p->n_layer;
    const int64_t Q = p->n_head * p->head_dim, KV = p->n_head_kv * p->head_dim, B = t->tp.n_seq, T = t->tp.n_tok;
    const int64_t R = lora_max_rank(m->lora) > 0 ? lora_max_rank(m->lora) : 1;
    int64_t wmax = D > Q ? D : Q;
    wmax = wmax > F ? wmax : F;
    t->tokens = take<int32_t>(ar, N); t->targets = take<int32_t>(ar, N);
    for (int64_t l = 0; l < L; l++) t->x_in[l] = take<float>(ar, N * D);
    for (int64_t i = 0; i < t->n_saved; i++) {
        dacts *a = &t->acts[i];
        a->xn1 = take<float>(ar, N * D); a->rstd1 = take<float>(ar, N); a->q = take<float>(ar, N * Q);
        a->lse = take<float>(ar, B * p->n_head * T); a->att = take<float>(ar, N * Q); a->x_mid = take<float>(ar, N * D);
        a->xn2 = take<float>(ar, N * D); a->rstd2 = take<float>(ar, N); a->g = take<float>(ar, N * F); a->u = take<float>(ar, N * F);
        t->k[i] = take<float>(ar, N * KV); t->v[i] = take<float>(ar, N * KV);
    }
    t->x = take<float>(ar, N * D); t->xf_n = take<float>(ar, N * D); t->rstd_f = take<float>(ar, N);
    t->logits = take<float>(ar, t->chunk * V); t->dlogits_b = take<bf16>(ar, t->chunk * V); t->nll = take<float>(ar, N);
    t->dx = take<float>(ar, N * D); t->dxn = take<float>(ar, N * D); t->dq = take<float>(ar, N * Q); t->dk = take<float>(ar, N * KV);
    t->dv = take<float>(ar, N * KV); t->datt = take<float>(ar, N * Q); t->dg = take<float>(ar, N * F); t->du = take<float>(ar, N * F);
    t->dh = take<float>(ar, N * F); t->att_scratch = take<float>(ar, B * p->n_head * T);
    t->sumsq = take<double>(ar, 2 * (int64_t)t->n_slots + (L + 1) * PL_N_WEIGHT_KINDS + 1);
    t->sc.xb = take<bf16>(ar, N * wmax); t->sc.h = take<float>(ar, N * F); t->sc.tmp = take<float>(ar, N * D);
    t->sc.lora_tmp = take<float>(ar, N * R);
    for (int32_t i = 0; i < t->n_slots; i++) t->sc.slot_u[i] = take<float>(ar, N * m->lora->slots[i].rank);
    if (t->full) {
        for (int32_t w = 0; w < PL_N_WEIGHT_KINDS; w++)
            for (int64_t l = 0; l < (pl_weight_is_per_layer(w) ? L : 1); l++) {
                const pl_weight_ref *r = pl_weight_is_per_layer(w) ? &m->layers[l].w[w] : &m->global[w];
                if (!r->data || w >= PL_W_ATTN_Q_BIAS) continue; /* biases and RoPE factors stay fixed */
                dfull *fp = &t->full[param_index(w, l)];
                fp->n = r->ne0 * r->ne1;
                fp->g = take<float>(ar, fp->n); fp->m = take<float>(ar, fp->n); fp->v = take<float>(ar, fp->n);
            }
    }
}

static void trainer_release(dtrainer *t) {
    if (!t) return;
    if (t->ar.base) { cudaSetDevice(t->c->device); cudaStreamSynchronize(t->c->stream); plc_free(t->c, t->ar.base, t->bytes); }
    free(t->x_in); free(t->acts); free(t->k); free(t->v); free(t->sc.slot_u); free(t->touched); free(t->full); free(t->nll_host);
    free(t);
}

static void be_trainer_free(void *p) { trainer_release((dtrainer *)p); }

static int32_t be_trainer_create(pl_model *m, const pl_trainer_params *tp, void **out) {
    dstep st;
    PLC_TRY(step_begin(m, &st)); /* uploads the adapter's slots now, so their memory is counted before the plan */
    if (tp->mode == PL_TRAIN_FULL) PLC_TRY(dm_make_f32(m));
    const pl_model_params *p = &m->p;
    dtrainer *t = (dtrainer *)calloc(1, sizeof *t);
    if (!t) return PLC_FAIL(PL_ERR_OUT_OF_MEMORY, "CUDA: out of host memory");
    t->model = m; t->tp = *tp; t->c = st.c;
    t->N = tp->n_seq * tp->n_tok;
    t->chunk = logits_chunk(t->N, p->n_vocab);
    t->n_saved = tp->recompute ? 1 : p->n_layer;
    t->n_slots = m->lora ? m->lora->n_slots : 0;
    t->x_in = (float **)calloc((size_t)p->n_layer, sizeof(float *));
    t->acts = (dacts *)calloc((size_t)t->n_saved, sizeof(dacts));
    t->k = (float **)calloc((size_t)t->n_saved, sizeof(float *));
    t->v = (float **)calloc((size_t)t->n_saved, sizeof(float *));
    t->sc.slot_u = (float **)calloc((size_t)(t->n_slots > 0 ? t->n_slots : 1), sizeof(float *));
    t->touched = (uint32_t *)calloc((size_t)(t->n_slots > 0 ? t->n_slots : 1), sizeof(uint32_t));
    t->nll_host = (float *)malloc((size_t)t->N * sizeof(float));
    if (tp->mode == PL_TRAIN_FULL) t->full = (dfull *)calloc((size_t)((p->n_layer + 1) * PL_N_WEIGHT_KINDS), sizeof(dfull));
    if (!t->x_in || !t->acts || !t->k || !t->v || !t->sc.slot_u || !t->touched || !t->nll_host || (tp->mode == PL_TRAIN_FULL && !t->full)) {
        trainer_release(t);
        return PLC_FAIL(PL_ERR_OUT_OF_MEMORY, "CUDA: out of host memory");
    }
    char what[256];
    snprintf(what, sizeof what, "the trainer's activations and gradients (a %lld x %lld batch, %s)", (long long)tp->n_seq,
             (long long)tp->n_tok, tp->recompute ? "recompute" : "every layer saved");
    int32_t rc = arena_build(st.c, &t->ar, &t->bytes, what, [&](plc_arena *a) { plan_trainer(a, t); });
    if (rc != PL_OK) { trainer_release(t); return rc; }
    if (t->full) { /* bind the F32 device weights and zero the moments */
        dev_model *dm = st.dm;
        for (int32_t w = 0; w < PL_N_WEIGHT_KINDS; w++)
            for (int64_t l = 0; l < (pl_weight_is_per_layer(w) ? p->n_layer : 1); l++) {
                dfull *fp = &t->full[param_index(w, l)];
                if (!fp->g) continue;
                dev_weight *dw = pl_weight_is_per_layer(w) ? &dm->layers[l * PL_N_WEIGHT_KINDS + w] : &dm->global[w];
                const pl_weight_ref *r = pl_weight_is_per_layer(w) ? &m->layers[l].w[w] : &m->global[w];
                fp->w = (float *)dw->ptr;
                fp->host = (void *)r->data; /* FULL mode owns the update of the borrowed F32 weights, as on the CPU */
                PLC_CUDA(cudaMemsetAsync(fp->m, 0, (size_t)fp->n * 4, st.c->stream), "clear moments");
                PLC_CUDA(cudaMemsetAsync(fp->v, 0, (size_t)fp->n * 4, st.c->stream), "clear moments");
                PLC_CUDA(cudaMemsetAsync(fp->g, 0, (size_t)fp->n * 4, st.c->stream), "clear gradients");
            }
    }
    PLC_CUDA(cudaStreamSynchronize(st.c->stream), "create a trainer");
    *out = t;
    return PL_OK;
}

static float *wgrad(dtrainer *t, int32_t which, int64_t layer) {
    return t->full ? t->full[param_index(which, layer)].g : NULL;
}

/* Runs block l from x_in[l] into x, saving activations into set i. */
static int32_t block_fwd_saved(dtrainer *t, dstep *st, int64_t l, int64_t i) {
    const pl_model_params *p = &t->model->p;
    const int64_t D = p->n_embd, KV = p->n_head_kv * p->head_dim, T = t->tp.n_tok;
    PLC_CUDA(cudaMemcpyAsync(t->x, t->x_in[l], (size_t)(t->N * D) * 4, cudaMemcpyDeviceToDevice, t->c->stream), "copy a block input");
    return block_forward(st, l, t->x, t->tp.n_seq, T, 0, t->k[i], t->v[i], t->k[i], t->v[i], T, T * KV, &t->acts[i], &t->sc);
}

/* Backward of block l: t->dx holds dL/d(output) on entry and dL/d(input) on return. */
static int32_t block_bwd(dtrainer *t, dstep *st, int64_t l, int64_t i) {
    const pl_model *m = t->model;
    const pl_model_params *p = &m->p;
    const dev_weight *lw = &st->dm->layers[l * PL_N_WEIGHT_KINDS];
    dacts *a = &t->acts[i];
    cudaStream_t s = t->c->stream;
    const int64_t N = t->N, D = p->n_embd, F = p->n_ff, B = t->tp.n_seq, T = t->tp.n_tok;
    /* FFN: x_out = x_mid + down(h), h = silu(g)·u (recomputed), g = gate(xn2), u = up(xn2), xn2 = norm(x_mid) */
    PLC_TRY(plc_swiglu_forward(t->sc.h, NULL, a->g, a->u, N * F, s));
    PLC_TRY(linear_backward(st, l, PL_W_FFN_DOWN, t->sc.h, t->dx, N, t->dh, 0, wgrad(t, PL_W_FFN_DOWN, l), &t->sc, t->touched));
    PLC_TRY(plc_swiglu_backward(t->dg, t->du, t->dh, a->g, a->u, N * F, s));
    PLC_TRY(linear_backward(st, l, PL_W_FFN_GATE, a->xn2, t->dg, N, t->dxn, 0, wgrad(t, PL_W_FFN_GATE, l), &t->sc, t->touched));
    PLC_TRY(linear_backward(st, l, PL_W_FFN_UP, a->xn2, t->du, N, t->dxn, 1, wgrad(t, PL_W_FFN_UP, l), &t->sc, t->touched));
    PLC_TRY(plc_rmsnorm_backward(t->dx, wgrad(t, PL_W_FFN_NORM, l), t->dxn, a->x_mid, (const float *)lw[PL_W_FFN_NORM].ptr, a->rstd2, N, D, s));
    /* attention: x_mid = x_in + wo(att), att = attn(rope(q), rope(k), v), q/k/v = W·xn1, xn1 = norm(x_in) */
    PLC_TRY(linear_backward(st, l, PL_W_ATTN_OUTPUT, a->att, t->dx, N, t->datt, 0, wgrad(t, PL_W_ATTN_OUTPUT, l), &t->sc, t->touched));
    PLC_TRY(plc_attention_backward(t->dq, t->dk, t->dv, t->datt, a->q, t->k[i], t->v[i], a->att, a->lse, t->att_scratch, B, T,
                                   p->n_head, p->n_head_kv, p->head_dim, s, !st->dm->f32));
    PLC_TRY(plc_rope(t->dq, B, T, 0, p->n_head, p->head_dim, p->n_rot, p->rope_freq_base, p->rope_freq_scale, rope_factors(st->dm), p->rope_type, -1, s));
    PLC_TRY(plc_rope(t->dk, B, T, 0, p->n_head_kv, p->head_dim, p->n_rot, p->rope_freq_base, p->rope_freq_scale, rope_factors(st->dm), p->rope_type, -1, s));
    PLC_TRY(linear_backward(st, l, PL_W_ATTN_Q, a->xn1, t->dq, N, t->dxn, 0, wgrad(t, PL_W_ATTN_Q, l), &t->sc, t->touched));
    PLC_TRY(linear_backward(st, l, PL_W_ATTN_K, a->xn1, t->dk, N, t->dxn, 1, wgrad(t, PL_W_ATTN_K, l), &t->sc, t->touched));
    PLC_TRY(linear_backward(st, l, PL_W_ATTN_V, a->xn1, t->dv, N, t->dxn, 1, wgrad(t, PL_W_ATTN_V, l), &t->sc, t->touched));
    PLC_TRY(plc_rmsnorm_backward(t->dx, wgrad(t, PL_W_ATTN_NORM, l), t->dxn, t->x_in[l], (const float *)lw[PL_W_ATTN_NORM].ptr, a->rstd1, N, D, s));
    return PL_OK;
}

static int64_t lowest_trained_layer(const dtrainer *t) {
    return t->full ? 0 : lora_lowest_trained_layer(t->model->lora, t->model->p.n_layer);
}

static int32_t be_trainer_zero_grad(void *p) {
    dtrainer *t = (dtrainer *)p;
    plc_ctx *c = t->c;
    cudaSetDevice(c->device);
    pl_lora *lo = t->model->lora;
    for (int32_t i = 0; lo && i < lo->n_slots; i++) {
        lora_slot *s = &lo->slots[i];
        dev_slot *d = (dev_slot *)s->dev;
        if (!d) {
            memset(s->da, 0, (size_t)(s->rank * s->in) * 4);
            memset(s->db, 0, (size_t)(s->out * s->rank) * 4);
            continue;
        }
        PLC_CUDA(cudaMemsetAsync(d->da, 0, (size_t)(s->rank * s->in) * 4, c->stream), "zero gradients");
        PLC_CUDA(cudaMemsetAsync(d->db, 0, (size_t)(s->out * s->rank) * 4, c->stream), "zero gradients");
        s->dev_dirty |= PL_SLOT_GRADS;
    }
    for (int64_t i = 0; t->full && i < (t->model->p.n_layer + 1) * PL_N_WEIGHT_KINDS; i++)
        if (t->full[i].g) PLC_CUDA(cudaMemsetAsync(t->full[i].g, 0, (size_t)t->full[i].n * 4, c->stream), "zero gradients");
    for (int32_t i = 0; i < t->n_slots; i++) t->touched[i] = 0;
    PLC_CUDA(cudaStreamSynchronize(c->stream), "zero gradients");
    return PL_OK;
}

static int32_t be_trainer_accumulate(void *p, const int32_t *tokens, const int32_t *targets, float grad_scale,
                                     double *loss_sum, int64_t *n_targets) {
    dtrainer *t = (dtrainer *)p;
    pl_model *m = t->model;
    const pl_model_params *p_ = &m->p;
    dstep st;
    PLC_TRY(step_begin(m, &st));
    dev_model *dm = st.dm;
    for (int32_t i = 0; m->lora && i < m->lora->n_slots; i++)
        if (m->lora->slots[i].rank * t->N > 0 && !m->lora->slots[i].dev)
            return PLC_FAIL(PL_ERR_STATE, "CUDA: adapter slot %d has no device copy", i);
    cudaStream_t s = t->c->stream;
    const int64_t N = t->N, D = p_->n_embd, V = p_->n_vocab, L = p_->n_layer;
    int64_t counted = 0;
    for (int64_t i = 0; i < N; i++) counted += targets[i] >= 0;
    PLC_CUDA(cudaMemcpyAsync(t->tokens, tokens, (size_t)N * 4, cudaMemcpyHostToDevice, s), "upload tokens");
    PLC_CUDA(cudaMemcpyAsync(t->targets, targets, (size_t)N * 4, cudaMemcpyHostToDevice, s), "upload targets");
    /* forward */
    const dev_weight *emb = &dm->global[PL_W_TOKEN_EMBD];
    PLC_TRY(plc_embedding_forward(t->x, t->tokens, N, emb->ptr, emb->type == PLC_BF16, D, s));
    for (int64_t l = 0; l < L; l++) {
        PLC_CUDA(cudaMemcpyAsync(t->x_in[l], t->x, (size_t)(N * D) * 4, cudaMemcpyDeviceToDevice, s), "save a block input");
        PLC_TRY(block_fwd_saved(t, &st, l, t->tp.recompute ? 0 : l));
    }
    const float *xf = t->x;
    const dev_weight *wo = out_weight(dm);
    const int bf = wo->type == PLC_BF16;
    PLC_TRY(plc_rmsnorm_forward(t->xf_n, bf ? t->sc.xb : NULL, t->rstd_f, xf, (const float *)dm->global[PL_W_OUTPUT_NORM].ptr, N, D,
                                p_->norm_eps, s));
    /* head, loss and its backward, chunk by chunk of tokens: the full logits never exist */
    float *dw_out = t->full ? wgrad(t, m->global[PL_W_OUTPUT].data ? PL_W_OUTPUT : PL_W_TOKEN_EMBD, -1) : NULL;
    for (int64_t r = 0; r < N; r += t->chunk) {
        const int64_t nr = N - r < t->chunk ? N - r : t->chunk;
        const void *xin = bf ? (const void *)(t->sc.xb + r * D) : (const void *)(t->xf_n + r * D);
        PLC_TRY(plc_gemm(t->c, 0, 1, nr, V, D, 1.0f, xin, D, wo->ptr, D, wo->type, 0.0f, t->logits, V));
        PLC_TRY(plc_cross_entropy_fused(t->nll + r, t->logits, bf ? t->dlogits_b : NULL, t->targets + r, nr, V, grad_scale, s));
        /* dxn_f = dlogits · W_out */
        if (bf) PLC_TRY(plc_gemm(t->c, 0, 0, nr, D, V, 1.0f, t->dlogits_b, V, wo->ptr, D, PLC_BF16, 0.0f, t->dxn + r * D, D));
        else PLC_TRY(plc_gemm(t->c, 0, 0, nr, D, V, 1.0f, t->logits, V, wo->ptr, D, PLC_F32, 0.0f, t->dxn + r * D, D));
        if (dw_out) PLC_TRY(plc_gemm(t->c, 1, 0, V, D, nr, 1.0f, t->logits, V, t->xf_n + r * D, D, PLC_F32, 1.0f, dw_out, D));
    }
    PLC_CUDA(cudaMemcpyAsync(t->nll_host, t->nll, (size_t)N * 4, cudaMemcpyDeviceToHost, s), "download the loss");
    PLC_CUDA(cudaStreamSynchronize(s), "the forward");
    double loss = 0.0;
    for (int64_t i = 0; i < N; i++) loss += t->nll_host[i];
    if (!(loss - loss == 0.0))
        return PLC_FAIL(PL_ERR_NUMERIC, "training: the loss is not finite (%g): NaN or Inf in the weights, the adapter or the activations", loss);
    if (loss_sum) *loss_sum = loss;
    if (n_targets) *n_targets = counted;
    PLC_TRY(plc_zero(t->dx, N * D, s));
    PLC_TRY(plc_rmsnorm_backward(t->dx, wgrad(t, PL_W_OUTPUT_NORM, -1), t->dxn, xf, (const float *)dm->global[PL_W_OUTPUT_NORM].ptr,
                                 t->rstd_f, N, D, s));
    const int64_t low = lowest_trained_layer(t);
    for (int64_t l = L - 1; l >= low; l--) {
        if (t->tp.recompute) PLC_TRY(block_fwd_saved(t, &st, l, 0));
        PLC_TRY(block_bwd(t, &st, l, t->tp.recompute ? 0 : l));
    }
    if (t->full) PLC_TRY(plc_embedding_backward(wgrad(t, PL_W_TOKEN_EMBD, -1), t->tokens, t->dx, N, D, s));
    for (int32_t i = 0; m->lora && i < t->n_slots; i++)
        if (t->touched[i]) m->lora->slots[i].dev_dirty |= PL_SLOT_GRADS;
    PLC_CUDA(cudaStreamSynchronize(s), "the backward");
    return PL_OK;
}

static int32_t be_trainer_grad_norm(void *p, double *norm) {
    dtrainer *t = (dtrainer *)p;
    cudaSetDevice(t->c->device);
    cudaStream_t s = t->c->stream;
    const pl_lora *lo = t->model->lora;
    int64_t k = 0;
    if (!t->full) {
        for (int32_t i = 0; lo && i < lo->n_slots && i < t->n_slots; i++) {
            const lora_slot *sl = &lo->slots[i];
            const dev_slot *d = (const dev_slot *)sl->dev;
            if (!lora_slot_active(lo, sl) || !d) continue;
            if (sl->train_a) PLC_TRY(plc_sumsq(t->sumsq + k++, d->da, sl->rank * sl->in, s));
            if (sl->train_b) PLC_TRY(plc_sumsq(t->sumsq + k++, d->db, sl->out * sl->rank, s));
        }
    } else {
        for (int64_t i = 0; i < (t->model->p.n_layer + 1) * PL_N_WEIGHT_KINDS; i++)
            if (t->full[i].g) PLC_TRY(plc_sumsq(t->sumsq + k++, t->full[i].g, t->full[i].n, s));
    }
    std::vector<double> parts((size_t)(k > 0 ? k : 1), 0.0);
    if (k > 0) PLC_CUDA(cudaMemcpyAsync(parts.data(), t->sumsq, (size_t)k * sizeof(double), cudaMemcpyDeviceToHost, s), "download norms");
    PLC_CUDA(cudaStreamSynchronize(s), "gradient norm");
    double sum = 0.0;
    for (int64_t i = 0; i < k; i++) sum += parts[(size_t)i];
    *norm = sqrt(sum);
    return PL_OK;
}

static int32_t be_trainer_adamw_step(void *p, const pl_adamw_params *ap) {
    dtrainer *t = (dtrainer *)p;
    cudaSetDevice(t->c->device);
    cudaStream_t s = t->c->stream;
    pl_lora *lo = t->model->lora;
    if (!t->full) {
        PLC_TRY(lora_push(lo, t->c)); /* host writes since the last step (e.g. a hook's reset) go first */
        for (int32_t i = 0; lo && i < lo->n_slots; i++) {
            lora_slot *sl = &lo->slots[i];
            const dev_slot *d = (const dev_slot *)sl->dev;
            if (!lora_slot_active(lo, sl) || (!sl->train_a && !sl->train_b) || !d) continue;
            sl->step++;
            const float bc1 = 1.0f - powf(ap->beta1, (float)sl->step), bc2 = 1.0f - powf(ap->beta2, (float)sl->step);
            if (sl->train_a)
                PLC_TRY(plc_adamw(d->a, d->da, d->ma, d->va, sl->rank * sl->in, ap->lr, ap->beta1, ap->beta2, ap->eps, ap->weight_decay, ap->grad_scale, bc1, bc2, s));
            if (sl->train_b)
                PLC_TRY(plc_adamw(d->b, d->db, d->mb, d->vb, sl->out * sl->rank, ap->lr, ap->beta1, ap->beta2, ap->eps, ap->weight_decay, ap->grad_scale, bc1, bc2, s));
            sl->dev_dirty |= PL_SLOT_WEIGHTS | PL_SLOT_ADAM;
        }
    } else {
        for (int64_t i = 0; i < (t->model->p.n_layer + 1) * PL_N_WEIGHT_KINDS; i++) {
            dfull *fp = &t->full[i];
            if (!fp->g) continue;
            fp->step++;
            const float bc1 = 1.0f - powf(ap->beta1, (float)fp->step), bc2 = 1.0f - powf(ap->beta2, (float)fp->step);
            PLC_TRY(plc_adamw(fp->w, fp->g, fp->m, fp->v, fp->n, ap->lr, ap->beta1, ap->beta2, ap->eps, ap->weight_decay, ap->grad_scale, bc1, bc2, s));
            /* the host weights follow, as on the CPU where FULL mode updates them in place */
            PLC_CUDA(cudaMemcpyAsync(fp->host, fp->w, (size_t)fp->n * 4, cudaMemcpyDeviceToHost, s), "write back a weight");
        }
    }
    PLC_CUDA(cudaStreamSynchronize(s), "AdamW step");
    return PL_OK;
}

static int32_t be_trainer_get_weight_grad(void *p, int32_t which, int64_t layer, float *dst, int64_t len) {
    dtrainer *t = (dtrainer *)p;
    if (!t->full) return PLC_FAIL(PL_ERR_STATE, "pl_trainer_get_weight_grad: the trainer is not in FULL mode");
    const dfull *fp = &t->full[param_index(which, layer)];
    if (!fp->g) return PLC_FAIL(PL_ERR_STATE, "pl_trainer_get_weight_grad: weight %d is not bound", which);
    if (len != fp->n) return PLC_FAIL(PL_ERR_INVALID_ARGUMENT, "pl_trainer_get_weight_grad: length %lld, expected %lld", (long long)len, (long long)fp->n);
    cudaSetDevice(t->c->device);
    PLC_CUDA(cudaMemcpyAsync(dst, fp->g, (size_t)len * 4, cudaMemcpyDeviceToHost, t->c->stream), "download a weight gradient");
    PLC_CUDA(cudaStreamSynchronize(t->c->stream), "download a weight gradient");
    return PL_OK;
}

/* ------------------------------------------------------------------------------------------------------------------
   Devices and the entry point
   ------------------------------------------------------------------------------------------------------------------ */


static int32_t be_device_count(int32_t *n, char *why, size_t why_len) {
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        cudaGetLastError();
        snprintf(why, why_len, "no usable CUDA device: %s", cudaGetErrorString(e));
        *n = 0;
        return PL_OK;
    }
    *n = count;
    if (count == 0) snprintf(why, why_len, "no CUDA GPU found");
    return PL_OK;
}

static int32_t be_device_info(int32_t device, char *buf, size_t len) {
    cudaDeviceProp pr;
    PLC_CUDA(cudaGetDeviceProperties(&pr, device), "query the device");
    int drv = 0;
    cudaDriverGetVersion(&drv);
    const size_t v = plc_cublaslt_version();
    snprintf(buf, len, "%s, sm_%d%d, %.1f GiB, driver CUDA %d.%d, cuBLASLt %zu.%zu.%zu (%s)", pr.name, pr.major, pr.minor,
             pr.totalGlobalMem / 1073741824.0, drv / 1000, (drv % 1000) / 10, v / 10000, (v / 100) % 100, v % 100, plc_cublaslt_path());
    return PL_OK;
}

static int32_t be_bench_gemm(int32_t device, int64_t n, int32_t reps, double *tflops) {
    return plc_bench_gemm(device, n, reps, tflops);
}

static const pl_backend cuda_backend = {
    PL_BACKEND_ABI, "cuda",
    be_device_count, be_device_info, be_bench_gemm,
    be_model_sync, be_model_release, be_model_memory, be_forward, be_nll,
    be_kv_create, be_kv_free, be_decode,
    be_lora_pull, be_lora_release,
    be_trainer_create, be_trainer_free, be_trainer_zero_grad, be_trainer_accumulate, be_trainer_grad_norm,
    be_trainer_adamw_step, be_trainer_get_weight_grad,
};


extern "C" __attribute__((visibility("default"))) const pl_backend *pl_cuda_backend_init(const pl_core_api *core, char *err, size_t err_len) {
    if (!core || core->abi != PL_BACKEND_ABI || core->sizeof_model != sizeof(pl_model) || core->sizeof_lora != sizeof(pl_lora) ||
        core->sizeof_slot != sizeof(lora_slot) || core->sizeof_layer != sizeof(pl_layer_weights)) {
        snprintf(err, err_len, "libpanlora_cuda.so was built from other sources than libpanlora.so (ABI mismatch); rebuild both");
        return NULL;
    }
    plc_core = core;
    int drv = 0;
    cudaError_t e = cudaDriverGetVersion(&drv);
    if (e != cudaSuccess || drv == 0) {
        snprintf(err, err_len, "no NVIDIA driver found (libcuda.so.1 is not installed or cannot be loaded)");
        return NULL;
    }
    if (drv < CUDART_VERSION) {
        snprintf(err, err_len, "the NVIDIA driver supports CUDA %d.%d, but this build needs CUDA %d.%d or newer: update the driver",
                 drv / 1000, (drv % 1000) / 10, CUDART_VERSION / 1000, (CUDART_VERSION % 1000) / 10);
        return NULL;
    }
    int count = 0;
    e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess || count == 0) {
        cudaGetLastError();
        snprintf(err, err_len, "no CUDA GPU found (%s)", e != cudaSuccess ? cudaGetErrorString(e) : "the driver reports none");
        return NULL;
    }
    if (!plc_lt_preload(err, err_len)) return NULL;
    return &cuda_backend;
}
