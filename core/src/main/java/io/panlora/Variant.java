package io.panlora;

import io.panlora.train.TrainingStrategy;
import io.panlora.variants.VariantSettings;
import io.panlora.variants.VariantType;
import io.panlora.variants.Variants;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * How a LoRA adapter is trained: plain LoRA or one of the research variants, with the variant's own settings. Variants
 * are looked up by name in the registry ({@link Variants}), with options named as the command line's
 * ({@code copra-p0}, {@code cola-links}, …); the static methods here are shortcuts for the built-in ones. Every variant
 * produces an ordinary LoRA adapter file. Immutable.
 */
public final class Variant {
    private final VariantType type;
    private final Map<String, String> options;

    private Variant(VariantType type, Map<String, String> options) {
        this.type = type;
        this.options = Map.copyOf(options);
        VariantSettings.of(type, this.options, 1, 0); // unknown option names fail now
    }

    /**
     * A variant by name with its defaults.
     *
     * @param name a registered variant's name or alias: lora, copra, cola, cora, lorasc, or a plug-in's
     * @return the variant
     * @throws IllegalArgumentException naming the known variants for any other name
     */
    public static Variant named(String name) {
        return new Variant(Variants.named(name), Map.of());
    }

    /**
     * A variant by name with some of its options set (the others at their defaults).
     *
     * @param name    the variant's name
     * @param options option values by name without dashes, e.g. {@code Map.of("cola-links", "2")}
     * @return the variant
     * @throws IllegalArgumentException for an unknown variant or an option it does not have
     */
    public static Variant named(String name, Map<String, String> options) {
        return new Variant(Variants.named(name), Objects.requireNonNull(options, "options"));
    }

    /**
     * Plain LoRA (PEFT's {@code LoraConfig}): A Kaiming-uniform, B zero, both trained.
     *
     * @return the variant
     */
    public static Variant lora() {
        return named("lora");
    }

    /**
     * CopRA with the paper's schedule: each layer's adapter is active with probability rising from 0.1 to 1 over the first
     * 75 % of the run.
     *
     * @return the variant
     */
    public static Variant copra() {
        return named("copra");
    }

    /**
     * Chain of LoRA with {@code links} links of equal length.
     *
     * @param links the number of links, at least 1
     * @return the variant
     */
    public static Variant cola(int links) {
        return named("cola", Map.of("cola-links", Integer.toString(links)));
    }

    /**
     * CoRA mode 1 (B frozen, only A trains), B from the principal subspace of each base weight.
     *
     * @return the variant
     */
    public static Variant cora() {
        return named("cora");
    }

    /**
     * LoRASC with its defaults: three cascade iterations over the run, the slow weights taking half of each fast adapter,
     * Gaussian backbone noise of 0.01 of each module's weight standard deviation.
     *
     * @return the variant
     */
    public static Variant lorasc() {
        return named("lorasc");
    }

    /**
     * The same variant with one more option set.
     *
     * @param option the option's name without dashes
     * @param value  its value as text
     * @return a new variant
     */
    public Variant with(String option, String value) {
        Map<String, String> m = new LinkedHashMap<>(options);
        m.put(Objects.requireNonNull(option, "option"), Objects.requireNonNull(value, "value"));
        return new Variant(type, m);
    }

    /**
     * Returns the variant's name: lora, copra, cola, cora, lorasc or a plug-in's.
     *
     * @return the name
     */
    public String name() {
        return type.name();
    }

    /**
     * Returns the options set on this variant (the others are at their defaults).
     *
     * @return option values by name
     */
    public Map<String, String> options() {
        return options;
    }

    @Override
    public String toString() {
        return options.isEmpty() ? type.name() : type.name() + options;
    }

    /** The settings for a run of {@code steps} steps with {@code seed}. */
    VariantSettings settings(int steps, long seed) {
        return VariantSettings.of(type, options, steps, seed);
    }

    TrainingStrategy strategy(int steps, long seed) {
        return type.create(settings(steps, seed));
    }
}
