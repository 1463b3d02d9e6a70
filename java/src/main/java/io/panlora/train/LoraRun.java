package io.panlora.train;

import io.panlora.data.Dataset;
import io.panlora.data.Packer;
import io.panlora.data.ReadOptions;
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

/** A whole LoRA fine-tune: load the base and the data, train (or resume), export the GGUF adapter. */
public final class LoraRun {
    private LoraRun() {}

    /**
     * Everything a run needs. epochs > 0 overrides cfg.steps(). {@code load} says where the model runs (default: the CPU); it is
     * not part of the checkpoint's key, so a run may resume on another device (within that device's numerics).
     */
    public record Options(Path base, Path data, Path validation, double validationFraction, TrainConfig cfg, double epochs,
                          ReadOptions readOptions, GgmlType adapterType, Path outDir, boolean resume, PrintStream progress,
                          TrainingStrategy strategy, LlamaModel.LoadOptions load) {
        public Options {
            if (load == null) load = LlamaModel.LoadOptions.cpu();
        }

        /** On the CPU. */
        public Options(Path base, Path data, Path validation, double validationFraction, TrainConfig cfg, double epochs,
                       ReadOptions readOptions, GgmlType adapterType, Path outDir, boolean resume, PrintStream progress,
                       TrainingStrategy strategy) {
            this(base, data, validation, validationFraction, cfg, epochs, readOptions, adapterType, outDir, resume, progress, strategy,
                    LlamaModel.LoadOptions.cpu());
        }

        /** Plain LoRA on the CPU. */
        public Options(Path base, Path data, Path validation, double validationFraction, TrainConfig cfg, double epochs,
                       ReadOptions readOptions, GgmlType adapterType, Path outDir, boolean resume, PrintStream progress) {
            this(base, data, validation, validationFraction, cfg, epochs, readOptions, adapterType, outDir, resume, progress,
                    TrainingStrategy.LORA, LlamaModel.LoadOptions.cpu());
        }

        /** The same run on another device / weight placement. */
        public Options on(LlamaModel.LoadOptions where) {
            return new Options(base, data, validation, validationFraction, cfg, epochs, readOptions, adapterType, outDir, resume, progress,
                    strategy, where);
        }
    }

    /** What a run produced. */
    public record Summary(Trainer.Result result, Path adapter, List<String> exportNotes, int trainWindows, int validationWindows,
                          int steps) {}

    public static Summary run(Options o) throws IOException {
        PrintStream out = o.progress();
        try (LlamaModel m = LlamaModel.load(o.base(), o.load())) {
            Tokenizer tok = TokenizerLoader.fromGguf(m.gguf().orElseThrow());
            TrainConfig cfg = o.cfg();
            if (cfg.ctx() > m.config().nCtxTrain() && out != null)
                out.printf("note: --ctx %d is longer than the model's training context %d%n", cfg.ctx(), m.config().nCtxTrain());
            Dataset ds = Dataset.load(o.data(), o.validation(), tok, o.readOptions(), new Packer(cfg.ctx(), false, Packer.padIdFor(tok)),
                    o.validationFraction(), cfg.seed());
            if (ds.trainData().badLines() > 0 && out != null) {
                out.printf("skipped %d bad lines of %s:%n", ds.trainData().badLines(), o.data());
                for (String r : ds.trainData().badLineReports()) out.println("  " + r);
            }
            Files.createDirectories(o.outDir()); // only once the data is known to be good
            DatasetBatches batches = new DatasetBatches(ds, cfg.batch(), cfg.seed());
            if (o.epochs() > 0) {
                int steps = (int) Math.max(1, Math.ceil(o.epochs() * batches.batchesPerEpoch() / cfg.gradAccum()));
                cfg = cfg.withSteps(steps);
            }
            List<BatchSource.Batch> val = DatasetBatches.validation(ds, cfg.batch(), cfg.evalBatches());
            if (out != null)
                out.printf("data: %d training windows of %d tokens (%d batches/epoch), %d validation windows; %d steps%n",
                        ds.train().size(), cfg.ctx(), batches.batchesPerEpoch(), ds.validation().size(), cfg.steps());
            try (LoraSet set = new LoraSet(m)) {
                TrainingStrategy strategy = o.strategy() == null ? TrainingStrategy.LORA : o.strategy();
                strategy.addSlots(set, cfg);
                set.attach();
                Trainer tr = new Trainer(m, set, cfg, batches, val, o.outDir(), out);
                for (TrainHook h : strategy.hooks()) tr.addHook(h);
                Trainer.Result r = tr.run(o.resume());
                Path adapter = o.outDir().resolve("adapter.gguf");
                List<String> notes = AdapterGguf.write(adapter, set, m.config(), o.adapterType(), "panlora-lora");
                return new Summary(r, adapter, notes, ds.train().size(), ds.validation().size(), cfg.steps());
            }
        }
    }
}
