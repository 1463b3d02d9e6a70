package io.panlora.variants.copra;

/**
 * CopRA (CoTo) progressive layer dropping: each layer's adapters are active at step t with probability
 * p(t) = p0 + (p1 − p0)·t/⌈ρ·T⌉ (clipped at p1), drawn per layer per optimizer step, redrawn if no layer is active.
 * Defaults follow the published scheduler: p0 0.1, p1 1.0, ρ 0.75. With shapleyPermutations > 0 the per-layer
 * Shapley values are estimated on the validation data after training (Monte Carlo over permutations).
 */
public record CopraConfig(double p0, double p1, double rho, long seed, int shapleyPermutations) {
    public CopraConfig {
        if (!(p0 >= 0 && p0 <= 1 && p1 >= p0 && p1 <= 1)) throw new IllegalArgumentException("CopRA needs 0 <= p0 <= p1 <= 1, got " + p0 + ", " + p1);
        if (!(rho > 0 && rho <= 1)) throw new IllegalArgumentException("CopRA's stage fraction rho must be in (0, 1], got " + rho);
        if (shapleyPermutations < 0) throw new IllegalArgumentException("Shapley permutations must be >= 0");
    }

    /** The defaults with a seed. */
    public static CopraConfig defaults(long seed) {
        return new CopraConfig(0.1, 1.0, 0.75, seed, 0);
    }

    /** Activation probability at step t of T. */
    public double probability(int step, int totalSteps) {
        long stage = (long) Math.ceil(rho * totalSteps);
        double p = p0 + (p1 - p0) * step / (double) Math.max(1, stage);
        return Math.min(p, p1);
    }
}
