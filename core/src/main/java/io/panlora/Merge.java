package io.panlora;

import io.panlora.gguf.GgmlType;
import io.panlora.lora.AdapterGguf;
import io.panlora.lora.LoraSet;
import io.panlora.merge.AdapterMerge;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Combines adapters of one base into one adapter, with the combination types of PEFT's {@code add_weighted_adapter}:
 * {@code cat} (the slots side by side: the update is exactly Σ wᵢ·sᵢ·BᵢAᵢ, rank the sum), {@code linear} (A = Σ √wᵢ·sᵢ·Aᵢ
 * and B = Σ √wᵢ·Bᵢ, as PEFT: the adapters must share a rank, and the product is not the weighted sum of the updates),
 * {@code svd} and {@code task_arithmetic} (Σ wᵢ·sᵢ·BᵢAᵢ factored again), {@code ties} and {@code dare} (the updates
 * sparsified to a density, then summed and factored). Defaults as the command line's {@code merge}: ties, density 0.5,
 * weight 1 per adapter, rank the sum of the input ranks, F16.
 */
public final class Merge {
    private final Panlora base;
    private final List<Adapter> adapters = new ArrayList<>();
    private final List<Double> weights = new ArrayList<>();
    private AdapterMerge.Method method = AdapterMerge.Method.TIES;
    private int rank;
    private double density = 0.5;
    private long seed = 1;
    private GgmlType type = GgmlType.F16;

    Merge(Panlora base) {
        this.base = base;
    }

    /**
     * Adds an adapter with weight 1.
     *
     * @param adapter the adapter
     * @return this merge
     */
    public Merge add(Adapter adapter) {
        return add(adapter, 1);
    }

    /**
     * Adds an adapter with a weight.
     *
     * @param adapter the adapter
     * @param weight  its weight in the combination; finite
     * @return this merge
     */
    public Merge add(Adapter adapter, double weight) {
        adapters.add(Objects.requireNonNull(adapter, "adapter"));
        if (!Double.isFinite(weight)) throw new IllegalArgumentException("weight must be finite, got " + weight);
        weights.add(weight);
        return this;
    }

    /**
     * Sets the combination type (default {@link AdapterMerge.Method#TIES}).
     *
     * @param m the combination (default {@link AdapterMerge.Method#TIES})
     * @return this merge
     */
    public Merge method(AdapterMerge.Method m) {
        method = Objects.requireNonNull(m, "method");
        return this;
    }

    /**
     * Sets the rank of the result for svd, task_arithmetic, ties and dare; 0 (the default) is the sum of the input ranks, which is exact for svd and task_arithmetic.
     *
     * @param r the rank of the result for svd, task_arithmetic, ties and dare; 0 (the default) is the sum of the input ranks,
     *          which is exact for svd and task_arithmetic
     * @return this merge
     */
    public Merge rank(int r) {
        if (r < 0) throw new IllegalArgumentException("rank must be >= 0, got " + r);
        rank = r;
        return this;
    }

    /**
     * Sets the share of each update's entries ties and dare keep, in (0, 1] (default 0.5).
     *
     * @param d the share of each update's entries ties and dare keep, in (0, 1] (default 0.5)
     * @return this merge
     */
    public Merge density(double d) {
        if (!(d > 0 && d <= 1)) throw new IllegalArgumentException("density must be in (0, 1], got " + d);
        density = d;
        return this;
    }

    /**
     * Sets the seed of dare's random drop and of the factorisations.
     *
     * @param s the seed of dare's random drop and of the factorisations
     * @return this merge
     */
    public Merge seed(long s) {
        seed = s;
        return this;
    }

    /**
     * Sets the tensor type of the written adapter (default F16).
     *
     * @param t the tensor type of the written adapter (default F16)
     * @return this merge
     */
    public Merge type(GgmlType t) {
        Panlora.requireAdapterType(t);
        type = t;
        return this;
    }

    /**
     * Merges and writes the result.
     *
     * @param out the adapter file to write
     * @return the merged adapter
     */
    public Adapter writeTo(Path out) {
        Objects.requireNonNull(out, "out");
        if (adapters.isEmpty()) throw new IllegalArgumentException("add at least one adapter to merge");
        int n = adapters.size();
        double[] w = new double[n];
        List<Path> files = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            w[i] = weights.get(i);
            files.add(adapters.get(i).file());
        }
        try (LoraSet set = new LoraSet(base.engine())) {
            AdapterMerge.merge(base.engine(), files, w, method, rank, density, seed, set);
            AdapterGguf.write(out, set, base.config(), type, "panlora-merged");
            return new Adapter(out, null);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
