package io.panlora.experiment;

import io.panlora.data.DataReader;
import io.panlora.data.Dataset;
import io.panlora.data.Packer;
import io.panlora.lora.LoraSet;
import io.panlora.model.LlamaModel;
import io.panlora.tokenizer.Tokenizer;
import io.panlora.train.BatchSource;
import io.panlora.train.DatasetBatches;
import io.panlora.train.TrainConfig;
import io.panlora.train.Trainer;
import io.panlora.train.TrainingStrategy;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Runs the protocol on a loaded model, in process: for each arm, one run per learning rate of the grid with the selection
 * seed, scored on validation, arm after arm (when the best rate is the grid's smallest or largest, the grid is extended by its outer
 * ratio in that direction, at most {@link #EXTEND} times); then one run per (test seed, arm) at the arm's chosen rate, seed-major (all arms of a seed back
 * to back, so the seconds per step of a pair are measured under similar machine load), scored on test (and validation). Every run
 * is a fresh {@link LoraSet}: {@code strategy.addSlots}, attach, a {@link Trainer} with the strategy's hooks, then the
 * strategy (if it is {@link AutoCloseable}, also after a diverged run) and the set are closed. Paired: for a given seed every arm sees the same batches in the same order ({@link DatasetBatches} is
 * seeded by the run's seed only), and arms with the same slot layout start from the same A. Static methods only.
 */
public final class Runner {
    private Runner() {}

    /**
     * The tokenized splits.
     *
     * @param train      the training windows (its validation windows are the validation split's)
     * @param validation the validation batches, in file order
     * @param test       the test batches, in file order
     * @param shifted    test batches of another domain (empty for none)
     */
    public record Data(Dataset train, List<BatchSource.Batch> validation, List<BatchSource.Batch> test, List<BatchSource.Batch> shifted) {
        /**
         * The training windows per epoch.
         *
         * @return the number of training windows
         */
        public int trainWindows() { return train.train().size(); }

        /**
         * The same data with another domain's test batches.
         *
         * @param other       the other domain's splits (only its test part is used)
         * @param tok         the tokenizer
         * @param ctx         tokens per window
         * @param batch       windows per batch
         * @param evalBatches the most batches; {@code <= 0} for all
         * @param dir         where its split files go
         * @return a copy of this data with {@code shifted} set
         * @throws IOException if a file cannot be written or read
         */
        public Data withShifted(Splits other, Tokenizer tok, int ctx, int batch, int evalBatches, Path dir) throws IOException {
            return new Data(train, validation, test, prepare(other, tok, ctx, batch, evalBatches, dir).test());
        }
    }

    /**
     * Tokenizes the splits (written to {@code dir} as text files first, so a run can be inspected and repeated): windows of
     * {@code ctx} tokens, not packed across paragraphs' blocks (the text files are read as plain text streams).
     *
     * @param splits      the splits
     * @param tok         the model's tokenizer
     * @param ctx         tokens per window
     * @param batch       windows per batch
     * @param evalBatches the most validation and test batches; {@code <= 0} for all
     * @param dir         where the split files go
     * @return the data
     * @throws IOException if a file cannot be written or read
     */
    public static Data prepare(Splits splits, Tokenizer tok, int ctx, int batch, int evalBatches, Path dir) throws IOException {
        List<Path> f = splits.write(dir);
        Packer packer = new Packer(ctx, false, Packer.padIdFor(tok));
        var train = DataReader.readText(f.get(0), tok);
        var val = DataReader.readText(f.get(1), tok);
        var test = DataReader.readText(f.get(2), tok);
        Dataset ds = Dataset.of(train, val, packer, 0, 0);
        Dataset ts = Dataset.of(test, test, packer, 0, 0);
        return new Data(ds, DatasetBatches.validation(ds, batch, evalBatches), DatasetBatches.validation(ts, batch, evalBatches), List.of());
    }

    /**
     * The outcome of one run.
     *
     * @param validation     the validation loss after training (NaN if it diverged)
     * @param test           the test loss after training (NaN if it diverged)
     * @param shifted        the shifted-text loss after training (NaN if it diverged or there is no shifted text)
     * @param secondsPerStep wall-clock seconds per optimizer step (training only, no evaluation)
     * @param trainable      the arm's trainable parameters per step
     * @param extra          the probe's measurements (empty without a probe)
     */
    public record Run(double validation, double test, double shifted, double secondsPerStep, long trainable, java.util.Map<String, Double> extra) {}

    /** The key of {@link Claim.Metric#PRUNED_LOSS} among a probe's measurements. */
    public static final String PRUNED = "pruned_every_other";

    /** The key of {@link Claim.Metric#PRUNE_DEGRADATION} among a probe's measurements. */
    public static final String DEGRADATION = "prune_degradation";

    /** The key of {@link Claim.Metric#MERGED_LOSS} among a probe's measurements. */
    public static final String MERGED = "merged_half";

    /** The key of {@link Claim.Metric#MERGE_BARRIER} among a probe's measurements. */
    public static final String BARRIER = "merge_barrier";

    /** Further measurements of a trained adapter, taken after the test loss while it is still attached. */
    @FunctionalInterface
    public interface Probe {
        /**
         * Measures the trained adapter; must leave the set as it found it.
         *
         * @param m    the model, with the adapter attached
         * @param arm  the arm trained
         * @param set  the trained adapter
         * @param data the data
         * @param cfg  the run's configuration
         * @param test the unpruned test loss just measured
         * @return measurements by key, in a stable order
         * @throws IOException if a further training fails to write
         */
        java.util.Map<String, Double> measure(LlamaModel m, Arm arm, LoraSet set, Data data, TrainConfig cfg, double test) throws IOException;
    }

    /**
     * Trains one arm once and evaluates it.
     *
     * @param m    the base model (left without an adapter afterwards)
     * @param arm  the arm
     * @param base the run's configuration before the arm's transform (learning rate, steps, seed set)
     * @param data the data
     * @param test whether to evaluate on test too (otherwise test is NaN)
     * @return the run's losses and cost; NaN losses if the training diverged
     * @throws IOException if the trainer fails to write (it writes nothing here)
     */
    public static Run train(LlamaModel m, Arm arm, TrainConfig base, Data data, boolean test) throws IOException {
        return train(m, arm, base, data, test, null);
    }

    /**
     * Trains one arm once and evaluates it, with a probe after the test loss.
     *
     * @param m     the base model (left without an adapter or a strategy's dense corrections afterwards)
     * @param arm   the arm
     * @param base  the run's configuration before the arm's transform
     * @param data  the data
     * @param test  whether to evaluate on test (and run the probe)
     * @param probe further measurements, or null
     * @return the run's losses, cost and measurements
     * @throws IOException if the trainer fails to write, or an {@link AutoCloseable} strategy fails to close
     */
    public static Run train(LlamaModel m, Arm arm, TrainConfig base, Data data, boolean test, Probe probe) throws IOException {
        TrainConfig cfg = arm.config().apply(base);
        TrainingStrategy strategy = arm.strategy().apply(cfg);
        try (LoraSet set = new LoraSet(m)) {
            try {
                strategy.addSlots(set, cfg);
                long trainable = arm.trainable().applyAsLong(set);
                set.attach();
                Trainer tr = new Trainer(m, set, cfg, new DatasetBatches(data.train(), cfg.batch(), cfg.seed()), List.of(), null, null);
                for (var h : strategy.hooks()) tr.addHook(h);
                long t0 = System.nanoTime();
                try {
                    tr.run(false);
                } catch (Trainer.DivergedException e) {
                    return new Run(Double.NaN, Double.NaN, Double.NaN, (System.nanoTime() - t0) / 1e9 / Math.max(1, tr.step()), trainable, java.util.Map.of());
                }
                double sec = (System.nanoTime() - t0) / 1e9 / cfg.steps();
                double v = Trainer.evaluate(m, data.validation());
                double t = test ? Trainer.evaluate(m, data.test()) : Double.NaN;
                double sh = test && !data.shifted().isEmpty() ? Trainer.evaluate(m, data.shifted()) : Double.NaN;
                java.util.Map<String, Double> extra = test && probe != null ? probe.measure(m, arm, set, data, cfg, t) : java.util.Map.of();
                return new Run(v, t, sh, sec, trainable, extra);
            } finally {
                // a strategy with native state (LoRASC's dense corrections of the base weights) is closed after every run: after
                // a divergence, which skips its end hook, this also takes its corrections off the model, so the next run starts
                // from the clean base
                if (strategy instanceof AutoCloseable c) closeStrategy(c);
            }
        }
    }

    private static void closeStrategy(AutoCloseable c) throws IOException {
        try {
            c.close();
        } catch (IOException | RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IOException("closing the training strategy: " + e.getMessage(), e);
        }
    }

    /**
     * Runs the whole protocol for every arm, logging each run on {@code log}.
     *
     * @param m    the base model
     * @param arms the arms
     * @param p    the protocol
     * @param data the data
     * @param log  where progress lines go, or null
     * @return the arms' results, in the arms' order
     * @throws IOException as {@link #train}
     */
    public static List<Results.ArmResult> run(LlamaModel m, List<Arm> arms, Protocol p, Data data, PrintStream log) throws IOException {
        return run(m, arms, p, data, null, log);
    }

    /**
     * Runs the whole protocol for every arm with a probe on every test run.
     *
     * @param m     the base model
     * @param arms  the arms
     * @param p     the protocol
     * @param data  the data
     * @param probe further measurements of each test run, or null
     * @param log   where progress lines go, or null
     * @return the arms' results, in the arms' order
     * @throws IOException as {@link #train}
     */
    public static List<Results.ArmResult> run(LlamaModel m, List<Arm> arms, Protocol p, Data data, Probe probe, PrintStream log) throws IOException {
        // 1. learning-rate selection, arm by arm
        List<List<Float>> grids = new ArrayList<>();
        List<double[]> sels = new ArrayList<>();
        float[] lrs = new float[arms.size()];
        boolean[] edge = new boolean[arms.size()];
        for (int ai = 0; ai < arms.size(); ai++) {
            Arm arm = arms.get(ai);
            List<Float> grid = new ArrayList<>(p.lrGrid());
            List<Double> losses = new ArrayList<>();
            for (Float g : grid) losses.add(train(m, arm, p.config(g, p.selectionSeed()), data, false).validation());
            // a best rate at the grid's edge extends the grid by its outer step in that direction, at most EXTEND times
            for (int ext = 0; ext < EXTEND && grid.size() > 1; ext++) {
                int b = argmin(losses);
                if (b < 0 || (b != 0 && b != grid.size() - 1)) break;
                boolean up = b == grid.size() - 1;
                float next = up ? grid.get(b) * grid.get(b) / grid.get(b - 1) : grid.get(0) * grid.get(0) / grid.get(1);
                double v = train(m, arm, p.config(next, p.selectionSeed()), data, false).validation();
                if (up) { grid.add(next); losses.add(v); } else { grid.add(0, next); losses.add(0, v); }
            }
            double[] sel = losses.stream().mapToDouble(Double::doubleValue).toArray();
            int best = Math.max(0, argmin(losses));
            lrs[ai] = grid.get(best);
            edge[ai] = sel.length > 1 && (best == 0 || best == sel.length - 1);
            grids.add(grid);
            sels.add(sel);
            if (log != null)
                log.printf(Locale.ROOT, "  %-28s lr %-7s%s  selection %s at %s%n", arm.name(), fmtLr(lrs[ai]), edge[ai] ? " (at the grid's edge)" : "",
                        java.util.Arrays.toString(sel), grid.stream().map(Runner::fmtLr).toList());
        }
        // 2. test runs, seed-major: the arms of one seed run back to back, so paired timings share the machine's load
        int n = p.seeds().size(), na = arms.size();
        double[][] test = new double[na][n], val = new double[na][n], sec = new double[na][n], shifted = new double[na][n];
        long[] trainable = new long[na];
        List<java.util.Map<String, double[]>> extra = new ArrayList<>();
        for (int ai = 0; ai < na; ai++) extra.add(new java.util.LinkedHashMap<>());
        for (int k = 0; k < n; k++) {
            for (int ai = 0; ai < na; ai++) {
                Run r = train(m, arms.get(ai), p.config(lrs[ai], p.seeds().get(k)), data, true, probe);
                test[ai][k] = r.test();
                val[ai][k] = r.validation();
                shifted[ai][k] = r.shifted();
                sec[ai][k] = r.secondsPerStep();
                trainable[ai] = r.trainable();
                final int kk = k;
                for (var e : r.extra().entrySet()) extra.get(ai).computeIfAbsent(e.getKey(), x -> nanArray(n))[kk] = e.getValue();
            }
            if (log != null) log.printf(Locale.ROOT, "  seed %d done (%d of %d)%n", p.seeds().get(k), k + 1, n);
        }
        List<Results.ArmResult> out = new ArrayList<>();
        for (int ai = 0; ai < na; ai++) {
            Results.ArmResult a = new Results.ArmResult(arms.get(ai).name(), lrs[ai], grids.get(ai), sels.get(ai), edge[ai], p.seeds(), test[ai],
                    val[ai], shifted[ai], sec[ai], trainable[ai], extra.get(ai));
            out.add(a);
            if (log != null)
                log.printf(Locale.ROOT, "  %-28s lr %-7s test %.4f ± %.4f  %.3f s/step  seeds %s%n", a.name(), fmtLr(a.lr()), a.testMean(), a.testSd(),
                        Stats.mean(a.secondsPerStep()), java.util.Arrays.toString(a.test()));
        }
        return out;
    }

    /** How many times the learning-rate grid is extended past an edge where the best rate lies. */
    public static final int EXTEND = 2;

    private static double[] nanArray(int n) {
        double[] a = new double[n];
        java.util.Arrays.fill(a, Double.NaN);
        return a;
    }

    private static int argmin(List<Double> v) {
        int best = -1;
        for (int i = 0; i < v.size(); i++)
            if (Double.isFinite(v.get(i)) && (best < 0 || v.get(i) < v.get(best))) best = i;
        return best;
    }

    static String fmtLr(float lr) {
        return String.format(Locale.ROOT, "%.0e", lr).replace("e-0", "e-");
    }
}
