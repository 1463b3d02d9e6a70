package io.panlora.train;

import java.nio.file.Path;

/**
 * Events of a training run beside the progress lines: every optimizer step (loss, learning rate, gradient norm, tokens per
 * second), every validation, each checkpoint written, and warnings the run goes on after (a loss plot that could not be
 * written, explosive loss growth under {@link DivergenceGuard.Policy#WARN}, a checkpoint not written); and cancellation,
 * asked before every step. Called on the training thread; an exception thrown here stops the run. Every method does nothing
 * by default.
 */
public interface TrainListener {
    /** Does nothing. */
    TrainListener NONE = new TrainListener() {};

    /** A problem the run goes on after; the same line also goes to the progress stream, if there is one. */
    default void warning(String message) {}

    /** A checkpoint of the state after {@code step} steps was written to {@code file}. */
    default void checkpointed(int step, Path file) {}

    /**
     * Optimizer step {@code step} (1-based, of {@code steps}) is done: its training loss (nats per counted token), the learning
     * rate it used, the gradient norm before clipping, and the run's tokens per second so far.
     */
    default void stepped(int step, int steps, double loss, double lr, double gradNorm, double tokensPerSecond) {}

    /** The validation loss (nats per counted token) after {@code step} steps. */
    default void validated(int step, double loss) {}

    /**
     * Asked before every optimizer step: true ends the run there, as if its step count had been reached (the end-of-run hooks,
     * the final validation and whatever the caller does after a run — a checkpoint, an export — still happen, for the steps
     * done); {@link Trainer.Result#cancelled()} says so.
     */
    default boolean cancelled() {
        return false;
    }
}
