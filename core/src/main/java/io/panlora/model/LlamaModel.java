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
 */
public final class LlamaModel implements AutoCloseable {
    /** The weight types the engine computes with (dequantizes). */
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
        public LoadOptions {
            java.util.Objects.requireNonNull(device, "device");
            java.util.Objects.requireNonNull(placement, "placement");
            if (threads < 0 || threads > MAX_THREADS)
                throw new IllegalArgumentException("threads must be 0 (the engine's default) or 1.." + MAX_THREADS + ", got " + threads);
        }

        /** With the engine's process-wide thread count. */
        public LoadOptions(Device device, WeightPlacement placement) {
            this(device, placement, 0);
        }

        /** The same with this model's own CPU thread count (0: the process-wide one). */
        public LoadOptions withThreads(int n) { return new LoadOptions(device, placement, n); }

        /** The CPU. */
        public static LoadOptions cpu() { return new LoadOptions(Device.CPU, WeightPlacement.AUTO); }

        /** A device with the default placement (AUTO). */
        public static LoadOptions on(Device device) { return new LoadOptions(device, WeightPlacement.AUTO); }

        public LoadOptions withPlacement(WeightPlacement p) { return new LoadOptions(device, p, threads); }

        @Override
        public String toString() { return device.isCpu() ? "cpu" : device + " (weights " + placement + ")"; }
    }

    /** Device memory of a CUDA model in bytes: held now, the peak since creation, and the device's total (all 0 on the CPU). */
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

    /** Opens a GGUF model on the CPU: maps the file, reads the config and binds every weight (validated by the engine). */
    public static LlamaModel load(Path path) throws IOException {
        return load(path, LoadOptions.cpu());
    }

    /** Opens a GGUF model on a device (default weight placement). */
    public static LlamaModel load(Path path, Device device) throws IOException {
        return load(path, LoadOptions.on(device));
    }

    /**
     * Opens a GGUF model on a device: the file stays mapped (the weights are borrowed from the mapping; a CUDA model uploads
     * them when it is validated).
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
     * Binds a model from weights by GGUF name ({@code token_embd.weight}, {@code blk.0.attn_q.weight}, …).
     * {@code owner} (may be null) is closed with the model: it owns the weights' memory.
     */
    public static LlamaModel fromWeights(LlamaConfig cfg, Map<String, WeightTensor> weights, AutoCloseable owner) {
        return fromWeights(cfg, weights, owner, LoadOptions.cpu());
    }

    /** As {@link #fromWeights(LlamaConfig, Map, AutoCloseable)}, on a device (default weight placement). */
    public static LlamaModel fromWeights(LlamaConfig cfg, Map<String, WeightTensor> weights, AutoCloseable owner, Device device) {
        return fromWeights(cfg, weights, owner, LoadOptions.on(device));
    }

    /** As {@link #fromWeights(LlamaConfig, Map, AutoCloseable)}, on a device with a weight placement. */
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

    public LlamaConfig config() { return config; }

    /** The device the model runs on. */
    public Device device() { return options.device(); }

    /** The device, weight placement and thread count the model was created with. */
    public LoadOptions loadOptions() { return options; }

    /**
     * Sets the CPU threads of this model's calls (1..{@link #MAX_THREADS}), or 0 for the engine's process-wide count; no other
     * model, and nothing else in the JVM, is affected. Results are bit-identical for any count.
     */
    public void setThreads(int n) {
        if (n < 0 || n > MAX_THREADS) throw new IllegalArgumentException("threads must be 0 or 1.." + MAX_THREADS + ", got " + n);
        Native.check(panlora_h.pl_model_set_threads(handle(), n), "pl_model_set_threads");
    }

    /** This model's own CPU thread count, or 0 when it follows the engine's process-wide count. */
    public int threads() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment n = a.allocate(ValueLayout.JAVA_INT);
            Native.check(panlora_h.pl_model_get_threads(handle(), n), "pl_model_get_threads");
            return n.get(ValueLayout.JAVA_INT, 0);
        }
    }

    /** Device memory the engine holds for this model now, its peak since creation, and the device's total (0 on the CPU). */
    public DeviceMemory deviceMemory() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment u = a.allocate(ValueLayout.JAVA_LONG), p = a.allocate(ValueLayout.JAVA_LONG), t = a.allocate(ValueLayout.JAVA_LONG);
            Native.check(panlora_h.pl_model_device_memory(handle(), u, p, t), "pl_model_device_memory");
            return new DeviceMemory(u.get(ValueLayout.JAVA_LONG, 0), p.get(ValueLayout.JAVA_LONG, 0), t.get(ValueLayout.JAVA_LONG, 0));
        }
    }

    /** The GGUF file the model was loaded from, if any. */
    public Optional<GgufFile> gguf() { return Optional.ofNullable(gguf); }

    /** The weights by GGUF name (borrowed segments). */
    public Map<String, WeightTensor> weights() { return weights; }

    /** Whether {@link #close()} was called. */
    public boolean isClosed() { return closed; }

    /** The native handle (for engine calls in other packages). */
    public MemorySegment handle() {
        if (closed) throw new IllegalStateException("model is closed");
        return handle;
    }

    /**
     * Sets (or clears, with null) a dense F32 correction Δ of a block's linear, out×in row-major: the layer then computes
     * (W + Δ) x, forward and backward, Δ frozen. The segment must stay alive while it is set.
     */
    public void setDelta(WeightKind kind, int layer, MemorySegment delta) {
        long[] sh = kind.shape(config);
        Native.check(panlora_h.pl_model_set_delta(handle(), kind.id, layer, delta == null ? MemorySegment.NULL : delta,
                delta == null ? 0 : delta.byteSize() / 4), "dense correction of blk." + layer + "." + kind.suffix + " " + sh[0] + "x" + sh[1]);
    }

    /** Logits of every position of every sequence: [n_seq][n_tok][n_vocab] flattened. All sequences have the same length. */
    public float[] logits(int[][] tokens) {
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

    /** Per-token negative log-likelihood of targets (−1 = ignored) given tokens; both [n_seq][n_tok]. */
    public float[] nll(int[][] tokens, int[][] targets) {
        int nSeq = tokens.length, nTok = tokens[0].length;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment tok = flatten(a, tokens), tgt = flatten(a, targets);
            MemorySegment out = a.allocate(ValueLayout.JAVA_FLOAT, (long) nSeq * nTok);
            Native.check(panlora_h.pl_model_nll(handle(), tok, tgt, nSeq, nTok, out), "nll");
            return out.toArray(ValueLayout.JAVA_FLOAT);
        }
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

    /** A new KV cache for incremental decoding of up to nCtx positions. */
    public KvCache newKvCache(int nCtx) {
        return new KvCache(this, nCtx);
    }

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
