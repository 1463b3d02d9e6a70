package io.panlora.train;

/** A hook with state (e.g. an RNG) that checkpoints must carry for resume to be exact. */
public interface StatefulHook extends TrainHook {
    /** The state as numbers. */
    long[] state();

    /** Restores the state from the numbers {@link #state()} gave (this hook's slice of the saved array). */
    void restore(long[] state);
}
