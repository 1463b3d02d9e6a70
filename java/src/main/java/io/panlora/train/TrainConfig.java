package io.panlora.train;

import io.panlora.lora.Target;
import java.util.List;

/**
 * Hyperparameters of a training run. Defaults follow PEFT/HF Trainer where they have one
 * (rank 8, alpha 16, q,k,v,o, AdamW β 0.9/0.999, ε 1e-8, no weight decay, clip 1.0).
 */
public record TrainConfig(int rank, float alpha, boolean rsLora, List<Target> targets,
                          float lr, LrSchedule.Kind schedule, int warmupSteps, float minLrRatio,
                          int steps, int batch, int ctx, int gradAccum, long seed,
                          float maxGradNorm, float weightDecay, float beta1, float beta2, float eps,
                          int evalEvery, int evalBatches, int checkpointEvery, boolean recompute,
                          StepEngine.Mode mode) {

    public TrainConfig {
        if (rank < 1) throw new IllegalArgumentException("--rank must be >= 1, got " + rank);
        if (!(lr > 0)) throw new IllegalArgumentException("--lr must be > 0, got " + lr);
        if (steps < 1) throw new IllegalArgumentException("--steps must be >= 1, got " + steps);
        if (batch < 1 || ctx < 2 || gradAccum < 1)
            throw new IllegalArgumentException("--batch, --grad-accum must be >= 1 and --ctx >= 2");
        if (warmupSteps < 0 || evalEvery < 0 || checkpointEvery < 0) throw new IllegalArgumentException("step counts must be >= 0");
    }

    /** A LoRA config with the defaults for everything else. */
    public static TrainConfig lora(int rank, float alpha, List<Target> targets, float lr, int steps, int batch, int ctx) {
        return new TrainConfig(rank, alpha, false, targets, lr, LrSchedule.Kind.COSINE, 0, 0f, steps, batch, ctx, 1, 1,
                1.0f, 0f, 0.9f, 0.999f, 1e-8f, 0, 8, 0, false, StepEngine.Mode.LORA);
    }

    /** The slot scale: alpha/r, or alpha/√r for rsLoRA. */
    public float scale() {
        return rsLora ? (float) (alpha / Math.sqrt(rank)) : alpha / rank;
    }

    public TrainConfig withSteps(int s) {
        return new TrainConfig(rank, alpha, rsLora, targets, lr, schedule, warmupSteps, minLrRatio, s, batch, ctx, gradAccum, seed,
                maxGradNorm, weightDecay, beta1, beta2, eps, evalEvery, evalBatches, checkpointEvery, recompute, mode);
    }

    public TrainConfig withEval(int every, int batches) {
        return new TrainConfig(rank, alpha, rsLora, targets, lr, schedule, warmupSteps, minLrRatio, steps, batch, ctx, gradAccum, seed,
                maxGradNorm, weightDecay, beta1, beta2, eps, every, batches, checkpointEvery, recompute, mode);
    }

    public TrainConfig withCheckpointEvery(int every) {
        return new TrainConfig(rank, alpha, rsLora, targets, lr, schedule, warmupSteps, minLrRatio, steps, batch, ctx, gradAccum, seed,
                maxGradNorm, weightDecay, beta1, beta2, eps, evalEvery, evalBatches, every, recompute, mode);
    }

    public TrainConfig withMode(StepEngine.Mode m) {
        return new TrainConfig(rank, alpha, rsLora, targets, lr, schedule, warmupSteps, minLrRatio, steps, batch, ctx, gradAccum, seed,
                maxGradNorm, weightDecay, beta1, beta2, eps, evalEvery, evalBatches, checkpointEvery, recompute, m);
    }

    public TrainConfig withSchedule(LrSchedule.Kind k, int warmup) {
        return new TrainConfig(rank, alpha, rsLora, targets, lr, k, warmup, minLrRatio, steps, batch, ctx, gradAccum, seed,
                maxGradNorm, weightDecay, beta1, beta2, eps, evalEvery, evalBatches, checkpointEvery, recompute, mode);
    }

    public TrainConfig withSeed(long s) {
        return new TrainConfig(rank, alpha, rsLora, targets, lr, schedule, warmupSteps, minLrRatio, steps, batch, ctx, gradAccum, s,
                maxGradNorm, weightDecay, beta1, beta2, eps, evalEvery, evalBatches, checkpointEvery, recompute, mode);
    }

    public TrainConfig withGradAccum(int g) {
        return new TrainConfig(rank, alpha, rsLora, targets, lr, schedule, warmupSteps, minLrRatio, steps, batch, ctx, g, seed,
                maxGradNorm, weightDecay, beta1, beta2, eps, evalEvery, evalBatches, checkpointEvery, recompute, mode);
    }
}
