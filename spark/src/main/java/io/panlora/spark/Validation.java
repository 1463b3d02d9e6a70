package io.panlora.spark;

import io.panlora.Adapter;
import io.panlora.Data;
import io.panlora.Evaluation;
import io.panlora.Panlora;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Held-out loss on the driver: the base with an adapter (or alone) on each shard's validation part, and on their union (the
 * pooled windows of all shards: the token-weighted mean of the shard losses). Evaluates on the base the driver loaded.
 */
public final class Validation {
    /**
     * An adapter's validation losses.
     *
     * @param union    the mean NLL over every shard's validation windows together, in nats per token
     * @param perShard the mean NLL on each shard's validation part, in shard order (NaN for a shard without one)
     */
    public record Losses(double union, double[] perShard) {}

    private final Panlora base;
    private final List<Path> files;
    private final int ctx;

    /**
     * @param base  the loaded base
     * @param files each shard's validation file, in shard order; null for a shard without validation
     * @param ctx   the window length, the training's
     */
    Validation(Panlora base, List<Path> files, int ctx) {
        this.base = base;
        this.files = new ArrayList<>(files);
        this.ctx = ctx;
    }

    /** Whether any shard has validation data. */
    boolean any() {
        return files.stream().anyMatch(Objects::nonNull);
    }

    /** The losses with the adapter applied at scale 1, or of the base alone when adapter is null. */
    Losses of(Path adapter) {
        double[] per = new double[files.size()];
        double sum = 0;
        long tokens = 0;
        for (int i = 0; i < per.length; i++) {
            if (files.get(i) == null) {
                per[i] = Double.NaN;
                continue;
            }
            Data d = Data.file(files.get(i));
            Evaluation e = adapter == null ? base.evaluate(d, ctx) : base.evaluate(d, ctx, base.adapter(adapter).scaled(1));
            per[i] = e.loss();
            sum += e.loss() * e.tokens();
            tokens += e.tokens();
        }
        return new Losses(tokens == 0 ? Double.NaN : sum / tokens, per);
    }

    /** The adapter file as a facade adapter of the base. */
    Adapter open(Path adapter) {
        return base.adapter(adapter);
    }
}
