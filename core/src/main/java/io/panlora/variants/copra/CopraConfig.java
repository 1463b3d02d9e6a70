package io.panlora.variants.copra;

/**
 * CopRA (CoTo) progressive layer dropping: each layer's adapters are active at step t with probability
 * p(t) = p0 + (p1 − p0)·t/⌈ρ·T⌉ (clipped at p1), drawn per layer per optimizer step, redrawn if no layer is active.
 * Defaults follow the published scheduler: p0 0.1, p1 1.0, ρ 0.75. With shapleyPermutations > 0 the per-layer
 * Shapley values are estimated on the validation data after training (Monte Carlo over permutations).
 *
 * @param p0                  the activation probability at step 0, in [0, p1]
 * @param p1                  the final activation probability, in [p0, 1]
 * @param rho                 the fraction of the run over which the probability rises from p0 to p1, in (0, 1]; it stays at
 *                            p1 after that
 * @param seed                the seed of the mask draws
 * @param shapleyPermutations permutations of the Shapley estimate after training, at least 0 (0: no estimate)
 */
public record CopraConfig(double p0, double p1, double rho, long seed, int shapleyPermutations) {
    /**
     * Checks the values.
     *
     * @throws IllegalArgumentException if not {@code 0 <= p0 <= p1 <= 1}, {@code rho} is not in (0, 1], or
     *                                  {@code shapleyPermutations < 0}
     */
    public CopraConfig {
        if (!(p0 >= 0 && p0 <= 1 && p1 >= p0 && p1 <= 1)) throw new IllegalArgumentException("CopRA needs 0 <= p0 <= p1 <= 1, got " + p0 + ", " + p1);
        if (!(rho > 0 && rho <= 1)) throw new IllegalArgumentException("CopRA's stage fraction rho must be in (0, 1], got " + rho);
        if (shapleyPermutations < 0) throw new IllegalArgumentException("Shapley permutations must be >= 0");
    }

    /**
     * The published scheduler's defaults: p0 0.1, p1 1.0, ρ 0.75, no Shapley estimate.
     *
     * @param seed the seed of the mask draws
     * @return the configuration
     */
    public static CopraConfig defaults(long seed) {
        return new CopraConfig(0.1, 1.0, 0.75, seed, 0);
    }

    /**
     * The activation probability of a step: {@code min(p1, p0 + (p1 − p0) · t / max(1, ⌈ρ·T⌉))}.
     *
     * @param step       the step t, 0-based
     * @param totalSteps the run's steps T
     * @return the probability that a layer's adapters are active in that step, in [p0, p1]
     */
    public double probability(int step, int totalSteps) {
        long stage = (long) Math.ceil(rho * totalSteps);
        double p = p0 + (p1 - p0) * step / (double) Math.max(1, stage);
        return Math.min(p, p1);
    }
}
