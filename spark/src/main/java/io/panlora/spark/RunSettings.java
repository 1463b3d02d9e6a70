package io.panlora.spark;

import io.panlora.lora.Target;
import io.panlora.train.LrSchedule;
import io.panlora.train.TrainConfig;
import io.panlora.train.TrainingStrategy;
import io.panlora.variants.VariantSettings;
import io.panlora.variants.Variants;
import java.io.Serializable;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * The hyperparameters of one training task: what a sweep varies (learning rate, rank, variant, seed) and what every task of a
 * job shares. Checked when made, on the driver, so a bad value fails before Spark starts anything.
 *
 * @param rank           the LoRA rank, at least 1
 * @param alpha          LoRA's alpha (slot scale alpha/rank)
 * @param targets        the adapted linears, as {@code --targets} takes them ({@code q,k,v,o}, {@code all} …)
 * @param lr             the peak learning rate (cosine schedule to 0, no warmup), above 0
 * @param steps          optimizer steps of the task, at least 1
 * @param batch          sequences per step, at least 1
 * @param ctx            tokens per sequence, at least 2
 * @param seed           the seed of the init, the data order and the variant's draws
 * @param variant        a registered variant's name ({@code lora}, {@code copra}, {@code cola}, {@code cora}, {@code lorasc} …)
 * @param variantOptions the variant's options by name without dashes ({@code copra-p0} …); the others keep their defaults
 */
public record RunSettings(int rank, float alpha, String targets, float lr, int steps, int batch, int ctx, long seed, String variant,
                          Map<String, String> variantOptions) implements Serializable {
    private static final long serialVersionUID = 1L;

    /**
     * Checks every value, the variant and its options.
     *
     * @throws IllegalArgumentException naming the bad value
     */
    public RunSettings {
        Objects.requireNonNull(variant, "variant");
        variantOptions = Map.copyOf(variantOptions);
        Target.parseList(targets);
        config(rank, alpha, targets, lr, steps, batch, ctx, seed, 0); // the ranges, as TrainConfig checks them (fields are not set yet)
        try {
            VariantSettings.of(Variants.named(variant), variantOptions, steps, seed);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--variant: " + e.getMessage());
        }
    }

    /**
     * The same settings with the values a sweep varies replaced.
     *
     * @param newLr      the learning rate
     * @param newRank    the rank (alpha stays: the scale is alpha/newRank, as PEFT's)
     * @param newVariant the variant's name (options are kept only when it is this settings' variant)
     * @param newSeed    the seed
     * @return new settings
     */
    public RunSettings with(float newLr, int newRank, String newVariant, long newSeed) {
        Map<String, String> opts;
        try {
            opts = Variants.named(newVariant) == Variants.named(variant) ? variantOptions : Map.of();
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--variant: " + e.getMessage());
        }
        return new RunSettings(newRank, alpha, targets, newLr, steps, batch, ctx, newSeed, newVariant, opts);
    }

    /**
     * The training configuration of a task: cosine schedule, validation only before and after (on all of the task's
     * validation windows), a checkpoint every {@code checkpointEvery} steps.
     *
     * @param checkpointEvery write a checkpoint every this many steps (and after the last); 0 for none
     * @return the configuration
     */
    public TrainConfig config(int checkpointEvery) {
        return config(rank, alpha, targets, lr, steps, batch, ctx, seed, checkpointEvery);
    }

    private static TrainConfig config(int rank, float alpha, String targets, float lr, int steps, int batch, int ctx, long seed,
                                      int checkpointEvery) {
        return TrainConfig.builder().lora(rank, alpha).targets(targets).lr(lr, LrSchedule.Kind.COSINE, 0, 0f).steps(steps)
                .batch(batch, ctx, 1).seed(seed).eval(0, 0).checkpointEvery(checkpointEvery).build();
    }

    /**
     * A fresh strategy of the variant (one serves one run).
     *
     * @return the variant's strategy for this run's steps and seed
     */
    public TrainingStrategy strategy() {
        var type = Variants.named(variant);
        return type.create(VariantSettings.of(type, variantOptions, steps, seed));
    }

    /**
     * A short label of the values a sweep varies.
     *
     * @return e.g. {@code copra-r8-lr0.002-s42}
     */
    public String label() {
        return String.format(Locale.ROOT, "%s-r%d-lr%s-s%d", Variants.named(variant).name(), rank, Float.toString(lr), seed);
    }
}
