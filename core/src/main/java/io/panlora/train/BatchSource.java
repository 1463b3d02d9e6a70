package io.panlora.train;

/** An endless, deterministic stream of training batches whose position can be saved and restored (for resume). */
public interface BatchSource {
    /** Inputs and targets [batch][ctx]; a target −1 is not trained. */
    record Batch(int[][] inputs, int[][] targets) {
        /** Number of counted targets. */
        public long targetCount() {
            long n = 0;
            for (int[] row : targets) for (int t : row) if (t >= 0) n++;
            return n;
        }
    }

    /** The next batch. */
    Batch next();

    /** The position (opaque numbers) before the next batch. */
    long[] position();

    /** Moves to a position returned by {@link #position()}. */
    void seek(long[] position);
}
