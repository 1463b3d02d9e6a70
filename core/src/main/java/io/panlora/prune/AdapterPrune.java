package io.panlora.prune;

import io.panlora.lora.LoraSet;
import io.panlora.model.LlamaModel;
import io.panlora.tensor.LowRank;
import io.panlora.train.BatchSource;
import io.panlora.prune.Shapley;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Pruning a LoRA adapter held in a {@link LoraSet}: by magnitude (keep the largest entries of each module's ΔW,
 * re-factorised at the module's rank), by rank (each ΔW truncated to its top singular directions), or by layer
 * (the adapters of the layers with the lowest Shapley values on validation data are removed).
 *
 * <p>All three change the set in place. Magnitude and rank pruning never edit a slot: they disable it (scale kept,
 * training off) and add a new enabled slot of scale 1 holding the pruned factors, so the set grows and the old factors
 * stay in memory. Each pruned ΔW = s·BA is built densely (out × in floats) on the Java heap. Disabled slots are left
 * out when the set is exported.
 */
public final class AdapterPrune {
    private AdapterPrune() {}

    /**
     * Replaces every enabled slot's update by its top-keep share of entries by |ΔW|, re-factorised at the same rank.
     * Entries tied with the threshold are kept too. The re-factorised update is an approximation: a sparse ΔW is in
     * general not of low rank.
     *
     * @param set  the adapter set, changed in place
     * @param keep the share of entries kept per module, in (0, 1]
     * @param seed the seed of the SVDs (each slot uses seed + its index)
     * @throws IllegalArgumentException if {@code keep} is outside (0, 1]
     */
    public static void magnitude(LoraSet set, double keep, long seed) {
        if (!(keep > 0 && keep <= 1)) throw new IllegalArgumentException("keep must be in (0, 1], got " + keep);
        for (LoraSet.Slot s : new ArrayList<>(set.slots())) {
            if (!set.enabled(s)) continue;
            int out = (int) s.out(), in = (int) s.in();
            float[] d = new float[out * in];
            LowRank.addProduct(d, set.getB(s), set.getA(s), out, in, s.rank(), set.scale(s));
            float[] mags = new float[d.length];
            for (int i = 0; i < d.length; i++) mags[i] = Math.abs(d[i]);
            float[] sorted = mags.clone();
            Arrays.sort(sorted);
            int kept = (int) Math.ceil(keep * d.length);
            float threshold = kept >= d.length ? 0f : sorted[d.length - kept];
            for (int i = 0; i < d.length; i++) if (mags[i] < threshold) d[i] = 0f;
            replace(set, s, LowRank.factor(d, out, in, s.rank(), seed + s.index()));
        }
    }

    /**
     * Truncates every enabled slot's update to at most rank r (its top singular directions); slots of rank ≤ r are left
     * alone.
     *
     * @param set  the adapter set, changed in place
     * @param r    the largest rank kept, ≥ 1
     * @param seed the seed of the SVDs (each slot uses seed + its index)
     * @throws IllegalArgumentException if {@code r} is below 1
     */
    public static void rank(LoraSet set, int r, long seed) {
        if (r < 1) throw new IllegalArgumentException("rank must be >= 1, got " + r);
        for (LoraSet.Slot s : new ArrayList<>(set.slots())) {
            if (!set.enabled(s) || s.rank() <= r) continue;
            int out = (int) s.out(), in = (int) s.in();
            float[] d = new float[out * in];
            LowRank.addProduct(d, set.getB(s), set.getA(s), out, in, s.rank(), set.scale(s));
            replace(set, s, LowRank.factor(d, out, in, r, seed + s.index()));
        }
    }

    /**
     * Disables the adapters of the k layers of lowest Shapley value; returns the layers removed, lowest first. The
     * values come from {@link Shapley#estimate}, which costs permutations · (n_layer + 1) evaluations of {@code val};
     * the set must be attached to {@code m} for them to mean anything.
     *
     * @param m            the model the set is attached to
     * @param set          the adapter set; the slots of the removed layers are disabled (training off too)
     * @param val          validation batches
     * @param k            how many layers to remove, 0 .. n_layer
     * @param permutations Monte-Carlo permutations, ≥ 1; 0 for exact values ({@link Shapley#exact}, 2^n_layer evaluations)
     * @param seed         the seed of the permutations
     * @return the removed layers' indices, lowest Shapley value first (length k)
     * @throws IllegalArgumentException if {@code k} is outside 0 .. n_layer, {@code val} is empty or
     *                                  {@code permutations} is below 0
     */
    public static int[] layers(LlamaModel m, LoraSet set, List<BatchSource.Batch> val, int k, int permutations, long seed) {
        int layers = (int) m.config().nLayer();
        if (k < 0 || k > layers) throw new IllegalArgumentException("k must be in 0.." + layers + ", got " + k);
        Shapley.Values v = permutations == 0 ? Shapley.exact(m, set, val) : Shapley.estimate(m, set, val, permutations, seed);
        Integer[] order = new Integer[layers];
        for (int l = 0; l < layers; l++) order[l] = l;
        Arrays.sort(order, (x, y) -> Double.compare(v.mean()[x], v.mean()[y]));
        int[] removed = new int[k];
        for (int j = 0; j < k; j++) {
            removed[j] = order[j];
            for (LoraSet.Slot s : set.slots()) if (s.layer() == order[j]) set.setFlags(s, set.scale(s), false, false, false);
        }
        return removed;
    }

    /** Swaps a slot for a new one holding the factors (scale 1); the old one is disabled. */
    private static void replace(LoraSet set, LoraSet.Slot s, LowRank.Factors f) {
        set.setFlags(s, set.scale(s), false, false, false);
        LoraSet.Slot n = set.addSlot(s.layer(), s.target(), f.rank(), 1f);
        set.setWeights(n, f.a(), f.b());
    }
}
