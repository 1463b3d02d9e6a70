package io.panlora.spark;

import io.panlora.Panlora;
import io.panlora.gguf.GgmlType;
import io.panlora.lora.AdapterGguf;
import io.panlora.lora.LoraSet;
import io.panlora.merge.AdapterMerge;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * The driver's merge of the shard adapters of one round, weighted by shard size (pᵢ = nᵢ/Σn, nᵢ the shard's training
 * windows) or uniformly (pᵢ = 1/K), through {@link AdapterMerge}:
 * <ul>
 *   <li>{@code linear}: FedAvg of the factors, A = Σ pᵢ·Aᵢ and B = Σ pᵢ·Bᵢ (all shards share rank and alpha, and start from
 *       the same adapter): AdapterMerge's linear (PEFT's formula A = Σ√wᵢ·sᵢ·Aᵢ, B = Σ√wᵢ·Bᵢ) with wᵢ = pᵢ², the scale
 *       folded into A and divided out again when the next round starts from the file;</li>
 *   <li>{@code svd}: the weighted mean of the updates Σ pᵢ·ΔWᵢ, factored to the merge rank;</li>
 *   <li>{@code dare}: the same mean after DARE's random drop and 1/density rescaling;</li>
 *   <li>{@code ties}: TIES with weights K·pᵢ (mean 1: TIES averages the agreeing entries itself).</li>
 * </ul>
 * Static methods only.
 */
public final class FederatedMerge {
    private FederatedMerge() {}

    /** The merge methods a federated round takes. */
    public static final List<AdapterMerge.Method> METHODS = List.of(AdapterMerge.Method.LINEAR, AdapterMerge.Method.TIES,
            AdapterMerge.Method.DARE, AdapterMerge.Method.SVD);

    /**
     * Reads a merge method name.
     *
     * @param s {@code linear}, {@code ties}, {@code dare} or {@code svd}
     * @return the method
     * @throws IllegalArgumentException for any other name
     */
    public static AdapterMerge.Method parse(String s) {
        AdapterMerge.Method m;
        try {
            m = AdapterMerge.Method.parse(s);
        } catch (IllegalArgumentException e) {
            m = null;
        }
        if (m == null || !METHODS.contains(m)) throw new IllegalArgumentException("unknown merge '" + s + "' (linear, ties, dare, svd)");
        return m;
    }

    /**
     * The shards' shares pᵢ.
     *
     * @param sizes   each shard's size (its training windows)
     * @param uniform true for 1/K each
     * @return the shares, summing to 1
     */
    public static double[] shares(int[] sizes, boolean uniform) {
        double total = 0;
        for (int n : sizes) total += uniform ? 1 : n;
        double[] p = new double[sizes.length];
        for (int i = 0; i < p.length; i++) p[i] = (uniform ? 1 : sizes[i]) / total;
        return p;
    }

    /**
     * The weights AdapterMerge gets for the shares (see the class comment).
     *
     * @param method the merge method
     * @param shares the shards' shares pᵢ
     * @return pᵢ² for linear, K·pᵢ for ties, pᵢ for svd and dare
     */
    public static double[] weights(AdapterMerge.Method method, double[] shares) {
        double[] w = new double[shares.length];
        for (int i = 0; i < w.length; i++)
            w[i] = switch (method) {
                case LINEAR -> shares[i] * shares[i];
                case TIES -> shares.length * shares[i];
                default -> shares[i];
            };
        return w;
    }

    /**
     * Merges the adapters and writes the result.
     *
     * @param base     the base all adapters were trained on
     * @param adapters the shard adapters, in shard order
     * @param shares   their shares pᵢ
     * @param method   linear, ties, dare or svd
     * @param rank     the merged rank for ties, dare and svd (0: the sum of the input ranks)
     * @param density  the density of ties and dare, in (0, 1]
     * @param seed     the seed of dare's drops and of the factorisations
     * @param out      the adapter file to write
     * @param type     its tensor type
     * @return {@code out}
     * @throws IOException if an adapter cannot be read or the result cannot be written
     */
    public static Path merge(Panlora base, List<Path> adapters, double[] shares, AdapterMerge.Method method, int rank, double density,
                             long seed, Path out, GgmlType type) throws IOException {
        try (LoraSet set = new LoraSet(base.model())) {
            AdapterMerge.merge(base.model(), adapters, weights(method, shares), method, rank, density, seed, set);
            AdapterGguf.write(out, set, base.config(), type, "panlora-federated-" + method.name().toLowerCase(Locale.ROOT));
        }
        return out;
    }
}
