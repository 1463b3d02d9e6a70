package io.panlora;

import io.panlora.data.Dataset;
import io.panlora.data.Packer;
import io.panlora.data.TrainingData;
import io.panlora.gguf.GgmlType;
import io.panlora.lora.AdapterGguf;
import io.panlora.lora.LoraSet;
import io.panlora.merge.MergedModel;
import io.panlora.model.Device;
import io.panlora.model.LlamaConfig;
import io.panlora.model.LlamaModel;
import io.panlora.model.TokenizerLoader;
import io.panlora.model.WeightPlacement;
import io.panlora.tokenizer.Tokenizer;
import io.panlora.train.BatchSource;
import io.panlora.train.DatasetBatches;
import io.panlora.train.Trainer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * A base model loaded for fine-tuning: the entry point of the library. It trains LoRA adapters (any variant) and full
 * fine-tunes, evaluates, generates with adapters at chosen scales, merges, prunes and exports:
 *
 * <pre>{@code
 * try (Panlora base = Panlora.base(Path.of("model.gguf")).threads(4).load()) {
 *     Adapter adapter = base.lora().rank(8).steps(200).learningRate(1e-3)
 *             .listener(myListener)
 *             .train(Data.file(Path.of("train.jsonl")), Path.of("runs/first"));
 *     double ppl = base.evaluate(Data.file(Path.of("test.txt")), adapter.scaled(1)).perplexity();
 *     base.exportAdapter(adapter, GgmlType.Q8_0, Path.of("adapter-q8.gguf"));
 *     String story = base.generate("Once upon a time").adapters(adapter.scaled(1)).maxTokens(64).text();
 * }
 * }</pre>
 *
 * <p><b>Errors.</b> The facade ({@code io.panlora}) throws unchecked exceptions only: {@link IllegalArgumentException} for a
 * bad argument or bad data (the message names it), {@link UncheckedIOException} for a file that cannot be read or written
 * (its cause the {@link IOException}), {@link IllegalStateException} for use after {@link #close()} or a device that cannot
 * be used, and {@link io.panlora.bindings.PanloraException} when the native engine refuses an operation (its message says
 * why, e.g. memory). The lower-level packages declare {@link IOException} where they read or write files.
 *
 * <p><b>Output.</b> The library prints nothing: training events go to the {@link io.panlora.train.TrainListener} given to
 * {@link LoraTraining#listener}, and the device that was chosen is {@link #deviceDescription()}.
 *
 * <p><b>Threads.</b> One instance runs one operation at a time (it is not thread-safe); separate instances are independent,
 * each with its own CPU thread count.
 */
public final class Panlora implements AutoCloseable {
    private final Path file;
    private final LlamaModel model;
    private final Tokenizer tokenizer;
    private final boolean deviceAsked;

    private Panlora(Path file, LlamaModel model, Tokenizer tokenizer, boolean deviceAsked) {
        this.file = file;
        this.model = model;
        this.tokenizer = tokenizer;
        this.deviceAsked = deviceAsked;
    }

    /**
     * Starts loading a base model from a GGUF file (LLaMA architecture; F32, F16, BF16, Q8_0, Q4_0/1, Q5_0/1 or K-quant
     * weights).
     *
     * @param gguf the model file
     * @return a builder; {@link Builder#load()} loads
     */
    public static Builder base(Path gguf) {
        return new Builder(Objects.requireNonNull(gguf, "gguf"));
    }

    /** Chooses where and how a base model runs, then loads it. */
    public static final class Builder {
        private final Path file;
        private Device device;
        private int threads;
        private WeightPlacement placement = WeightPlacement.AUTO;

        private Builder(Path file) {
            this.file = file;
        }

        /**
         * The device: {@code cpu}, {@code cuda} (= {@code cuda:0}), {@code cuda:N} or {@code auto} (the default: the first
         * usable GPU, else the CPU). An explicit CUDA device that cannot be used fails {@link #load()} with the reason.
         *
         * @param spec the device as the command line's {@code --device} takes it
         * @return this builder
         */
        public Builder device(String spec) {
            device = Device.parse(spec);
            return this;
        }

        /**
         * The device, as an object.
         *
         * @param d the device
         * @return this builder
         */
        public Builder device(Device d) {
            device = Objects.requireNonNull(d, "device");
            return this;
        }

        /**
         * CPU threads of this model's forward, training and decoding calls (1..1024); 0, the default, uses the engine's
         * process-wide count (all usable cores unless changed). Results do not depend on the count.
         *
         * @param n the thread count
         * @return this builder
         */
        public Builder threads(int n) {
            if (n < 0 || n > LlamaModel.MAX_THREADS)
                throw new IllegalArgumentException("threads must be 0 (the engine's default) or 1.." + LlamaModel.MAX_THREADS + ", got " + n);
            threads = n;
            return this;
        }

        /**
         * Where a CUDA model's frozen weights live: all on the GPU as BF16, dequantized per layer into scratch, or
         * {@link WeightPlacement#AUTO} (the default: resident when they fit). Ignored on the CPU.
         *
         * @param p the placement
         * @return this builder
         */
        public Builder weights(WeightPlacement p) {
            placement = Objects.requireNonNull(p, "placement");
            return this;
        }

        /**
         * Loads the model and its tokenizer.
         *
         * @return the loaded base; close it to free its native memory
         * @throws UncheckedIOException if the file cannot be read or is not a usable GGUF model
         * @throws IllegalStateException if an explicitly asked CUDA device cannot be used
         */
        public Panlora load() {
            boolean asked = device != null;
            Device d = asked ? device.checkUsable() : Device.auto();
            LlamaModel m;
            try {
                m = LlamaModel.load(file, new LlamaModel.LoadOptions(d, placement, threads));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            try {
                return new Panlora(file, m, TokenizerLoader.fromGguf(m.gguf().orElseThrow()), asked);
            } catch (RuntimeException e) {
                m.close();
                throw e;
            }
        }
    }

    /**
     * Returns the GGUF file the model was loaded from.
     *
     * @return the GGUF file the model was loaded from
     */
    public Path file() {
        return file;
    }

    /**
     * Returns the model's shape (layers, width, heads, vocabulary, context).
     *
     * @return the model's shape (layers, width, heads, vocabulary, context)
     */
    public LlamaConfig config() {
        return model.config();
    }

    /**
     * Returns the device the model runs on.
     *
     * @return the device the model runs on
     */
    public Device device() {
        return model.device();
    }

    /**
     * Returns one line saying where the model runs, e.g. {@code device cuda:0 (NVIDIA H200, …)} or {@code device cpu (CUDA unavailable: …)}: what the command line prints once.
     *
     * @return one line saying where the model runs, e.g. {@code device cuda:0 (NVIDIA H200, …)} or
     *         {@code device cpu (CUDA unavailable: …)}: what the command line prints once
     */
    public String deviceDescription() {
        return model.device().announcement(deviceAsked);
    }

    /**
     * Returns the model's tokenizer (read from the GGUF).
     *
     * @return the model's tokenizer (read from the GGUF)
     */
    public Tokenizer tokenizer() {
        return tokenizer;
    }

    /**
     * The underlying engine model, for the lower-level API ({@link io.panlora.lora.LoraSet}, {@link Trainer}, …). It stays
     * owned by this object: do not close it.
     *
     * @return the model
     */
    public LlamaModel model() {
        check();
        return model;
    }

    /**
     * Returns a LoRA training of this base, with PEFT's defaults (rank 8, alpha 16, q,k,v,o, lr 2e-4 cosine, 100 steps).
     *
     * @return a LoRA training of this base, with PEFT's defaults (rank 8, alpha 16, q,k,v,o, lr 2e-4 cosine, 100 steps)
     */
    public LoraTraining lora() {
        check();
        return new LoraTraining(this);
    }

    /**
     * Returns a full-parameter fine-tune of this base (every matrix and norm trains; F32, F16 or BF16 bases only); the result is a complete GGUF model.
     *
     * @return a full-parameter fine-tune of this base (every matrix and norm trains; F32, F16 or BF16 bases only); the result
     *         is a complete GGUF model
     */
    public FullTraining fullFineTune() {
        check();
        return new FullTraining(this);
    }

    /**
     * Opens an existing adapter file, checking that it is a LoRA adapter for this base (architecture, shapes, finite values).
     *
     * @param file the GGUF adapter (panlora's, llama.cpp's {@code convert_lora_to_gguf.py}'s, or any in that format)
     * @return the adapter
     * @throws UncheckedIOException if the file cannot be read
     * @throws IllegalArgumentException if it does not fit this base
     */
    public Adapter adapter(Path file) {
        check();
        withAdapters(List.of(new Adapter(file, null).scaled(1)), set -> null);
        return new Adapter(file, null);
    }

    /**
     * The mean negative log-likelihood of the data under the base with the adapters applied: every window of
     * {@code min(512, training context)} tokens, the same tokens counted as in training (prompts and non-assistant turns
     * excluded).
     *
     * @param data     the evaluation data
     * @param adapters adapters at their scales; none evaluates the base alone
     * @return the loss and perplexity
     */
    public Evaluation evaluate(Data data, Adapter.Scaled... adapters) {
        return evaluate(data, (int) Math.min(512, model.config().nCtxTrain()), adapters);
    }

    /**
     * As {@link #evaluate(Data, Adapter.Scaled...)} with windows of {@code ctx} tokens.
     *
     * @param data     the evaluation data
     * @param ctx      the window length in tokens, at least 2
     * @param adapters adapters at their scales
     * @return the loss and perplexity
     */
    public Evaluation evaluate(Data data, int ctx, Adapter.Scaled... adapters) {
        check();
        Objects.requireNonNull(data, "data");
        if (ctx < 2) throw new IllegalArgumentException("ctx must be >= 2, got " + ctx);
        List<BatchSource.Batch> batches = batches(data, ctx);
        return withAdapters(List.of(adapters), set -> {
            double loss = Trainer.evaluate(model, batches);
            long tokens = 0;
            for (BatchSource.Batch b : batches) for (int[] row : b.targets()) for (int t : row) if (t >= 0) tokens++;
            return new Evaluation(loss, Math.exp(loss), tokens);
        });
    }

    /** The data as evaluation batches of ctx-token windows (all of them). */
    List<BatchSource.Batch> batches(Data data, int ctx) {
        TrainingData td = read(data);
        Dataset ds = Dataset.of(td, td, new Packer(ctx, false, Packer.padIdFor(tokenizer)), 0, 0);
        List<BatchSource.Batch> out = DatasetBatches.validation(ds, 4, 0);
        if (out.isEmpty()) throw new IllegalArgumentException(data + ": no evaluation window (no example has a target within " + ctx + " tokens)");
        return out;
    }

    /**
     * Starts a generation from a prompt (the prompt is tokenized with a BOS token first).
     *
     * @param prompt the prompt; may be empty (BOS only)
     * @return a builder; {@link Generation#text()} or {@link Generation#run()} generates
     */
    public Generation generate(String prompt) {
        check();
        return new Generation(this, Objects.requireNonNull(prompt, "prompt"));
    }

    /**
     * Returns a merge of adapters of this base (linear, cat, svd, ties, dare, task arithmetic).
     *
     * @return a merge of adapters of this base (linear, cat, svd, ties, dare, task arithmetic)
     */
    public Merge merge() {
        check();
        return new Merge(this);
    }

    /**
     * Starts pruning an adapter.
     *
     * @param adapter the adapter
     * @return a builder; choose one method, then {@link Prune#writeTo}
     */
    public Prune prune(Adapter adapter) {
        check();
        return new Prune(this, Objects.requireNonNull(adapter, "adapter"));
    }

    /**
     * Writes an adapter again in another tensor type (F32, F16, BF16, Q8_0 and the smaller quantizations llama.cpp loads); a
     * tensor whose rows the type's blocks do not divide falls back to a type they do (see
     * {@link AdapterGguf#typeFor(GgmlType, long)}).
     *
     * @param adapter the adapter
     * @param type    the tensor type
     * @param out     the file to write (replaced atomically)
     * @return the new adapter
     */
    public Adapter exportAdapter(Adapter adapter, GgmlType type, Path out) {
        check();
        Objects.requireNonNull(out, "out");
        requireAdapterType(type);
        return withAdapters(List.of(adapter.scaled(1)), set -> {
            AdapterGguf.write(out, set, model.config(), type, "panlora-lora");
            return new Adapter(out, null);
        });
    }

    /**
     * Writes a complete model: the base with the adapters folded into its weights (W + scale·s·B·A), for inference without
     * an adapter. The base's metadata and tokenizer are kept.
     *
     * @param type     the type of the merged matrices (F32, F16, BF16, Q8_0, …), or null: each its base type when that is
     *                 F32, F16 or BF16, else F16 (re-quantizing would round most of the update away)
     * @param out      the model file to write
     * @param adapters the adapters at their scales; at least one
     * @return {@code out}
     */
    public Path exportMerged(GgmlType type, Path out, Adapter.Scaled... adapters) {
        check();
        Objects.requireNonNull(out, "out");
        if (adapters.length == 0) throw new IllegalArgumentException("give at least one adapter to merge into the model");
        return withAdapters(List.of(adapters), set -> {
            MergedModel.write(model.gguf().orElseThrow(), set, out, type);
            return out;
        });
    }

    /** Frees the model's native memory. Adapters and files already written stay. Idempotent. */
    @Override
    public void close() {
        model.close();
    }

    // ---- shared by the builders

    LlamaModel engine() {
        check();
        return model;
    }

    TrainingData read(Data data) {
        try {
            return data.read(tokenizer);
        } catch (io.panlora.data.DataFormatException e) {
            throw new IllegalArgumentException(e.getMessage(), e);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Something done with adapters applied. */
    interface WithAdapters<T> {
        T run(LoraSet set) throws IOException;
    }

    /** Runs body with the adapters loaded at their scales and attached; the base is left without them afterwards. */
    <T> T withAdapters(List<Adapter.Scaled> adapters, WithAdapters<T> body) {
        check();
        try (LoraSet set = new LoraSet(model)) {
            for (Adapter.Scaled a : adapters) {
                Path f = Objects.requireNonNull(a, "adapter").adapter().file();
                if (!Files.isRegularFile(f)) throw new IOException(f + ": no such adapter file");
                AdapterGguf.load(f, set, (float) a.scale());
            }
            if (!adapters.isEmpty()) set.attach();
            return body.run(set);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static void requireAdapterType(GgmlType type) {
        Objects.requireNonNull(type, "type");
        if (!AdapterGguf.supported(type))
            throw new IllegalArgumentException("adapters are written as " + String.join(", ", AdapterGguf.typeNames()) + ", not " + type);
    }

    private void check() {
        if (model.isClosed()) throw new IllegalStateException("this base model was closed");
    }
}
