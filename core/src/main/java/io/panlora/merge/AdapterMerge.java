package io.panlora.merge;

import io.panlora.lora.AdapterGguf;
import io.panlora.lora.LoraSet;
import io.panlora.lora.Target;
import io.panlora.model.LlamaModel;
import io.panlora.tensor.LowRank;
import io.panlora.tensor.SplitMix64;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Merging LoRA adapters of one base into one, with PEFT's combination types: {@code cat} (exact: the weighted
 * updates side by side, rank Σrᵢ), {@code linear} (A = Σ√wᵢ·sᵢ·Aᵢ, B = Σ√wᵢ·Bᵢ; equal ranks; not exact),
 * {@code svd}/{@code task_arithmetic} (ΔW = Σ wᵢ·ΔWᵢ, re-factorised to a rank), {@code ties} (per adapter keep the
 * top-density share of |ΔWᵢ|, elect each entry's sign by the sum, average the entries that agree) and {@code dare}
 * (drop each entry with probability 1 − density, rescale by 1/density, sum); the last four are followed by an SVD to the
 * requested rank.
 *
 * <p>Here ΔWᵢ = sᵢ·BᵢAᵢ is adapter i's update of one module (one target linear of one layer) with its scale sᵢ
 * (alpha/r); the SVD-based methods build each ΔW densely (out × in floats per module and adapter) on the Java heap.
 */
public final class AdapterMerge {
    private AdapterMerge() {}

    /** The combination types. */
    public enum Method {
        /** The weighted updates side by side, one output slot per input adapter (scale wᵢ·sᵢ): exact, rank Σrᵢ. */
        CAT,
        /** A = Σ√wᵢ·sᵢ·Aᵢ, B = Σ√wᵢ·Bᵢ (signs of negative weights go to A): needs equal ranks; not exact. */
        LINEAR,
        /** ΔW = Σ wᵢ·ΔWᵢ, re-factorised by SVD to the requested rank. */
        SVD,
        /** The same computation as {@link #SVD} under PEFT's name. */
        TASK_ARITHMETIC,
        /** TIES: trim each weighted ΔWᵢ to its top-density share by magnitude, elect signs, average the agreeing entries; SVD. */
        TIES,
        /** DARE: drop entries of each weighted ΔWᵢ with probability 1 − density, rescale by 1/density, sum; SVD. */
        DARE;

        /**
         * Reads a method name: {@code cat}, {@code linear}, {@code svd}, {@code task_arithmetic} (or
         * {@code task-arithmetic}), {@code ties} or {@code dare}, case-insensitive.
         *
         * @param s the name
         * @return the method
         * @throws IllegalArgumentException if {@code s} names none
         */
        public static Method parse(String s) {
            try {
                return valueOf(s.trim().toUpperCase(Locale.ROOT).replace('-', '_'));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("unknown merge method '" + s + "' (cat, linear, svd, task_arithmetic, ties, dare)");
            }
        }
    }

    /** One module's adapters: for each input adapter its (A, B, scale) or null. */
    private record Part(float[] a, float[] b, float scale, int rank) {}

    /**
     * Merges adapters (weights wᵢ) into out (an empty set of the same model). rank applies to the SVD-based methods
     * (0: the sum of the input ranks, which is exact for svd/task_arithmetic); density to ties and dare.
     *
     * <p>Each file is loaded into a temporary adapter set of {@code m} (closed again) with its own scale alpha/r (1 when the
     * file has no alpha). Modules
     * are merged over the adapters that have them; a module missing from an adapter counts as zero. The output slots are
     * added to {@code out} with scale 1 (for {@code cat}, wᵢ·sᵢ) and enabled; {@code out} is neither attached nor saved.
     *
     * @param m        the base model all adapters were trained on
     * @param adapters adapter GGUF files (llama.cpp's LoRA format)
     * @param weights  one weight per adapter, in the same order (negative weights subtract)
     * @param method   the combination type
     * @param rank     the rank of each merged module for svd, task_arithmetic, ties and dare (capped at min(in, out)), or
     *                 0 (or less) for the sum of the input ranks; ignored by cat and linear
     * @param density  in (0, 1]: the share of entries ties keeps and dare keeps in expectation; ignored by the others
     * @param seed     the seed of dare's drops and of the SVDs
     * @param out      an empty adapter set of {@code m}, which receives the merged slots
     * @throws IOException if an adapter file cannot be read
     * @throws IllegalArgumentException if the weights do not match the adapters, the density is out of range, or
     *                                  {@code linear} meets unequal ranks
     * @throws io.panlora.gguf.GgufException if an adapter file is not a LoRA adapter for this model's architecture and
     *                                       shapes
     */
    public static void merge(LlamaModel m, List<Path> adapters, double[] weights, Method method, int rank, double density, long seed,
                             LoraSet out) throws IOException {
        if (adapters.size() != weights.length) throw new IllegalArgumentException("one weight per adapter");
        if (!(density > 0 && density <= 1)) throw new IllegalArgumentException("density must be in (0, 1], got " + density);
        Map<String, Part[]> modules = new LinkedHashMap<>();
        Map<String, long[]> shapes = new LinkedHashMap<>();
        for (int i = 0; i < adapters.size(); i++) {
            try (LoraSet in = new LoraSet(m)) {
                AdapterGguf.load(adapters.get(i), in, 1f);
                for (LoraSet.Slot s : in.slots()) {
                    String key = s.layer() + "/" + s.target().gguf;
                    modules.computeIfAbsent(key, k -> new Part[adapters.size()])[i] = new Part(in.getA(s), in.getB(s), in.scale(s), s.rank());
                    shapes.put(key, new long[] {s.in(), s.out()});
                }
            }
        }
        SplitMix64 rng = new SplitMix64(seed);
        for (var e : modules.entrySet()) {
            String[] k = e.getKey().split("/");
            int layer = Integer.parseInt(k[0]);
            Target target = Target.byName(k[1]);
            int in = (int) shapes.get(e.getKey())[0], outF = (int) shapes.get(e.getKey())[1];
            Part[] parts = e.getValue();
            switch (method) {
                case CAT -> {
                    for (int i = 0; i < parts.length; i++) {
                        if (parts[i] == null) continue;
                        LoraSet.Slot s = out.addSlot(layer, target, parts[i].rank(), (float) (weights[i] * parts[i].scale()));
                        out.setWeights(s, parts[i].a(), parts[i].b());
                    }
                }
                case LINEAR -> {
                    int r = -1;
                    for (Part p : parts) if (p != null) { if (r >= 0 && p.rank() != r) throw new IllegalArgumentException("linear merging needs equal ranks (" + e.getKey() + ")"); r = p.rank(); }
                    float[] a = new float[r * in], b = new float[outF * r];
                    for (int i = 0; i < parts.length; i++) {
                        Part p = parts[i];
                        if (p == null) continue;
                        double sw = Math.sqrt(Math.abs(weights[i])) * Math.signum(weights[i]);
                        for (int j = 0; j < a.length; j++) a[j] += (float) (sw * p.scale() * p.a()[j]);
                        for (int j = 0; j < b.length; j++) b[j] += (float) (Math.sqrt(Math.abs(weights[i])) * p.b()[j]);
                    }
                    LoraSet.Slot s = out.addSlot(layer, target, r, 1f);
                    out.setWeights(s, a, b);
                }
                default -> {
                    List<float[]> deltas = new ArrayList<>();
                    int rankSum = 0;
                    for (int i = 0; i < parts.length; i++) {
                        if (parts[i] == null) continue;
                        float[] d = new float[outF * in];
                        LowRank.addProduct(d, parts[i].b(), parts[i].a(), outF, in, parts[i].rank(), (float) (weights[i] * parts[i].scale()));
                        deltas.add(d);
                        rankSum += parts[i].rank();
                    }
                    float[] merged = switch (method) {
                        case TIES -> ties(deltas, density);
                        case DARE -> dare(deltas, density, rng);
                        default -> sum(deltas);
                    };
                    LowRank.Factors f = LowRank.factor(merged, outF, in, rank > 0 ? rank : rankSum, seed + layer);
                    LoraSet.Slot s = out.addSlot(layer, target, f.rank(), 1f);
                    out.setWeights(s, f.a(), f.b());
                }
            }
        }
    }

    static float[] sum(List<float[]> deltas) {
        float[] s = new float[deltas.get(0).length];
        for (float[] d : deltas) for (int i = 0; i < s.length; i++) s[i] += d[i];
        return s;
    }

    /** TIES: trim each update to its top-density share by magnitude, elect signs by the sum, average the agreeing entries. */
    static float[] ties(List<float[]> deltas, double density) {
        int n = deltas.get(0).length;
        List<float[]> trimmed = new ArrayList<>();
        for (float[] d : deltas) trimmed.add(trim(d, density));
        float[] out = new float[n];
        for (int i = 0; i < n; i++) {
            double total = 0;
            for (float[] t : trimmed) total += t[i];
            double sign = Math.signum(total);
            if (sign == 0) continue;
            double s = 0;
            int c = 0;
            for (float[] t : trimmed) if (t[i] != 0 && Math.signum(t[i]) == sign) { s += t[i]; c++; }
            out[i] = c == 0 ? 0 : (float) (s / c);
        }
        return out;
    }

    /** Keeps the ⌈density·n⌉ entries of largest magnitude (ties at the threshold kept), zeroes the rest. */
    static float[] trim(float[] d, double density) {
        int keep = (int) Math.ceil(density * d.length);
        if (keep >= d.length) return d.clone();
        float[] mags = new float[d.length];
        for (int i = 0; i < d.length; i++) mags[i] = Math.abs(d[i]);
        float[] sorted = mags.clone();
        java.util.Arrays.sort(sorted);
        float threshold = sorted[d.length - keep];
        float[] out = new float[d.length];
        for (int i = 0; i < d.length; i++) if (mags[i] >= threshold) out[i] = d[i];
        return out;
    }

    /** DARE: each entry kept with probability density and rescaled by 1/density, then the updates summed. */
    static float[] dare(List<float[]> deltas, double density, SplitMix64 rng) {
        float[] out = new float[deltas.get(0).length];
        for (float[] d : deltas)
            for (int i = 0; i < out.length; i++) if (rng.nextDouble() < density) out[i] += (float) (d[i] / density);
        return out;
    }
}
