package io.panlora.variants;

import io.panlora.train.TrainingStrategy;
import java.util.List;

/**
 * A way of training a LoRA adapter, as a plug-in (in the manner of PEFT's tuners): its name, its own options with their
 * defaults, and the {@link TrainingStrategy} it makes from them. The built-in ones (lora, copra, cola, cora, lorasc) live
 * in their own packages and are listed by {@link Variants}; more can be added with {@link java.util.ServiceLoader}
 * ({@code provides io.panlora.variants.VariantType with …} in a module, or a {@code META-INF/services} entry).
 * The command line's {@code train --variant NAME}, {@code experiment} and the {@code io.panlora.Variant} facade all look
 * variants up by name here.
 */
public interface VariantType {
    /**
     * The name {@code --variant} takes.
     *
     * @return a lower-case name, unique among variants
     */
    String name();

    /**
     * Other names accepted for this variant.
     *
     * @return the aliases (empty by default)
     */
    default List<String> aliases() {
        return List.of();
    }

    /**
     * One line for the help text: what the variant does and the paper it follows.
     *
     * @return the summary
     */
    String summary();

    /**
     * The variant's own options, each with its default.
     *
     * @return the options (empty for none)
     */
    List<VariantOption> options();

    /**
     * Makes the strategy of one run. Values are checked here: a bad one is an {@link IllegalArgumentException} naming its
     * option.
     *
     * @param settings the options' values and the run's steps and seed
     * @return a new strategy, for one run
     */
    TrainingStrategy create(VariantSettings settings);

    /**
     * What a run with these settings does, for the log (for example which subspace CoRA chose and why).
     *
     * @param settings the settings
     * @return one line; by default the settings' key
     */
    default String describe(VariantSettings settings) {
        return settings.key();
    }
}
