package io.panlora.train;

/**
 * A training strategy's hooks on the loop (LoRA variants plug in here): called before each optimizer step
 * (e.g. to draw a layer mask), after it (e.g. to fold a chain link) and at the end.
 *
 * <p>All methods run on the training thread and do nothing by default; an exception thrown by one stops the run. A hook's
 * {@link #key()} is part of the trainer's {@link Trainer#configKey() configuration key}, so it should name the hook's
 * settings (a resume with other settings is then refused) and must not change during a run.
 */
public interface TrainHook {
    /**
     * What names this hook's settings in checkpoints, written out field by field (not an object's {@code toString()}, whose
     * form may change): a resume whose hooks give other keys is refused.
     *
     * @return the key; by default the hook's class name (a hook without settings)
     */
    default String key() {
        return getClass().getName();
    }

    /**
     * Called before the micro-batches of a step are taken; e.g. to change which slots train.
     *
     * @param trainer the running trainer
     * @param step    the step about to run, 0-based
     */
    default void beforeStep(Trainer trainer, int step) {}

    /**
     * Lets the hook change the learning rate of a step (e.g. to restart the schedule); called after {@link #beforeStep} and the
     * step's forward and backward passes, before the optimizer update. The trainer passes the rate through every hook in
     * the order they were added, and logs and reports the rate it ends with.
     *
     * @param trainer the running trainer
     * @param step    the step about to be applied, 0-based
     * @param lr      the rate so far: the run's schedule ({@link LrSchedule#at}), as changed by the hooks before this one
     * @return the rate to use (by default {@code lr}, unchanged); it should be finite and at least 0
     */
    default float learningRate(Trainer trainer, int step, float lr) { return lr; }

    /**
     * Called after the optimizer update of a step, before the step's validation and checkpoint.
     *
     * @param trainer the running trainer
     * @param step    the step just done, 0-based (the same value {@link #beforeStep} got)
     */
    default void afterStep(Trainer trainer, int step) {}

    /**
     * Called once after the last step (also after a cancelled run, but not when the run stops with an exception), before the
     * final validation. A hook that adds slots here must call {@link Trainer#slotsChanged()}.
     *
     * @param trainer the trainer whose run ends
     */
    default void onEnd(Trainer trainer) {}
}
