package io.panlora.train;

/**
 * An endless, deterministic stream of training batches whose position can be saved and restored (for resume).
 *
 * <p>The {@link Trainer} takes {@link TrainConfig#gradAccum()} batches per optimizer step, stores {@link #position()} in
 * every checkpoint and calls {@link #seek(long[])} with it on resume, so a source must hand out exactly the same batches
 * after a seek as it did after the original position. Implementations need not be thread-safe: the trainer calls them from
 * its own thread only.
 */
public interface BatchSource {
    /**
     * One batch of token windows. Both arrays are {@code [batch][ctx]}: row {@code s} of {@code targets} holds, for each input
     * position of row {@code s} of {@code inputs}, the token id to predict there, or a negative value (−1) where no target is
     * trained (padding, prompt tokens). The arrays are used as given, not copied.
     *
     * @param inputs  the input token ids, {@code [batch][ctx]}
     * @param targets the target token ids, {@code [batch][ctx]}, negative where nothing is trained
     */
    record Batch(int[][] inputs, int[][] targets) {
        /**
         * Counts the targets that are trained: the losses are averaged over these.
         *
         * @return the number of entries of {@code targets} that are {@code >= 0} (0 for a batch of padding only)
         */
        public long targetCount() {
            long n = 0;
            for (int[] row : targets) for (int t : row) if (t >= 0) n++;
            return n;
        }
    }

    /**
     * Hands out the next batch and moves the position past it. The stream never ends (it wraps to a new epoch).
     *
     * @return the next batch, never null
     */
    Batch next();

    /**
     * The position before the next batch, as opaque numbers for a checkpoint.
     *
     * @return a new array that {@link #seek(long[])} accepts; its meaning is up to the implementation
     */
    long[] position();

    /**
     * Moves to a position returned by {@link #position()}, so that {@link #next()} continues exactly as it would have from
     * there.
     *
     * @param position a value {@link #position()} returned for the same data and settings
     * @throws IllegalArgumentException if the position is malformed or does not fit this data (the trainer turns this into
     *                                  an {@link java.io.IOException} about the checkpoint)
     */
    void seek(long[] position);
}
