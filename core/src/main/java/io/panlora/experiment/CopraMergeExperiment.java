package io.panlora.experiment;

import io.panlora.lora.LoraSet;
import io.panlora.model.LlamaModel;
import io.panlora.tokenizer.Tokenizer;
import io.panlora.train.DatasetBatches;
import io.panlora.train.TrainConfig;
import io.panlora.train.Trainer;
import io.panlora.train.TrainingStrategy;
import java.io.IOException;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import static io.panlora.experiment.ExperimentCatalog.*;

/**
 * The {@code copra-merge} experiment: CopRA against LoRA r = 4 when adapters trained apart are merged (the paper's linear
 * mode connectivity, and its federated / multi-task use). For each arm and test seed, three adapters start from the same
 * init (the seed's) and train the same steps at the arm's learning rate, one per corpus: Tiny Shakespeare (the run the
 * {@link Runner} makes), Grimm's tales and TinyStories (trained in the probe). Their factors are averaged (A and B
 * separately) and written into one adapter set, which is scored on each corpus's own test split:
 * <ul>
 *   <li>for each pair, the path {@code (1−λ)·X + λ·Y}, λ = 0, 0.1, …, 1, on the pair's two test splits (the path loss is the
 *       mean of the two), its barrier (the largest excess of the path over the straight line between its ends) and its
 *       midpoint;</li>
 *   <li>the 1:1:1 merge of the three, and the 1:2 and 2:1 merges of each pair: loss on each corpus minus that corpus's own
 *       adapter's (the merge's gap).</li>
 * </ul>
 * The claims compare the mean barrier and the mean gaps (CopRA better), with the own adapters' mean loss as a control (CopRA no
 * worse). Static methods only; run through {@link ExperimentCatalog#run}.
 */
final class CopraMergeExperiment {
    private CopraMergeExperiment() {}

    /** The corpora's names in keys, the task corpus first. */
    static final List<String> CORPORA = List.of("shakespeare", "grimm", "tinystories");

    /** The corpora's files in the data directory, in {@link #CORPORA}'s order. */
    static final List<String> FILES = List.of("tinyshakespeare.txt", "grimm-pg2591.txt", "tinystories-valid-sample.txt");

    /** The corpora's one-letter tags in pair keys. */
    private static final String[] TAG = {"S", "G", "T"};

    /** The pairs, as indices into {@link #CORPORA}. */
    static final int[][] PAIRS = {{0, 1}, {0, 2}, {1, 2}};

    /** The interpolation points λ = 0, 0.1, …, 1. */
    static final double[] LAMBDAS = new double[11];

    static {
        for (int i = 0; i < LAMBDAS.length; i++) LAMBDAS[i] = i / 10.0;
    }

    /** A pair's name in keys, e.g. {@code S-G}. */
    static String pair(int[] pr) { return TAG[pr[0]] + "-" + TAG[pr[1]]; }

    /** The key of a path point's loss: the mean over the pair's two corpora ({@code corpus < 0}) or on one corpus. */
    static String pathKey(int[] pr, double lambda, int corpus) {
        return String.format(Locale.ROOT, "path_%s_%.2f", pair(pr), lambda) + (corpus < 0 ? "" : "_" + CORPORA.get(corpus));
    }

    static Results copraMerge(LlamaModel m, Tokenizer tok, Options o, Size sz, Runner.Data data, Protocol p, List<String[]> cfg,
                              double baseVal, double baseTest, PrintStream out) throws IOException {
        int nc = CORPORA.size();
        Runner.Data[] d = new Runner.Data[nc];
        d[0] = data;
        StringBuilder sizes = new StringBuilder();
        for (int c = 0; c < nc; c++) {
            if (c > 0) d[c] = Runner.prepare(Splits.read(o.dataDir().resolve(FILES.get(c)), sz.maxChars(), sz.blockChars()), tok, sz.ctx(),
                    sz.batch(), sz.evalBatches(), o.outDir().resolve("splits-" + CORPORA.get(c)));
            sizes.append(c == 0 ? "" : "; ").append(String.format(Locale.ROOT, "%s: train %d windows (%d steps = %.2f epochs of it), test %d batches",
                    FILES.get(c), d[c].trainWindows(), p.steps(), (double) p.steps() * p.batch() / d[c].trainWindows(), d[c].test().size()));
        }
        for (String[] kv : cfg) {
            if (kv[0].equals("training")) kv[1] += " — the same steps for each of an (arm, seed)'s three adapters (" + sz.epochs()
                    + " epochs of Tiny Shakespeare's training windows, whatever the corpus)";
            if (kv[0].equals("lr selection")) kv[1] += " — on Tiny Shakespeare's validation split only; the rate chosen there trains all three "
                    + "adapters of the arm";
        }
        cfg.add(new String[] {"corpora", "three, each split like the task corpus (first " + sz.maxChars() + " characters, the same blocks and "
                + "10% test); " + sizes});
        cfg.add(new String[] {"adapters", "per (arm, seed), three from one init: the seed's (same A, B = 0; CopRA's layer masks are drawn "
                + "from the same seed too) and the same data-order seed, one per corpus; the Tiny Shakespeare one is the run the table reports, "
                + "the Grimm and TinyStories ones are trained after it in the same process"});
        cfg.add(new String[] {"merging", "a merge with weights w averages the factors, A = Σ w_i A_i and B = Σ w_i B_i (plain factor averaging, "
                + "as the paper merges adapters; not the products B·A), written into one adapter set; every loss is nats/token on a corpus's own "
                + "test split"});
        cfg.add(new String[] {"measurements", "own_c: corpus c's adapter on c; for each pair X-Y of S(hakespeare), G(rimm), T(inyStories): "
                + "path (1−λ)·X + λ·Y at λ = 0, 0.1, …, 1 on X's and Y's test splits (path_X-Y_λ = the mean of the two, per-corpus values "
                + "beside it), barrier_X-Y = max over λ of path(λ) − ((1−λ)·path(0) + λ·path(1)) (≥ 0), merged_X-Y = path(0.5), gap11_X-Y = "
                + "path(0.5) − the mean of own_X and own_Y; barrier_mean over the three pairs; 1:1:1 merge (w = ⅓ each): gap111_c = its loss on c "
                + "− own_c, gap111_mean over the corpora; 1:2 merges (w = ⅓ : ⅔ and ⅔ : ⅓ for each pair): gap12_X1Y2_c = loss on c − own_c "
                + "for c in the pair, gap12_mean over all twelve"});
        cfg.add(new String[] {"CopRA", "defaults: p0 0.1, p1 1.0, ρ 0.75, layer mask redrawn every step, seed = the run's seed"});
        for (int i = cfg.size() - 5; i < cfg.size(); i++) out.println("  " + cfg.get(i)[0] + ": " + cfg.get(i)[1]);
        String lora = loraName(4), copra = "CopRA r=4";
        List<Arm> arms = List.of(Arm.lora(lora, 4), Arm.of(copra, Arm.withRank(4), Arm.variant("copra", Map.of())));
        Runner.Probe probe = (mm, arm, set, sd, c, t) -> measure(mm, arm, set, d, c, t);
        List<Claim> claims = List.of(
                Claim.measured("CopRA's adapters from one init on different corpora are more linearly mode-connected (lower mean interpolation "
                        + "barrier over the three pairs)", Claim.Kind.BETTER, copra, lora, "barrier_mean", "nats (mean barrier)", MARGIN),
                Claim.measured("CopRA's 1:1:1 merge of the three adapters loses less against each corpus's own adapter", Claim.Kind.BETTER, copra,
                        lora, "gap111_mean", "nats (1:1:1 merge − own adapter, mean over corpora)", MARGIN),
                Claim.measured("CopRA's 1:1 merges of two adapters (the paths' midpoints) lose less against the pair's own adapters",
                        Claim.Kind.BETTER, copra, lora, "gap11_mean", "nats (1:1 merge − own adapters, mean of 3 pairs)", MARGIN),
                Claim.measured("CopRA's 1:1:1 merged adapter itself is better than LoRA's (loss averaged over the three corpora)",
                        Claim.Kind.BETTER, copra, lora, "merged111_mean", "nats (1:1:1 merge, mean over corpora)", MARGIN),
                Claim.measured("CopRA's 1:2 merges of two adapters lose less against each corpus's own adapter", Claim.Kind.BETTER, copra, lora,
                        "gap12_mean", "nats (1:2 merge − own adapter, mean of 12)", MARGIN),
                Claim.measured("CopRA's own adapters are no worse than LoRA's (mean over the three corpora)", Claim.Kind.NOT_WORSE, copra, lora,
                        "own_mean", "nats (own adapters, mean over corpora)", MARGIN).asControl());
        out.println("  arms: " + lora + ", " + copra);
        List<Results.ArmResult> res = Runner.run(m, arms, p, data, probe, out);
        List<Results.ClaimResult> judged = Results.judge(res, claims);
        List<Results.Figure> figs = new ArrayList<>(common(res, judged));
        int ns = arms.size() * PAIRS.length;
        List<String> series = new ArrayList<>();
        double[][] mean = new double[ns][LAMBDAS.length], sdv = new double[ns][LAMBDAS.length];
        double[][] exMean = new double[ns][LAMBDAS.length], exSd = new double[ns][LAMBDAS.length];
        for (int a = 0; a < arms.size(); a++)
            for (int q = 0; q < PAIRS.length; q++) {
                int s = a * PAIRS.length + q;
                series.add(res.get(a).name() + " " + pair(PAIRS[q]));
                double[] v0 = res.get(a).extra().get(pathKey(PAIRS[q], 0, -1)), v1 = res.get(a).extra().get(pathKey(PAIRS[q], 1, -1));
                for (int i = 0; i < LAMBDAS.length; i++) {
                    double[] v = res.get(a).extra().get(pathKey(PAIRS[q], LAMBDAS[i], -1)), ex = new double[v.length];
                    for (int k = 0; k < v.length; k++) ex[k] = v[k] - ((1 - LAMBDAS[i]) * v0[k] + LAMBDAS[i] * v1[k]);
                    mean[s][i] = Stats.mean(Stats.finite(v));
                    sdv[s][i] = Stats.sd(Stats.finite(v));
                    exMean[s][i] = Stats.mean(Stats.finite(ex));
                    exSd[s][i] = Stats.sd(Stats.finite(ex));
                }
            }
        figs.add(new Results.Figure("interpolation.svg", "Test loss along the interpolation paths", Svg.lines(
                "Test loss (mean of the pair's two test splits; mean ± SD over seeds) of (1−λ)·X + λ·Y", "λ", "test loss (nats/token)",
                series, LAMBDAS, mean, sdv)));
        figs.add(new Results.Figure("barrier.svg", "Excess of the interpolation paths over the straight line between their ends", Svg.lines(
                "path(λ) − ((1−λ)·path(0) + λ·path(1)), mean ± SD over seeds (its maximum is the barrier)", "λ", "excess loss (nats/token)",
                series, LAMBDAS, exMean, exSd)));
        List<String> rows = new ArrayList<>();
        List<double[]> gaps = new ArrayList<>();
        for (Results.ArmResult a : res)
            for (String c : CORPORA) {
                rows.add(a.name() + " on " + c);
                gaps.add(a.extra().get("gap111_" + c));
            }
        figs.add(new Results.Figure("merge-gaps.svg", "The 1:1:1 merge's loss minus each corpus's own adapter's", Svg.dots(
                "1:1:1 merge − own adapter, test loss per corpus (dots: seeds; tick: mean; bar: ± SD)",
                "gap (nats/token)", rows, gaps)));
        List<String> notes = new ArrayList<>(List.of(
                "the table's test loss is the Tiny Shakespeare adapter on Tiny Shakespeare's test split (= own_shakespeare); the claims use "
                        + "the measurements' keys (see the measurements table and results.json)",
                "merge_barrier (= barrier_mean) and merged_half (= merged111_mean, the 1:1:1 merge's loss averaged over the three corpora) "
                        + "are the keys of the built-in MERGE_BARRIER and MERGED_LOSS metrics, kept for them",
                "a path's ends are adapters trained on different data, so each end is poor on the other's corpus; the barrier is measured "
                        + "against the straight line between the ends (0 = the path is nowhere above the line), on the mean of the two corpora",
                "the learning rate is tuned for Tiny Shakespeare only; Grimm and TinyStories train at it for the same steps (more or less than "
                        + sz.epochs() + " epochs of their own training windows, see corpora)",
                "a gap is relative to the arm's own adapters: an adapter that moved less from the shared init loses less when merged, so read "
                        + "the gap claims together with the own_mean control",
                "the reference to compare: the paper's CLIP/DTD numbers (LoRA 71.6 → merged 65.6, CopRA 72.7 → 72.0 accuracy)"));
        boolean flat = true;
        for (Results.ArmResult a : res)
            for (double v : a.extra().get("barrier_mean")) flat &= v == 0;
        if (flat) notes.add("every barrier of every arm and seed is exactly 0: each path lies on or under the straight line between its "
                + "ends (the loss is convex along it), so both arms are linearly mode-connected here and the barrier claim cannot be shown "
                + "(a−b = 0 for every seed)");
        return new Results("copra-merge", "CopRA (arXiv 2410.22911) against LoRA when merging adapters trained from one init on three corpora "
                + "(Tiny Shakespeare, Grimm's tales, TinyStories), on stories260K", cfg, baseVal, baseTest, res, judged, notes, figs);
    }

    /**
     * The probe: trains the other corpora's adapters from the run's init, then scores the merges with the factors written into
     * the Tiny Shakespeare run's own set; restores its factors and attaches it again at the end.
     */
    private static Map<String, Double> measure(LlamaModel mm, Arm arm, LoraSet set, Runner.Data[] d, TrainConfig c, double t) throws IOException {
        int nc = d.length, nsl = set.slots().size();
        float[][][] a = new float[nc][][], b = new float[nc][][];
        double[] own = new double[nc];
        a[0] = new float[nsl][];
        b[0] = new float[nsl][];
        for (int k = 0; k < nsl; k++) {
            a[0][k] = set.getA(set.slots().get(k));
            b[0][k] = set.getB(set.slots().get(k));
        }
        own[0] = t;
        for (int ci = 1; ci < nc; ci++) {
            TrainingStrategy st = arm.strategy().apply(c);
            try (LoraSet other = new LoraSet(mm)) {
                st.addSlots(other, c);
                other.attach();
                Trainer tr = new Trainer(mm, other, c, new DatasetBatches(d[ci].train(), c.batch(), c.seed()), List.of(), null, null);
                for (var h : st.hooks()) tr.addHook(h);
                try {
                    tr.run(false);
                } catch (Trainer.DivergedException e) {
                    own[ci] = Double.NaN;
                    continue; // its factors stay null: every merge with it is NaN
                }
                own[ci] = Trainer.evaluate(mm, d[ci].test());
                a[ci] = new float[nsl][];
                b[ci] = new float[nsl][];
                for (int k = 0; k < nsl; k++) {
                    a[ci][k] = other.getA(other.slots().get(k));
                    b[ci][k] = other.getB(other.slots().get(k));
                }
            }
        }
        set.attach();
        Map<String, Double> x = new LinkedHashMap<>();
        for (int ci = 0; ci < nc; ci++) x.put("own_" + CORPORA.get(ci), own[ci]);
        x.put("own_mean", mean(own));
        double[] barrier = new double[PAIRS.length];
        double[] gap11 = new double[PAIRS.length];
        for (int q = 0; q < PAIRS.length; q++) {
            int[] pr = PAIRS[q];
            double[] path = new double[LAMBDAS.length];
            double[] mid = null;
            for (int i = 0; i < LAMBDAS.length; i++) {
                double[] w = new double[nc];
                w[pr[0]] = 1 - LAMBDAS[i];
                w[pr[1]] = LAMBDAS[i];
                double[] l = merged(mm, set, a, b, w, d, pr);
                path[i] = (l[0] + l[1]) / 2;
                x.put(pathKey(pr, LAMBDAS[i], -1), path[i]);
                x.put(pathKey(pr, LAMBDAS[i], pr[0]), l[0]);
                x.put(pathKey(pr, LAMBDAS[i], pr[1]), l[1]);
                if (i == LAMBDAS.length / 2) mid = l;
            }
            double bar = 0;
            for (int i = 0; i < LAMBDAS.length; i++)
                bar = Math.max(bar, path[i] - ((1 - LAMBDAS[i]) * path[0] + LAMBDAS[i] * path[LAMBDAS.length - 1]));
            barrier[q] = bar; // NaN if a point is (Math.max keeps NaN)
            gap11[q] = (mid[0] - own[pr[0]] + mid[1] - own[pr[1]]) / 2;
        }
        for (int q = 0; q < PAIRS.length; q++) x.put("barrier_" + pair(PAIRS[q]), barrier[q]);
        for (int q = 0; q < PAIRS.length; q++) x.put("merged_" + pair(PAIRS[q]), x.get(pathKey(PAIRS[q], 0.5, -1)));
        for (int q = 0; q < PAIRS.length; q++) x.put("gap11_" + pair(PAIRS[q]), gap11[q]);
        x.put("barrier_mean", mean(barrier));
        x.put("gap11_mean", mean(gap11));
        // 1:1:1
        double[] third = new double[nc];
        java.util.Arrays.fill(third, 1.0 / nc);
        int[] all = new int[nc];
        for (int ci = 0; ci < nc; ci++) all[ci] = ci;
        double[] l3 = merged(mm, set, a, b, third, d, all), g3 = new double[nc];
        for (int ci = 0; ci < nc; ci++) {
            g3[ci] = l3[ci] - own[ci];
            x.put("merged111_" + CORPORA.get(ci), l3[ci]);
        }
        for (int ci = 0; ci < nc; ci++) x.put("gap111_" + CORPORA.get(ci), g3[ci]);
        x.put("merged111_mean", mean(l3));
        x.put("gap111_mean", mean(g3));
        // 1:2 and 2:1 of each pair
        List<Double> g12 = new ArrayList<>();
        for (int[] pr : PAIRS)
            for (int heavy = 1; heavy >= 0; heavy--) {
                double[] w = new double[nc];
                w[pr[0]] = heavy == 1 ? 1.0 / 3 : 2.0 / 3;
                w[pr[1]] = 1 - w[pr[0]];
                double[] l = merged(mm, set, a, b, w, d, pr);
                String name = TAG[pr[0]] + (heavy == 1 ? 1 : 2) + TAG[pr[1]] + (heavy == 1 ? 2 : 1);
                for (int j = 0; j < 2; j++) {
                    double g = l[j] - own[pr[j]];
                    g12.add(g);
                    x.put("gap12_" + name + "_" + CORPORA.get(pr[j]), g);
                }
            }
        x.put("gap12_mean", mean(g12.stream().mapToDouble(Double::doubleValue).toArray()));
        x.put(Runner.BARRIER, x.get("barrier_mean"));
        x.put(Runner.MERGED, x.get("merged111_mean"));
        for (int k = 0; k < nsl; k++) set.setWeights(set.slots().get(k), a[0][k], b[0][k]);
        return x;
    }

    /**
     * Writes the merge with weights w (A and B averaged separately) into the set and scores it on the given corpora's test
     * splits; NaN for each when an adapter with a weight above 0 is missing (it diverged).
     */
    private static double[] merged(LlamaModel mm, LoraSet set, float[][][] a, float[][][] b, double[] w, Runner.Data[] d, int[] corpora) {
        double[] l = new double[corpora.length];
        for (int i = 0; i < w.length; i++)
            if (w[i] != 0 && a[i] == null) {
                java.util.Arrays.fill(l, Double.NaN);
                return l;
            }
        for (int k = 0; k < set.slots().size(); k++) set.setWeights(set.slots().get(k), mix(a, k, w), mix(b, k, w));
        for (int j = 0; j < corpora.length; j++) l[j] = Trainer.evaluate(mm, d[corpora[j]].test());
        return l;
    }

    /** Σ w_i f_i[k] over the factors with a weight other than 0 (so a weight of 1 copies the factor exactly). */
    static float[] mix(float[][][] f, int k, double[] w) {
        int n = -1;
        for (int i = 0; i < w.length; i++) if (w[i] != 0) n = f[i][k].length;
        double[] z = new double[n];
        for (int i = 0; i < w.length; i++) {
            if (w[i] == 0) continue;
            float[] v = f[i][k];
            for (int e = 0; e < n; e++) z[e] += w[i] * v[e];
        }
        float[] out = new float[n];
        for (int e = 0; e < n; e++) out[e] = (float) z[e];
        return out;
    }

    private static double mean(double[] v) {
        double s = 0;
        for (double e : v) s += e;
        return s / v.length;
    }
}
