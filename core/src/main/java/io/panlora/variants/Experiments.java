package io.panlora.variants;

import io.panlora.data.Dataset;
import io.panlora.data.Packer;
import io.panlora.data.ReadOptions;
import io.panlora.lora.LoraSet;
import io.panlora.model.LlamaModel;
import io.panlora.model.TokenizerLoader;
import io.panlora.tokenizer.Tokenizer;
import io.panlora.train.BatchSource;
import io.panlora.train.DatasetBatches;
import io.panlora.train.TrainConfig;
import io.panlora.train.Trainer;
import io.panlora.train.TrainingStrategy;
import io.panlora.variants.cola.ColaChain;
import io.panlora.variants.cola.ColaConfig;
import io.panlora.variants.copra.CopraConfig;
import io.panlora.variants.copra.CopraSchedule;
import io.panlora.prune.Shapley;
import io.panlora.variants.cora.CoraConfig;
import io.panlora.variants.cora.CoraStrategy;
import io.panlora.variants.lorasc.LorascCascade;
import io.panlora.variants.lorasc.LorascConfig;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.function.Supplier;

/**
 * The comparisons of VARIANTS.md at small scale, every variant against plain LoRA with the same steps, rank, data
 * and seed: held-out loss (and trainable parameters) for COLA, CoRA and LoRASC, LoRASC on shifted text, CopRA's
 * interpolation barrier between two adapters trained from one init on disjoint shards, and loss after pruning the
 * adapters of the k lowest-Shapley layers.
 *
 * <p>A benchmark rather than an API for applications: it trains a dozen adapters one after the other and prints tables.
 * Static methods only.
 */
public final class Experiments {
    private Experiments() {}

    /**
     * Inputs: a base, a training text, a shifted text (another domain), and the training shape.
     *
     * @param model               the base model's GGUF file
     * @param text                the training text, a plain text file: 10% of it is held out for the held-out loss, and its two
     *                            halves (by characters) are the shards of the interpolation experiment
     * @param shifted             a text of another domain, used whole for the shifted-text loss (its first 8 batches)
     * @param cfg                 the training configuration every method uses (LORA mode; steps, rank, batch, seed …)
     * @param shapleyPermutations the Monte Carlo permutations of the pruning experiment's Shapley estimate, at least 1 (checked
     *                            only when that experiment starts, after the other trainings)
     * @param workDir             a directory for the interpolation shards ({@code shard1.txt}, {@code shard2.txt}); created if
     *                            missing, existing shards overwritten
     * @param load                where the model runs; null for the CPU
     */
    public record Setup(Path model, Path text, Path shifted, TrainConfig cfg, int shapleyPermutations, Path workDir,
                        LlamaModel.LoadOptions load) {
        /** Puts the CPU in for a null {@code load}. */
        public Setup {
            if (load == null) load = LlamaModel.LoadOptions.cpu();
        }

        /**
         * On the CPU.
         *
         * @param model               the base model's GGUF file
         * @param text                the training text, a plain text file: 10% of it is held out for the held-out loss, and its
         *                            two halves (by characters) are the shards of the interpolation experiment
         * @param shifted             a text of another domain, used whole for the shifted-text loss (its first 8 batches)
         * @param cfg                 the training configuration every method uses (LORA mode; steps, rank, batch, seed …)
         * @param shapleyPermutations the Monte Carlo permutations of the pruning experiment's Shapley estimate, at least 1
         *                            (checked only when that experiment starts, after the other trainings)
         * @param workDir             a directory for the interpolation shards ({@code shard1.txt}, {@code shard2.txt}); created
         *                            if missing, existing shards overwritten
         */
        public Setup(Path model, Path text, Path shifted, TrainConfig cfg, int shapleyPermutations, Path workDir) {
            this(model, text, shifted, cfg, shapleyPermutations, workDir, LlamaModel.LoadOptions.cpu());
        }
    }

    /** Factors of a trained adapter: per slot (A, B) with scale, plus its trainable parameter count. */
    record Trained(List<float[]> a, List<float[]> b, List<Float> scale, long trainable, double valLoss) {}

    /**
     * Runs every comparison and prints the tables: the base model's losses; held-out loss, shifted-text loss and trainable
     * parameters of LoRA, COLA (3 links), CoRA modes 1 and 2, LoRASC (3 iterations) and CopRA; the interpolation losses and
     * barrier of LoRA and CopRA; and the held-out loss of LoRA and CopRA after pruning the k lowest-Shapley layers, for each
     * k. Each method trains a fresh adapter with the same steps, rank, data and seed; nothing is exported.
     *
     * @param s   the inputs
     * @param out where the tables go
     * @throws IOException if a text cannot be read or a shard cannot be written
     * @throws IllegalArgumentException if the data yields no window or {@code shapleyPermutations < 1}
     * @throws io.panlora.train.Trainer.DivergedException if a training diverges
     */
    public static void run(Setup s, PrintStream out) throws IOException {
        Files.createDirectories(s.workDir());
        try (LlamaModel m = LlamaModel.load(s.model(), s.load())) {
            Tokenizer tok = TokenizerLoader.fromGguf(m.gguf().orElseThrow());
            TrainConfig cfg = s.cfg();
            Packer packer = new Packer(cfg.ctx(), false, Packer.padIdFor(tok));
            Dataset ds = Dataset.load(s.text(), null, tok, ReadOptions.defaults(), packer, 0.1, cfg.seed());
            List<BatchSource.Batch> val = DatasetBatches.validation(ds, cfg.batch(), 8);
            List<BatchSource.Batch> shifted = DatasetBatches.validation(Dataset.load(s.shifted(), s.shifted(), tok, ReadOptions.defaults(),
                    packer, 0, cfg.seed()), cfg.batch(), 8);
            double base = Trainer.evaluate(m, val), baseShifted = Trainer.evaluate(m, shifted);
            out.printf(Locale.ROOT, "base model: held-out loss %.4f, shifted text %.4f%n%n", base, baseShifted);
            out.printf("%-34s %12s %12s %12s%n", "method (same steps, rank, data, seed)", "held-out", "shifted", "trainable");
            List<Object[]> rows = new ArrayList<>();
            rows.add(row("LoRA", () -> TrainingStrategy.LORA, m, ds, cfg, val, shifted));
            rows.add(row("COLA (3 links)", () -> new ColaChain(new ColaConfig(3)), m, ds, cfg, val, shifted));
            rows.add(row("CoRA mode 1 (principal, B frozen)", () -> new CoraStrategy(CoraConfig.defaults()), m, ds, cfg, val, shifted));
            rows.add(row("CoRA mode 2 (principal, B init)", () -> new CoraStrategy(new CoraConfig("principal", false, false, false, List.of())),
                    m, ds, cfg, val, shifted));
            rows.add(row("LoRASC (3 iterations)", () -> new LorascCascade(new LorascConfig(Math.max(1, cfg.steps() / 3), 0.5, 0.01, cfg.seed())),
                    m, ds, cfg, val, shifted));
            rows.add(row("CopRA", () -> new CopraSchedule(CopraConfig.defaults(cfg.seed())), m, ds, cfg, val, shifted));
            for (Object[] r : rows) out.printf(Locale.ROOT, "%-34s %12.4f %12.4f %12d%n", r);
            out.println();
            interpolation(m, tok, s, cfg, packer, out);
            pruning(m, ds, cfg, val, s.shapleyPermutations(), out);
        }
    }

    private static Object[] row(String name, Supplier<TrainingStrategy> strategy, LlamaModel m, Dataset ds, TrainConfig cfg,
                                List<BatchSource.Batch> val, List<BatchSource.Batch> shifted) throws IOException {
        try (LoraSet set = new LoraSet(m)) {
            Trained t = train(m, set, strategy.get(), ds, cfg, val);
            return new Object[] {name, t.valLoss(), Trainer.evaluate(m, shifted), t.trainable()};
        }
    }

    /** Trains a strategy's adapter (left attached to the model) and reads its factors. */
    private static Trained train(LlamaModel m, LoraSet set, TrainingStrategy strategy, Dataset ds, TrainConfig cfg,
                                 List<BatchSource.Batch> val) throws IOException {
        strategy.addSlots(set, cfg);
        long trainable = 0;
        set.attach();
        Trainer tr = new Trainer(m, set, cfg, new DatasetBatches(ds, cfg.batch(), cfg.seed()), val, null, null);
        for (var h : strategy.hooks()) tr.addHook(h);
        // trainable parameters of the strategy as set up (CoRA mode 1 trains A only)
        for (LoraSet.Slot sl : set.slots()) trainable += strategy instanceof CoraStrategy cs && cs.frozenB() ? sl.aLength() : sl.aLength() + sl.bLength();
        if (strategy instanceof ColaChain) trainable = trainable / 3; // one link trains at a time
        Trainer.Result r = tr.run(false);
        List<float[]> a = new ArrayList<>(), b = new ArrayList<>();
        List<Float> sc = new ArrayList<>();
        for (LoraSet.Slot sl : set.slots()) { a.add(set.getA(sl)); b.add(set.getB(sl)); sc.add(set.scale(sl)); }
        return new Trained(a, b, sc, trainable, r.valAfter());
    }

    /** Two adapters from one init on disjoint halves of the text, averaged with weight λ: losses on both halves. */
    private static void interpolation(LlamaModel m, Tokenizer tok, Setup s, TrainConfig cfg, Packer packer, PrintStream out) throws IOException {
        String text = Files.readString(s.text());
        Path h1 = s.workDir().resolve("shard1.txt"), h2 = s.workDir().resolve("shard2.txt");
        Files.writeString(h1, text.substring(0, text.length() / 2));
        Files.writeString(h2, text.substring(text.length() / 2));
        Dataset d1 = Dataset.load(h1, null, tok, ReadOptions.defaults(), packer, 0.1, cfg.seed());
        Dataset d2 = Dataset.load(h2, null, tok, ReadOptions.defaults(), packer, 0.1, cfg.seed());
        List<BatchSource.Batch> v1 = DatasetBatches.validation(d1, cfg.batch(), 6), v2 = DatasetBatches.validation(d2, cfg.batch(), 6);
        double[] lambdas = {0, 0.25, 0.5, 0.75, 1};
        out.println("Interpolating two adapters trained from one init on disjoint halves (loss on half 1 / half 2 / mean):");
        out.printf("%-8s", "method");
        for (double l : lambdas) out.printf(Locale.ROOT, "   λ=%.2f             ", l);
        out.printf("  barrier%n");
        for (String method : List.of("LoRA", "CopRA")) {
            Trained t1, t2;
            try (LoraSet set = new LoraSet(m)) {
                t1 = train(m, set, method.equals("LoRA") ? TrainingStrategy.LORA : new CopraSchedule(CopraConfig.defaults(cfg.seed())), d1, cfg, v1);
            }
            try (LoraSet set = new LoraSet(m)) {
                t2 = train(m, set, method.equals("LoRA") ? TrainingStrategy.LORA : new CopraSchedule(CopraConfig.defaults(cfg.seed())), d2, cfg, v2);
            }
            double[] mean = new double[lambdas.length];
            out.printf("%-8s", method);
            try (LoraSet set = new LoraSet(m)) {
                TrainingStrategy.LORA.addSlots(set, cfg);
                set.attach();
                for (int i = 0; i < lambdas.length; i++) {
                    double lam = lambdas[i];
                    for (int k = 0; k < set.slots().size(); k++)
                        set.setWeights(set.slots().get(k), mix(t1.a().get(k), t2.a().get(k), lam), mix(t1.b().get(k), t2.b().get(k), lam));
                    double l1 = Trainer.evaluate(m, v1), l2 = Trainer.evaluate(m, v2);
                    mean[i] = (l1 + l2) / 2;
                    out.printf(Locale.ROOT, "   %.3f/%.3f/%.3f", l1, l2, mean[i]);
                }
            }
            double barrier = 0;
            for (int i = 0; i < lambdas.length; i++)
                barrier = Math.max(barrier, mean[i] - ((1 - lambdas[i]) * mean[0] + lambdas[i] * mean[lambdas.length - 1]));
            out.printf(Locale.ROOT, "  %.4f%n", barrier);
        }
        out.println();
    }

    private static float[] mix(float[] x, float[] y, double lam) {
        float[] z = new float[x.length];
        for (int i = 0; i < x.length; i++) z[i] = (float) ((1 - lam) * x[i] + lam * y[i]);
        return z;
    }

    /** Shapley values per layer, then the loss with the adapters of the k lowest-valued layers pruned, k = 0 … L−1. */
    private static void pruning(LlamaModel m, Dataset ds, TrainConfig cfg, List<BatchSource.Batch> val, int permutations, PrintStream out)
            throws IOException {
        int layers = (int) m.config().nLayer();
        out.printf("Pruning the adapters of the k lowest-Shapley layers (%d permutations): held-out loss by k%n", permutations);
        out.printf("%-8s", "method");
        for (int k = 0; k < layers; k++) out.printf("%10s", "k=" + k);
        out.println();
        for (String method : List.of("LoRA", "CopRA")) {
            try (LoraSet set = new LoraSet(m)) {
                train(m, set, method.equals("LoRA") ? TrainingStrategy.LORA : new CopraSchedule(CopraConfig.defaults(cfg.seed())), ds, cfg, val);
                Shapley.Values v = Shapley.estimate(m, set, val, permutations, cfg.seed() + 1);
                Integer[] order = new Integer[layers];
                for (int l = 0; l < layers; l++) order[l] = l;
                Arrays.sort(order, (x, y) -> Double.compare(v.mean()[x], v.mean()[y]));
                out.printf("%-8s", method);
                for (int k = 0; k < layers; k++) {
                    for (int l = 0; l < layers; l++) set.setLayerEnabled(l, true);
                    for (int j = 0; j < k; j++) set.setLayerEnabled(order[j], false);
                    out.printf(Locale.ROOT, "%10.4f", Trainer.evaluate(m, val));
                }
                out.println();
            }
        }
    }
}
