package io.panlora.train;

import io.panlora.lora.Target;
import java.util.List;

/**
 * Hyperparameters of a training run. Defaults follow PEFT/HF Trainer where they have one
 * (rank 8, alpha 16, q,k,v,o, AdamW β 0.9/0.999, ε 1e-8, no weight decay, clip 1.0); {@link #builder()} starts from them.
 *
 * <p>The record's {@code toString()} is part of the checkpoint key ({@link Trainer#configKey()}): a run resumes only with
 * every component equal, {@code steps} included.
 *
 * @param rank            the LoRA rank r of every slot, at least 1 (LORA mode)
 * @param alpha           the LoRA alpha: the slot scale is alpha/r, or alpha/√r with {@code rsLora} (see {@link #scale()})
 * @param rsLora          rank-stabilised LoRA: scale alpha/√r instead of alpha/r
 * @param targets         the projections adapted in every layer (LORA mode)
 * @param lr              the peak learning rate, above 0
 * @param schedule        the learning-rate schedule after warmup
 * @param warmupSteps     steps of linear warmup, at least 0
 * @param minLrRatio      the rate the schedule decays to, as a fraction of {@code lr} (0: to 0); not checked, meant to be in
 *                        [0, 1]
 * @param steps           optimizer steps of the whole run, at least 1
 * @param batch           sequences per micro-batch, at least 1
 * @param ctx             tokens per sequence (input positions of a window), at least 2
 * @param gradAccum       micro-batches per optimizer step, at least 1; the loss and gradients are averaged over all their
 *                        counted targets
 * @param seed            the seed of the adapter's init, the data shuffle and the validation split
 * @param maxGradNorm     the global gradient L2 norm is clipped to this; 0 or less turns clipping off
 * @param weightDecay     AdamW's decoupled weight decay, at least 0 (checked by the engine at the first step)
 * @param beta1           AdamW's β1, in [0, 1) (checked by the engine at the first step)
 * @param beta2           AdamW's β2, in [0, 1) (checked by the engine at the first step)
 * @param eps             AdamW's ε, above 0 (checked by the engine at the first step)
 * @param evalEvery       validate every this many steps and after the last; 0 turns periodic validation off
 * @param evalBatches     the most validation batches a run evaluates ({@link LoraRun} and {@link FullRun} make that many);
 *                        0 or less for all
 * @param checkpointEvery write a checkpoint every this many steps and after the last; 0 writes none
 * @param recompute       keep only each layer's input and recompute the layer in the backward pass: less memory, more time
 * @param mode            LoRA over a frozen base, or full-parameter training
 */
public record TrainConfig(int rank, float alpha, boolean rsLora, List<Target> targets,
                          float lr, LrSchedule.Kind schedule, int warmupSteps, float minLrRatio,
                          int steps, int batch, int ctx, int gradAccum, long seed,
                          float maxGradNorm, float weightDecay, float beta1, float beta2, float eps,
                          int evalEvery, int evalBatches, int checkpointEvery, boolean recompute,
                          StepEngine.Mode mode) {

    /**
     * Checks the values.
     *
     * @throws IllegalArgumentException if {@code rank < 1}, {@code lr} is not above 0, {@code steps < 1}, {@code batch < 1},
     *                                  {@code ctx < 2}, {@code gradAccum < 1}, or {@code warmupSteps}, {@code evalEvery} or
     *                                  {@code checkpointEvery} is negative
     */
    public TrainConfig {
        if (rank < 1) throw new IllegalArgumentException("--rank must be >= 1, got " + rank);
        if (!(lr > 0)) throw new IllegalArgumentException("--lr must be > 0, got " + lr);
        if (steps < 1) throw new IllegalArgumentException("--steps must be >= 1, got " + steps);
        if (batch < 1 || ctx < 2 || gradAccum < 1)
            throw new IllegalArgumentException("--batch, --grad-accum must be >= 1 and --ctx >= 2");
        if (warmupSteps < 0 || evalEvery < 0 || checkpointEvery < 0) throw new IllegalArgumentException("step counts must be >= 0");
    }

    /**
     * The scale s of every slot (the layer adds s·B·A·x).
     *
     * @return alpha/r, or alpha/√r for rsLoRA
     */
    public float scale() {
        return rsLora ? (float) (alpha / Math.sqrt(rank)) : alpha / rank;
    }

    /**
     * A copy with another step count (e.g. computed from a number of epochs).
     *
     * @param s the new {@link #steps()}, at least 1
     * @return a new configuration equal to this one but for the steps
     * @throws IllegalArgumentException if {@code s < 1}
     */
    public TrainConfig withSteps(int s) {
        return new TrainConfig(rank, alpha, rsLora, targets, lr, schedule, warmupSteps, minLrRatio, s, batch, ctx, gradAccum, seed,
                maxGradNorm, weightDecay, beta1, beta2, eps, evalEvery, evalBatches, checkpointEvery, recompute, mode);
    }

    /**
     * Every setting written out by name, for checkpoint keys (a resume with any other setting is refused).
     *
     * @return e.g. {@code rank=8;alpha=16.0;rslora=false;targets=attn_q,attn_v;lr=2.0E-4;…}
     */
    public String key() {
        StringBuilder t = new StringBuilder();
        for (Target x : targets) t.append(t.isEmpty() ? "" : ",").append(x.gguf);
        return "rank=" + rank + ";alpha=" + alpha + ";rslora=" + rsLora + ";targets=" + t + ";lr=" + lr + ";schedule=" + schedule
                + ";warmup=" + warmupSteps + ";minlr=" + minLrRatio + ";steps=" + steps + ";batch=" + batch + ";ctx=" + ctx
                + ";accum=" + gradAccum + ";seed=" + seed + ";clip=" + maxGradNorm + ";wd=" + weightDecay + ";b1=" + beta1 + ";b2="
                + beta2 + ";eps=" + eps + ";evalEvery=" + evalEvery + ";evalBatches=" + evalBatches + ";saveEvery=" + checkpointEvery
                + ";recompute=" + recompute + ";mode=" + mode;
    }

    /**
     * A builder starting from the defaults: rank 8, alpha 16, no rsLoRA, targets q,k,v,o; lr 2e-4, cosine, no warmup, decay to
     * 0; 100 steps of batch 4 × 256 tokens, no accumulation; seed 42; clip 1.0, no weight decay, β 0.9/0.999, ε 1e-8;
     * validation every 50 steps on at most 8 batches; a checkpoint every 50 steps; no recomputation; LORA mode.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /**
     * Fluent construction of a {@link TrainConfig}; every setter names its CLI flag. The values are checked only by
     * {@link #build()}. Not thread-safe; a builder may build several configurations.
     */
    public static final class Builder {
        /** A builder holding the defaults; {@link TrainConfig#builder()} is the same. */
        public Builder() {}

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

        /**
         * Sets {@code --rank} and {@code --alpha}.
         *
         * @param r the LoRA rank, at least 1
         * @param a the LoRA alpha
         * @return this builder
         */
        public Builder lora(int r, float a) { rank = r; alpha = a; return this; }
        /**
         * Sets {@code --rslora}.
         *
         * @param on true for the scale alpha/√r, false for alpha/r
         * @return this builder
         */
        public Builder rsLora(boolean on) { rsLora = on; return this; }
        /**
         * Sets {@code --targets}.
         *
         * @param t the projections to adapt (copied; must not be null or hold null)
         * @return this builder
         */
        public Builder targets(List<Target> t) { targets = List.copyOf(t); return this; }
        /**
         * Sets {@code --targets} from text.
         *
         * @param spec a comma-separated list ({@code q,k,v,o}), {@code attn}, {@code ffn}, {@code all}, or GGUF / PEFT module
         *             names, as {@link io.panlora.lora.Target#parseList(String)} reads them
         * @return this builder
         * @throws IllegalArgumentException if the text names an unknown projection, or none
         */
        public Builder targets(String spec) { targets = Target.parseList(spec); return this; }
        /**
         * Sets {@code --lr}, {@code --schedule}, {@code --warmup} and {@code --min-lr-ratio}.
         *
         * @param peak     the peak learning rate, above 0
         * @param kind     the schedule after warmup
         * @param warmup   warmup steps, at least 0
         * @param minRatio the final rate as a fraction of the peak (0: decay to 0)
         * @return this builder
         */
        public Builder lr(float peak, LrSchedule.Kind kind, int warmup, float minRatio) {
            lr = peak; schedule = kind; warmupSteps = warmup; minLrRatio = minRatio; return this;
        }
        /**
         * Sets {@code --steps}.
         *
         * @param s optimizer steps of the run, at least 1
         * @return this builder
         */
        public Builder steps(int s) { steps = s; return this; }
        /**
         * Sets {@code --batch}, {@code --ctx} and {@code --grad-accum}.
         *
         * @param sequences  sequences per micro-batch, at least 1
         * @param tokens     tokens per sequence, at least 2
         * @param accumulate micro-batches per optimizer step, at least 1
         * @return this builder
         */
        public Builder batch(int sequences, int tokens, int accumulate) { batch = sequences; ctx = tokens; gradAccum = accumulate; return this; }
        /**
         * Sets {@code --seed}.
         *
         * @param s the seed of the init, the shuffle and the validation split
         * @return this builder
         */
        public Builder seed(long s) { seed = s; return this; }
        /**
         * Sets {@code --clip} and {@code --weight-decay}, and AdamW's β1, β2, ε.
         *
         * @param clip    the maximum global gradient norm; 0 or less for no clipping
         * @param decay   the decoupled weight decay, at least 0
         * @param b1      β1, in [0, 1)
         * @param b2      β2, in [0, 1)
         * @param epsilon ε, above 0
         * @return this builder
         */
        public Builder optimizer(float clip, float decay, float b1, float b2, float epsilon) {
            maxGradNorm = clip; weightDecay = decay; beta1 = b1; beta2 = b2; eps = epsilon; return this;
        }
        /**
         * Sets {@code --eval-every} and {@code --eval-batches}.
         *
         * @param every   validate every this many steps; 0 for no periodic validation
         * @param batches the most validation batches; 0 or less for all
         * @return this builder
         */
        public Builder eval(int every, int batches) { evalEvery = every; evalBatches = batches; return this; }
        /**
         * Sets {@code --save-every}.
         *
         * @param every write a checkpoint every this many steps (and after the last); 0 for none
         * @return this builder
         */
        public Builder checkpointEvery(int every) { checkpointEvery = every; return this; }
        /**
         * Sets {@code --recompute}.
         *
         * @param on true to recompute each layer in the backward pass (less memory, more time)
         * @return this builder
         */
        public Builder recompute(boolean on) { recompute = on; return this; }
        /**
         * Sets the training mode ({@code --full} on the command line).
         *
         * @param m LORA (the default) or FULL (every weight of an F32 model)
         * @return this builder
         */
        public Builder mode(StepEngine.Mode m) { mode = m; return this; }

        /**
         * Builds the configuration from the values set so far.
         *
         * @return a new configuration
         * @throws IllegalArgumentException if a value is out of range (see the {@link TrainConfig} constructor)
         */
        public TrainConfig build() {
            return new TrainConfig(rank, alpha, rsLora, targets, lr, schedule, warmupSteps, minLrRatio, steps, batch, ctx, gradAccum, seed,
                    maxGradNorm, weightDecay, beta1, beta2, eps, evalEvery, evalBatches, checkpointEvery, recompute, mode);
        }
    }
}
