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

    /**
     * Per-layer mean marginal contribution (nats/token of validation loss removed) and its standard error.
     *
     * @param mean         per layer, the mean drop in validation loss (nats per target token) when the layer's adapters
     *                     are enabled; positive means the layer helps
     * @param stderr       per layer, the standard error of that mean over the permutations (0 with one permutation)
     * @param permutations the number of permutations sampled; 0 for exact values ({@link #exact})
     * @param lossNone     the validation loss with every layer's adapters disabled, in nats per token
     * @param lossAll      the validation loss with every layer's adapters enabled, in nats per token
     */
    public record Values(double[] mean, double[] stderr, int permutations, double lossNone, double lossAll) {}

    /**
     * Estimates the layers' Shapley values: for each of {@code permutations} random orders of the layers, every layer mask
     * is switched off, then the layers are switched on one by one in that order, and the validation loss is measured
     * before and after each step ((n_layer + 1) evaluations of {@code val} per permutation). The per-layer masks are
     * restored afterwards, also on failure; slot flags are not touched. The model's attached adapter set is what is
     * evaluated, so {@code set} must be attached to {@code model}.
     *
     * @param model        the model {@code set} is attached to
     * @param set          the adapter set whose layers are valued
     * @param val          validation batches (at least one); losses are averaged over their non-ignored targets
     * @param permutations Monte-Carlo permutations, ≥ 1; the standard error shrinks with its square root
     * @param seed         the seed of the permutations
     * @return the per-layer values and the losses with no and with all adapters
     * @throws IllegalArgumentException if {@code val} is empty or {@code permutations} is below 1
     */
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

    /** The most layers {@link #exact} accepts: 2^16 coalitions. */
    public static final int EXACT_MAX_LAYERS = 16;

    /**
     * The layers' exact Shapley values: the validation loss of every coalition (2^n_layer evaluations of {@code val}),
     * then for each layer i the weighted mean over coalitions S without i of v(S ∪ {i}) − v(S), weights
     * |S|!·(n − |S| − 1)!/n!, where v is the drop in loss from the no-adapter loss. The values sum to lossNone − lossAll
     * exactly (efficiency). Layer masks are restored afterwards, also on failure; {@code stderr} is all zeros and
     * {@code permutations} is 0 (exact).
     *
     * @param model the model {@code set} is attached to
     * @param set   the adapter set whose layers are valued
     * @param val   validation batches (at least one)
     * @return the per-layer values and the losses with no and with all adapters
     * @throws IllegalArgumentException if {@code val} is empty or the model has more than {@link #EXACT_MAX_LAYERS} layers
     */
    public static Values exact(LlamaModel model, LoraSet set, List<BatchSource.Batch> val) {
        if (val.isEmpty()) throw new IllegalArgumentException("Shapley values need validation data");
        int L = (int) model.config().nLayer();
        if (L > EXACT_MAX_LAYERS)
            throw new IllegalArgumentException("exact Shapley values evaluate 2^" + L + " coalitions; at most " + EXACT_MAX_LAYERS
                    + " layers (use Monte-Carlo permutations)");
        boolean[] saved = new boolean[L];
        for (int l = 0; l < L; l++) saved[l] = set.layerEnabled(l);
        double[] loss = new double[1 << L];
        try {
            for (int mask = 0; mask < loss.length; mask++) {
                for (int l = 0; l < L; l++) set.setLayerEnabled(l, (mask >> l & 1) != 0);
                loss[mask] = Trainer.evaluate(model, val);
            }
        } finally {
            for (int l = 0; l < L; l++) set.setLayerEnabled(l, saved[l]);
        }
        double[] w = new double[L]; // w[k] = k!(L-k-1)!/L!
        for (int k = 0; k < L; k++) {
            double x = 1.0 / L;
            for (int j = 1; j <= k; j++) x *= (double) j / (L - j); // k!(L-1-k)!/L! = (1/L)·C(L-1, k)^-1
            w[k] = x;
        }
        double[] mean = new double[L];
        for (int i = 0; i < L; i++)
            for (int mask = 0; mask < loss.length; mask++) {
                if ((mask >> i & 1) != 0) continue;
                mean[i] += w[Integer.bitCount(mask)] * (loss[mask] - loss[mask | 1 << i]);
            }
        return new Values(mean, new double[L], 0, loss[0], loss[loss.length - 1]);
    }

    /**
     * A table for the console: a heading with the two losses, then one line per layer with its value ± standard error.
     * Numbers are formatted in the default locale.
     *
     * @param v the values
     * @return the table, starting and ending with a line separator
     */
    public static String format(Values v) {
        String how = v.permutations() == 0 ? "exact, all " + (1L << v.mean().length) + " coalitions" : v.permutations() + " permutations";
        StringBuilder b = new StringBuilder(String.format("%nShapley values of the layers' adapters (%s; validation loss %.4f with none, %.4f with all):%n",
                how, v.lossNone(), v.lossAll()));
        for (int l = 0; l < v.mean().length; l++) b.append(String.format("  layer %2d: %+.5f ± %.5f%n", l, v.mean()[l], v.stderr()[l]));
        return b.toString();
    }

    /**
     * The values as a JSON object: {@code permutations}, {@code loss_none}, {@code loss_all} and {@code layers}, an array
     * of {@code {"layer", "value", "stderr"}} objects; numbers with 6 decimals.
     *
     * @param v the values
     * @return the JSON text, ending with a newline
     */
    public static String json(Values v) {
        StringBuilder b = new StringBuilder("{\"permutations\": ").append(v.permutations())
                .append(String.format(java.util.Locale.ROOT, ", \"loss_none\": %.6f, \"loss_all\": %.6f, \"layers\": [", v.lossNone(), v.lossAll()));
        for (int l = 0; l < v.mean().length; l++)
            b.append(l == 0 ? "" : ", ").append(String.format(java.util.Locale.ROOT, "{\"layer\": %d, \"value\": %.6f, \"stderr\": %.6f}", l, v.mean()[l], v.stderr()[l]));
        return b.append("]}\n").toString();
    }
}
