package io.panlora.experiment;

import io.panlora.data.DataReader;
import io.panlora.data.Dataset;
import io.panlora.data.JsonParser;
import io.panlora.data.JsonValue;
import io.panlora.data.Packer;
import io.panlora.data.ReadOptions;
import io.panlora.data.TrainingData;
import io.panlora.lora.LoraSet;
import io.panlora.model.LlamaModel;
import io.panlora.tokenizer.Tokenizer;
import io.panlora.train.BatchSource;
import io.panlora.train.DatasetBatches;
import io.panlora.train.TrainConfig;
import io.panlora.train.TrainHook;
import io.panlora.train.Trainer;
import io.panlora.train.TrainingStrategy;
import io.panlora.variants.lorasc.LorascCascade;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;
import java.util.function.Function;

import static io.panlora.experiment.ExperimentCatalog.*;

/**
 * The {@code lorasc} experiment: LoRASC against LoRA in an over-fitting regime. Every arm trains on a small share of the
 * task's training split ({@link #KEEP every 8th block}) for several epochs ({@link ExperimentCatalog#size}), with the
 * validation loss checked every {@link #CHECK} steps and after the last (best and final: how much each arm over-fits);
 * the test loss is the final model's, and so are the two out-of-distribution losses: the shifted text (Grimm's tales) and
 * the self-instruct user-oriented tasks as Alpaca records (the NLL of the outputs only). The arms: LoRA r = 4, LoRASC
 * r = 4 (3 cascade iterations, α = 0.5, Gaussian γ = 0.01), its ablations α = 1, γ = 0 and γ = 0.05, and LoRA at 3r (the
 * rank LoRASC's mixture can reach). LoRA r and LoRASC are also trained with every test seed at each rate of the base
 * learning-rate grid, for a paired test of their stability across learning rates. Static methods only; run through
 * {@link ExperimentCatalog#run}.
 */
final class LorascExperiment {
    private LorascExperiment() {}

    /** The small training set is every KEEP-th block of the training split (blocks 0, KEEP, 2·KEEP, …). */
    static final int KEEP = 8;

    /** Validation checks every this many steps (full size). */
    static final int CHECK = 25;

    /** Validation checks every this many steps with {@code quick} (its runs are short). */
    static final int QUICK_CHECK = 10;

    /** Input tokens per window of the self-instruct set (one record per window, cut to its first CTX + 1 tokens). */
    static final int OOD_CTX = 256;

    /** The lowest validation loss over the checks, the final one included. */
    static final String VAL_BEST = "val_best";
    /** The validation loss after the last step (the model the run ends with). */
    static final String VAL_FINAL = "val_final";
    /** The step of {@link #VAL_BEST}. */
    static final String VAL_BEST_STEP = "val_best_step";
    /** {@link #VAL_FINAL} − {@link #VAL_BEST}: what the run lost by training on past its best check. */
    static final String OVERFIT = "overfit";
    /** The NLL of the self-instruct outputs. */
    static final String OOD = "ood_selfinstruct";
    /** Max − min of the test loss over the base learning-rate grid, per seed. */
    static final String LR_SPREAD = "lr_spread";
    /** The highest test loss over the base learning-rate grid, per seed. */
    static final String LR_WORST = "lr_worst";
    /** How many of a seed's grid runs diverged. */
    static final String LR_DIVERGED = "lr_grid_diverged";
    /** {@link #OVERFIT} averaged over the base learning-rate grid, per seed. */
    static final String OVERFIT_GRID = "overfit_grid";

    static Results lorasc(LlamaModel m, Tokenizer tok, Options o, Size sz, Protocol p0, Runner.Data data0, List<String[]> cfg,
                          double baseVal, double baseTest, PrintStream out) throws IOException {
        // the over-fitting regime: a small training set, several epochs; validation and test stay the standard splits
        Path corpus = o.dataDir().resolve("tinyshakespeare.txt");
        Splits full = Splits.read(corpus, sz.maxChars(), sz.blockChars());
        Splits small = new Splits(keepEvery(full.train(), sz.blockChars(), KEEP), full.validation(), full.test());
        Path other = o.dataDir().resolve("grimm-pg2591.txt");
        Runner.Data data = Runner.prepare(small, tok, sz.ctx(), sz.batch(), sz.evalBatches(), o.outDir().resolve("splits-small"))
                .withShifted(Splits.read(other, sz.maxChars(), sz.blockChars()), tok, sz.ctx(), sz.batch(), sz.evalBatches(),
                        o.outDir().resolve("shifted"));
        int steps = (int) Math.ceil(sz.epochs() * data.trainWindows() / sz.batch());
        Protocol p = new Protocol(steps, p0.batch(), p0.ctx(), p0.rank(), p0.lrGrid(), p0.selectionSeed(), p0.seeds(), p0.evalBatches());
        int every = o.quick() ? QUICK_CHECK : CHECK;
        double epochs = (double) steps * sz.batch() / data.trainWindows();
        for (String[] kv : cfg) {
            if (kv[0].equals("split sizes"))
                kv[1] = String.format(Locale.ROOT, "train %d windows of %d tokens (the small training set; the whole training split has %d); "
                        + "validation %d and test %d batches of %d (the standard splits)", data.trainWindows(), sz.ctx(), data0.trainWindows(),
                        data.validation().size(), data.test().size(), sz.batch());
            if (kv[0].equals("training"))
                kv[1] = String.format(Locale.ROOT, "%d steps of %d x %d tokens (%.2f epochs of the small training set), all targets, alpha = 2r, "
                        + "cosine, 5%% warm-up, floor 10%%, AdamW no decay, clip 1", steps, sz.batch(), sz.ctx(), epochs);
        }
        List<String[]> added = new ArrayList<>();
        added.add(new String[] {"over-fitting regime", String.format(Locale.ROOT, "the training split's paragraphs regrouped into blocks of >= %d "
                + "characters, every %dth block kept (blocks 0, %d, %d, …): %d of %d characters, %d windows, spread over the corpus "
                + "(written to splits-small/); %.2f epochs; the validation loss (%d batches) every %d steps and after the last: %s = the "
                + "lowest of these checks, %s = the last, %s = %s − %s; the test, shifted-text and self-instruct losses are the final "
                + "model's (no early stopping); the learning rate is chosen on the final validation loss", sz.blockChars(), KEEP, KEEP,
                2 * KEEP, small.train().length(), full.train().length(), data.trainWindows(), epochs, data.validation().size(), every,
                VAL_BEST, VAL_FINAL, OVERFIT, VAL_FINAL, VAL_BEST)});
        added.add(new String[] {"LoRASC's checks", "a check of a LoRASC run scores the model LoRASC would export if stopped there, "
                + "W0 + S + α·s·B·A without the noise (its training-time model W0 + S + N + s·B·A is not what it delivers); after the last "
                + "step it is the exported W0 + S"});
        double baseShifted = Trainer.evaluate(m, data.shifted());
        added.add(new String[] {"shifted text", other + " (test split, same splitting rule); base model loss " + String.format(Locale.ROOT, "%.4f", baseShifted)});
        // the out-of-distribution tasks: self-instruct's user-oriented tasks as Alpaca records, scored on the outputs only
        Path si = o.dataDir().resolve("selfinstruct-user-oriented.jsonl");
        Path alpaca = o.outDir().resolve("selfinstruct-alpaca.jsonl");
        int[] counts = toAlpaca(si, alpaca);
        TrainingData td = DataReader.read(alpaca, tok, ReadOptions.defaults());
        Dataset ods = Dataset.of(td, td, new Packer(OOD_CTX, false, Packer.padIdFor(tok)), 0, 0);
        List<BatchSource.Batch> ood = DatasetBatches.validation(ods, sz.batch(), o.quick() ? sz.evalBatches() : 0);
        int scored = Math.min(ods.validation().size(), ood.size() * sz.batch());
        long oodTokens = 0;
        for (BatchSource.Batch b : ood) for (int[] row : b.targets()) for (int t : row) if (t >= 0) oodTokens++;
        double baseOod = Trainer.evaluate(m, ood);
        added.add(new String[] {"self-instruct (OOD)", String.format(Locale.ROOT, "%s: %d tasks, %d instances, each an Alpaca record "
                + "{instruction, input, output} (%s); one record per window of %d tokens, cut to its first %d; only the output and EOS are "
                + "scored: %d records (%d output tokens)%s; in the whole set, %d records are cut short (output truncated) and %d left out "
                + "(no output token within the window); base model loss %.4f", si, counts[0], counts[1], alpaca, OOD_CTX, OOD_CTX + 1, scored, oodTokens, o.quick() ? " (quick: the first "
                + ood.size() + " batches)" : "", ods.validation().truncatedExamples(), ods.validation().droppedExamples(), baseOod)});
        int r = p.rank(), iterations = 3, len = (steps + iterations - 1) / iterations;
        added.add(new String[] {"LoRASC", iterations + " cascade iterations of " + len + " steps, slow-update α 0.5, Gaussian noise γ 0.01 · std(W), "
                + "seed = the run's seed; ablations: α = 1 (the whole fast LoRA kept), γ = 0 (no noise), γ = 0.05"});
        List<Float> baseGrid = p.lrGrid();
        String lora = loraName(r), wide = loraName(iterations * r), sc = "LoRASC r=" + r, a1 = "LoRASC α=1", g0 = "LoRASC γ=0", g5 = "LoRASC γ=0.05";
        added.add(new String[] {"learning-rate stability", lora + " and " + sc + " are also trained with every test seed at each rate of the grid "
                + baseGrid.stream().map(Runner::fmtLr).toList() + ", with the same validation checks, and scored on test (the chosen rate's test "
                + "runs are reused): per seed, " + LR_SPREAD + " = max − min and " + LR_WORST + " = max of the test loss over the three rates, "
                + OVERFIT_GRID + " = the mean of " + OVERFIT + " over them, paired across the two arms; a diverged run leaves its seed's "
                + "values NaN (out of the interval) and is counted in " + LR_DIVERGED + "; for every arm, the selection's validation losses "
                + "over the grid (one seed) are reported in the notes, descriptively"});
        cfg.addAll(added);
        for (String[] kv : cfg)
            if (kv[0].equals("split sizes") || kv[0].equals("training")) out.println("  " + kv[0] + " (this experiment): " + kv[1]);
        for (String[] kv : added) out.println("  " + kv[0] + ": " + kv[1]);

        Watch watch = new Watch(every, data.validation(), p.selectionSeed());
        Arm loraArm = Arm.of(lora, Arm.withRank(r), watch.watched(Arm.variant("lora", Map.of()), 1));
        Arm scArm = lorascArm(sc, r, len, Map.of(), 0.5, watch);
        List<Arm> arms = List.of(loraArm, scArm,
                lorascArm(a1, r, len, Map.of("lorasc-alpha", "1"), 1.0, watch),
                lorascArm(g0, r, len, Map.of("lorasc-gamma", "0"), 0.5, watch),
                lorascArm(g5, r, len, Map.of("lorasc-gamma", "0.05"), 0.5, watch),
                Arm.of(wide, Arm.withRank(iterations * r), watch.watched(Arm.variant("lora", Map.of()), 1)));
        Runner.Probe probe = (mm, arm, set, d, c, t) -> {
            Map<String, Double> x = new LinkedHashMap<>();
            Curve cv = watch.last != null ? watch.last : new Curve();
            double fin = Trainer.evaluate(mm, d.validation());
            cv.add(c.steps(), fin);
            int best = cv.best();
            x.put(VAL_BEST, cv.losses.get(best));
            x.put(VAL_FINAL, fin);
            x.put(VAL_BEST_STEP, (double) cv.steps.get(best));
            x.put(OVERFIT, cv.overfit());
            x.put(OOD, Trainer.evaluate(mm, ood));
            for (int i = 0; i < cv.steps.size(); i++) x.put("val_step_" + cv.steps.get(i), cv.losses.get(i));
            return x;
        };
        List<Claim> claims = List.of(
                Claim.loss("LoRASC generalizes better than LoRA (test loss)", Claim.Kind.BETTER, sc, lora, MARGIN),
                Claim.measured("LoRASC over-fits less than LoRA (final minus best validation loss)", Claim.Kind.BETTER, sc, lora, OVERFIT,
                        "nats (" + OVERFIT + ")", MARGIN),
                Claim.measured("LoRASC's best validation loss is no worse than LoRA's", Claim.Kind.NOT_WORSE, sc, lora, VAL_BEST,
                        "nats (" + VAL_BEST + ")", MARGIN),
                Claim.measured("LoRASC over-fits less than LoRA across the learning-rate grid (final minus best validation loss, mean over "
                        + "the grid's rates)", Claim.Kind.BETTER, sc, lora, OVERFIT_GRID, "nats (" + OVERFIT_GRID + ")", MARGIN),
                new Claim("LoRASC is more robust out of distribution than LoRA: shifted text (Grimm)", Claim.Kind.BETTER, sc, lora,
                        Claim.Metric.SHIFTED_LOSS, MARGIN, false, false),
                Claim.measured("LoRASC is more robust out of distribution than LoRA: self-instruct user-oriented tasks (output NLL)",
                        Claim.Kind.BETTER, sc, lora, OOD, "nats (" + OOD + ")", MARGIN),
                Claim.measured("LoRASC is more stable across learning rates: its test loss varies less over the grid (max − min)",
                        Claim.Kind.BETTER, sc, lora, LR_SPREAD, "nats (" + LR_SPREAD + ")", MARGIN),
                Claim.measured("LoRASC is more stable across learning rates: its worst test loss over the grid is lower",
                        Claim.Kind.BETTER, sc, lora, LR_WORST, "nats (" + LR_WORST + ")", MARGIN),
                Claim.loss("the slow-fast share helps: LoRASC (α = 0.5) beats LoRASC with α = 1", Claim.Kind.BETTER, sc, a1, MARGIN).asControl(),
                Claim.loss("the noise helps: LoRASC (γ = 0.01) beats LoRASC without noise (γ = 0)", Claim.Kind.BETTER, sc, g0, MARGIN).asControl(),
                Claim.loss("more noise helps: LoRASC with γ = 0.05 beats γ = 0.01", Claim.Kind.BETTER, g5, sc, MARGIN).asControl(),
                Claim.loss("LoRASC's gain is more than the rank its mixture reaches: it beats LoRA at rank " + iterations + "·" + r,
                        Claim.Kind.BETTER, sc, wide, MARGIN).asControl(),
                new Claim("LoRASC costs no more per step than LoRA", Claim.Kind.NOT_WORSE, sc, lora, Claim.Metric.SECONDS_PER_STEP, COST_MARGIN, true, false));
        out.println("  arms: " + String.join(", ", arms.stream().map(Arm::name).toList()));
        List<Results.ArmResult> res = new ArrayList<>(Runner.run(m, arms, p, data, probe, out));
        for (Results.ArmResult a : res)
            out.printf(Locale.ROOT, "  %-28s validation best %.4f (step %.0f), final %.4f, over-fit %.4f; self-instruct %.4f%n", a.name(),
                    mean(a, VAL_BEST), mean(a, VAL_BEST_STEP), mean(a, VAL_FINAL), mean(a, OVERFIT), mean(a, OOD));

        // learning-rate stability: LoRA and LoRASC with every test seed at each rate of the base grid
        int n = p.seeds().size();
        Map<String, double[][]> perRate = new LinkedHashMap<>();
        for (Arm arm : List.of(loraArm, scArm)) {
            Results.ArmResult a = find(res, arm.name());
            double[][] tl = new double[baseGrid.size()][n], of = new double[baseGrid.size()][n];
            for (int k = 0; k < n; k++)
                for (int g = 0; g < baseGrid.size(); g++) {
                    float lr = baseGrid.get(g);
                    if (lr == a.lr()) {
                        tl[g][k] = a.test()[k];
                        of[g][k] = a.extra().get(OVERFIT)[k];
                    } else {
                        Runner.Run run = Runner.train(m, arm, p.config(lr, p.seeds().get(k)), data, true);
                        Curve cv = watch.last;
                        cv.add(p.steps(), run.validation());
                        tl[g][k] = run.test();
                        of[g][k] = cv.overfit();
                    }
                    out.printf(Locale.ROOT, "  stability %-18s lr %-6s seed %d: test %.4f, over-fit %.4f%s%n", arm.name(), Runner.fmtLr(lr),
                            p.seeds().get(k), tl[g][k], of[g][k], lr == a.lr() ? " (the test run)" : "");
                }
            perRate.put(arm.name(), tl);
            Map<String, double[]> extra = new LinkedHashMap<>(a.extra());
            double[] spread = new double[n], worst = new double[n], diverged = new double[n], ofGrid = new double[n];
            for (int k = 0; k < n; k++) {
                double lo = Double.POSITIVE_INFINITY, hi = Double.NEGATIVE_INFINITY, sum = 0;
                for (int g = 0; g < baseGrid.size(); g++) {
                    double v = tl[g][k];
                    if (!Double.isFinite(v)) diverged[k]++;
                    lo = Math.min(lo, v);
                    hi = Math.max(hi, v);
                    sum += of[g][k];
                }
                spread[k] = diverged[k] > 0 ? Double.NaN : hi - lo;
                worst[k] = diverged[k] > 0 ? Double.NaN : hi;
                ofGrid[k] = diverged[k] > 0 ? Double.NaN : sum / baseGrid.size();
            }
            for (int g = 0; g < baseGrid.size(); g++) extra.put("test_lr_" + Runner.fmtLr(baseGrid.get(g)), tl[g]);
            for (int g = 0; g < baseGrid.size(); g++) extra.put("overfit_lr_" + Runner.fmtLr(baseGrid.get(g)), of[g]);
            extra.put(LR_SPREAD, spread);
            extra.put(LR_WORST, worst);
            extra.put(OVERFIT_GRID, ofGrid);
            extra.put(LR_DIVERGED, diverged);
            res.set(res.indexOf(a), new Results.ArmResult(a.name(), a.lr(), a.grid(), a.selection(), a.lrAtEdge(), a.seeds(), a.test(),
                    a.validation(), a.shifted(), a.secondsPerStep(), a.trainable(), extra));
        }

        List<Results.ClaimResult> judged = Results.judge(res, claims);
        List<Results.Figure> figs = new ArrayList<>();
        figs.add(common(res, judged).get(0)); // test-loss.svg
        figs.add(claimsFigure(judged));
        List<String> names = res.stream().map(Results.ArmResult::name).toList();
        TreeSet<Integer> checkSteps = new TreeSet<>();
        for (Results.ArmResult a : res)
            for (String k : a.extra().keySet()) if (k.startsWith("val_step_")) checkSteps.add(Integer.parseInt(k.substring("val_step_".length())));
        double[] xs = checkSteps.stream().mapToDouble(Integer::doubleValue).toArray();
        double[][] cm = new double[res.size()][xs.length], cs = new double[res.size()][xs.length];
        for (int ai = 0; ai < res.size(); ai++)
            for (int i = 0; i < xs.length; i++) {
                double[] v = res.get(ai).extra().getOrDefault("val_step_" + (int) xs[i], new double[] {Double.NaN});
                cm[ai][i] = Stats.mean(Stats.finite(v));
                cs[ai][i] = Stats.sd(Stats.finite(v));
            }
        figs.add(new Results.Figure("validation-curve.svg", "Validation loss during training", Svg.lines(
                "Validation loss every " + every + " steps and after the last (mean ± SD over seeds; LoRASC: the model it would export)",
                "step", "validation loss (nats/token)", names, xs, cm, cs)));
        figs.add(new Results.Figure("shifted-loss.svg", "Shifted-text loss per arm", Svg.dots("Shifted-text (Grimm) loss per arm (dots: seeds; tick: mean; bar: ± SD)",
                "shifted-text loss (nats/token)", names, res.stream().map(Results.ArmResult::shifted).toList())));
        figs.add(new Results.Figure("ood-selfinstruct.svg", "Self-instruct output loss per arm", Svg.dots(
                "Self-instruct user-oriented tasks: output NLL per arm (dots: seeds; tick: mean; bar: ± SD)", "output loss (nats/token)", names,
                res.stream().map(a -> a.extra().get(OOD)).toList())));
        TreeSet<Float> rates = new TreeSet<>();
        for (Results.ArmResult a : res) rates.addAll(a.grid());
        double[] lx = rates.stream().mapToDouble(f -> Math.log10(f)).toArray();
        double[][] sm = new double[res.size()][lx.length], ssd = new double[res.size()][lx.length];
        for (int ai = 0; ai < res.size(); ai++) {
            java.util.Arrays.fill(sm[ai], Double.NaN);
            java.util.Arrays.fill(ssd[ai], Double.NaN);
            Results.ArmResult a = res.get(ai);
            for (int g = 0; g < a.grid().size(); g++) sm[ai][rates.headSet(a.grid().get(g)).size()] = a.selection()[g];
        }
        figs.add(new Results.Figure("lr-selection.svg", "Validation loss against the learning rate (selection)", Svg.lines(
                "Final validation loss against the learning rate (selection seed, one run per rate)", "log10(learning rate)",
                "validation loss (nats/token)", names, lx, sm, ssd)));
        double[] bx = baseGrid.stream().mapToDouble(f -> Math.log10(f)).toArray();
        double[][] tm = new double[2][bx.length], ts = new double[2][bx.length];
        List<String> two = new ArrayList<>(perRate.keySet());
        for (int ai = 0; ai < 2; ai++)
            for (int g = 0; g < bx.length; g++) {
                tm[ai][g] = Stats.mean(Stats.finite(perRate.get(two.get(ai))[g]));
                ts[ai][g] = Stats.sd(Stats.finite(perRate.get(two.get(ai))[g]));
            }
        figs.add(new Results.Figure("lr-stability.svg", "Test loss against the learning rate (paired seeds)", Svg.lines(
                "Test loss against the learning rate (mean ± SD over the " + n + " test seeds)", "log10(learning rate)", "test loss (nats/token)",
                two, bx, tm, ts)));

        List<String> notes = new ArrayList<>();
        notes.add("the learning rate is chosen on the task's final validation loss (no early stopping); the shifted text and the self-instruct "
                + "tasks are never used for selection");
        notes.add("test, shifted-text and self-instruct losses are measured once, on the model each run ends with; " + VAL_BEST
                + " says what stopping at the best check would have given on validation, it is not used to pick a model");
        StringBuilder sel = new StringBuilder("stability over the grid " + baseGrid.stream().map(Runner::fmtLr).toList()
                + " on validation (selection seed, one run per rate; descriptive, no interval):");
        for (Results.ArmResult a : res) {
            double lo = Double.POSITIVE_INFINITY, hi = Double.NEGATIVE_INFINITY;
            List<String> div = new ArrayList<>();
            float worstLr = Float.NaN;
            for (Float g : baseGrid) {
                int i = a.grid().indexOf(g);
                double v = i < 0 ? Double.NaN : a.selection()[i];
                if (!Double.isFinite(v)) { div.add(Runner.fmtLr(g)); continue; }
                lo = Math.min(lo, v);
                if (v > hi) { hi = v; worstLr = g; }
            }
            sel.append(String.format(Locale.ROOT, " %s: spread %.4f, worst %.4f at %s%s;", a.name(), hi - lo, hi, Runner.fmtLr(worstLr),
                    div.isEmpty() ? "" : " (of the finite ones: diverged at " + String.join(", ", div) + ")"));
        }
        notes.add(sel.substring(0, sel.length() - 1));
        notes.add("the paired grid claims (" + LR_SPREAD + ", " + LR_WORST + ", " + OVERFIT_GRID + ") compare " + lora + " and " + sc
                + " only; their test loss and over-fitting at each rate are in test_lr_* and overfit_lr_* (and lr-stability.png)");
        notes.add("LoRASC's noise is drawn from the run's seed: each seed's run is reproducible; the validation checks do not change a run "
                + "(they leave the weights, the noise and the optimizer state as they were)");
        if (o.quick()) notes.add("quick: validation checks every " + QUICK_CHECK + " steps (the full size checks every " + CHECK + ")");
        return new Results("lorasc", "LoRASC (arXiv 2407.01491) against LoRA in an over-fitting regime (1/" + KEEP + " of the training split, "
                + String.format(Locale.ROOT, "%.0f", sz.epochs()) + " epochs): generalization, over-fitting, robustness out of distribution "
                + "(Grimm, self-instruct), stability across learning rates, ablations α = 1, γ = 0, γ = 0.05 and LoRA 3r; on stories260K / "
                + "Tiny Shakespeare", cfg, baseVal, baseTest, res, judged, notes, figs);
    }

    /** A LoRASC arm at rank r with {@code len} steps per cascade iteration and further options; α is the option's value. */
    private static Arm lorascArm(String name, int r, int len, Map<String, String> options, double alpha, Watch watch) {
        Map<String, String> opts = new LinkedHashMap<>(options);
        opts.put("lorasc-every", Integer.toString(len));
        return new Arm(name, Arm.withRank(r), watch.watched(Arm.variant("lorasc", opts), alpha), Arm::allFactors);
    }

    private static double mean(Results.ArmResult a, String key) {
        double[] v = a.extra().get(key);
        return v == null ? Double.NaN : Stats.mean(Stats.finite(v));
    }

    /** Every loss claim's interval, labelled with what it compares (the cost claim is left out: seconds, not nats). */
    private static Results.Figure claimsFigure(List<Results.ClaimResult> judged) {
        List<Results.ClaimResult> c = judged.stream().filter(x -> x.claim().metric() != Claim.Metric.SECONDS_PER_STEP).toList();
        // short labels (the figure's label column is narrow): "LoRASC" for LoRASC r=4, the measurement in words
        Map<String, String> what = Map.of(OVERFIT, "over-fit", VAL_BEST, "best val.", OVERFIT_GRID, "over-fit, grid", OOD, "self-instruct",
                LR_SPREAD, "lr spread", LR_WORST, "lr worst");
        Function<String, String> shortName = a -> a.matches("LoRASC r=\\d+") ? "LoRASC" : a;
        List<String> labels = c.stream().map(x -> shortName.apply(x.claim().a()) + " − " + shortName.apply(x.claim().b()) + switch (x.claim().metric()) {
            case SHIFTED_LOSS -> " (Grimm)";
            case MEASURED -> " (" + what.getOrDefault(x.claim().measure(), x.claim().measure()) + ")";
            default -> "";
        }).toList();
        return new Results.Figure("claims.svg", "Paired differences a − b with 95% CIs", Svg.forest(
                "Paired differences a − b, 95% CI (test loss unless named; green held, red contradicted, grey not shown)", "a − b (nats/token)",
                labels, c.stream().map(Results.ClaimResult::diff).toList(), c.stream().map(Results.ClaimResult::verdict).toList()));
    }

    /**
     * The training text's paragraphs regrouped into blocks of at least {@code blockChars} characters, keeping block j when
     * {@code j mod keep = 0} (the last, short block counts as a block).
     */
    static String keepEvery(String train, int blockChars, int keep) {
        StringBuilder out = new StringBuilder(), cur = new StringBuilder();
        int j = 0;
        for (String para : train.split("\n\n")) {
            if (para.isBlank()) continue;
            cur.append(para.strip()).append("\n\n");
            if (cur.length() >= blockChars) {
                if (j++ % keep == 0) out.append(cur);
                cur.setLength(0);
            }
        }
        if (!cur.isEmpty() && j % keep == 0) out.append(cur);
        return out.toString();
    }

    /**
     * Writes each instance of the self-instruct tasks ({@code {"instruction", "instances": [{"input", "output"}]}}) as an
     * Alpaca record {@code {"instruction", "input", "output"}}, one per line.
     *
     * @return {tasks, instances}
     */
    static int[] toAlpaca(Path selfInstruct, Path alpaca) throws IOException {
        StringBuilder b = new StringBuilder();
        int tasks = 0, instances = 0;
        for (String line : Files.readAllLines(selfInstruct)) {
            if (line.isBlank()) continue;
            JsonValue.Obj task;
            try {
                task = (JsonValue.Obj) JsonParser.parse(line);
            } catch (JsonParser.SyntaxError | ClassCastException e) {
                throw new IOException(selfInstruct + ":" + (tasks + 1) + ": not a self-instruct task: " + e.getMessage(), e);
            }
            tasks++;
            String instruction = ((JsonValue.Str) task.get("instruction")).value();
            for (JsonValue iv : ((JsonValue.Arr) task.get("instances")).items()) {
                JsonValue.Obj inst = (JsonValue.Obj) iv;
                String input = inst.get("input") instanceof JsonValue.Str s ? s.value() : "";
                String output = ((JsonValue.Str) inst.get("output")).value();
                b.append("{\"instruction\": ").append(JsonValue.quote(instruction)).append(", \"input\": ").append(JsonValue.quote(input))
                        .append(", \"output\": ").append(JsonValue.quote(output)).append("}\n");
                instances++;
            }
        }
        Files.createDirectories(alpaca.toAbsolutePath().getParent());
        Files.writeString(alpaca, b.toString());
        return new int[] {tasks, instances};
    }

    /** One run's validation checks, in step order; the last is the final validation loss. */
    static final class Curve {
        final List<Integer> steps = new ArrayList<>();
        final List<Double> losses = new ArrayList<>();

        void add(int step, double loss) {
            steps.add(step);
            losses.add(loss);
        }

        /** The index of the lowest loss (the first of equals). */
        int best() {
            int best = 0;
            for (int i = 1; i < losses.size(); i++) if (losses.get(i) < losses.get(best)) best = i;
            return best;
        }

        /** The last loss minus the lowest; NaN when the last is not finite (a diverged run). */
        double overfit() {
            double fin = losses.getLast();
            return Double.isFinite(fin) ? fin - losses.get(best()) : Double.NaN;
        }
    }

    /**
     * Makes the arms' strategies watched ones: each run with a test seed (not the selection runs) gets its validation checks,
     * and {@link #last} is the curve of the run made last (runs are sequential).
     */
    static final class Watch {
        private final int every;
        private final List<BatchSource.Batch> val;
        private final long selectionSeed;
        Curve last;

        Watch(int every, List<BatchSource.Batch> val, long selectionSeed) {
            this.every = every;
            this.val = val;
            this.selectionSeed = selectionSeed;
        }

        Function<TrainConfig, TrainingStrategy> watched(Function<TrainConfig, TrainingStrategy> f, double alpha) {
            return c -> {
                TrainingStrategy s = f.apply(c);
                if (c.seed() == selectionSeed) {
                    last = null;
                    return s;
                }
                Watched w = new Watched(s, c.steps(), every, alpha, val);
                last = w.curve;
                return w;
            };
        }
    }

    /**
     * A strategy with validation checks: the inner strategy's slots and hooks, then a hook that scores the validation batches
     * every {@code every} steps (not after the last: the probe scores the final model). For LoRASC the check scores
     * W0 + S + α·s·B·A, the model the cascade would export if the run ended there: the dense corrections are set to S (no
     * noise) and the fast slots' scale to α·s for the check, then restored.
     */
    static final class Watched implements TrainingStrategy, TrainHook, AutoCloseable {
        private final TrainingStrategy inner;
        private final int steps, every;
        private final double alpha;
        private final List<BatchSource.Batch> val;
        final Curve curve = new Curve();
        private LoraSet set;
        private Arena arena;
        private MemorySegment[] segs;

        Watched(TrainingStrategy inner, int steps, int every, double alpha, List<BatchSource.Batch> val) {
            this.inner = inner;
            this.steps = steps;
            this.every = every;
            this.alpha = alpha;
            this.val = val;
        }

        @Override
        public String name() { return inner.name(); }

        @Override
        public void addSlots(LoraSet s, TrainConfig cfg) {
            inner.addSlots(s, cfg);
            set = s;
        }

        @Override
        public List<TrainHook> hooks() {
            List<TrainHook> h = new ArrayList<>(inner.hooks());
            h.add(this);
            return h;
        }

        @Override
        public String key() { return "validation-checks(every=" + every + ")"; }

        @Override
        public void afterStep(Trainer trainer, int step) {
            int done = step + 1;
            if (done % every == 0 && done < steps)
                curve.add(done, inner instanceof LorascCascade c ? exportNow(c, trainer.model()) : Trainer.evaluate(trainer.model(), val));
        }

        /** The validation loss of W0 + S + α·s·B·A; leaves the corrections and the scales as they were. */
        private double exportNow(LorascCascade c, LlamaModel m) {
            List<LoraSet.Slot> fast = List.copyOf(set.slots()); // during training: the fast slots only, one per module
            Map<String, float[]> slow = c.tensorState();
            if (arena == null) {
                arena = Arena.ofShared();
                segs = new MemorySegment[fast.size()];
                for (int i = 0; i < fast.size(); i++) segs[i] = arena.allocate(ValueLayout.JAVA_FLOAT, fast.get(i).in() * fast.get(i).out());
            }
            float[][] saved = new float[fast.size()][];
            float[] scales = new float[fast.size()];
            int changed = 0; // modules 0 .. changed-1 are set for the check
            try {
                for (; changed < fast.size(); changed++) {
                    LoraSet.Slot s = fast.get(changed);
                    saved[changed] = c.correction(s.layer(), s.target());
                    scales[changed] = set.scale(s);
                    MemorySegment.copy(slow.get("lorasc.S." + s.layer() + "." + s.target().gguf), 0, segs[changed], ValueLayout.JAVA_FLOAT, 0,
                            (int) (s.in() * s.out()));
                    m.setDelta(s.target().weight(), s.layer(), segs[changed]);
                    set.setFlags(s, (float) (alpha * scales[changed]), true, true, true);
                }
                return Trainer.evaluate(m, val);
            } finally {
                // back to S + N (a copy of the cascade's own Δ, which the model reads until the cascade sets its next noise)
                for (int i = 0; i < Math.min(changed + 1, fast.size()); i++) {
                    if (i == changed && saved[i] == null) break; // the check failed before reading this module: it is as it was
                    LoraSet.Slot s = fast.get(i);
                    if (saved[i] != null) MemorySegment.copy(saved[i], 0, segs[i], ValueLayout.JAVA_FLOAT, 0, saved[i].length);
                    m.setDelta(s.target().weight(), s.layer(), saved[i] == null ? null : segs[i]);
                    if (scales[i] != 0) set.setFlags(s, scales[i], true, true, true);
                }
            }
        }

        @Override
        public void onEnd(Trainer trainer) {
            closeArena(); // the cascade's end hook, called before this one, took the corrections off the model
        }

        @Override
        public void close() throws Exception {
            try {
                if (inner instanceof AutoCloseable c) c.close(); // clears the corrections from the model (also those set here)
            } finally {
                closeArena();
            }
        }

        private void closeArena() {
            if (arena != null) arena.close();
            arena = null;
        }
    }
}
