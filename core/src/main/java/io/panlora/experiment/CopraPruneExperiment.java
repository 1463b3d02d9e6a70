package io.panlora.experiment;

import io.panlora.lora.LoraSet;
import io.panlora.model.LlamaModel;
import io.panlora.train.Trainer;
import io.panlora.prune.Shapley;
import java.io.IOException;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import static io.panlora.experiment.ExperimentCatalog.*;

/** The {@code copra-prune} experiment: CopRA against LoRA under layer pruning. Static methods only; run through {@link ExperimentCatalog#run}. */
final class CopraPruneExperiment {
    private CopraPruneExperiment() {}

    /** Exact Shapley values up to this many layers (2^L coalitions, each one evaluation of the validation batches). */
    static final int EXACT_LAYERS = 10;

    static Results copraPrune(LlamaModel m, Options o, Protocol p, Runner.Data data, List<String[]> cfg, double baseVal, double baseTest,
                                      PrintStream out) throws IOException {
        int layers = (int) m.config().nLayer(), perms = 4 * layers, half = Math.max(1, layers / 2);
        boolean exact = layers <= EXACT_LAYERS;
        String how = exact ? "exact, all 2^" + layers + " = " + (1 << layers) + " coalitions of layers evaluated"
                : perms + " Monte Carlo permutations, seed = run seed + 1";
        cfg.add(new String[] {"pruning", "(a) every other layer's adapters off (layers 1, 3, …: the paper's pruning); (b) the k lowest-Shapley layers' "
                + "adapters off, k = 1 … " + (layers - 1) + " (Shapley values on validation: " + how + "); (c) 50% magnitude pruning: in every "
                + "module the half of A's entries and the half of B's entries with the smallest |value| set to 0. Each is scored on test; its cost "
                + "is the pruned test loss minus the same adapter's unpruned test loss"});
        cfg.add(new String[] {"CopRA", "defaults: p0 0.1, p1 1.0, ρ 0.75 (all layers on for the last 25% of the steps), layer mask redrawn every "
                + "step, seed = the run's seed; " + String.format(Locale.ROOT, "%.1f", (double) p.steps() * p.batch() / data.trainWindows())
                + " epochs so that the all-layer phase converges"});
        String lora = loraName(p.rank()), copra = "CopRA r=" + p.rank();
        List<Arm> arms = List.of(Arm.lora(lora, p.rank()), Arm.of(copra, Arm.withRank(p.rank()), Arm.variant("copra", Map.of())));
        Runner.Probe probe = (mm, arm, set, d, c, t) -> {
            Map<String, Double> x = new LinkedHashMap<>();
            for (int l = 0; l < layers; l++) set.setLayerEnabled(l, l % 2 == 0);
            double pruned = Trainer.evaluate(mm, d.test());
            for (int l = 0; l < layers; l++) set.setLayerEnabled(l, true);
            x.put(Runner.PRUNED, pruned);
            x.put(Runner.DEGRADATION, pruned - t);
            Shapley.Values v = exact ? Shapley.exact(mm, set, d.validation()) : Shapley.estimate(mm, set, d.validation(), perms, c.seed() + 1);
            for (int l = 0; l < layers; l++) x.put("shapley_layer" + l, v.mean()[l]);
            double mean = Stats.mean(v.mean()), sd = Stats.sd(v.mean());
            x.put("shapley_sd", sd);
            x.put("shapley_cv", sd / Math.abs(mean));
            Integer[] order = new Integer[layers];
            for (int l = 0; l < layers; l++) order[l] = l;
            java.util.Arrays.sort(order, (a, b) -> Double.compare(v.mean()[a], v.mean()[b]));
            for (int k = 1; k < layers; k++) {
                for (int l = 0; l < layers; l++) set.setLayerEnabled(l, true);
                for (int j = 0; j < k; j++) set.setLayerEnabled(order[j], false);
                double lk = Trainer.evaluate(mm, d.test());
                x.put("lowest_shapley_pruned_k" + k, lk);
                x.put("lowest_shapley_cost_k" + k, lk - t);
            }
            for (int l = 0; l < layers; l++) set.setLayerEnabled(l, true);
            List<float[]> savedA = new ArrayList<>(), savedB = new ArrayList<>();
            for (LoraSet.Slot sl : set.slots()) {
                float[] a = set.getA(sl), b = set.getB(sl);
                savedA.add(a);
                savedB.add(b);
                set.setWeights(sl, keepLargest(a, 0.5), keepLargest(b, 0.5));
            }
            double mag = Trainer.evaluate(mm, d.test());
            for (int i = 0; i < set.slots().size(); i++) set.setWeights(set.slots().get(i), savedA.get(i), savedB.get(i));
            x.put("magnitude50_pruned", mag);
            x.put("magnitude50_cost", mag - t);
            return x;
        };
        List<Claim> claims = List.of(
                new Claim("CopRA's adapter keeps more with every other layer pruned (pruned test loss)", Claim.Kind.BETTER, copra, lora,
                        Claim.Metric.PRUNED_LOSS, MARGIN, false, false),
                new Claim("pruning every other layer costs CopRA less than LoRA", Claim.Kind.BETTER, copra, lora, Claim.Metric.PRUNE_DEGRADATION,
                        MARGIN, false, false),
                Claim.measured("pruning the " + half + " lowest-Shapley layers costs CopRA less than LoRA", Claim.Kind.BETTER, copra, lora,
                        "lowest_shapley_cost_k" + half, "nats (cost of pruning " + half + " lowest-Shapley layers)", MARGIN),
                Claim.measured("CopRA balances the layers: its per-layer Shapley values spread less (SD / mean over layers)", Claim.Kind.BETTER,
                        copra, lora, "shapley_cv", "(coefficient of variation of the Shapley values)", MARGIN),
                Claim.loss("CopRA unpruned is no worse than LoRA", Claim.Kind.NOT_WORSE, copra, lora, MARGIN),
                Claim.measured("50% magnitude pruning costs CopRA no more than LoRA", Claim.Kind.NOT_WORSE, copra, lora, "magnitude50_cost",
                        "nats (cost of 50% magnitude pruning)", MARGIN).asControl());
        out.println("  arms: " + lora + ", " + copra);
        List<Results.ArmResult> res = Runner.run(m, arms, p, data, probe, out);
        List<Results.ClaimResult> judged = Results.judge(res, claims);
        List<Results.Figure> figs = new ArrayList<>(common(res, judged));
        double[] x = new double[layers];
        double[][] mean = new double[2][layers], sd = new double[2][layers], sm = new double[2][layers], ss = new double[2][layers];
        for (int k = 0; k < layers; k++) x[k] = k;
        for (int a = 0; a < 2; a++)
            for (int k = 0; k < layers; k++) {
                double[] v = k == 0 ? res.get(a).test() : res.get(a).extra().get("lowest_shapley_pruned_k" + k);
                mean[a][k] = Stats.mean(Stats.finite(v));
                sd[a][k] = Stats.sd(Stats.finite(v));
                double[] sv = res.get(a).extra().get("shapley_layer" + k);
                sm[a][k] = Stats.mean(Stats.finite(sv));
                ss[a][k] = Stats.sd(Stats.finite(sv));
            }
        figs.add(new Results.Figure("pruning.svg", "Test loss with the k lowest-Shapley layers' adapters pruned", Svg.lines(
                "Test loss (mean ± SD over seeds) with the adapters of the k lowest-Shapley layers off", "k (layers pruned)", "test loss (nats/token)",
                List.of(lora, copra), x, mean, sd)));
        figs.add(new Results.Figure("shapley.svg", "Per-layer Shapley values", Svg.lines(
                "Per-layer Shapley values on validation (" + (exact ? "exact" : "Monte Carlo") + "; mean ± SD over seeds)", "layer",
                "loss removed by the layer's adapters (nats/token)", List.of(lora, copra), x, sm, ss)));
        List<String> notes = List.of("the pruning never changes the learning rate chosen on validation; Shapley values are computed on validation, losses reported on test",
                "costs are relative to each adapter's own unpruned test loss; the k lowest-Shapley curve is lowest_shapley_pruned_k* in results.json and pruning.png",
                "magnitude pruning removes half of every factor's entries (the same share of parameters as pruning half of the layers), without retraining");
        return new Results("copra-prune", "CopRA (arXiv 2410.22911) against LoRA under layer pruning, on stories260K / Tiny Shakespeare",
                cfg, baseVal, baseTest, res, judged, notes, figs);
    }

    /** A copy of x with all but the {@code keep} share of its largest-|value| entries set to 0 (ties at the threshold kept). */
    static float[] keepLargest(float[] x, double keep) {
        float[] mags = new float[x.length];
        for (int i = 0; i < x.length; i++) mags[i] = Math.abs(x[i]);
        float[] sorted = mags.clone();
        java.util.Arrays.sort(sorted);
        int kept = (int) Math.ceil(keep * x.length);
        float threshold = kept >= x.length ? 0f : sorted[x.length - kept];
        float[] y = x.clone();
        for (int i = 0; i < y.length; i++) if (mags[i] < threshold) y[i] = 0f;
        return y;
    }
}
