package io.panlora.variants.lorasc;

import java.util.Locale;

/**
 * LoRASC (slow cascaded learning): every {@code every} steps a cascade iteration ends; the slow update S gains
 * α·s·B·A of the fast LoRA, which restarts (A random, B = 0, fresh AdamW state); during each iteration the backbone
 * is W₀ + S + N with fresh noise N drawn per module. The last iteration ends the same way, and the exported adapter is
 * S, re-factorised by SVD to {@code rankOut} (0: exactly).
 *
 * <p>The noise follows one of two laws, and {@code scale} is that law's parameter:
 * <ul>
 *   <li>{@link Noise#GAUSSIAN}: N ~ N(0, (γ·std W₀)²), {@code scale} = γ (default {@value #DEFAULT_GAMMA});</li>
 *   <li>{@link Noise#UNIFORM} (as NoisyTune): N ~ U(−λ/2, λ/2)·std W₀, {@code scale} = λ (default
 *       {@value #DEFAULT_LAMBDA}).</li>
 * </ul>
 * std W₀ is the standard deviation of the module's base weight. Default α: {@value #DEFAULT_ALPHA}.
 *
 * @param every   the steps of one cascade iteration, at least 1
 * @param alpha   the share α of the fast LoRA's product s·B·A added to S at the end of an iteration, in (0, 1]
 * @param noise   the law of the backbone noise
 * @param scale   the noise level: γ for {@link Noise#GAUSSIAN} (the standard deviation as a multiple of std W₀), λ for
 *                {@link Noise#UNIFORM} (the width of the interval as a multiple of std W₀); finite, at least 0 (0: no
 *                noise); {@link #defaultScale(Noise)} gives the defaults
 * @param rankOut the rank of the exported adapter: S is re-factorised by SVD to its best rank-{@code rankOut}
 *                approximation; 0 (the default) exports S exactly (at rank iterations·r, capped at min(in, out)); at
 *                least 0
 * @param seed    the seed of the noise (and of the SVD's start)
 */
public record LorascConfig(int every, double alpha, Noise noise, double scale, int rankOut, long seed) {
    /** The default α, the share of each fast LoRA the slow weights take: {@value}. */
    public static final double DEFAULT_ALPHA = 0.5;
    /** The default γ of Gaussian noise, in units of each module's weight standard deviation: {@value}. */
    public static final double DEFAULT_GAMMA = 0.01;
    /** The default λ of uniform noise (NoisyTune's), in units of each module's weight standard deviation: {@value}. */
    public static final double DEFAULT_LAMBDA = 0.15;

    /** The law of the noise added to the backbone during an iteration. */
    public enum Noise {
        /** N(0, (γ·std W₀)²) per weight, γ the config's scale. */
        GAUSSIAN,
        /** U(−λ/2, λ/2)·std W₀ per weight (NoisyTune), λ the config's scale. */
        UNIFORM;

        /**
         * The law of a name, as a command line writes it.
         *
         * @param name {@code gaussian} or {@code uniform}, case-insensitive
         * @return the law
         * @throws IllegalArgumentException if the name is null or neither
         */
        public static Noise parse(String name) {
            if (name != null)
                for (Noise n : values()) if (n.name().equalsIgnoreCase(name.strip())) return n;
            throw new IllegalArgumentException("unknown LoRASC noise law '" + name + "' (gaussian, uniform)");
        }

        /**
         * The lower-case name, as {@link #parse} takes it.
         *
         * @return {@code gaussian} or {@code uniform}
         */
        @Override
        public String toString() { return name().toLowerCase(Locale.ROOT); }
    }

    /**
     * Checks the values.
     *
     * @throws IllegalArgumentException if {@code every < 1}, {@code alpha} is not in (0, 1], {@code noise} is null,
     *                                  {@code scale} is negative, infinite or NaN, or {@code rankOut} is negative
     */
    public LorascConfig {
        if (every < 1) throw new IllegalArgumentException("LoRASC: the steps per iteration (every) must be >= 1, got " + every);
        if (!(alpha > 0 && alpha <= 1)) throw new IllegalArgumentException("LoRASC: alpha must be in (0, 1], got " + alpha);
        if (noise == null) throw new IllegalArgumentException("LoRASC: the noise law must be given (gaussian, uniform)");
        if (!(scale >= 0 && scale < Double.POSITIVE_INFINITY))
            throw new IllegalArgumentException("LoRASC: the noise scale (" + (noise == Noise.UNIFORM ? "lambda" : "gamma")
                    + ") must be finite and >= 0, got " + scale);
        if (rankOut < 0) throw new IllegalArgumentException("LoRASC: the export rank must be >= 0 (0: exact), got " + rankOut);
    }

    /**
     * Gaussian noise of level γ and an exact export: {@code new LorascConfig(every, alpha, Noise.GAUSSIAN, gamma, 0, seed)}.
     *
     * @param every the steps of one cascade iteration, at least 1
     * @param alpha the share α of the fast LoRA's product s·B·A added to S at the end of an iteration, in (0, 1]
     * @param gamma the noise level γ: the noise's standard deviation as a multiple of std W₀, finite, at least 0 (0: no noise)
     * @param seed  the seed of the noise (and of the SVD's start)
     * @throws IllegalArgumentException as the canonical constructor
     */
    public LorascConfig(int every, double alpha, double gamma, long seed) {
        this(every, alpha, Noise.GAUSSIAN, gamma, 0, seed);
    }

    /**
     * The default scale of a noise law: γ = {@value #DEFAULT_GAMMA} for Gaussian, λ = {@value #DEFAULT_LAMBDA} for uniform.
     *
     * @param noise the law
     * @return its default scale
     * @throws IllegalArgumentException if {@code noise} is null
     */
    public static double defaultScale(Noise noise) {
        if (noise == null) throw new IllegalArgumentException("LoRASC: the noise law must be given (gaussian, uniform)");
        return switch (noise) {
            case GAUSSIAN -> DEFAULT_GAMMA;
            case UNIFORM -> DEFAULT_LAMBDA;
        };
    }

    /**
     * The standard deviation of the noise of a module whose base weight has standard deviation {@code std}: γ·std for
     * Gaussian noise, λ·std/√12 for uniform noise.
     *
     * @param std the standard deviation of the module's base weight, at least 0
     * @return the noise's standard deviation
     */
    public double noiseStd(double std) {
        return noise == Noise.GAUSSIAN ? scale * std : scale * std / Math.sqrt(12);
    }
}
