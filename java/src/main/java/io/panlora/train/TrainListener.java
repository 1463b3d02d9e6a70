package io.panlora.train;

import java.nio.file.Path;

/**
 * Events of a training run beside the progress lines: warnings the run goes on after (a loss plot that could not be
 * written, explosive loss growth under {@link DivergenceGuard.Policy#WARN}, a checkpoint not written) and each checkpoint
 * written. Called on the training thread; an exception thrown here stops the run. Every method does nothing by default.
 */
public interface TrainListener {
    /** Does nothing. */
    TrainListener NONE = new TrainListener() {};

    /** A problem the run goes on after; the same line also goes to the progress stream, if there is one. */
    default void warning(String message) {}

    /** A checkpoint of the state after {@code step} steps was written to {@code file}. */
    default void checkpointed(int step, Path file) {}
}
