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

    /** The slot scale: alpha/r, or alpha/√r for rsLoRA. */
    public float scale() {
        return rsLora ? (float) (alpha / Math.sqrt(rank)) : alpha / rank;
    }

    public TrainConfig withSteps(int s) {
        return new TrainConfig(rank, alpha, rsLora, targets, lr, schedule, warmupSteps, minLrRatio, s, batch, ctx, gradAccum, seed,
                maxGradNorm, weightDecay, beta1, beta2, eps, evalEvery, evalBatches, checkpointEvery, recompute, mode);
    }

    /** A builder starting from the defaults (rank 8, alpha 16, q,k,v,o, lr 2e-4 cosine, 100 steps, batch 4 × 256). */
    public static Builder builder() {
        return new Builder();
    }

    /** Fluent construction of a {@link TrainConfig}; every setter names its CLI flag. */
    public static final class Builder {
        private int rank = 8;
        private float alpha = 16f;
        private boolean rsLora;
        private List<Target> targets = Target.parseList("q,k,v,o");
        private float lr = 2e-4f;
        private LrSchedule.Kind schedule = LrSchedule.Kind.COSINE;
        private int warmupSteps;
        private float minLrRatio;
        private int steps = 100;
        private int batch = 4;
        private int ctx = 256;
        private int gradAccum = 1;
        private long seed = 42;
        private float maxGradNorm = 1f;
        private float weightDecay;
        private float beta1 = 0.9f;
        private float beta2 = 0.999f;
        private float eps = 1e-8f;
        private int evalEvery = 50;
        private int evalBatches = 8;
        private int checkpointEvery = 50;
        private boolean recompute;
        private StepEngine.Mode mode = StepEngine.Mode.LORA;

        /** --rank and --alpha. */
        public Builder lora(int r, float a) { rank = r; alpha = a; return this; }
        /** --rslora. */
        public Builder rsLora(boolean on) { rsLora = on; return this; }
        /** --targets. */
        public Builder targets(List<Target> t) { targets = List.copyOf(t); return this; }
        /** --targets as text (q,k,v,o | attn | ffn | all). */
        public Builder targets(String spec) { targets = Target.parseList(spec); return this; }
        /** --lr, --schedule, --warmup, --min-lr-ratio. */
        public Builder lr(float peak, LrSchedule.Kind kind, int warmup, float minRatio) {
            lr = peak; schedule = kind; warmupSteps = warmup; minLrRatio = minRatio; return this;
        }
        /** --steps. */
        public Builder steps(int s) { steps = s; return this; }
        /** --batch, --ctx, --grad-accum. */
        public Builder batch(int sequences, int tokens, int accumulate) { batch = sequences; ctx = tokens; gradAccum = accumulate; return this; }
        /** --seed. */
        public Builder seed(long s) { seed = s; return this; }
        /** --clip and --weight-decay, and AdamW's β1, β2, ε. */
        public Builder optimizer(float clip, float decay, float b1, float b2, float epsilon) {
            maxGradNorm = clip; weightDecay = decay; beta1 = b1; beta2 = b2; eps = epsilon; return this;
        }
        /** --eval-every, --eval-batches. */
        public Builder eval(int every, int batches) { evalEvery = every; evalBatches = batches; return this; }
        /** --save-every. */
        public Builder checkpointEvery(int every) { checkpointEvery = every; return this; }
        /** --recompute. */
        public Builder recompute(boolean on) { recompute = on; return this; }
        /** LORA (default) or FULL (every weight of an F32 model). */
        public Builder mode(StepEngine.Mode m) { mode = m; return this; }

        public TrainConfig build() {
            return new TrainConfig(rank, alpha, rsLora, targets, lr, schedule, warmupSteps, minLrRatio, steps, batch, ctx, gradAccum, seed,
                    maxGradNorm, weightDecay, beta1, beta2, eps, evalEvery, evalBatches, checkpointEvery, recompute, mode);
        }
    }
}
