package io.panlora.cli;

import io.panlora.bindings.Native;
import io.panlora.gguf.GgufFile;
import io.panlora.gguf.GgufTensorInfo;
import io.panlora.lora.Target;
import io.panlora.model.LlamaConfig;
import io.panlora.model.LlamaModel;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * What a command will allocate, computed from the GGUF header and the flags before anything is loaded: the base weights (as
 * the file holds them, memory-mapped on the CPU), the native trainer's activations and gradients for batch × context (the
 * same buffers {@code pl_trainer_create} in native/src/train.c allocates), the KV cache and workspace of inference, the
 * adapters with their gradients and AdamW moments, and the data pipeline's Java arrays. {@link #check} refuses in one
 * sentence when the native part exceeds MemAvailable (or {@code --max-memory}) or the Java part the heap limit.
 *
 * @param nativeBytes host memory outside the Java heap, weights included
 * @param weightBytes the base weights' part of it
 * @param heapBytes   Java arrays (the data pipeline)
 * @param what        what is planned, for the message
 */
record MemoryPlan(double nativeBytes, double weightBytes, double heapBytes, String what) {
    private static final double F = 4; // bytes per F32

    /** A LoRA training run on the CPU (on CUDA the activations live on the GPU and only the weights are planned here). */
    static MemoryPlan forTraining(Path model, LlamaModel.LoadOptions where, int rank, String targets, int batch, int ctx,
                                  boolean recompute, Path data, Path val) throws IOException {
        try (GgufFile f = GgufFile.open(model)) {
            LlamaConfig c = LlamaConfig.fromGguf(f);
            double weights = weightBytes(f);
            List<Target> ts = Target.parseList(targets);
            double adapters = 0, slotU = 0;
            for (Target t : ts) {
                adapters += c.nLayer() * 16.0 * rank * (t.in(c) + t.out(c)); // A, B, their gradients and both moments
                slotU += c.nLayer() * (double) batch * ctx * rank * F;
            }
            double acts = where.device().isCpu() ? trainerBytes(c, batch, ctx, rank, recompute) + slotU : 0;
            double heap = dataBytes(data) + dataBytes(val) + 2.0 * batch * ctx * 4 * 2;
            return new MemoryPlan(weights + acts + adapters, weights, heap,
                    "training with --batch " + batch + " --ctx " + ctx + " --rank " + rank);
        }
    }

    /**
     * A full-parameter run (--full): the base file (mapped; its tensors are also read once more at the export), F32 copies of
     * every weight the engine uses (what trains, in memory the run owns), and on the CPU the trainer's activations for batch ×
     * context plus a gradient and two AdamW moments in F32 per trained weight (every matrix and norm; biases and RoPE factors
     * stay fixed). On CUDA the trainer lives on the GPU: only the file and the F32 host copies are planned here.
     * {@link #weightBytes} holds the file and the F32 copies.
     */
    static MemoryPlan forFullTraining(Path model, LlamaModel.LoadOptions where, int batch, int ctx, boolean recompute, Path data,
                                      Path val) throws IOException {
        try (GgufFile f = GgufFile.open(model)) {
            LlamaConfig c = LlamaConfig.fromGguf(f);
            double file = weightBytes(f), copies = 0, trained = 0;
            for (GgufTensorInfo t : f.tensors()) {
                io.panlora.model.WeightKind k = weightKind(t.name());
                if (k == null) continue;
                double n = 1;
                for (long d : t.ne()) n *= d;
                copies += F * n;
                if (k.trainsInFullMode()) trained += n;
            }
            double trainer = where.device().isCpu() ? trainerBytes(c, batch, ctx, 0, recompute) + 3 * F * trained : 0;
            double heap = dataBytes(data) + dataBytes(val) + 2.0 * batch * ctx * 4 * 2;
            return new MemoryPlan(file + copies + trainer, file + copies, heap,
                    "full-parameter training (--full) with --batch " + batch + " --ctx " + ctx);
        }
    }

    /** The engine weight a GGUF tensor name stands for, or null. */
    private static io.panlora.model.WeightKind weightKind(String name) {
        for (io.panlora.model.WeightKind k : io.panlora.model.WeightKind.values()) {
            if (!k.perLayer && name.equals(k.suffix)) return k;
            if (k.perLayer && name.startsWith("blk.") && name.endsWith("." + k.suffix)) return k;
        }
        return null;
    }

    /**
     * Inference on the CPU (native/src/forward.c): perplexity and eval score {@code seqs} windows of {@code ctx} tokens at a
     * time (pl_model_nll: the residual stream, one block's workspace, keys and values for those tokens, logits 256 rows at a
     * time); generate ({@code seqs} = 0) holds a KV cache of {@code ctx} positions and decodes a prompt of up to ctx tokens
     * through the same workspace. Attention scores are per-thread scratch of ctx × ctx floats. On CUDA only the weights are
     * planned here (the rest lives on the GPU). A negative ctx stands for the smaller of -ctx and the model's training context
     * (what generate and perplexity then use).
     */
    static MemoryPlan forInference(Path model, LlamaModel.LoadOptions where, long seqs, long ctx, Path text) throws IOException {
        try (GgufFile f = GgufFile.open(model)) {
            LlamaConfig c = LlamaConfig.fromGguf(f);
            if (ctx < 0) ctx = Math.min(-ctx, Math.max(2, c.nCtxTrain()));
            long n = seqs * ctx;
            double weights = weightBytes(f);
            double rest = where.device().isCpu() ? inferenceBytes(c, n, ctx, Native.threads()) : 0;
            return new MemoryPlan(weights + rest, weights, dataBytes(text) + n * 8.0,
                    n == 0 ? "a context of " + ctx + " tokens" : "scoring " + seqs + " windows of " + ctx + " tokens at a time");
        }
    }

    /** The native bytes of inference beside the weights (see {@link #forInference}). */
    static double inferenceBytes(LlamaConfig c, long n, long ctx, int threads) {
        double d = c.nEmbd(), ff = c.nFf(), v = c.nVocab(), q = c.nHead() * c.headDim(), kvd = c.nHeadKv() * c.headDim();
        double tokens = n == 0 ? ctx : n; // generate: the prompt, up to a full context, goes through at once
        double ws = tokens * (d + 2 * d + 2 * q + 2 * ff + LORA_RANK_ALLOWANCE);
        double kv = n == 0 ? 2.0 * c.nLayer() * ctx * kvd : 2 * tokens * kvd;
        double head = Math.min(tokens, 256) * (d + v);
        double scores = Math.max(1, Math.min(threads, (tokens / ctx) * c.nHead())) * 1.25 * ctx * ctx;
        return F * (ws + kv + head + scores);
    }

    /** Floats per token reserved for the LoRA workspace of inference (a rank-64 adapter; higher ranks are rare at inference). */
    private static final double LORA_RANK_ALLOWANCE = 64;

    /** The bytes pl_trainer_create allocates on the CPU (native/src/train.c), without the per-slot buffers. */
    static double trainerBytes(LlamaConfig c, long batch, long ctx, long rank, boolean recompute) {
        double n = (double) batch * ctx, d = c.nEmbd(), ff = c.nFf(), v = c.nVocab(), r = Math.max(1, rank);
        double q = c.nHead() * c.headDim(), kv = c.nHeadKv() * c.headDim();
        double saved = recompute ? 1 : c.nLayer();
        double perSaved = n * (4 * d + 2 + 2 * q + 3 * ff + r + 2 * kv) + (double) batch * c.nHead() * ctx * ctx;
        double global = n * (4 * d + 1 + 2 * q + 2 * kv + 3 * ff + r) + Math.min(n, 256) * v;
        return F * (c.nLayer() * n * d + saved * perSaved + global);
    }

    private static double weightBytes(GgufFile f) {
        double b = 0;
        for (GgufTensorInfo t : f.tensors()) b += t.nbytes();
        return b;
    }

    /** A data file read into the heap: its bytes, the decoded text, tokens and windows (a generous multiple of its size). */
    private static double dataBytes(Path p) throws IOException {
        return p == null || !Files.isRegularFile(p) ? 0 : 16.0 * Files.size(p);
    }

    /** Refuses when the plan exceeds maxMemory (null: MemAvailable) or the Java heap limit. */
    void check(Long maxMemory) {
        double limit;
        String source;
        if (maxMemory != null) {
            limit = maxMemory;
            source = "--max-memory " + Check.bytes(maxMemory);
        } else {
            long avail = memAvailable();
            if (avail < 0) return;
            limit = avail;
            source = "the " + Check.bytes(avail) + " available (MemAvailable in /proc/meminfo; set a limit with --max-memory)";
        }
        if (nativeBytes > limit)
            throw new IllegalArgumentException(what + " needs about " + Check.bytes(nativeBytes) + " of memory, more than " + source
                    + "; use a smaller --batch or --ctx (or --recompute)");
        long heap = Runtime.getRuntime().maxMemory();
        if (heapBytes > heap)
            throw new IllegalArgumentException(what + " needs about " + Check.bytes(heapBytes) + " of Java heap for its data, more than the "
                    + Check.bytes(heap) + " limit (raise it with PANLORA_JVM_OPTS=-Xmx…)");
    }

    /** MemAvailable from /proc/meminfo in bytes, or -1 where it cannot be read. */
    static long memAvailable() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
                if (line.startsWith("MemAvailable:")) return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        } catch (IOException | RuntimeException e) {
            // not Linux: nothing to plan against
        }
        return -1;
    }
}
