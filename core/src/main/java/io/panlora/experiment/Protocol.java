package io.panlora.experiment;

import io.panlora.train.LrSchedule;
import io.panlora.train.TrainConfig;
import java.util.List;

/**
 * The common training protocol of an experiment's arms.
 *
 * @param steps         optimizer steps per run (the same for every arm)
 * @param batch         sequences per step
 * @param ctx           tokens per sequence
 * @param rank          the base rank r (arms change it through their configuration transform)
 * @param lrGrid        the peak learning rates tried on validation, ascending; each arm keeps the one with the lowest
 *                      validation loss
 * @param selectionSeed the one seed of the learning-rate selection (not among the test seeds)
 * @param seeds         the paired seeds every arm is trained with for the test numbers, at least 1
 * @param evalBatches   validation and test batches evaluated (the first ones, in file order); {@code <= 0} for all
 */
public record Protocol(int steps, int batch, int ctx, int rank, List<Float> lrGrid, long selectionSeed, List<Long> seeds,
                       int evalBatches) {
    /**
     * Checks and copies.
     *
     * @throws IllegalArgumentException if a count is out of range, the grid or the seeds are empty, or the selection seed is
     *                                  one of the test seeds
     */
    public Protocol {
        if (steps < 1 || batch < 1 || ctx < 2 || rank < 1) throw new IllegalArgumentException("steps, batch, rank >= 1 and ctx >= 2");
        lrGrid = List.copyOf(lrGrid);
        seeds = List.copyOf(seeds);
        if (lrGrid.isEmpty() || seeds.isEmpty()) throw new IllegalArgumentException("the learning-rate grid and the seeds must not be empty");
        if (seeds.contains(selectionSeed)) throw new IllegalArgumentException("the selection seed must not be a test seed");
    }

    /**
     * The seeds {@code 1 … n}.
     *
     * @param n how many, at least 1
     * @return the seeds
     */
    public static List<Long> seeds(int n) {
        if (n < 1) throw new IllegalArgumentException("--seeds must be at least 1, got " + n);
        Long[] s = new Long[n];
        for (int i = 0; i < n; i++) s[i] = (long) (i + 1);
        return List.of(s);
    }

    /**
     * The configuration of one run before the arm's transform: rank r with alpha 2r, all targets, cosine schedule with
     * 5 % warm-up down to 10 %, no weight decay, gradient clip 1, no evaluation during the run, no checkpoints.
     *
     * @param lr   the peak learning rate
     * @param seed the run's seed (init and data order)
     * @return the configuration
     */
    public TrainConfig config(float lr, long seed) {
        return TrainConfig.builder().lora(rank, 2f * rank).targets("all")
                .lr(lr, LrSchedule.Kind.COSINE, Math.max(1, steps / 20), 0.1f).steps(steps)
                .batch(batch, ctx, 1).seed(seed).eval(0, 0).checkpointEvery(0).build();
    }
}
