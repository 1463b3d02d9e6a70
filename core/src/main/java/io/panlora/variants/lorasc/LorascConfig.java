package io.panlora.variants.lorasc;

/**
 * LoRASC (slow cascaded learning): every {@code every} steps a cascade iteration ends; the slow update S gains
 * α·s·B·A of the fast LoRA, which restarts (A random, B = 0, fresh AdamW state); during each iteration the backbone
 * is W₀ + S + N with fresh Gaussian noise N of standard deviation γ·std(W₀) per module. Defaults: α 0.5, γ 0.01.
 *
 * @param every the steps of one cascade iteration, at least 1
 * @param alpha the share α of the fast LoRA's product s·B·A added to S at the end of an iteration, in (0, 1]
 * @param gamma the noise level γ: the noise's standard deviation as a multiple of std(W₀), at least 0 (0: no noise)
 * @param seed  the seed of the noise (and of the exact re-factorisation at the end)
 */
public record LorascConfig(int every, double alpha, double gamma, long seed) {
    /**
     * Checks the values.
     *
     * @throws IllegalArgumentException if {@code every < 1}, {@code alpha} is not in (0, 1], or {@code gamma} is negative or
     *                                  NaN
     */
    public LorascConfig {
        if (every < 1) throw new IllegalArgumentException("--lorasc-every must be >= 1, got " + every);
        if (!(alpha > 0 && alpha <= 1)) throw new IllegalArgumentException("--lorasc-alpha must be in (0, 1], got " + alpha);
        if (!(gamma >= 0)) throw new IllegalArgumentException("--lorasc-noise must be >= 0, got " + gamma);
    }
}
