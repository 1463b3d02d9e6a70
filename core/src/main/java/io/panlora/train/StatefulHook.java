package io.panlora.train;

/**
 * A hook with state (e.g. an RNG) that checkpoints must carry for resume to be exact. The {@link Trainer} concatenates the
 * states of its stateful hooks, in the order they were added, into each checkpoint, and on resume hands each hook back its
 * own slice; so every hook's {@link #state()} must have the same length throughout a run.
 */
public interface StatefulHook extends TrainHook {
    /**
     * The hook's state as numbers, for a checkpoint.
     *
     * @return a new array of fixed length (the same at every call within a run)
     */
    long[] state();

    /**
     * Restores the state from the numbers {@link #state()} gave (this hook's slice of the saved array). Called on resume,
     * after the strategy's slots were created and before the first step.
     *
     * @param state an array of the length {@link #state()} returns
     */
    void restore(long[] state);
}
