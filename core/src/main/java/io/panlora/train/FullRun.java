package io.panlora.train;
import io.panlora.train.internal.RunLock;

import io.panlora.data.ReadOptions;
import io.panlora.data.TrainingData;
import io.panlora.gguf.GgmlType;
import io.panlora.gguf.GgufFile;
import io.panlora.gguf.GgufTensorInfo;
import io.panlora.model.LlamaConfig;
import io.panlora.model.LlamaModel;
import io.panlora.model.ModelWriter;
import io.panlora.model.TokenizerLoader;
import io.panlora.model.WeightKind;
import io.panlora.model.WeightTensor;
import io.panlora.tensor.Codec;
import io.panlora.tokenizer.Tokenizer;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A whole full-parameter fine-tune: every matrix and norm of an F32, F16 or BF16 base trains (the engine's FULL mode) on
 * F32 copies of its weights; checkpoints (weights, AdamW moments, data position) and resume as for LoRA runs (on the CPU);
 * the result is exported as a full GGUF model, {@code OUT_DIR/model.gguf}: the base's metadata, tokenizer and untrained
 * tensors (biases, RoPE factors) unchanged, the trained weights in the base's types or the one asked for.
 *
 * <p>Memory: the run holds F32 copies of every weight in native memory (4 bytes per parameter, whatever the base's type),
 * and the engine adds a gradient and two AdamW moments for each of them. Static methods only.
 */
public final class FullRun {
    private FullRun() {}

    /** The exported model's file name in the run directory. */
    public static final String MODEL_FILE = "model.gguf";

    /** The base weight types FULL mode trains from (decoded to F32 first). */
    public static final java.util.Set<GgmlType> BASE_TYPES = ModelWriter.TRAINED_TYPES;

    /**
     * Everything a run needs. cfg's mode must be FULL; epochs &gt; 0 overrides cfg.steps(). {@code exportType} is the type of
     * the exported weights (F32, F16 or BF16), null for each base tensor's own type. As for {@link LoraRun.Options}, the device
     * and the divergence policy are not part of the checkpoint's key.
     *
     * @param base               the base model's GGUF file; every weight the engine uses must be F32, F16 or BF16
     *                           ({@link #BASE_TYPES})
     * @param data               the training data: a plain text file (one token stream) or {@code .jsonl} records
     * @param validation         a separate validation file, or null to hold out {@code validationFraction} of the training data
     * @param validationFraction the share of the training data held out for validation when {@code validation} is null, in
     *                           [0, 1) (0: no validation)
     * @param cfg                the training configuration, in FULL mode (its LoRA fields are unused); its step count is
     *                           replaced when {@code epochs > 0}
     * @param epochs             when above 0, the run takes {@code ceil(epochs × batches per epoch / gradAccum)} steps (at
     *                           least 1) instead of {@code cfg.steps()}; 0 or less to keep them
     * @param readOptions        how JSONL records are read (chat template, bad lines, special tokens); null for
     *                           {@link ReadOptions#defaults()}
     * @param exportType         the type of the exported trained weights: F32, F16 or BF16; null for each base tensor's own
     *                           type (norms stay F32)
     * @param outDir             the run directory, created if missing and locked for the run: metrics, loss plot, checkpoint
     *                           and {@code model.gguf} go there
     * @param resume             true to continue from {@code outDir/checkpoint.gguf}, which must exist and match the
     *                           configuration (CPU only)
     * @param progress           where progress lines go, or null for none
     * @param load               where the model runs (device, weight placement, threads); null for the CPU. On another device
     *                           no checkpoint is written and no run resumes.
     * @param onDivergence       what to do on explosive loss growth; null for {@link DivergenceGuard.Policy#STOP}
     * @param listener           gets step, validation, warning and checkpoint events and may cancel; null for none
     */
    public record Options(Path base, Path data, Path validation, double validationFraction, TrainConfig cfg, double epochs,
                          ReadOptions readOptions, GgmlType exportType, Path outDir, boolean resume, PrintStream progress,
                          LlamaModel.LoadOptions load, DivergenceGuard.Policy onDivergence, TrainListener listener) {
        /**
         * Checks the mode and the export type, and puts the defaults in for a null {@code readOptions}, {@code load},
         * {@code onDivergence} and {@code listener}.
         *
         * @throws IllegalArgumentException if {@code cfg} is not in FULL mode, or {@code exportType} is not null, F32, F16 or
         *                                  BF16
         */
        public Options {
            if (cfg.mode() != StepEngine.Mode.FULL) throw new IllegalArgumentException("a full-parameter run needs a FULL-mode TrainConfig");
            if (exportType != null && !ModelWriter.TRAINED_TYPES.contains(exportType))
                throw new IllegalArgumentException("the model is exported as F32, F16 or BF16, not " + exportType);
            if (readOptions == null) readOptions = ReadOptions.defaults();
            if (load == null) load = LlamaModel.LoadOptions.cpu();
            if (onDivergence == null) onDivergence = DivergenceGuard.Policy.STOP;
            if (listener == null) listener = TrainListener.NONE;
        }

        /**
         * On the CPU, stopping on divergence, without a listener.
         *
         * @param base               the base model's GGUF file; every weight the engine uses must be F32, F16 or BF16
         *                           ({@link #BASE_TYPES})
         * @param data               the training data: a plain text file (one token stream) or {@code .jsonl} records
         * @param validation         a separate validation file, or null to hold out {@code validationFraction} of the training
         *                           data
         * @param validationFraction the share of the training data held out for validation when {@code validation} is null, in
         *                           [0, 1) (0: no validation)
         * @param cfg                the training configuration, in FULL mode (its LoRA fields are unused); its step count is
         *                           replaced when {@code epochs > 0}
         * @param epochs             when above 0, the run takes {@code ceil(epochs × batches per epoch / gradAccum)} steps (at
         *                           least 1) instead of {@code cfg.steps()}; 0 or less to keep them
         * @param readOptions        how JSONL records are read (chat template, bad lines, special tokens); null for
         *                           {@link ReadOptions#defaults()}
         * @param exportType         the type of the exported trained weights: F32, F16 or BF16; null for each base tensor's own
         *                           type (norms stay F32)
         * @param outDir             the run directory, created if missing and locked for the run: metrics, loss plot,
         *                           checkpoint and {@code model.gguf} go there
         * @param resume             true to continue from {@code outDir/checkpoint.gguf}, which must exist and match the
         *                           configuration (CPU only)
         * @param progress           where progress lines go, or null for none
         * @throws IllegalArgumentException if {@code cfg} is not in FULL mode, or {@code exportType} is not null, F32, F16 or
         *                                  BF16
         */
        public Options(Path base, Path data, Path validation, double validationFraction, TrainConfig cfg, double epochs,
                       ReadOptions readOptions, GgmlType exportType, Path outDir, boolean resume, PrintStream progress) {
            this(base, data, validation, validationFraction, cfg, epochs, readOptions, exportType, outDir, resume, progress, null, null, null);
        }
    }

    /**
     * What a run produced: the trainer's result, the exported model and its weight type (null: the base's types).
     *
     * @param result            the trainer's result (losses, metrics and plot files, warnings, cancellation)
     * @param model             the exported model, {@code outDir/model.gguf}
     * @param type              the type of its trained weights, or null when each kept the base tensor's type
     * @param modelBytes        the size of the exported file, in bytes
     * @param trainWindows      the number of training windows
     * @param validationWindows the number of validation windows (0 without validation)
     * @param steps             the run's configured step count (after the conversion from epochs); the steps actually done are
     *                          {@code result.steps()}
     * @param parameters        the number of trained parameters (every element of every matrix and norm the engine trains)
     */
    public record Summary(Trainer.Result result, Path model, GgmlType type, long modelBytes, int trainWindows, int validationWindows,
                          int steps, long parameters) {}

    /**
     * Refuses a base FULL mode cannot train: any weight the engine uses in a type other than F32, F16 or BF16 (a quantized
     * base), named with its tensor. Reads only the header.
     *
     * @param base the base model's GGUF file
     * @throws IOException if the file cannot be read
     * @throws io.panlora.gguf.GgufException if it is not a valid GGUF file
     * @throws IllegalArgumentException if a weight the engine uses is in a type other than F32, F16 or BF16
     */
    public static void checkBase(Path base) throws IOException {
        try (GgufFile f = GgufFile.open(base)) {
            checkBase(f);
        }
    }

    private static void checkBase(GgufFile f) {
        for (GgufTensorInfo t : f.tensors())
            if (isEngineWeight(t.name()) && !BASE_TYPES.contains(t.type()))
                throw new IllegalArgumentException(f.path() + ": tensor " + t.name() + " is " + t.type() + ": full-parameter training "
                        + "needs an F32, F16 or BF16 base (a quantized base trains a LoRA adapter: leave out --full)");
    }

    private static boolean isEngineWeight(String name) {
        for (WeightKind k : WeightKind.values()) {
            if (!k.perLayer && name.equals(k.suffix)) return true;
            if (k.perLayer && name.startsWith("blk.") && name.endsWith("." + k.suffix)) return true;
        }
        return false;
    }

    /**
     * Runs. The output directory is locked for the whole run as in {@link LoraRun#run}; with resume, a missing checkpoint is
     * refused before anything is loaded. The model is exported after training, also when the run was cancelled; a run that
     * throws exports nothing.
     *
     * @param o what to run
     * @return what the run produced
     * @throws IOException if the base, the data or the checkpoint cannot be read, the data is malformed, another run holds
     *                     the run directory, a file cannot be written, or a resume is asked for on a device other than the CPU
     * @throws IllegalArgumentException if the base is quantized ({@link #checkBase(Path)}) or the data yields no training
     *                                  window
     * @throws Trainer.DivergedException if the training diverges (see {@link Trainer#run})
     * @throws io.panlora.bindings.PanloraException if the engine fails
     */
    public static Summary run(Options o) throws IOException {
        return run(o, null, null);
    }

    /**
     * Runs on training and validation examples the caller read or made instead of {@code o.data()} and {@code o.validation()}
     * ({@code o.readOptions()} is not used); {@code validation} null splits off {@code o.validationFraction()} of {@code train}.
     * With {@code train} null, reads the files as {@link #run(Options)} does.
     *
     * @param o          the run's settings
     * @param train      the training examples, or null to read {@code o.data()}
     * @param validation the validation examples, or null
     * @return what the run produced
     * @throws IOException if the base, the data, the run directory, the checkpoint or the model cannot be read or written
     */
    public static Summary run(Options o, TrainingData train, TrainingData validation) throws IOException {
        PrintStream out = o.progress();
        return LoraRun.underLock(o.outDir(), o.resume(), out, held -> run(o, held, train, validation));
    }

    private static Summary run(Options o, RunLock held, TrainingData train, TrainingData validation) throws IOException {
        PrintStream out = o.progress();
        RunLock created = null;
        try (GgufFile base = GgufFile.open(o.base())) {
            checkBase(base);
            LlamaConfig c = LlamaConfig.fromGguf(base);
            Tokenizer tok = TokenizerLoader.fromGguf(base);
            io.panlora.data.Dataset ds = train == null
                    ? LoraRun.read(o.data(), o.validation(), o.validationFraction(), o.cfg(), o.readOptions(), tok, c, out)
                    : LoraRun.split(train, validation, o.validationFraction(), o.cfg(), tok, c, out);
            LoraRun.Prepared d = LoraRun.prepare(ds, o.cfg(), o.epochs(), o.outDir(), held, out);
            created = d.created();
            TrainConfig cfg = d.cfg();
            Arena arena = Arena.ofShared();
            Map<String, WeightTensor> weights;
            try {
                weights = f32Weights(base, arena);
            } catch (RuntimeException e) {
                arena.close();
                throw e;
            }
            long params = 0;
            for (WeightKind k : WeightKind.values())
                if (k.trainsInFullMode())
                    for (int l = 0; l < (k.perLayer ? c.nLayer() : 1); l++) {
                        WeightTensor t = weights.get(k.ggufName(l));
                        if (t != null) params += t.ne0() * t.ne1();
                    }
            if (out != null) out.printf("full-parameter training: %,d trainable parameters (every matrix and norm, F32)%n", params);
            LlamaModel bound;
            try {
                bound = LlamaModel.fromWeights(c, weights, arena, o.load()); // closes the arena when it closes
            } catch (RuntimeException e) {
                arena.close();
                throw e;
            }
            try (LlamaModel m = bound) {
                Trainer tr = new Trainer(m, null, cfg, d.batches(), d.val(), o.outDir(), out).onDivergence(o.onDivergence())
                        .listener(o.listener());
                Trainer.Result r = tr.run(o.resume());
                Path file = o.outDir().resolve(MODEL_FILE);
                Map<String, WeightTensor> trained = new LinkedHashMap<>();
                for (WeightKind k : WeightKind.values())
                    if (k.trainsInFullMode())
                        for (int l = 0; l < (k.perLayer ? c.nLayer() : 1); l++) {
                            WeightTensor t = weights.get(k.ggufName(l));
                            if (t != null) trained.put(k.ggufName(l), t);
                        }
                long bytes = ModelWriter.writeTrained(base, trained, file, o.exportType(), "-full");
                return new Summary(r, file, o.exportType(), bytes, d.ds().train().size(), d.ds().validation().size(), cfg.steps(), params);
            }
        } finally {
            if (created != null) created.close();
        }
    }

    /**
     * F32 copies of every weight the engine uses, in memory the run owns and the trainer updates in place (the base file's
     * mapping is read-only): F32 tensors copied, F16 and BF16 decoded. Vectors are F32 in every base.
     */
    static Map<String, WeightTensor> f32Weights(GgufFile base, Arena arena) {
        Map<String, WeightTensor> w = new LinkedHashMap<>();
        List<String> names = new ArrayList<>();
        for (GgufTensorInfo t : base.tensors()) if (isEngineWeight(t.name())) names.add(t.name());
        for (String name : names) {
            GgufTensorInfo t = base.tensor(name);
            long ne1 = 1;
            for (int i = 1; i < t.ne().length; i++) ne1 *= t.ne()[i];
            long n = t.ne()[0] * ne1;
            MemorySegment dst = arena.allocate(n * 4, 64);
            if (t.type() == GgmlType.F32) dst.copyFrom(base.tensorData(t));
            else Codec.dequantize(t.type(), base.tensorData(t), n, dst);
            w.put(name, new WeightTensor(GgmlType.F32, t.ne()[0], ne1, dst));
        }
        return w;
    }
}
