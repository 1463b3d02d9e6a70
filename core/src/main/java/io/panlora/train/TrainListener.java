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
    /** A listener that does nothing and never cancels; the trainer's default. */
    TrainListener NONE = new TrainListener() {};

    /**
     * A problem the run goes on after; the same line also goes to the progress stream, if there is one, and into
     * {@link Trainer.Result#warnings()}.
     *
     * @param message one line, without the {@code warning: } prefix the progress stream shows
     */
    default void warning(String message) {}

    /**
     * A checkpoint of the state after {@code step} steps was written to {@code file} (atomically: the file is complete when
     * this is called). Not called for a checkpoint that was skipped.
     *
     * @param step the number of steps the checkpoint holds (a resume continues with the next)
     * @param file the checkpoint file in the run directory
     */
    default void checkpointed(int step, Path file) {}

    /**
     * Optimizer step {@code step} (1-based, of {@code steps}) is done: its training loss (nats per counted token), the learning
     * rate it used, the gradient norm before clipping, and the run's tokens per second so far.
     *
     * @param step            the step just done, 1-based
     * @param steps           the run's total steps ({@link TrainConfig#steps()})
     * @param loss            the step's mean training loss over its micro-batches, in nats per counted target (0 when the
     *                        step had no counted target)
     * @param lr              the learning rate of the step, after warmup and schedule
     * @param gradNorm        the global L2 norm of the step's gradients before clipping
     * @param tokensPerSecond token positions (padding included) processed per second of wall time since this call of
     *                        {@link Trainer#run} started
     */
    default void stepped(int step, int steps, double loss, double lr, double gradNorm, double tokensPerSecond) {}

    /**
     * The validation loss after {@code step} steps, every {@link TrainConfig#evalEvery()} steps and after the last step (only
     * when there are validation batches and evalEvery is above 0). Not called for the validation before training nor for
     * {@link Trainer.Result#valAfter()}.
     *
     * @param step the steps done, 1-based
     * @param loss the mean loss over the validation batches, in nats per counted target
     */
    default void validated(int step, double loss) {}

    /**
     * Asked before every optimizer step: true ends the run there, as if its step count had been reached (the end-of-run hooks,
     * the final validation and whatever the caller does after a run — a checkpoint, an export — still happen, for the steps
     * done); {@link Trainer.Result#cancelled()} says so. It runs on the training thread: a flag that another thread sets to
     * cancel should be volatile or atomic.
     *
     * @return true to end the run before the next step; false (the default) to go on
     */
    default boolean cancelled() {
        return false;
    }
}
