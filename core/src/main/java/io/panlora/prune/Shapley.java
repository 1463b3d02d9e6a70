package io.panlora.prune;

import io.panlora.lora.LoraSet;
import io.panlora.model.LlamaModel;
import io.panlora.train.BatchSource;
import io.panlora.train.Trainer;
import io.panlora.tensor.SplitMix64;
import java.util.List;

/**
 * Monte-Carlo Shapley values of each layer's adapters: over random permutations of the layers, a layer's value is
 * the drop in validation loss when its adapters join the coalition of the layers before it.
 */
public final class Shapley {
    private Shapley() {}

    /** Per-layer mean marginal contribution (nats/token of validation loss removed) and its standard error. */
    public record Values(double[] mean, double[] stderr, int permutations, double lossNone, double lossAll) {}

    public static Values estimate(LlamaModel model, LoraSet set, List<BatchSource.Batch> val, int permutations, long seed) {
        if (val.isEmpty()) throw new IllegalArgumentException("Shapley values need validation data");
        if (permutations < 1) throw new IllegalArgumentException("at least one permutation, got " + permutations);
        int L = (int) model.config().nLayer();
        double[] sum = new double[L], sumSq = new double[L];
        SplitMix64 rng = new SplitMix64(seed);
        boolean[] saved = new boolean[L];
        for (int l = 0; l < L; l++) saved[l] = set.layerEnabled(l);
        double lossNone = Double.NaN, lossAll = Double.NaN;
        try {
            for (int p = 0; p < permutations; p++) {
                int[] order = new int[L];
                for (int i = 0; i < L; i++) order[i] = i;
                for (int i = L - 1; i > 0; i--) { int j = rng.nextInt(i + 1); int t = order[i]; order[i] = order[j]; order[j] = t; }
                for (int l = 0; l < L; l++) set.setLayerEnabled(l, false);
                double prev = Trainer.evaluate(model, val);
                lossNone = prev;
                for (int i = 0; i < L; i++) {
                    set.setLayerEnabled(order[i], true);
                    double now = Trainer.evaluate(model, val);
                    double gain = prev - now;
                    sum[order[i]] += gain;
                    sumSq[order[i]] += gain * gain;
                    prev = now;
                }
                lossAll = prev;
            }
        } finally {
            for (int l = 0; l < L; l++) set.setLayerEnabled(l, saved[l]);
        }
        double[] mean = new double[L], se = new double[L];
        for (int l = 0; l < L; l++) {
            mean[l] = sum[l] / permutations;
            double var = permutations > 1 ? (sumSq[l] - permutations * mean[l] * mean[l]) / (permutations - 1) : 0;
            se[l] = Math.sqrt(Math.max(0, var) / permutations);
        }
        return new Values(mean, se, permutations, lossNone, lossAll);
    }

    /** A table for the console. */
    public static String format(Values v) {
        StringBuilder b = new StringBuilder(String.format("%nShapley values of the layers' adapters (%d permutations; validation loss %.4f with none, %.4f with all):%n",
                v.permutations(), v.lossNone(), v.lossAll()));
        for (int l = 0; l < v.mean().length; l++) b.append(String.format("  layer %2d: %+.5f ± %.5f%n", l, v.mean()[l], v.stderr()[l]));
        return b.toString();
    }

    /** The values as JSON. */
    public static String json(Values v) {
        StringBuilder b = new StringBuilder("{\"permutations\": ").append(v.permutations())
                .append(String.format(java.util.Locale.ROOT, ", \"loss_none\": %.6f, \"loss_all\": %.6f, \"layers\": [", v.lossNone(), v.lossAll()));
        for (int l = 0; l < v.mean().length; l++)
            b.append(l == 0 ? "" : ", ").append(String.format(java.util.Locale.ROOT, "{\"layer\": %d, \"value\": %.6f, \"stderr\": %.6f}", l, v.mean()[l], v.stderr()[l]));
        return b.append("]}\n").toString();
    }
}
