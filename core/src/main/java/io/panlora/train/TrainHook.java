package io.panlora.train;

/**
 * A training strategy's hooks on the loop (LoRA variants plug in here): called before each optimizer step
 * (e.g. to draw a layer mask), after it (e.g. to fold a chain link) and at the end.
 */
public interface TrainHook {
    /** Before the micro-batches of step (0-based). */
    default void beforeStep(Trainer trainer, int step) {}

    /** After the optimizer update of step. */
    default void afterStep(Trainer trainer, int step) {}

    /** After the last step. */
    default void onEnd(Trainer trainer) {}
}
