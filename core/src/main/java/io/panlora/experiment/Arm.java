package io.panlora.experiment;

import io.panlora.lora.LoraSet;
import io.panlora.train.TrainConfig;
import io.panlora.train.TrainingStrategy;
import java.util.function.Function;
import java.util.function.ToLongFunction;
import java.util.function.UnaryOperator;

/**
 * One arm of an experiment: a name, how it changes the common training configuration (rank, alpha …), a factory of its
 * training strategy (called once per run with that run's configuration, so the seed and the steps are the run's), and
 * how to count its trainable parameters from the set after {@link TrainingStrategy#addSlots}.
 *
 * @param name      the arm's name in tables and figures
 * @param config    maps the experiment's configuration (learning rate, steps and seed already set) to the arm's
 * @param strategy  makes a fresh strategy for one run from the run's configuration
 * @param trainable the trainable parameters of the arm per step, from its slots
 */
public record Arm(String name, UnaryOperator<TrainConfig> config, Function<TrainConfig, TrainingStrategy> strategy,
                  ToLongFunction<LoraSet> trainable) {
    /**
     * Checks the parts.
     *
     * @throws NullPointerException if a part is null
     */
    public Arm {
        java.util.Objects.requireNonNull(name);
        java.util.Objects.requireNonNull(config);
        java.util.Objects.requireNonNull(strategy);
        java.util.Objects.requireNonNull(trainable);
    }

    /**
     * An arm whose every slot trains A and B.
     *
     * @param name     the arm's name
     * @param config   the configuration transform
     * @param strategy the strategy factory
     * @return the arm
     */
    public static Arm of(String name, UnaryOperator<TrainConfig> config, Function<TrainConfig, TrainingStrategy> strategy) {
        return new Arm(name, config, strategy, Arm::allFactors);
    }

    /**
     * Plain LoRA at a rank, with {@code alpha = 2·rank} (so the scale alpha/rank is 2 at every rank).
     *
     * @param name the arm's name
     * @param rank the rank, at least 1
     * @return the arm
     */
    public static Arm lora(String name, int rank) {
        return of(name, withRank(rank), variant("lora", java.util.Map.of()));
    }

    /**
     * The strategy factory of a registered variant ({@link io.panlora.variants.Variants}) with some of its options set:
     * each run gets {@code type.create(settings)} with the run's steps and seed, as {@code train --variant} does.
     *
     * @param variant the variant's name
     * @param options option values by name without dashes (the others at their defaults)
     * @return the factory
     * @throws IllegalArgumentException for an unknown variant or option
     */
    public static Function<TrainConfig, TrainingStrategy> variant(String variant, java.util.Map<String, String> options) {
        io.panlora.variants.VariantType type = io.panlora.variants.Variants.named(variant);
        io.panlora.variants.VariantSettings.of(type, options, 1, 0); // unknown options fail now, not in the first run
        return c -> type.create(io.panlora.variants.VariantSettings.of(type, options, c.steps(), c.seed()));
    }

    /**
     * A configuration transform setting the rank and {@code alpha = 2·rank}.
     *
     * @param rank the rank
     * @return the transform
     */
    public static UnaryOperator<TrainConfig> withRank(int rank) {
        return c -> new TrainConfig(rank, 2f * rank, c.rsLora(), c.targets(), c.lr(), c.schedule(), c.warmupSteps(), c.minLrRatio(),
                c.steps(), c.batch(), c.ctx(), c.gradAccum(), c.seed(), c.maxGradNorm(), c.weightDecay(), c.beta1(), c.beta2(), c.eps(),
                c.evalEvery(), c.evalBatches(), c.checkpointEvery(), c.recompute(), c.mode());
    }

    /**
     * The A and B elements of every slot.
     *
     * @param set the adapter set
     * @return their total
     */
    public static long allFactors(LoraSet set) {
        long n = 0;
        for (LoraSet.Slot s : set.slots()) n += s.aLength() + s.bLength();
        return n;
    }

    /**
     * The A elements of every slot (B frozen).
     *
     * @param set the adapter set
     * @return their total
     */
    public static long aOnly(LoraSet set) {
        long n = 0;
        for (LoraSet.Slot s : set.slots()) n += s.aLength();
        return n;
    }
}
