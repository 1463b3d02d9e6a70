package io.panlora.model;

import io.panlora.bindings.Native;
import io.panlora.bindings.gen.panlora_h;
import io.panlora.bindings.gen.pl_model_params;
import io.panlora.gguf.GgufException;
import io.panlora.gguf.GgufFile;
import io.panlora.gguf.GgufTensorInfo;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.io.IOException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;

/**
 * A LLaMA-architecture model bound to the native engine. Weights are borrowed zero-copy from their
 * segments (for a GGUF file, its memory mapping), which this object keeps open until {@link #close()}.
 *
 * <p>Owns native resources: the engine's model (on a CUDA device, the uploaded weights), the GGUF mapping or the
 * {@code owner} passed to {@link #fromWeights}, and aligned copies of any misaligned F32 tensors. Close it after every
 * {@link KvCache}, adapter set or trainer made from it. A LoRA adapter set attached to the model
 * ({@link io.panlora.lora.LoraSet#attach()}) takes part in every forward, NLL and decoding call.
 *
 * <p>The class does no locking: use a model from one thread at a time (the engine parallelises each call itself, see
 * {@link #setThreads}).
 */
public final class LlamaModel implements AutoCloseable {
    /**
     * The tensor types the engine can run (it dequantizes the quantized ones on the fly): F32, F16, BF16, Q4_0, Q4_1,
     * Q5_0, Q5_1, Q8_0 and the K-quants Q2_K..Q6_K. A model whose LLaMA weights ({@link WeightKind}) include any other type
     * is refused when bound.
     */
    public static final java.util.Set<io.panlora.gguf.GgmlType> RUNNABLE = java.util.Collections.unmodifiableSet(java.util.EnumSet.of(
            io.panlora.gguf.GgmlType.F32, io.panlora.gguf.GgmlType.F16, io.panlora.gguf.GgmlType.BF16, io.panlora.gguf.GgmlType.Q4_0,
            io.panlora.gguf.GgmlType.Q4_1, io.panlora.gguf.GgmlType.Q5_0, io.panlora.gguf.GgmlType.Q5_1, io.panlora.gguf.GgmlType.Q8_0,
            io.panlora.gguf.GgmlType.Q2_K, io.panlora.gguf.GgmlType.Q3_K, io.panlora.gguf.GgmlType.Q4_K, io.panlora.gguf.GgmlType.Q5_K,
            io.panlora.gguf.GgmlType.Q6_K));

    /** The most CPU threads a model may be given ({@code pl_model_set_threads}). */
    public static final int MAX_THREADS = 1024;

    private final LlamaConfig config;
    private final Map<String, WeightTensor> weights;
    private final MemorySegment handle;
    private final AutoCloseable owner;
    private final GgufFile gguf;
    private final LoadOptions options;
    private boolean closed;

    /**
     * Where a model runs, how a CUDA model holds its base weights, and how many CPU threads its calls use.
     *
     * @param device    the CPU or a CUDA device
     * @param placement the weights of a CUDA model (ignored on the CPU)
     * @param threads   CPU threads of this model's forward, decoding and training calls (1..1024), or 0: the engine's
     *                  process-wide count ({@link Native#setThreads}, by default all usable cores). Other models are not
     *                  affected.
     */
    public record LoadOptions(Device device, WeightPlacement placement, int threads) {
        /**
         * Checks the options.
         *
         * @param device    the CPU or a CUDA device
         * @param placement how a CUDA model holds its base weights
         * @param threads   this model's CPU threads, 1..{@link #MAX_THREADS}, or 0 for the process-wide count
         * @throws NullPointerException     if {@code device} or {@code placement} is null
         * @throws IllegalArgumentException if {@code threads} is outside 0..{@link #MAX_THREADS}
         */
        public LoadOptions {
            java.util.Objects.requireNonNull(device, "device");
            java.util.Objects.requireNonNull(placement, "placement");
            if (threads < 0 || threads > MAX_THREADS)
                throw new IllegalArgumentException("threads must be 0 (the engine's default) or 1.." + MAX_THREADS + ", got " + threads);
        }

        /**
         * Options with the engine's process-wide thread count (threads 0).
         *
         * @param device    the CPU or a CUDA device
         * @param placement how a CUDA model holds its base weights (ignored on the CPU)
         * @throws NullPointerException if either argument is null
         */
        public LoadOptions(Device device, WeightPlacement placement) {
            this(device, placement, 0);
        }

        /**
         * A copy with another thread count.
         *
         * @param n this model's own CPU thread count, 1..{@link #MAX_THREADS}, or 0 for the process-wide one
         * @return new options with the same device and placement
         * @throws IllegalArgumentException if {@code n} is outside 0..{@link #MAX_THREADS}
         */
        public LoadOptions withThreads(int n) { return new LoadOptions(device, placement, n); }

        /**
         * Options for the CPU.
         *
         * @return the CPU, placement {@link WeightPlacement#AUTO} (unused there), the process-wide thread count
         */
        public static LoadOptions cpu() { return new LoadOptions(Device.CPU, WeightPlacement.AUTO); }

        /**
         * Options for a device with the default placement.
         *
         * @param device the CPU or a CUDA device
         * @return the device with placement {@link WeightPlacement#AUTO} and the process-wide thread count
         * @throws NullPointerException if {@code device} is null
         */
        public static LoadOptions on(Device device) { return new LoadOptions(device, WeightPlacement.AUTO); }

        /**
         * A copy with another weight placement.
         *
         * @param p how a CUDA model holds its base weights (ignored on the CPU)
         * @return new options with the same device and thread count
         * @throws NullPointerException if {@code p} is null
         */
        public LoadOptions withPlacement(WeightPlacement p) { return new LoadOptions(device, p, threads); }

        /**
         * A short description for messages; the thread count is left out.
         *
         * @return {@code cpu}, or e.g. {@code cuda:0 (weights auto)}
         */
        @Override
        public String toString() { return device.isCpu() ? "cpu" : device + " (weights " + placement + ")"; }
    }

    /**
     * Device memory as the engine reports it for a CUDA model's device, in bytes (all 0 on the CPU).
     *
     * @param used  bytes the engine holds on the device now: weights, KV caches, trainers and adapters of every model on
     *              that device, not only this one
     * @param peak  the largest {@code used} since the process started
     * @param total the device's total memory
     */
    public record DeviceMemory(long used, long peak, long total) {}

    private LlamaModel(LlamaConfig config, Map<String, WeightTensor> weights, MemorySegment handle,
                       AutoCloseable owner, GgufFile gguf, LoadOptions options) {
        this.config = config;
        this.weights = weights;
        this.handle = handle;
        this.owner = owner;
        this.gguf = gguf;
        this.options = options;
    }

    /**
     * Opens a GGUF model on the CPU: maps the file, reads the config and binds every weight (validated by the engine). The
     * file stays mapped, and must not be changed, until the model is closed.
     *
     * @param path the GGUF file
     * @return the model; close it
     * @throws IOException   if the file cannot be opened or mapped
     * @throws GgufException if the file is not a valid GGUF model panlora can run: see
     *                       {@link #load(Path, LoadOptions)}
     */
    public static LlamaModel load(Path path) throws IOException {
        return load(path, LoadOptions.cpu());
    }

    /**
     * Opens a GGUF model on a device with the default weight placement ({@link WeightPlacement#AUTO}) and the process-wide
     * thread count.
     *
     * @param path   the GGUF file
     * @param device the CPU or a usable CUDA device
     * @return the model; close it
     * @throws IOException   if the file cannot be opened or mapped
     * @throws GgufException if the file is not a valid GGUF model panlora can run
     * @throws IllegalStateException if the CUDA device is not usable
     */
    public static LlamaModel load(Path path, Device device) throws IOException {
        return load(path, LoadOptions.on(device));
    }

    /**
     * Opens a GGUF model on a device: the file stays mapped (the weights are borrowed from the mapping; a CUDA model uploads
     * them when it is validated). The config comes from {@link LlamaConfig#fromGguf}; every tensor is bound by name, and
     * tensors that are not LLaMA weights are kept in {@link #weights()} but not used. On failure the file is closed again.
     *
     * @param path    the GGUF file
     * @param options device, weight placement and thread count
     * @return the model; close it
     * @throws IOException   if the file cannot be opened or mapped
     * @throws GgufException if the metadata is bad or unsupported (see {@link LlamaConfig#fromGguf}), a
     *                       required tensor is missing, or a tensor's type is not in {@link #RUNNABLE}
     * @throws IllegalStateException if the CUDA device is not usable
     * @throws io.panlora.bindings.PanloraException if the engine refuses a tensor's shape or size, or runs out of memory
     *                       (for example on the device)
     */
    public static LlamaModel load(Path path, LoadOptions options) throws IOException {
        GgufFile f = GgufFile.open(path);
        try {
            LlamaConfig cfg = LlamaConfig.fromGguf(f);
            Map<String, WeightTensor> w = new HashMap<>();
            for (GgufTensorInfo t : f.tensors()) {
                long ne1 = 1;
                for (int i = 1; i < t.ne().length; i++) ne1 *= t.ne()[i];
                w.put(t.name(), new WeightTensor(t.type(), t.ne()[0], ne1, f.tensorData(t)));
            }
            return bind(cfg, w, f, f, path.toString(), options);
        } catch (RuntimeException e) {
            f.close();
            throw e;
        }
    }

    /**
     * Binds a CPU model from weights by GGUF name ({@code token_embd.weight}, {@code blk.0.attn_q.weight}, …).
     * {@code owner} (may be null) is closed with the model: it owns the weights' memory.
     *
     * @param cfg     the hyperparameters; every weight's shape must match {@link WeightKind#shape}
     * @param weights the tensors by GGUF name (the map is copied; the segments are borrowed and must stay alive while the
     *                model is open); {@code output.weight} may be absent (tied to the embeddings), as may biases and
     *                {@code rope_freqs.weight}
     * @param owner   closed by {@link #close()} after the engine's model is freed, or null when the caller keeps the
     *                memory alive itself. It is not closed when binding fails
     * @return the model; close it
     * @throws GgufException if a required weight is missing or of a type not in {@link #RUNNABLE}
     * @throws io.panlora.bindings.PanloraException if the engine refuses a shape, a size or the config
     */
    public static LlamaModel fromWeights(LlamaConfig cfg, Map<String, WeightTensor> weights, AutoCloseable owner) {
        return fromWeights(cfg, weights, owner, LoadOptions.cpu());
    }

    /**
     * As {@link #fromWeights(LlamaConfig, Map, AutoCloseable)}, on a device (default weight placement, process-wide
     * thread count).
     *
     * @param cfg     the hyperparameters
     * @param weights the tensors by GGUF name (borrowed)
     * @param owner   closed with the model, or null
     * @param device  the CPU or a usable CUDA device
     * @return the model; close it
     * @throws GgufException if a required weight is missing or of a type not in {@link #RUNNABLE}
     * @throws IllegalStateException if the CUDA device is not usable
     * @throws io.panlora.bindings.PanloraException if the engine refuses a shape, a size or the config
     */
    public static LlamaModel fromWeights(LlamaConfig cfg, Map<String, WeightTensor> weights, AutoCloseable owner, Device device) {
        return fromWeights(cfg, weights, owner, LoadOptions.on(device));
    }

    /**
     * As {@link #fromWeights(LlamaConfig, Map, AutoCloseable)}, on a device with a weight placement and thread count.
     *
     * @param cfg     the hyperparameters
     * @param weights the tensors by GGUF name (borrowed)
     * @param owner   closed with the model, or null
     * @param options device, weight placement and thread count
     * @return the model; close it
     * @throws GgufException if a required weight is missing or of a type not in {@link #RUNNABLE}
     * @throws IllegalStateException if the CUDA device is not usable
     * @throws io.panlora.bindings.PanloraException if the engine refuses a shape, a size or the config, or runs out of
     *                                             memory
     */
    public static LlamaModel fromWeights(LlamaConfig cfg, Map<String, WeightTensor> weights, AutoCloseable owner, LoadOptions options) {
        return bind(cfg, new HashMap<>(weights), owner, null, "model", options);
    }

    private static LlamaModel bind(LlamaConfig cfg, Map<String, WeightTensor> w, AutoCloseable owner, GgufFile gguf, String where,
                                   LoadOptions options) {
        Native.ensureLoaded();
        options.device().checkUsable(); // a CUDA device without a usable GPU: the engine's reason, in one clean sentence
        MemorySegment handle;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = pl_model_params.allocate(a);
            pl_model_params.n_vocab(p, cfg.nVocab());
            pl_model_params.n_embd(p, cfg.nEmbd());
            pl_model_params.n_layer(p, cfg.nLayer());
            pl_model_params.n_head(p, cfg.nHead());
            pl_model_params.n_head_kv(p, cfg.nHeadKv());
            pl_model_params.head_dim(p, cfg.headDim());
            pl_model_params.n_ff(p, cfg.nFf());
            pl_model_params.n_ctx_train(p, cfg.nCtxTrain());
            pl_model_params.n_rot(p, cfg.nRot());
            pl_model_params.rope_freq_base(p, cfg.ropeFreqBase());
            pl_model_params.rope_freq_scale(p, cfg.ropeFreqScale());
            pl_model_params.norm_eps(p, cfg.normEps());
            pl_model_params.rope_type(p, cfg.ropeType());
            MemorySegment out = a.allocate(ValueLayout.ADDRESS);
            Native.check(panlora_h.pl_model_create_on(p, options.device().engineId(), out), options.device().isCpu() ? where + ": pl_model_create" : where + " on " + options.device());
            handle = out.get(ValueLayout.ADDRESS, 0);
        }
        // F32 data the engine reads as floats must be 4-byte aligned; a file with general.alignment 1 or 2 can place an F32
        // tensor off that: such tensors are copied once into aligned memory that lives as long as the model
        Arena realigned = null;
        for (var e : w.entrySet()) {
            WeightTensor t = e.getValue();
            if (t.type() != io.panlora.gguf.GgmlType.F32 || t.data().address() % 4 == 0) continue;
            if (realigned == null) realigned = Arena.ofShared();
            MemorySegment copy = realigned.allocate(t.data().byteSize(), 64);
            copy.copyFrom(t.data());
            e.setValue(new WeightTensor(t.type(), t.ne0(), t.ne1(), copy));
        }
        if (realigned != null) {
            Arena copies = realigned;
            AutoCloseable first = owner;
            owner = () -> {
                try {
                    if (first != null) first.close();
                } finally {
                    copies.close();
                }
            };
        }
        try {
            if (options.threads() > 0) Native.check(panlora_h.pl_model_set_threads(handle, options.threads()), where + ": threads");
            if (options.device().isCuda())
                Native.check(panlora_h.pl_model_set_placement(handle, options.placement().engineId()), where + ": weight placement " + options.placement());
            for (WeightKind k : WeightKind.values()) {
                long layers = k.perLayer ? cfg.nLayer() : 1;
                for (long l = 0; l < layers; l++) {
                    String name = k.ggufName(l);
                    WeightTensor t = w.get(name);
                    if (t == null) {
                        if (k.required) throw new GgufException(where + ": tensor " + name + " is missing");
                        continue;
                    }
                    if (!RUNNABLE.contains(t.type()))
                        throw new GgufException(where + ": tensor " + name + " is " + t.type() + ", a type panlora cannot run (supported: "
                                + RUNNABLE + "); requantize the model, e.g. to Q4_K or Q8_0");
                    Native.check(panlora_h.pl_model_set_weight(handle, k.id, k.perLayer ? l : -1, t.type().id(),
                            t.ne0(), t.ne1(), t.data(), t.data().byteSize()), where + ": tensor " + name);
                }
            }
            Native.check(panlora_h.pl_model_validate(handle), options.device().isCuda() ? where + " on " + options : where);
        } catch (RuntimeException e) {
            panlora_h.pl_model_free(handle);
            if (realigned != null) realigned.close();
            throw e;
        }
        return new LlamaModel(cfg, w, handle, owner, gguf, options);
    }

    /**
     * The hyperparameters the model was bound with.
     *
     * @return the config (immutable)
     */
    public LlamaConfig config() { return config; }

    /**
     * The device the model runs on.
     *
     * @return the CPU or the CUDA device given at load time
     */
    public Device device() { return options.device(); }

    /**
     * The options the model was created with; a later {@link #setThreads} is not reflected here (see {@link #threads()}).
     *
     * @return the device, weight placement and thread count given at load time
     */
    public LoadOptions loadOptions() { return options; }

    /**
     * Sets the CPU threads of this model's calls (1..{@link #MAX_THREADS}), or 0 for the engine's process-wide count; no other
     * model, and nothing else in the JVM, is affected. Results are bit-identical for any count.
     *
     * @param n the thread count, 0..{@link #MAX_THREADS}
     * @throws IllegalArgumentException if {@code n} is outside 0..{@link #MAX_THREADS}
     * @throws IllegalStateException    if the model is closed
     */
    public void setThreads(int n) {
        if (n < 0 || n > MAX_THREADS) throw new IllegalArgumentException("threads must be 0 or 1.." + MAX_THREADS + ", got " + n);
        Native.check(panlora_h.pl_model_set_threads(handle(), n), "pl_model_set_threads");
    }

    /**
     * This model's own CPU thread count, as last set.
     *
     * @return 1..{@link #MAX_THREADS}, or 0 when the model follows the engine's process-wide count
     * @throws IllegalStateException if the model is closed
     */
    public int threads() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment n = a.allocate(ValueLayout.JAVA_INT);
            Native.check(panlora_h.pl_model_get_threads(handle(), n), "pl_model_get_threads");
            return n.get(ValueLayout.JAVA_INT, 0);
        }
    }

    /**
     * Device memory on this model's CUDA device, as the engine counts it.
     *
     * @return the bytes the engine holds on that device now (for every model there, not only this one), the peak since the
     *         process started, and the device's total; all 0 on the CPU
     * @throws IllegalStateException if the model is closed
     */
    public DeviceMemory deviceMemory() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment u = a.allocate(ValueLayout.JAVA_LONG), p = a.allocate(ValueLayout.JAVA_LONG), t = a.allocate(ValueLayout.JAVA_LONG);
            Native.check(panlora_h.pl_model_device_memory(handle(), u, p, t), "pl_model_device_memory");
            return new DeviceMemory(u.get(ValueLayout.JAVA_LONG, 0), p.get(ValueLayout.JAVA_LONG, 0), t.get(ValueLayout.JAVA_LONG, 0));
        }
    }

    /**
     * The GGUF file the model was loaded from. It is closed with the model: do not close it yourself.
     *
     * @return the open file for a model from {@link #load(Path)} and its overloads; empty for one from {@link #fromWeights}
     */
    public Optional<GgufFile> gguf() { return Optional.ofNullable(gguf); }

    /**
     * The tensors the model was bound from, by GGUF name. The segments are borrowed: valid only while the model is open.
     * Misaligned F32 tensors appear as their aligned copies. The map is the model's own: do not modify it.
     *
     * @return the tensors by name, including any that are not LLaMA weights
     */
    public Map<String, WeightTensor> weights() { return weights; }

    /**
     * Whether {@link #close()} was called.
     *
     * @return true once the model is closed
     */
    public boolean isClosed() { return closed; }

    /**
     * The engine's {@code pl_model *}, for engine calls in other panlora packages; not meant for applications.
     *
     * @return the native handle, valid until {@link #close()}
     * @throws IllegalStateException if the model is closed
     */
    public MemorySegment handle() {
        if (closed) throw new IllegalStateException("model is closed");
        return handle;
    }

    /**
     * Sets (or clears, with null) a dense F32 correction Δ of a block's linear, out×in row-major: the layer then computes
     * (W + Δ) x, forward and backward, Δ frozen. The segment must stay alive while it is set. On the CPU it is borrowed, so
     * later changes to it take effect; a CUDA model copies it at this call (call again after changing it).
     *
     * @param kind  a per-layer linear weight ({@link WeightKind#ATTN_Q} .. {@link WeightKind#FFN_DOWN}, not a norm)
     * @param layer the block, 0 .. n_layer−1
     * @param delta out × in F32 values (out, in as in {@link WeightKind#shape}: in = ne0, out = ne1), or null to clear
     * @throws io.panlora.bindings.PanloraException if the engine refuses the kind, the layer or the length
     * @throws IllegalStateException if the model is closed
     */
    public void setDelta(WeightKind kind, int layer, MemorySegment delta) {
        long[] sh = kind.shape(config);
        Native.check(panlora_h.pl_model_set_delta(handle(), kind.id, layer, delta == null ? MemorySegment.NULL : delta,
                delta == null ? 0 : delta.byteSize() / 4), "dense correction of blk." + layer + "." + kind.suffix + " " + sh[0] + "x" + sh[1]);
    }

    /**
     * Logits of every position of every sequence, from a full forward pass (positions 0 .. n_tok−1 of each sequence, no
     * cache). Memory grows with n_seq · n_tok · n_vocab floats.
     *
     * @param tokens [n_seq][n_tok] token ids; at least one sequence, all of the same length
     * @return [n_seq][n_tok][n_vocab] raw logits, flattened row-major
     * @throws IllegalArgumentException if the sequences differ in length
     * @throws io.panlora.bindings.PanloraException if a token id is out of range or a length exceeds the engine's limits
     * @throws IllegalStateException if the model is closed
     */
    public float[] logits(int[][] tokens) {
        requireBatch(tokens);
        int nSeq = tokens.length, nTok = tokens[0].length;
        long nV = config.nVocab();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment tok = flatten(a, tokens);
            long len = (long) nSeq * nTok * nV;
            MemorySegment out = a.allocate(ValueLayout.JAVA_FLOAT, len);
            Native.check(panlora_h.pl_model_forward(handle(), tok, nSeq, nTok, out, len), "forward");
            return out.toArray(ValueLayout.JAVA_FLOAT);
        }
    }

    /**
     * Per-token negative log-likelihood of targets given tokens: {@code nll[s][t] = −log softmax(logits[s][t])[targets[s][t]]},
     * in nats.
     *
     * @param tokens  [n_seq][n_tok] token ids; at least one sequence, all of the same length
     * @param targets [n_seq][n_tok], the same shape as {@code tokens} (not checked: pass exactly that shape); a
     *                negative target is ignored and scores 0
     * @return [n_seq][n_tok] NLLs flattened row-major, 0 at ignored positions
     * @throws IllegalArgumentException if the rows of either array differ in length
     * @throws io.panlora.bindings.PanloraException if a token or target id is out of range
     * @throws IllegalStateException if the model is closed
     */
    public float[] nll(int[][] tokens, int[][] targets) {
        requireBatch(tokens);
        int nSeq = tokens.length, nTok = tokens[0].length;
        if (targets.length != nSeq || targets[0].length != nTok)
            throw new IllegalArgumentException("targets must have the shape of tokens (" + nSeq + " x " + nTok + "), got "
                    + targets.length + " x " + (targets.length == 0 ? 0 : targets[0].length));
        try (Arena a = Arena.ofConfined()) {
            MemorySegment tok = flatten(a, tokens), tgt = flatten(a, targets);
            MemorySegment out = a.allocate(ValueLayout.JAVA_FLOAT, (long) nSeq * nTok);
            Native.check(panlora_h.pl_model_nll(handle(), tok, tgt, nSeq, nTok, out), "nll");
            return out.toArray(ValueLayout.JAVA_FLOAT);
        }
    }

    private static void requireBatch(int[][] tokens) {
        if (tokens.length == 0 || tokens[0].length == 0) throw new IllegalArgumentException("no tokens: give at least one sequence of one token");
    }

    static MemorySegment flatten(Arena a, int[][] rows) {
        int n = rows[0].length;
        MemorySegment s = a.allocate(ValueLayout.JAVA_INT, (long) rows.length * n);
        for (int i = 0; i < rows.length; i++) {
            if (rows[i].length != n) throw new IllegalArgumentException("all sequences must have the same length");
            MemorySegment.copy(rows[i], 0, s, ValueLayout.JAVA_INT, (long) i * n * 4, n);
        }
        return s;
    }

    /**
     * A new KV cache for incremental decoding of one sequence (memory for n_layer · nCtx · n_head_kv · head_dim keys and as
     * many values, on the model's device).
     *
     * @param nCtx the capacity in positions, 1..{@link LlamaConfig#MAX_CTX}; it may exceed the training context
     * @return the cache; close it before the model
     * @throws io.panlora.bindings.PanloraException if {@code nCtx} is out of range or memory runs out
     * @throws IllegalStateException if the model is closed
     */
    public KvCache newKvCache(int nCtx) {
        return new KvCache(this, nCtx);
    }

    /**
     * Frees the engine's model and then closes the weights' owner (the GGUF mapping, or the {@code owner} given to
     * {@link #fromWeights}). Idempotent. Caches, adapter sets and trainers of the model must be closed first.
     *
     * @throws IllegalStateException if closing the owner fails (the engine's model is freed regardless)
     */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        panlora_h.pl_model_free(handle);
        if (owner != null) {
            try {
                owner.close();
            } catch (Exception e) {
                throw new IllegalStateException("closing the model's weights failed", e);
            }
        }
    }
}
