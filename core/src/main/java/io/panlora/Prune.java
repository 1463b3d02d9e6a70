package io.panlora;

import io.panlora.gguf.GgmlType;
import io.panlora.lora.AdapterGguf;
import io.panlora.prune.AdapterPrune;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;

/**
 * Makes a smaller adapter from one adapter by one of three methods: {@link #magnitude} (keep the largest entries of each
 * update), {@link #rank} (truncate each update's SVD) or {@link #layers} (drop the adapters of the layers with the lowest
 * Shapley values on validation data, as CopRA proposes).
 */
public final class Prune {
    private enum How { NONE, MAGNITUDE, RANK, LAYERS }

    private final Panlora base;
    private final Adapter adapter;
    private How how = How.NONE;
    private double keep;
    private int rank, layers, permutations;
    private Data validation;
    private long seed = 1;
    private GgmlType type = GgmlType.F16;
    private int[] removed = new int[0];

    Prune(Panlora base, Adapter adapter) {
        this.base = base;
        this.adapter = adapter;
    }

    /**
     * Keeps the share {@code keep} of each module's update ΔW = s·B·A with the largest magnitudes, refactored at the same
     * rank.
     *
     * @param keep the share kept, in (0, 1]
     * @return this prune
     */
    public Prune magnitude(double keep) {
        if (!(keep > 0 && keep <= 1)) throw new IllegalArgumentException("keep must be in (0, 1], got " + keep);
        how = How.MAGNITUDE;
        this.keep = keep;
        return this;
    }

    /**
     * Truncates each module's update to its top {@code r} singular directions.
     *
     * @param r the rank kept, at least 1
     * @return this prune
     */
    public Prune rank(int r) {
        if (r < 1) throw new IllegalArgumentException("rank must be >= 1, got " + r);
        how = How.RANK;
        rank = r;
        return this;
    }

    /**
     * Removes the adapters of the {@code k} layers whose Shapley values (Monte Carlo over {@code permutations} layer orders,
     * the value of a coalition being the validation loss reduction) are lowest.
     *
     * @param k            how many layers to remove, 0..layers
     * @param validation   the data the values are measured on
     * @param permutations Monte Carlo permutations, at least 1
     * @return this prune
     */
    public Prune layers(int k, Data validation, int permutations) {
        if (k < 0) throw new IllegalArgumentException("k must be >= 0, got " + k);
        if (permutations < 1) throw new IllegalArgumentException("permutations must be >= 1, got " + permutations);
        how = How.LAYERS;
        layers = k;
        this.validation = Objects.requireNonNull(validation, "validation");
        this.permutations = permutations;
        return this;
    }

    /**
     * Sets the seed of the factorisations and the Monte Carlo permutations (default 1).
     *
     * @param s the seed of the factorisations and the Monte Carlo permutations (default 1)
     * @return this prune
     */
    public Prune seed(long s) {
        seed = s;
        return this;
    }

    /**
     * Sets the tensor type of the written adapter (default F16).
     *
     * @param t the tensor type of the written adapter (default F16)
     * @return this prune
     */
    public Prune type(GgmlType t) {
        Panlora.requireAdapterType(t);
        type = t;
        return this;
    }

    /**
     * Prunes and writes the result.
     *
     * @param out the adapter file to write
     * @return the pruned adapter
     * @throws IllegalStateException if no method was chosen
     */
    public Adapter writeTo(Path out) {
        Objects.requireNonNull(out, "out");
        if (how == How.NONE) throw new IllegalStateException("choose magnitude, rank or layers before writing");
        var val = how == How.LAYERS ? base.batches(validation, (int) Math.min(512, base.config().nCtxTrain())) : null;
        return base.withAdapters(List.of(adapter.scaled(1)), set -> {
            switch (how) {
                case MAGNITUDE -> AdapterPrune.magnitude(set, keep, seed);
                case RANK -> AdapterPrune.rank(set, rank, seed);
                case LAYERS -> removed = AdapterPrune.layers(base.engine(), set, val, layers, permutations, seed);
                default -> throw new IllegalStateException(how.toString());
            }
            AdapterGguf.write(out, set, base.config(), type, "panlora-pruned");
            return new Adapter(out, null);
        });
    }

    /**
     * Returns the layers {@link #layers} removed in the last {@link #writeTo}, lowest Shapley value first (empty otherwise).
     *
     * @return the layers {@link #layers} removed in the last {@link #writeTo}, lowest Shapley value first (empty otherwise)
     */
    public int[] removedLayers() {
        return removed.clone();
    }
}
