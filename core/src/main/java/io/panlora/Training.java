package io.panlora;

import io.panlora.train.DivergenceGuard;
import io.panlora.train.LrSchedule;
import io.panlora.train.TrainConfig;
import io.panlora.train.TrainListener;
import java.util.Objects;

/**
 * The settings a LoRA training ({@link LoraTraining}) and a full fine-tune ({@link FullTraining}) share: optimizer,
 * schedule, length, batch shape, validation, checkpoints, events. Defaults follow PEFT and the Hugging Face Trainer: AdamW
 * (β 0.9/0.999, ε 1e-8, no weight decay), gradient clipping at 1, cosine schedule without warmup, 100 steps of 4 sequences
 * of 256 tokens, seed 42, validation on 5 % of the data every 50 steps, a checkpoint every 50 steps.
 *
 * @param <T> the concrete training, returned by every setter
 */
public abstract sealed class Training<T extends Training<T>> permits LoraTraining, FullTraining {
    final Panlora base;
    final TrainConfig.Builder cfg = TrainConfig.builder();
    float lr = 2e-4f, minLrRatio;
    LrSchedule.Kind schedule = LrSchedule.Kind.COSINE;
    int warmup, steps = 100, batch = 4, ctx = 256, gradAccum = 1;
    double epochs;
    long seed = 42;
    float clip = 1f, weightDecay;
    Data validation;
    double validationFraction = 0.05;
    TrainListener listener = TrainListener.NONE;
    DivergenceGuard.Policy onDivergence = DivergenceGuard.Policy.STOP;
    boolean resume;

    Training(Panlora base) {
        this.base = base;
    }

    @SuppressWarnings("unchecked")
    private T self() {
        return (T) this;
    }

    /**
     * Sets the peak learning rate, &gt; 0 (default 2e-4).
     *
     * @param peak the peak learning rate, &gt; 0 (default 2e-4)
     * @return this training
     */
    public T learningRate(double peak) {
        if (!(peak > 0) || !Double.isFinite(peak)) throw new IllegalArgumentException("learning rate must be > 0, got " + peak);
        lr = (float) peak;
        return self();
    }

    /**
     * Sets the learning-rate schedule: linear warmup from 0, then constant, linear or cosine decay (default cosine, no warmup, decay to 0).
     *
     * @param kind     constant, linear or cosine decay after the warmup (default cosine)
     * @param warmup   steps of linear warmup from 0 (default 0)
     * @param minRatio the learning rate the decay ends at, as a share of the peak (default 0)
     * @return this training
     */
    public T schedule(LrSchedule.Kind kind, int warmup, double minRatio) {
        if (warmup < 0) throw new IllegalArgumentException("warmup must be >= 0, got " + warmup);
        if (!(minRatio >= 0 && minRatio <= 1)) throw new IllegalArgumentException("minRatio must be in [0, 1], got " + minRatio);
        schedule = Objects.requireNonNull(kind, "kind");
        this.warmup = warmup;
        minLrRatio = (float) minRatio;
        return self();
    }

    /**
     * Sets the number of optimizer steps, at least 1 (default 100); replaces an {@link #epochs} setting.
     *
     * @param n optimizer steps, at least 1 (default 100); {@link #epochs} replaces it when set
     * @return this training
     */
    public T steps(int n) {
        if (n < 1) throw new IllegalArgumentException("steps must be >= 1, got " + n);
        steps = n;
        epochs = 0;
        return self();
    }

    /**
     * Sets the length in passes over the training windows, &gt; 0 (fractions allowed); the step count follows from the data.
     *
     * @param e passes over the training windows, &gt; 0 (fractions allowed); the step count follows from the data
     * @return this training
     */
    public T epochs(double e) {
        if (!(e > 0) || !Double.isFinite(e)) throw new IllegalArgumentException("epochs must be > 0, got " + e);
        epochs = e;
        return self();
    }

    /**
     * Sets the batch shape: sequences per micro-batch, tokens per sequence, micro-batches per optimizer step.
     *
     * @param sequences  sequences per micro-batch, at least 1 (default 4)
     * @param tokens     tokens per sequence (the training window), at least 2 (default 256)
     * @param accumulate micro-batches per optimizer step, at least 1 (default 1)
     * @return this training
     */
    public T batch(int sequences, int tokens, int accumulate) {
        if (sequences < 1 || tokens < 2 || accumulate < 1)
            throw new IllegalArgumentException("batch needs sequences >= 1, tokens >= 2 and accumulate >= 1");
        batch = sequences;
        ctx = tokens;
        gradAccum = accumulate;
        return self();
    }

    /**
     * Sets the seed of the initialisation, the data order and the validation split (default 42); runs with the same seed, data and settings are bit-identical on the CPU.
     *
     * @param s the seed of the initialisation, the data order and the validation split (default 42); runs with the same
     *          seed, data and settings are bit-identical on the CPU
     * @return this training
     */
    public T seed(long s) {
        seed = s;
        return self();
    }

    /**
     * Sets the gradient clipping and AdamW's weight decay.
     *
     * @param maxGradNorm the gradient norm clipped to, &gt; 0, or 0 for no clipping (default 1)
     * @param decay       AdamW's decoupled weight decay, at least 0 (default 0)
     * @return this training
     */
    public T regularization(double maxGradNorm, double decay) {
        if (!(maxGradNorm >= 0) || !(decay >= 0)) throw new IllegalArgumentException("clip and weight decay must be >= 0");
        clip = (float) maxGradNorm;
        weightDecay = (float) decay;
        return self();
    }

    /**
     * Validates on separate data instead of a share of the training data.
     *
     * @param data the validation data
     * @return this training
     */
    public T validation(Data data) {
        validation = Objects.requireNonNull(data, "data");
        return self();
    }

    /**
     * Sets the share of the training data held out for validation when no {@link #validation(Data)} is given, in [0, 1) (default 0.05; 0 validates on nothing).
     *
     * @param fraction the share of the training data held out for validation when no {@link #validation(Data)} is given, in
     *                 [0, 1) (default 0.05; 0 validates on nothing)
     * @return this training
     */
    public T validationFraction(double fraction) {
        if (!(fraction >= 0 && fraction < 1)) throw new IllegalArgumentException("validation fraction must be in [0, 1), got " + fraction);
        validationFraction = fraction;
        return self();
    }

    /**
     * Sets how often and on how much data the run validates.
     *
     * @param every   validate every this many steps, 0 only before and after the run (default 50)
     * @param batches the most validation batches per evaluation (default 8)
     * @return this training
     */
    public T evaluation(int every, int batches) {
        if (every < 0 || batches < 1) throw new IllegalArgumentException("every must be >= 0 and batches >= 1");
        cfg.eval(every, batches);
        return self();
    }

    /**
     * Sets how often a checkpoint is written.
     *
     * @param every write a checkpoint every this many steps (and at the end), 0 only at the end (default 50)
     * @return this training
     */
    public T checkpointEvery(int every) {
        if (every < 0) throw new IllegalArgumentException("checkpointEvery must be >= 0, got " + every);
        cfg.checkpointEvery(every);
        return self();
    }

    /**
     * Turns activation recomputation on or off: each layer's activations recomputed in the backward pass, less memory, about 30 % slower (default off).
     *
     * @param on recompute each layer's activations in the backward pass: less memory, about 30 % slower (default off)
     * @return this training
     */
    public T recompute(boolean on) {
        cfg.recompute(on);
        return self();
    }

    /**
     * The receiver of the run's events: each step (loss, learning rate, gradient norm, tokens per second), validations,
     * checkpoints and warnings; its {@link TrainListener#cancelled()} is asked before every step and ends the run early
     * (the result is still written).
     *
     * @param l the listener
     * @return this training
     */
    public T listener(TrainListener l) {
        listener = Objects.requireNonNull(l, "listener");
        return self();
    }

    /**
     * Sets what a loss blow-up does.
     *
     * @param p what a loss blow-up does (the 8-step mean more than 2 nats above the best): stop (the default; the last good
     *          checkpoint is kept) or warn and go on. A NaN or infinite loss always stops.
     * @return this training
     */
    public T onDivergence(DivergenceGuard.Policy p) {
        onDivergence = Objects.requireNonNull(p, "policy");
        return self();
    }

    /**
     * Sets whether the run continues from the checkpoint in its output directory.
     *
     * @param on continue from the checkpoint in the output directory (the same data and settings are required; a different
     *           configuration is refused), instead of starting afresh
     * @return this training
     */
    public T resume(boolean on) {
        resume = on;
        return self();
    }

    /** The configuration with the shared settings filled in. */
    TrainConfig.Builder config() {
        return cfg.lr(lr, schedule, warmup, minLrRatio).steps(steps).batch(batch, ctx, gradAccum).seed(seed)
                .optimizer(clip, weightDecay, 0.9f, 0.999f, 1e-8f);
    }

    double validationShare() {
        return validation != null ? 0 : validationFraction;
    }

    static void requireOutput(java.nio.file.Path dir) {
        Objects.requireNonNull(dir, "outDir");
        if (java.nio.file.Files.exists(dir) && !java.nio.file.Files.isDirectory(dir))
            throw new IllegalArgumentException(dir + ": exists and is not a directory");
    }
}
