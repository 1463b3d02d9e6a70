package io.panlora.variants.lorasc;

/**
 * LoRASC (slow cascaded learning): every {@code every} steps a cascade iteration ends; the slow update S gains
 * α·s·B·A of the fast LoRA, which restarts (A random, B = 0, fresh AdamW state); during each iteration the backbone
 * is W₀ + S + N with fresh Gaussian noise N of standard deviation γ·std(W₀) per module. Defaults: α 0.5, γ 0.01.
 */
public record LorascConfig(int every, double alpha, double gamma, long seed) {
    public LorascConfig {
        if (every < 1) throw new IllegalArgumentException("--lorasc-every must be >= 1, got " + every);
        if (!(alpha > 0 && alpha <= 1)) throw new IllegalArgumentException("--lorasc-alpha must be in (0, 1], got " + alpha);
        if (!(gamma >= 0)) throw new IllegalArgumentException("--lorasc-noise must be >= 0, got " + gamma);
    }
}
