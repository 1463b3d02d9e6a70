/*
 * panlora.h — the one public header of the panlora native engine.
 *
 * Conventions (see DESIGN.md):
 *  - every function is prefixed pl_; handles are opaque;
 *  - every function that can fail returns an int32_t status (PL_OK = 0); on failure
 *    pl_last_error() returns a thread-local message naming the problem; on success every
 *    call clears it to "" (the one exception: pl_cuda_device_count leaves the reason there
 *    when it finds no usable device);
 *  - every pointer comes with an explicit length (an element or byte count) that is checked;
 *    every size product is checked for 64-bit overflow and refused, never wrapped;
 *  - the engine never aborts and never prints to stdout;
 *  - all sizes, counts and offsets are int64_t;
 *  - tensors follow ggml: ne0 is the contiguous dimension; a weight of a linear
 *    layer y = W x with in inputs and out outputs has ne0 = in, ne1 = out;
 *  - type ids and block layouts are ggml's and never change.
 * The Java bindings are generated from this file by jextract (bindings/regenerate).
 */
#ifndef PANLORA_H
#define PANLORA_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PL_API_VERSION 1

/* ---- status codes (values never change) ---- */
enum pl_status {
    PL_OK = 0,
    PL_ERR_INVALID_ARGUMENT = 1, /* a null pointer, a bad size or shape, an unknown id */
    PL_ERR_OUT_OF_MEMORY = 2,    /* an allocation failed */
    PL_ERR_UNSUPPORTED = 3,      /* a type or feature this build does not support */
    PL_ERR_STATE = 4,            /* the object is not ready for this call (e.g. a weight missing) */
    PL_ERR_NUMERIC = 5,          /* NaN or Inf met where finite values are required */
    PL_ERR_INTERNAL = 6          /* a bug: please report the message */
};

/* ---- tensor types: ggml's type ids ---- */
enum pl_type {
    PL_TYPE_F32 = 0,
    PL_TYPE_F16 = 1,
    PL_TYPE_Q4_0 = 2,
    PL_TYPE_Q4_1 = 3,
    PL_TYPE_Q5_0 = 6,
    PL_TYPE_Q5_1 = 7,
    PL_TYPE_Q8_0 = 8,
    PL_TYPE_Q8_1 = 9,
    PL_TYPE_Q2_K = 10,
    PL_TYPE_Q3_K = 11,
    PL_TYPE_Q4_K = 12,
    PL_TYPE_Q5_K = 13,
    PL_TYPE_Q6_K = 14,
    PL_TYPE_Q8_K = 15,
    PL_TYPE_BF16 = 30
};

/* ---- library ---- */

/* The message of the last failed call on this thread; "" after a call that succeeded. Valid until the next call on this thread. */
const char *pl_last_error(void);
/* PL_API_VERSION of the built library. */
int32_t pl_api_version(void);
/* A one-line description of the build: backends, SIMD levels detected, BLAS (its last field, "blas=": "openblas (FILE, loaded at
   run time)", "none", or "none (SENTENCE)" when PANLORA_GEMM=openblas asked for OpenBLAS and it could not be loaded).
   Thread-safe; the string is never freed or rewritten. */
const char *pl_build_info(void);
/* Sets the number of CPU threads the engine uses (n >= 1) — the process-wide default; a model may have its own
   (pl_model_set_threads). Results are deterministic for a given n. */
int32_t pl_set_num_threads(int32_t n);
/* The number of CPU threads the engine uses. */
int32_t pl_get_num_threads(void);

/* Precision of the frozen base weights' products on the CPU (pl_set_matmul): F32 (the default and the reference), BF16
   (weights and activations rounded to BF16 — round to nearest even — summed in F32 with AVX512-BF16; only on CPUs that
   have it) or AUTO (BF16 where the CPU has AVX512-BF16, else F32). It applies to the base weights' linear layers with more
   than 4 tokens (prompt processing, NLL, training: forward and input gradient, the output projection included). BF16 and
   AUTO also decode (up to 4 tokens) Q8_0, Q4_0, Q4_K and Q6_K weights with activations quantized to 8-bit blocks of 32 and integer dot
   products (AVX2 or AVX512-VNNI), as llama.cpp does; other types decode in F32. LoRA factors, dense deltas, weight
   gradients, attention and the optimizer stay F32. */
#define PL_MATMUL_F32 0
#define PL_MATMUL_BF16 1
#define PL_MATMUL_AUTO 2
/* Sets the process-wide matmul precision (one of PL_MATMUL_*); PL_MATMUL_BF16 fails (PL_ERR_UNSUPPORTED) on a CPU without
   AVX512-BF16. Takes effect from the next compute call. */
int32_t pl_set_matmul(int32_t mode);
/* The precision in effect (PL_MATMUL_F32 or PL_MATMUL_BF16: AUTO resolved) into *mode. */
int32_t pl_get_matmul(int32_t *mode);
/* 1 if this CPU can run the BF16 matmul path (AVX512-BF16 with AVX512-BW and -VL), else 0. */
int32_t pl_cpu_has_bf16(void);

/* ---- types and codecs ---- */

/* Elements per block and bytes per block of a type; fails for an unknown type id. */
int32_t pl_type_info(int32_t type, int64_t *block_elems, int64_t *block_bytes);
/* Bytes taken by n elements of a type; fails unless n is a multiple of the block size. */
int32_t pl_row_bytes(int32_t type, int64_t n, int64_t *out_bytes);
/* Decodes n elements of src (src_bytes long) into dst; dequantizable: F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K Q3_K Q4_K Q5_K Q6_K. */
int32_t pl_dequantize(int32_t type, const void *src, int64_t src_bytes, float *dst, int64_t n);
/* Encodes n floats into dst (dst_bytes long) with ggml's reference rounding; quantizable: F32 F16 BF16 Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K Q3_K Q4_K Q5_K Q6_K; PL_ERR_NUMERIC for NaN/Inf into a block type. */
int32_t pl_quantize(int32_t type, const float *src, int64_t n, void *dst, int64_t dst_bytes);

/* ---- matrix products over (possibly quantized) weights ---- */

/* y[t][o] = sum_i W[o][i] * x[t][i] for t < n_tok: W has ne0 = in, ne1 = out, stored in type wtype (w_bytes long; 4-byte aligned when F32); x is n_tok x in, y is n_tok x out (F32). */
int32_t pl_matmul(int32_t wtype, const void *w, int64_t w_bytes, int64_t in, int64_t out,
                  const float *x, int64_t n_tok, float *y);
/* dx[t][i] = sum_o W[o][i] * dy[t][o] (the product with W transposed, for input gradients); dy is n_tok x out, dx is n_tok x in. */
int32_t pl_matmul_t(int32_t wtype, const void *w, int64_t w_bytes, int64_t in, int64_t out,
                    const float *dy, int64_t n_tok, float *dx);
/* Times a square F32 GEMM of size n (OpenBLAS's when PANLORA_GEMM=openblas loaded it, else ours) over reps runs; writes GFLOP/s. */
int32_t pl_bench_sgemm(int64_t n, int32_t reps, double *gflops);
/* The same for the BF16 products of PL_MATMUL_BF16 (AVX512-BF16; PL_ERR_UNSUPPORTED on a CPU without it). */
int32_t pl_bench_bgemm(int64_t n, int32_t reps, double *gflops);
/* Kinds of pl_bench_peak. */
enum {
    PL_PEAK_MEMREAD = 0, /* streaming reads of `bytes` bytes over the engine's threads, GB/s: the bound on decoding */
    PL_PEAK_INT8 = 1     /* the 8-bit decode products (Q8_0 rows of 4096 against 4 tokens of 8-bit activations, about
                            `bytes` bytes of weights), GOP/s counting 2 per multiply-add (PL_ERR_UNSUPPORTED without AVX2) */
};
/* Measures a peak rate of this machine with the current thread count: the best of reps passes after a warm-up. */
int32_t pl_bench_peak(int32_t kind, int64_t bytes, int32_t reps, double *rate);

/* ---- devices ---- */

/* Where a model's weights, activations, adapters and optimizer state live: the CPU, or CUDA device N (N >= 0). */
#define PL_DEVICE_CPU (-1)

/* How a CUDA model holds its frozen base weights (values never change). */
enum pl_weight_placement {
    PL_WEIGHTS_AUTO = 0,        /* RESIDENT when the BF16 weights and the work space fit on the device, else STREAMED */
    PL_WEIGHTS_RESIDENT = 1,    /* every weight dequantized once to BF16 on the device */
    PL_WEIGHTS_STREAMED = 2,    /* BF16 weights kept in pinned host memory and copied per layer into a device scratch buffer */
    PL_WEIGHTS_RESIDENT_F32 = 3 /* F32 on the device with F32 GEMMs: the reference mode the GPU self-test compares with the CPU */
};

/* Number of usable CUDA devices. 0 (and PL_OK) when the CUDA backend library, the driver, cuBLASLt or a GPU is missing;
   pl_last_error() then says which in one sentence. Loads libpanlora_cuda.so (PANLORA_CUDA_LIBRARY, or the directory of
   this library) and cuBLASLt (PANLORA_CUBLAS_DIR, the loader path, the CUDA toolkit, the nvidia/cublas/lib folder of a Python installation) once. */
int32_t pl_cuda_device_count(int32_t *n);
/* One line describing CUDA device `device` (name, compute capability, memory, driver and cuBLASLt versions) into buf. */
int32_t pl_cuda_device_info(int32_t device, char *buf, int64_t buf_len);
/* Times a square BF16 GEMM (F32 accumulation, cuBLASLt) of size n on a CUDA device over reps runs; writes TFLOP/s. */
int32_t pl_cuda_bench_gemm(int32_t device, int64_t n, int32_t reps, double *tflops);

/* ---- LLaMA model ---- */

typedef struct pl_model pl_model;       /* hyperparameters + borrowed weights */
typedef struct pl_kv_cache pl_kv_cache; /* key/value cache for incremental decoding */

/* RoPE layouts (ggml's ids): rotate adjacent pairs (LLaMA) or the two halves of the head (NeoX, Qwen2). */
enum pl_rope_type {
    PL_ROPE_NORMAL = 0,
    PL_ROPE_NEOX = 2
};

/* Limits of a model's hyperparameters: pl_model_create refuses anything outside them (with every size product that
   follows from them checked for overflow), so no later size computation can wrap. */
#define PL_MAX_VOCAB 2147483647LL      /* n_vocab: token ids are int32_t */
#define PL_MAX_EMBD 1048576LL          /* n_embd: 2^20 */
#define PL_MAX_LAYERS 4096LL           /* n_layer */
#define PL_MAX_HEADS 65536LL           /* n_head and n_head_kv: 2^16 */
#define PL_MAX_HEAD_DIM 4096LL         /* head_dim (key and value length) */
#define PL_MAX_ATTN_WIDTH 1048576LL    /* n_head * head_dim: 2^20 */
#define PL_MAX_FF 4194304LL            /* n_ff: 2^22 */
#define PL_MAX_CTX 16777216LL          /* n_ctx_train, and any KV cache or batch length: 2^24 */

/* Hyperparameters of a LLaMA-architecture model (limits above; the floats must be finite). */
typedef struct pl_model_params {
    int64_t n_vocab;
    int64_t n_embd;         /* model width */
    int64_t n_layer;
    int64_t n_head;
    int64_t n_head_kv;      /* n_head % n_head_kv == 0 (GQA) */
    int64_t head_dim;       /* usually n_embd / n_head */
    int64_t n_ff;           /* FFN hidden width */
    int64_t n_ctx_train;    /* longest context the model was trained for */
    int64_t n_rot;          /* RoPE dimensions per head (<= head_dim, even) */
    float rope_freq_base;   /* theta, e.g. 10000; finite and > 0 */
    float rope_freq_scale;  /* linear position scale, 1 = none; finite and > 0 */
    float norm_eps;         /* RMSNorm epsilon, in (0, 1) */
    int32_t rope_type;      /* enum pl_rope_type */
} pl_model_params;

/* Which weight a pl_model_set_weight call sets (values never change). Shapes are ggml's (ne0, ne1). */
enum pl_weight {
    PL_W_TOKEN_EMBD = 0,  /* [n_embd, n_vocab], any dequantizable type */
    PL_W_OUTPUT_NORM = 1, /* [n_embd], F32 */
    PL_W_OUTPUT = 2,      /* [n_embd, n_vocab]; optional: tied to TOKEN_EMBD when absent */
    PL_W_ATTN_NORM = 3,   /* per layer [n_embd], F32 */
    PL_W_ATTN_Q = 4,      /* per layer [n_embd, n_head*head_dim] */
    PL_W_ATTN_K = 5,      /* per layer [n_embd, n_head_kv*head_dim] */
    PL_W_ATTN_V = 6,      /* per layer [n_embd, n_head_kv*head_dim] */
    PL_W_ATTN_OUTPUT = 7, /* per layer [n_head*head_dim, n_embd] */
    PL_W_FFN_NORM = 8,    /* per layer [n_embd], F32 */
    PL_W_FFN_GATE = 9,    /* per layer [n_embd, n_ff] */
    PL_W_FFN_UP = 10,     /* per layer [n_embd, n_ff] */
    PL_W_FFN_DOWN = 11,   /* per layer [n_ff, n_embd] */
    PL_W_ATTN_Q_BIAS = 12, /* per layer [n_head*head_dim], F32, optional (Qwen2) */
    PL_W_ATTN_K_BIAS = 13, /* per layer [n_head_kv*head_dim], F32, optional */
    PL_W_ATTN_V_BIAS = 14, /* per layer [n_head_kv*head_dim], F32, optional */
    PL_W_ROPE_FREQS = 15   /* [n_rot/2], F32, optional: per-pair frequency divisors (Llama 3.1 "rope_freqs") */
};

/* Creates a model with the given hyperparameters and no weights, on the CPU. */
int32_t pl_model_create(const pl_model_params *params, pl_model **out);
/* Creates a model on a device (PL_DEVICE_CPU or a CUDA device index). On a CUDA device the weights are uploaded when the
   model is validated (and again for any weight set after that); every later call runs there. */
int32_t pl_model_create_on(const pl_model_params *params, int32_t device, pl_model **out);
/* The device of a model (PL_DEVICE_CPU or a CUDA device index). */
int32_t pl_model_get_device(const pl_model *model, int32_t *device);
/* How a CUDA model holds its base weights (enum pl_weight_placement); set before validation. Ignored on the CPU. */
int32_t pl_model_set_placement(pl_model *model, int32_t placement);
/* Device memory of a CUDA model's device: bytes the engine holds there now (weights, caches, trainers, adapters of every
   model on that device), the peak of that since the process started, and the device's total. All 0 on the CPU. */
int32_t pl_model_device_memory(const pl_model *model, int64_t *used, int64_t *peak, int64_t *total);
/* CPU threads of this model's forward, NLL, decoding and training calls (n in 1..1024), or 0 (the default): the global count
   of pl_set_num_threads. Only the model's own calls use it, so two models may run with different counts; codec calls
   (pl_quantize, pl_dequantize) keep the global count. Results are deterministic for a given count. */
int32_t pl_model_set_threads(pl_model *model, int32_t n);
/* The model's thread count as set (0: it follows the global count). */
int32_t pl_model_get_threads(const pl_model *model, int32_t *n);
/* Frees a model (not the weights it borrows). NULL is a no-op. */
void pl_model_free(pl_model *model);
/* Sets a weight; layer is ignored (pass -1) for global weights. The data is borrowed, not copied: it must outlive the model. The shape and byte size are checked.
   F32 data must be 4-byte aligned; the other types may start at any byte. */
int32_t pl_model_set_weight(pl_model *model, int32_t which, int64_t layer, int32_t type,
                            int64_t ne0, int64_t ne1, const void *data, int64_t nbytes);
/* Sets (or clears, delta = NULL) a dense F32 correction of a per-layer linear: the layer computes (W + Δ) x. Δ is
   out×in row-major (len = out·in floats), borrowed like the weights; it stays frozen in training (it carries folded or
   perturbed updates exactly on any base type). A CUDA model copies Δ at this call: call again after changing it. */
int32_t pl_model_set_delta(pl_model *model, int32_t which, int64_t layer, const float *delta, int64_t len);
/* Checks that every required weight is set; the forward calls fail with PL_ERR_STATE until it is. */
int32_t pl_model_validate(pl_model *model);

/* Full forward over n_seq sequences of n_tok tokens each (tokens is n_seq x n_tok, positions 0..n_tok-1);
   writes logits (n_seq x n_tok x n_vocab, logits_len floats). */
int32_t pl_model_forward(pl_model *model, const int32_t *tokens, int64_t n_seq, int64_t n_tok,
                         float *logits, int64_t logits_len);
/* Full forward and per-token negative log-likelihood: nll[s][t] = -log softmax(logits[s][t])[targets[s][t]];
   a target < 0 is ignored (nll 0). nll is n_seq x n_tok. */
int32_t pl_model_nll(pl_model *model, const int32_t *tokens, const int32_t *targets, int64_t n_seq,
                     int64_t n_tok, float *nll);

/* Creates a KV cache for up to n_ctx positions of one sequence. */
int32_t pl_kv_cache_create(pl_model *model, int64_t n_ctx, pl_kv_cache **out);
/* Frees a KV cache. NULL is a no-op. */
void pl_kv_cache_free(pl_kv_cache *cache);
/* Empties the cache (position back to 0). */
int32_t pl_kv_cache_clear(pl_kv_cache *cache);
/* Number of positions the cache holds. */
int32_t pl_kv_cache_length(const pl_kv_cache *cache, int64_t *n_pos);
/* Appends n_tok tokens at the cache's next positions and writes the logits of the last one (n_vocab floats). */
int32_t pl_model_decode(pl_model *model, pl_kv_cache *cache, const int32_t *tokens, int64_t n_tok,
                        float *logits_last, int64_t logits_len);

/* ---- LoRA adapters: slots y = W x + Σ scale_i · B_i (A_i x) per target linear ---- */

typedef struct pl_lora pl_lora;       /* the slots of every target of a model, with their gradients and AdamW state */
typedef struct pl_trainer pl_trainer; /* activations and the training step for a model, a batch shape and a mode */

/* Target linears a slot can attach to (values never change). */
enum pl_target {
    PL_TARGET_ATTN_Q = 0,
    PL_TARGET_ATTN_K = 1,
    PL_TARGET_ATTN_V = 2,
    PL_TARGET_ATTN_OUTPUT = 3,
    PL_TARGET_FFN_GATE = 4,
    PL_TARGET_FFN_UP = 5,
    PL_TARGET_FFN_DOWN = 6
};

/* Creates an empty adapter set for a model's shapes. */
int32_t pl_lora_create(pl_model *model, pl_lora **out);
/* Frees an adapter set (detach it from models first). NULL is a no-op. */
void pl_lora_free(pl_lora *lora);
/* Adds a slot of rank r on a target of a layer: A (r x in) and B (out x r) zero, F32, enabled, both trainable; writes its index.
   The scale must be finite. */
int32_t pl_lora_add_slot(pl_lora *lora, int64_t layer, int32_t target, int64_t rank, float scale, int32_t *slot_out);
/* Number of slots. */
int32_t pl_lora_slot_count(const pl_lora *lora, int32_t *n_slots);
/* Shape of a slot: its layer, target, rank, in and out features. */
int32_t pl_lora_slot_info(const pl_lora *lora, int32_t slot, int64_t *layer, int32_t *target, int64_t *rank,
                          int64_t *in, int64_t *out);
/* Copies A (rank*in floats, row-major [r][in]) and/or B (out*rank floats, [out][r]) into the slot; a NULL pointer leaves that factor.
   Values must be finite; both factors are checked before either is copied, so a refused call changes nothing. */
int32_t pl_lora_set_weights(pl_lora *lora, int32_t slot, const float *a, int64_t a_len, const float *b, int64_t b_len);
/* Copies the slot's A and/or B out (NULL skips). */
int32_t pl_lora_get_weights(const pl_lora *lora, int32_t slot, float *a, int64_t a_len, float *b, int64_t b_len);
/* Copies the slot's accumulated gradients dA and/or dB out (NULL skips). */
int32_t pl_lora_get_grads(const pl_lora *lora, int32_t slot, float *da, int64_t a_len, float *db, int64_t b_len);
/* Sets a slot's scale, which factors train, and whether it takes part at all. */
int32_t pl_lora_set_flags(pl_lora *lora, int32_t slot, float scale, int32_t train_a, int32_t train_b, int32_t enabled);
/* Enables or disables every slot of a layer at once (the per-layer mask; a disabled layer runs the base only and trains nothing). */
int32_t pl_lora_set_layer_enabled(pl_lora *lora, int64_t layer, int32_t enabled);
/* AdamW state of a slot: first/second moments of A (m_a, v_a: a_len floats each, a_len = rank*in) and of B (m_b, v_b:
   b_len floats each, b_len = out*rank) and its step count; a NULL pointer skips that part, a wrong length fails. */
int32_t pl_lora_get_adam(const pl_lora *lora, int32_t slot, float *m_a, float *v_a, int64_t a_len, float *m_b, float *v_b,
                         int64_t b_len, int64_t *step);
/* Restores a slot's AdamW state (same lengths as pl_lora_get_adam; NULL leaves that part; moments must be finite, v >= 0;
   step in 0..2^53). */
int32_t pl_lora_set_adam(pl_lora *lora, int32_t slot, const float *m_a, const float *v_a, int64_t a_len, const float *m_b,
                         const float *v_b, int64_t b_len, int64_t step);
/* Zeroes a slot's AdamW moments and step (slot = -1: every slot). */
int32_t pl_lora_reset_adam(pl_lora *lora, int32_t slot);
/* Attaches an adapter set to the model for every forward, decode and training call (NULL detaches). Every slot's layer,
   target, rank and in/out sizes are checked against the model; a trainer re-checks them against the shapes it was made for. */
int32_t pl_model_set_lora(pl_model *model, pl_lora *lora);

/* ---- training ---- */

/* Training modes. */
enum pl_train_mode {
    PL_TRAIN_LORA = 0, /* gradients for the trainable factors of the attached adapter; the base stays frozen (any type) */
    PL_TRAIN_FULL = 1  /* gradients for every weight; all weights must be F32 and writable (they are updated in place; a CUDA
                          model trains F32 copies on the device and writes them back to these arrays after every AdamW step) */
};

/* Shape and mode of a trainer. */
typedef struct pl_trainer_params {
    int64_t n_seq;     /* sequences per micro-batch */
    int64_t n_tok;     /* tokens per sequence */
    int32_t mode;      /* enum pl_train_mode */
    int32_t recompute; /* 1: keep only each layer's input and recompute the layer in the backward (less memory) */
} pl_trainer_params;

/* AdamW hyperparameters of one optimizer step (decoupled weight decay). */
typedef struct pl_adamw_params {
    float lr;
    float beta1;
    float beta2;
    float eps;
    float weight_decay;
    float grad_scale; /* multiplies every gradient first (e.g. the clip factor) */
} pl_adamw_params;

/* Creates a trainer; in LORA mode the model must have an adapter attached. */
int32_t pl_trainer_create(pl_model *model, const pl_trainer_params *params, pl_trainer **out);
/* Frees a trainer. NULL is a no-op. */
void pl_trainer_free(pl_trainer *trainer);
/* Zeroes the accumulated gradients. */
int32_t pl_trainer_zero_grad(pl_trainer *trainer);
/* Forward and backward of one micro-batch (tokens and targets n_seq x n_tok, target < 0 ignored): adds grad_scale · ∂(Σ nll)/∂θ
   to the gradients; writes Σ nll and the number of counted targets. Fails with PL_ERR_NUMERIC on a NaN/Inf loss. */
int32_t pl_trainer_accumulate(pl_trainer *trainer, const int32_t *tokens, const int32_t *targets, float grad_scale,
                              double *loss_sum, int64_t *n_targets);
/* The global L2 norm of the accumulated gradients of every trainable parameter (NaN if any is not finite). */
int32_t pl_trainer_grad_norm(pl_trainer *trainer, double *norm);
/* One AdamW step on every trainable parameter with bias correction by each parameter's own step count. Every value of params
   must be finite, lr and weight_decay >= 0, beta1 and beta2 in [0, 1), eps > 0. */
int32_t pl_trainer_adamw_step(pl_trainer *trainer, const pl_adamw_params *params);
/* FULL mode: copies the accumulated gradient of a weight (layer -1 for global ones) into dst (its element count). */
int32_t pl_trainer_get_weight_grad(pl_trainer *trainer, int32_t which, int64_t layer, float *dst, int64_t len);
/* FULL mode on the CPU: the AdamW state of a trained weight (layer -1 for global ones): first and second moments (len floats each,
   the weight's element count; NULL skips) and its step count (NULL skips). A device trainer fails with PL_ERR_UNSUPPORTED; a
   weight that does not train (absent, a bias, RoPE factors) with PL_ERR_STATE. */
int32_t pl_trainer_get_weight_adam(pl_trainer *trainer, int32_t which, int64_t layer, float *m, float *v, int64_t len,
                                   int64_t *step);
/* Restores it (same lengths; NULL leaves that moment; moments finite, v >= 0, step in 0..2^53; all checked before anything is
   copied). With the weights themselves (which the caller owns) this resumes FULL training exactly. */
int32_t pl_trainer_set_weight_adam(pl_trainer *trainer, int32_t which, int64_t layer, const float *m, const float *v, int64_t len,
                                   int64_t step);

#ifdef __cplusplus
}
#endif

#endif /* PANLORA_H */
