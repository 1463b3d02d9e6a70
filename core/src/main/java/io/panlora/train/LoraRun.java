package io.panlora.train;
import io.panlora.train.internal.Checkpoint;
import io.panlora.train.internal.RunLock;

import io.panlora.data.Dataset;
import io.panlora.data.Packer;
import io.panlora.data.ReadOptions;
import io.panlora.data.TrainingData;
import io.panlora.gguf.GgmlType;
import io.panlora.lora.AdapterGguf;
import io.panlora.lora.LoraSet;
import io.panlora.model.LlamaModel;
import io.panlora.model.TokenizerLoader;
import io.panlora.tokenizer.Tokenizer;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * A whole LoRA fine-tune: load the base and the data, train (or resume), export the GGUF adapter. A run directory ends up
 * holding {@code adapter.gguf}, {@code checkpoint.gguf} (when checkpoints are on), {@code metrics.jsonl}, {@code loss.svg} and
 * the lock file {@code run.lock}. Static methods only.
 */
public final class LoraRun {
    private LoraRun() {}

    /**
     * Everything a run needs. {@code epochs > 0} overrides {@code cfg.steps()}. {@code load} says where the model runs
     * (default: the CPU); it is not part of the checkpoint's key, so a run may resume on another device (within that device's
     * numerics). Nor is {@code onDivergence} (default: stop).
     *
     * @param base               the base model's GGUF file (quantized bases train too: the base stays frozen)
     * @param data               the training data: a plain text file (one token stream) or {@code .jsonl} records
     * @param validation         a separate validation file, or null to hold out {@code validationFraction} of the training data
     * @param validationFraction the share of the training data held out for validation when {@code validation} is null, in
     *                           [0, 1) (0: no validation)
     * @param cfg                the training configuration (LORA mode); its step count is replaced when {@code epochs > 0}
     * @param epochs             when above 0, the run takes {@code ceil(epochs × batches per epoch / gradAccum)} steps (at
     *                           least 1) instead of {@code cfg.steps()}; 0 or less to keep them
     * @param readOptions        how JSONL records are read (chat template, bad lines, special tokens), e.g.
     *                           {@link ReadOptions#defaults()}; not defaulted when null (JSONL data then fails)
     * @param adapterType        the weight type of the exported adapter's tensors, one of {@link AdapterGguf#TYPES} (checked at
     *                           export, after training)
     * @param outDir             the run directory, created if missing and locked for the run: metrics, loss plot, checkpoint
     *                           and {@code adapter.gguf} go there
     * @param resume             true to continue from {@code outDir/checkpoint.gguf}, which must exist and match the
     *                           configuration
     * @param progress           where progress lines go, or null for none
     * @param strategy           how the slots are made and trained (a variant, e.g. {@code new CopraSchedule(...)}); null for
     *                           plain LoRA
     * @param load               where the model runs (device, weight placement, threads); null for the CPU
     * @param onDivergence       what to do on explosive loss growth; null for {@link DivergenceGuard.Policy#STOP}
     * @param listener           gets step, validation, warning and checkpoint events and may cancel; null for none
     * @param initAdapter        an adapter file the run starts from instead of the strategy's init ({@link LoraInit#fromAdapter}:
     *                           of the run's rank and targets), or null; not used when resuming (the checkpoint holds the
     *                           adapter)
     */
    public record Options(Path base, Path data, Path validation, double validationFraction, TrainConfig cfg, double epochs,
                          ReadOptions readOptions, GgmlType adapterType, Path outDir, boolean resume, PrintStream progress,
                          TrainingStrategy strategy, LlamaModel.LoadOptions load, DivergenceGuard.Policy onDivergence,
                          TrainListener listener, Path initAdapter) {
        /**
         * Puts the defaults in for a null {@code readOptions} ({@link ReadOptions#defaults()}), {@code load} (the CPU),
         * {@code onDivergence} (stop) and {@code listener} (none), and checks the adapter type before anything runs.
         *
         * @throws IllegalArgumentException if {@code adapterType} is not a type adapters are written in
         */
        public Options {
            java.util.Objects.requireNonNull(adapterType, "adapterType");
            if (!AdapterGguf.supported(adapterType))
                throw new IllegalArgumentException("adapter type must be one of " + String.join(", ", AdapterGguf.typeNames()) + ", got " + adapterType);
            if (readOptions == null) readOptions = ReadOptions.defaults();
            if (load == null) load = LlamaModel.LoadOptions.cpu();
            if (onDivergence == null) onDivergence = DivergenceGuard.Policy.STOP;
            if (listener == null) listener = TrainListener.NONE;
        }

        /**
         * Starting from the strategy's own init (no initial adapter).
         *
         * @param base               the base model's GGUF file (quantized bases train too: the base stays frozen)
         * @param data               the training data: a plain text file (one token stream) or {@code .jsonl} records
         * @param validation         a separate validation file, or null to hold out {@code validationFraction} of the training
         *                           data
         * @param validationFraction the share of the training data held out for validation when {@code validation} is null, in
         *                           [0, 1) (0: no validation)
         * @param cfg                the training configuration (LORA mode); its step count is replaced when {@code epochs > 0}
         * @param epochs             when above 0, the run takes {@code ceil(epochs × batches per epoch / gradAccum)} steps (at
         *                           least 1) instead of {@code cfg.steps()}; 0 or less to keep them
         * @param readOptions        how JSONL records are read (chat template, bad lines, special tokens), e.g.
         *                           {@link ReadOptions#defaults()}; not defaulted when null (JSONL data then fails)
         * @param adapterType        the weight type of the exported adapter's tensors, one of {@link AdapterGguf#TYPES}
         *                           (checked at export, after training)
         * @param outDir             the run directory, created if missing and locked for the run: metrics, loss plot,
         *                           checkpoint and {@code adapter.gguf} go there
         * @param resume             true to continue from {@code outDir/checkpoint.gguf}, which must exist and match the
         *                           configuration
         * @param progress           where progress lines go, or null for none
         * @param strategy           how the slots are made and trained (a variant, e.g. {@code new CopraSchedule(...)}); null
         *                           for plain LoRA
         * @param load               where the model runs (device, weight placement, threads); null for the CPU
         * @param onDivergence       what to do on explosive loss growth; null for {@link DivergenceGuard.Policy#STOP}
         * @param listener           gets step, validation, warning and checkpoint events and may cancel; null for none
         */
        public Options(Path base, Path data, Path validation, double validationFraction, TrainConfig cfg, double epochs,
                       ReadOptions readOptions, GgmlType adapterType, Path outDir, boolean resume, PrintStream progress,
                       TrainingStrategy strategy, LlamaModel.LoadOptions load, DivergenceGuard.Policy onDivergence,
                       TrainListener listener) {
            this(base, data, validation, validationFraction, cfg, epochs, readOptions, adapterType, outDir, resume, progress, strategy,
                    load, onDivergence, listener, null);
        }

        /**
         * Without a listener.
         *
         * @param base               the base model's GGUF file (quantized bases train too: the base stays frozen)
         * @param data               the training data: a plain text file (one token stream) or {@code .jsonl} records
         * @param validation         a separate validation file, or null to hold out {@code validationFraction} of the training
         *                           data
         * @param validationFraction the share of the training data held out for validation when {@code validation} is null, in
         *                           [0, 1) (0: no validation)
         * @param cfg                the training configuration (LORA mode); its step count is replaced when {@code epochs > 0}
         * @param epochs             when above 0, the run takes {@code ceil(epochs × batches per epoch / gradAccum)} steps (at
         *                           least 1) instead of {@code cfg.steps()}; 0 or less to keep them
         * @param readOptions        how JSONL records are read (chat template, bad lines, special tokens), e.g.
         *                           {@link ReadOptions#defaults()}; not defaulted when null (JSONL data then fails)
         * @param adapterType        the weight type of the exported adapter's tensors, one of {@link AdapterGguf#TYPES}
         *                           (checked at export, after training)
         * @param outDir             the run directory, created if missing and locked for the run: metrics, loss plot,
         *                           checkpoint and {@code adapter.gguf} go there
         * @param resume             true to continue from {@code outDir/checkpoint.gguf}, which must exist and match the
         *                           configuration
         * @param progress           where progress lines go, or null for none
         * @param strategy           how the slots are made and trained (a variant, e.g. {@code new CopraSchedule(...)}); null
         *                           for plain LoRA
         * @param load               where the model runs (device, weight placement, threads); null for the CPU
         * @param onDivergence       what to do on explosive loss growth; null for {@link DivergenceGuard.Policy#STOP}
         */
        public Options(Path base, Path data, Path validation, double validationFraction, TrainConfig cfg, double epochs,
                       ReadOptions readOptions, GgmlType adapterType, Path outDir, boolean resume, PrintStream progress,
                       TrainingStrategy strategy, LlamaModel.LoadOptions load, DivergenceGuard.Policy onDivergence) {
            this(base, data, validation, validationFraction, cfg, epochs, readOptions, adapterType, outDir, resume, progress, strategy,
                    load, onDivergence, TrainListener.NONE);
        }

        /**
         * Stopping on divergence, without a listener.
         *
         * @param base               the base model's GGUF file (quantized bases train too: the base stays frozen)
         * @param data               the training data: a plain text file (one token stream) or {@code .jsonl} records
         * @param validation         a separate validation file, or null to hold out {@code validationFraction} of the training
         *                           data
         * @param validationFraction the share of the training data held out for validation when {@code validation} is null, in
         *                           [0, 1) (0: no validation)
         * @param cfg                the training configuration (LORA mode); its step count is replaced when {@code epochs > 0}
         * @param epochs             when above 0, the run takes {@code ceil(epochs × batches per epoch / gradAccum)} steps (at
         *                           least 1) instead of {@code cfg.steps()}; 0 or less to keep them
         * @param readOptions        how JSONL records are read (chat template, bad lines, special tokens), e.g.
         *                           {@link ReadOptions#defaults()}; not defaulted when null (JSONL data then fails)
         * @param adapterType        the weight type of the exported adapter's tensors, one of {@link AdapterGguf#TYPES}
         *                           (checked at export, after training)
         * @param outDir             the run directory, created if missing and locked for the run: metrics, loss plot,
         *                           checkpoint and {@code adapter.gguf} go there
         * @param resume             true to continue from {@code outDir/checkpoint.gguf}, which must exist and match the
         *                           configuration
         * @param progress           where progress lines go, or null for none
         * @param strategy           how the slots are made and trained (a variant, e.g. {@code new CopraSchedule(...)}); null
         *                           for plain LoRA
         * @param load               where the model runs (device, weight placement, threads); null for the CPU
         */
        public Options(Path base, Path data, Path validation, double validationFraction, TrainConfig cfg, double epochs,
                       ReadOptions readOptions, GgmlType adapterType, Path outDir, boolean resume, PrintStream progress,
                       TrainingStrategy strategy, LlamaModel.LoadOptions load) {
            this(base, data, validation, validationFraction, cfg, epochs, readOptions, adapterType, outDir, resume, progress, strategy,
                    load, DivergenceGuard.Policy.STOP);
        }

        /**
         * On the CPU, stopping on divergence, without a listener.
         *
         * @param base               the base model's GGUF file (quantized bases train too: the base stays frozen)
         * @param data               the training data: a plain text file (one token stream) or {@code .jsonl} records
         * @param validation         a separate validation file, or null to hold out {@code validationFraction} of the training
         *                           data
         * @param validationFraction the share of the training data held out for validation when {@code validation} is null, in
         *                           [0, 1) (0: no validation)
         * @param cfg                the training configuration (LORA mode); its step count is replaced when {@code epochs > 0}
         * @param epochs             when above 0, the run takes {@code ceil(epochs × batches per epoch / gradAccum)} steps (at
         *                           least 1) instead of {@code cfg.steps()}; 0 or less to keep them
         * @param readOptions        how JSONL records are read (chat template, bad lines, special tokens), e.g.
         *                           {@link ReadOptions#defaults()}; not defaulted when null (JSONL data then fails)
         * @param adapterType        the weight type of the exported adapter's tensors, one of {@link AdapterGguf#TYPES}
         *                           (checked at export, after training)
         * @param outDir             the run directory, created if missing and locked for the run: metrics, loss plot,
         *                           checkpoint and {@code adapter.gguf} go there
         * @param resume             true to continue from {@code outDir/checkpoint.gguf}, which must exist and match the
         *                           configuration
         * @param progress           where progress lines go, or null for none
         * @param strategy           how the slots are made and trained (a variant, e.g. {@code new CopraSchedule(...)}); null
         *                           for plain LoRA
         */
        public Options(Path base, Path data, Path validation, double validationFraction, TrainConfig cfg, double epochs,
                       ReadOptions readOptions, GgmlType adapterType, Path outDir, boolean resume, PrintStream progress,
                       TrainingStrategy strategy) {
            this(base, data, validation, validationFraction, cfg, epochs, readOptions, adapterType, outDir, resume, progress, strategy,
                    LlamaModel.LoadOptions.cpu());
        }

        /**
         * Plain LoRA on the CPU, stopping on divergence, without a listener.
         *
         * @param base               the base model's GGUF file (quantized bases train too: the base stays frozen)
         * @param data               the training data: a plain text file (one token stream) or {@code .jsonl} records
         * @param validation         a separate validation file, or null to hold out {@code validationFraction} of the training
         *                           data
         * @param validationFraction the share of the training data held out for validation when {@code validation} is null, in
         *                           [0, 1) (0: no validation)
         * @param cfg                the training configuration (LORA mode); its step count is replaced when {@code epochs > 0}
         * @param epochs             when above 0, the run takes {@code ceil(epochs × batches per epoch / gradAccum)} steps (at
         *                           least 1) instead of {@code cfg.steps()}; 0 or less to keep them
         * @param readOptions        how JSONL records are read (chat template, bad lines, special tokens), e.g.
         *                           {@link ReadOptions#defaults()}; not defaulted when null (JSONL data then fails)
         * @param adapterType        the weight type of the exported adapter's tensors, one of {@link AdapterGguf#TYPES}
         *                           (checked at export, after training)
         * @param outDir             the run directory, created if missing and locked for the run: metrics, loss plot,
         *                           checkpoint and {@code adapter.gguf} go there
         * @param resume             true to continue from {@code outDir/checkpoint.gguf}, which must exist and match the
         *                           configuration
         * @param progress           where progress lines go, or null for none
         */
        public Options(Path base, Path data, Path validation, double validationFraction, TrainConfig cfg, double epochs,
                       ReadOptions readOptions, GgmlType adapterType, Path outDir, boolean resume, PrintStream progress) {
            this(base, data, validation, validationFraction, cfg, epochs, readOptions, adapterType, outDir, resume, progress,
                    TrainingStrategy.LORA, LlamaModel.LoadOptions.cpu());
        }

        /**
         * The same run on another device or weight placement.
         *
         * @param where where the model runs; null for the CPU
         * @return a new options record that differs only in {@code load}
         */
        public Options on(LlamaModel.LoadOptions where) {
            return new Options(base, data, validation, validationFraction, cfg, epochs, readOptions, adapterType, outDir, resume, progress,
                    strategy, where, onDivergence, listener, initAdapter);
        }

        /**
         * The same run with another divergence policy.
         *
         * @param p the policy; null for {@link DivergenceGuard.Policy#STOP}
         * @return a new options record that differs only in {@code onDivergence}
         */
        public Options onDivergence(DivergenceGuard.Policy p) {
            return new Options(base, data, validation, validationFraction, cfg, epochs, readOptions, adapterType, outDir, resume, progress,
                    strategy, load, p, listener, initAdapter);
        }

        /**
         * The same run reporting steps, validations, warnings and checkpoints to a listener, which may also cancel it.
         *
         * @param l the listener; null for none
         * @return a new options record that differs only in {@code listener}
         */
        public Options withListener(TrainListener l) {
            return new Options(base, data, validation, validationFraction, cfg, epochs, readOptions, adapterType, outDir, resume, progress,
                    strategy, load, onDivergence, l, initAdapter);
        }

        /**
         * The same run starting from an adapter file instead of the strategy's init (see {@link LoraInit#fromAdapter}).
         *
         * @param adapter a LoRA adapter of the base, of the run's rank and targets; null for the strategy's init
         * @return a new options record that differs only in {@code initAdapter}
         */
        public Options withInitAdapter(Path adapter) {
            return new Options(base, data, validation, validationFraction, cfg, epochs, readOptions, adapterType, outDir, resume, progress,
                    strategy, load, onDivergence, listener, adapter);
        }
    }

    /**
     * What a run produced.
     *
     * @param result            the trainer's result (losses, metrics and plot files, warnings, cancellation)
     * @param adapter           the exported adapter, {@code outDir/adapter.gguf}
     * @param exportNotes       notes of the export: tensors written in a fallback type because their row length does not fit
     *                          the asked type's block (one note per kind of fallback; empty if none)
     * @param trainWindows      the number of training windows
     * @param validationWindows the number of validation windows (0 without validation)
     * @param steps             the run's configured step count (after the conversion from epochs); the steps actually done
     *                          are {@code result.steps()}
     */
    public record Summary(Trainer.Result result, Path adapter, List<String> exportNotes, int trainWindows, int validationWindows,
                          int steps) {}

    /**
     * Runs. The output directory is locked ({@code run.lock}) for the whole run: if it exists, before anything is loaded (a
     * second run on it fails at once), otherwise as soon as it is created. With the lock held, temporary files that a killed
     * write left there are removed (each reported); with --resume, a missing checkpoint is refused before the model loads.
     * The adapter is exported after training, also when the run was cancelled; a run that throws exports nothing.
     *
     * @param o what to run
     * @return what the run produced
     * @throws IOException if the base, the data or the checkpoint cannot be read, the data is malformed, another run holds
     *                     the run directory, or a file cannot be written
     * @throws Trainer.DivergedException if the training diverges (see {@link Trainer#run})
     * @throws IllegalArgumentException if the data yields no training window, or the adapter type cannot be exported
     * @throws io.panlora.bindings.PanloraException if the engine fails
     */
    public static Summary run(Options o) throws IOException {
        PrintStream out = o.progress();
        return underLock(o.outDir(), o.resume(), out, held -> run(o, held));
    }

    /** A run's body, given the run directory's lock when the directory existed before the run (else null). */
    interface LockedRun<T> {
        T run(RunLock held) throws IOException;
    }

    /**
     * Locks the run directory if it exists (a second run on it fails at once) and removes stale temporaries, refuses a
     * resume without a checkpoint before anything is loaded, runs the body and releases the lock.
     */
    static <T> T underLock(Path outDir, boolean resume, PrintStream out, LockedRun<T> body) throws IOException {
        RunLock lock = null;
        try {
            if (Files.isDirectory(outDir)) lock = lockAndClean(outDir, out);
            if (resume && !Checkpoint.exists(outDir))
                throw new IOException(outDir.resolve(Checkpoint.FILE) + ": no checkpoint to resume from (the file does not exist)");
            return body.run(lock);
        } finally {
            if (lock != null) lock.close();
        }
    }

    static RunLock lockAndClean(Path dir, PrintStream out) throws IOException {
        RunLock lock = RunLock.acquire(dir);
        try {
            lock.removeStaleTemporaries(out);
            return lock;
        } catch (IOException | RuntimeException e) {
            lock.close();
            throw e;
        }
    }

    private static Summary run(Options o, RunLock held) throws IOException {
        try (LlamaModel m = LlamaModel.load(o.base(), o.load())) {
            Tokenizer tok = TokenizerLoader.fromGguf(m.gguf().orElseThrow());
            return train(m, o, () -> read(o.data(), o.validation(), o.validationFraction(), o.cfg(), o.readOptions(), tok, m.config(),
                    o.progress()), held);
        }
    }

    /**
     * Runs on a model the caller loaded and keeps (it is not closed; the adapter's slots are detached from it at the end), with
     * training and validation examples the caller read or made: {@code o.base()}, {@code o.data()}, {@code o.validation()},
     * {@code o.readOptions()} and {@code o.load()} are not used. {@code validation} null splits off
     * {@code o.validationFraction()} of {@code train}. The output directory is locked as in {@link #run(Options)}.
     *
     * @param model      the base, loaded from a GGUF file (its tokenizer is read from there); not closed
     * @param o          the run's settings
     * @param train      the training examples
     * @param validation the validation examples, or null
     * @return what the run produced
     * @throws IOException if the run directory, the checkpoint or the adapter cannot be read or written
     */
    public static Summary run(LlamaModel model, Options o, TrainingData train, TrainingData validation) throws IOException {
        return underLock(o.outDir(), o.resume(), o.progress(), held -> {
            Tokenizer tok = TokenizerLoader.fromGguf(model.gguf().orElseThrow(
                    () -> new IllegalArgumentException("the model was not loaded from a GGUF file: it has no tokenizer")));
            return train(model, o, () -> split(train, validation, o.validationFraction(), o.cfg(), tok, model.config(), o.progress()),
                    held);
        });
    }

    /** Makes a run's dataset (reading files, or splitting examples in memory); may throw before anything is created. */
    interface DataLoad {
        Dataset load() throws IOException;
    }

    private static Summary train(LlamaModel m, Options o, DataLoad data, RunLock held) throws IOException {
        PrintStream out = o.progress();
        RunLock created = null;
        try {
            Prepared d = prepare(data.load(), o.cfg(), o.epochs(), o.outDir(), held, out);
            created = d.created();
            TrainConfig cfg = d.cfg();
            try (LoraSet set = new LoraSet(m)) {
                TrainingStrategy strategy = o.strategy() == null ? TrainingStrategy.LORA : o.strategy();
                strategy.addSlots(set, cfg);
                if (o.initAdapter() != null && !o.resume()) {
                    int n;
                    try {
                        n = LoraInit.fromAdapter(set, o.initAdapter());
                    } catch (IOException | RuntimeException e) {
                        closeAfterFailure(strategy, e);
                        throw e;
                    }
                    if (out != null) out.printf("starting from %s (%d modules)%n", o.initAdapter(), n);
                }
                set.attach();
                Trainer tr = new Trainer(m, set, cfg, d.batches(), d.val(), o.outDir(), out).onDivergence(o.onDivergence()).listener(o.listener());
                for (TrainHook h : strategy.hooks()) tr.addHook(h);
                Trainer.Result r;
                try {
                    r = tr.run(o.resume());
                } catch (IOException | RuntimeException | Error e) {
                    closeAfterFailure(strategy, e);
                    throw e;
                }
                Path adapter = o.outDir().resolve("adapter.gguf");
                List<String> notes = AdapterGguf.write(adapter, set, m.config(), o.adapterType(), "panlora-lora");
                return new Summary(r, adapter, notes, d.ds().train().size(), d.ds().validation().size(), cfg.steps());
            }
        } finally {
            if (created != null) created.close();
        }
    }

    /**
     * A strategy with native state (LoRASC's dense corrections of the base weights) is closed when the run fails (a divergence
     * skips its end hook), so a model the caller keeps is left as it was loaded.
     */
    private static void closeAfterFailure(TrainingStrategy strategy, Throwable e) {
        if (strategy instanceof AutoCloseable c) {
            try {
                c.close();
            } catch (Exception suppressed) {
                e.addSuppressed(suppressed);
            }
        }
    }

    /** A run's data, batches and configuration (steps from --epochs), and the lock of the run directory if this call made it. */
    record Prepared(Dataset ds, DatasetBatches batches, List<BatchSource.Batch> val, TrainConfig cfg, RunLock created) {}

    /** Reads the data files into a dataset, reporting skipped bad lines. */
    static Dataset read(Path data, Path validation, double validationFraction, TrainConfig cfg, ReadOptions ro, Tokenizer tok,
                        io.panlora.model.LlamaConfig mc, PrintStream out) throws IOException {
        noteLongContext(cfg, mc, out);
        Dataset ds = Dataset.load(data, validation, tok, ro, new Packer(cfg.ctx(), false, Packer.padIdFor(tok)), validationFraction, cfg.seed());
        if (ds.trainData().badLines() > 0 && out != null) {
            out.printf("skipped %d bad lines of %s:%n", ds.trainData().badLines(), data);
            for (String r : ds.trainData().badLineReports()) out.println("  " + r);
        }
        return ds;
    }

    /** Packs examples given in memory into a dataset (validation null: split off validationFraction). */
    static Dataset split(TrainingData train, TrainingData validation, double validationFraction, TrainConfig cfg, Tokenizer tok,
                         io.panlora.model.LlamaConfig mc, PrintStream out) {
        noteLongContext(cfg, mc, out);
        return Dataset.of(train, validation, new Packer(cfg.ctx(), false, Packer.padIdFor(tok)), validation != null ? 0 : validationFraction,
                cfg.seed());
    }

    private static void noteLongContext(TrainConfig cfg, io.panlora.model.LlamaConfig mc, PrintStream out) {
        if (cfg.ctx() > mc.nCtxTrain() && out != null)
            out.printf("note: --ctx %d is longer than the model's training context %d%n", cfg.ctx(), mc.nCtxTrain());
    }

    /**
     * Creates and locks the run directory unless {@code held} is its lock already (only once the data is known to be good),
     * turns epochs into steps and makes the validation batches.
     */
    static Prepared prepare(Dataset ds, TrainConfig cfg, double epochs, Path outDir, RunLock held, PrintStream out) throws IOException {
        RunLock created = null;
        if (held == null) { // only once the data is known to be good
            Files.createDirectories(outDir);
            created = lockAndClean(outDir, out);
        }
        try {
            DatasetBatches batches = new DatasetBatches(ds, cfg.batch(), cfg.seed());
            if (epochs > 0) {
                int steps = (int) Math.max(1, Math.ceil(epochs * batches.batchesPerEpoch() / cfg.gradAccum()));
                cfg = cfg.withSteps(steps);
            }
            List<BatchSource.Batch> val = DatasetBatches.validation(ds, cfg.batch(), cfg.evalBatches());
            if (out != null)
                out.printf("data: %d training windows of %d tokens (%d batches/epoch), %d validation windows; %d steps%n",
                        ds.train().size(), cfg.ctx(), batches.batchesPerEpoch(), ds.validation().size(), cfg.steps());
            return new Prepared(ds, batches, val, cfg, created);
        } catch (RuntimeException e) {
            if (created != null) created.close();
            throw e;
        }
    }
}
