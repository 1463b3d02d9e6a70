package io.panlora;

import io.panlora.train.TrainingStrategy;
import io.panlora.variants.cola.ColaChain;
import io.panlora.variants.cola.ColaConfig;
import io.panlora.variants.copra.CopraConfig;
import io.panlora.variants.copra.CopraSchedule;
import io.panlora.variants.cora.CoraConfig;
import io.panlora.variants.cora.CoraStrategy;
import io.panlora.variants.lorasc.LorascCascade;
import io.panlora.variants.lorasc.LorascConfig;
import java.util.Objects;

/**
 * How a LoRA adapter is trained: plain LoRA or one of the research variants, with the variant's own settings. The variants
 * follow their papers (see the project's VARIANTS.md); every one produces an ordinary LoRA adapter file.
 */
public final class Variant {
    /** Makes the strategy for a run of {@code steps} steps with seed {@code seed}. */
    private interface Factory {
        TrainingStrategy make(int steps, long seed);
    }

    private final String name;
    private final Factory factory;

    private Variant(String name, Factory factory) {
        this.name = name;
        this.factory = factory;
    }

    /**
     * Returns plain LoRA (PEFT's {@code LoraConfig}): A Kaiming-uniform, B zero, both trained.
     *
     * @return plain LoRA (PEFT's {@code LoraConfig}): A Kaiming-uniform, B zero, both trained
     */
    public static Variant lora() {
        return new Variant("lora", (steps, seed) -> TrainingStrategy.LORA);
    }

    /**
     * CopRA with the paper's schedule: each layer's adapter is active with probability rising from 0.1 to 1 over the first
     * 75 % of the run.
     *
     * @return the variant
     */
    public static Variant copra() {
        return new Variant("copra", (steps, seed) -> new CopraSchedule(CopraConfig.defaults(seed)));
    }

    /**
     * CopRA with its own schedule.
     *
     * @param p0  the layer activation probability at step 0, in [0, 1]
     * @param p1  the final activation probability, in [p0, 1]
     * @param rho the share of the run over which the probability rises, in (0, 1]
     * @param shapleyPermutations permutations for the per-layer Shapley values estimated after training (0: none)
     * @return the variant
     */
    public static Variant copra(double p0, double p1, double rho, int shapleyPermutations) {
        new CopraConfig(p0, p1, rho, 0, shapleyPermutations); // checks the values now
        return new Variant("copra", (steps, seed) -> new CopraSchedule(new CopraConfig(p0, p1, rho, seed, shapleyPermutations)));
    }

    /**
     * Chain of LoRA: the run is split into {@code links} equal parts; after each, the trained adapter is merged into the
     * chain and a fresh one starts.
     *
     * @param links the number of links, at least 1
     * @return the variant
     */
    public static Variant cola(int links) {
        ColaConfig c = new ColaConfig(links);
        return new Variant("cola", (steps, seed) -> new ColaChain(c));
    }

    /**
     * CoRA with B taken from the base weights' principal subspace and frozen (only A trains).
     *
     * @return the variant
     */
    public static Variant cora() {
        return cora(CoraConfig.defaults());
    }

    /**
     * CoRA with its own settings (subspace principal, minor or shared; B frozen or only its initial value).
     *
     * @param config the settings
     * @return the variant
     */
    public static Variant cora(CoraConfig config) {
        Objects.requireNonNull(config, "config");
        return new Variant("cora", (steps, seed) -> new CoraStrategy(config));
    }

    /**
     * LoRASC with the defaults: three cascade iterations over the run, the slow weights taking half of each fast adapter,
     * backbone noise of 0.01 of each module's weight standard deviation.
     *
     * @return the variant
     */
    public static Variant lorasc() {
        return lorasc(0, 0.5, 0.01);
    }

    /**
     * LoRASC with its own settings.
     *
     * @param every steps per cascade iteration; 0: a third of the run
     * @param alpha the share of each fast adapter the slow weights take, in (0, 1]
     * @param noise backbone noise in units of each module's weight standard deviation, at least 0
     * @return the variant
     */
    public static Variant lorasc(int every, double alpha, double noise) {
        if (every < 0) throw new IllegalArgumentException("every must be >= 0, got " + every);
        new LorascConfig(Math.max(1, every), alpha, noise, 0); // checks the values now
        return new Variant("lorasc", (steps, seed) -> new LorascCascade(new LorascConfig(every > 0 ? every : Math.max(1, steps / 3),
                alpha, noise, seed)));
    }

    /**
     * The variant of a name as the command line's {@code --variant} takes it, with its default settings.
     *
     * @param name lora, copra, cola (3 links), cora or lorasc, case-insensitive
     * @return the variant
     * @throws IllegalArgumentException for any other name
     */
    public static Variant named(String name) {
        return switch (Objects.requireNonNull(name, "name").trim().toLowerCase(java.util.Locale.ROOT)) {
            case "lora" -> lora();
            case "copra" -> copra();
            case "cola" -> cola(3);
            case "cora" -> cora();
            case "lorasc" -> lorasc();
            default -> throw new IllegalArgumentException("unknown variant '" + name + "' (lora, copra, cola, cora, lorasc)");
        };
    }

    /**
     * Returns the variant's name: lora, copra, cola, cora or lorasc.
     *
     * @return the variant's name: lora, copra, cola, cora or lorasc
     */
    public String name() {
        return name;
    }

    @Override
    public String toString() {
        return name;
    }

    TrainingStrategy strategy(int steps, long seed) {
        return factory.make(steps, seed);
    }
}
