package io.panlora.data;

import java.util.Objects;

/**
 * Hands out batches of windows, epoch after epoch, without end. Each epoch visits every window
 * once, in an order shuffled by {@code (seed, epoch)} (or in order without shuffling); an epoch's
 * last batch is filled up with padding rows rather than borrowing from the next epoch, so epochs
 * stay whole. The state is just a {@link Position}: {@link #seek} to a saved one yields exactly the
 * batches that would have followed it.
 */
public final class BatchIterator {
    private final Windows windows;
    private final int batchSize;
    private final long seed;
    private final boolean shuffle;
    private int epoch;
    private int index;
    private int[] order; // of the current epoch; null until needed

    /** Starts at epoch 0, index 0. */
    public BatchIterator(Windows windows, int batchSize, long seed, boolean shuffle) {
        this.windows = Objects.requireNonNull(windows, "windows");
        if (windows.size() == 0) throw new IllegalArgumentException("there are no windows to make batches of");
        if (batchSize < 1) throw new IllegalArgumentException("batch size must be >= 1, got " + batchSize);
        this.batchSize = batchSize;
        this.seed = seed;
        this.shuffle = shuffle;
    }

    /** The windows batched. */
    public Windows windows() {
        return windows;
    }

    /** Rows per batch. */
    public int batchSize() {
        return batchSize;
    }

    /** Batches per epoch (the last one may be partly padding). */
    public int batchesPerEpoch() {
        return (windows.size() + batchSize - 1) / batchSize;
    }

    /** Where the next batch starts. */
    public Position position() {
        return new Position(epoch, index);
    }

    /** Continues from a saved position (index == window count means the start of the next epoch). */
    public void seek(Position position) {
        int n = windows.size();
        if (position.index() > n) {
            throw new IllegalArgumentException("position " + position + " is past the " + n + " windows of an epoch; was it saved for different data?");
        }
        if (position.index() == n) {
            if (position.epoch() == Integer.MAX_VALUE) throw new IllegalArgumentException("epoch out of range: " + position);
            position = new Position(position.epoch() + 1, 0);
        }
        if (position.epoch() != epoch) order = null;
        epoch = position.epoch();
        index = position.index();
    }

    /** The next batch: {@code [batchSize][ctx]} inputs and targets. */
    public Batch next() {
        int ctx = windows.contextLength();
        int n = windows.size();
        Position start = position();
        int[] epochOrder = order();
        int rows = Math.min(batchSize, n - index);
        int[][] inputs = new int[batchSize][ctx];
        int[][] targets = new int[batchSize][ctx];
        long targetTokens = 0;
        for (int r = 0; r < batchSize; r++) {
            if (r < rows) {
                windows.fill(epochOrder[index + r], inputs[r], targets[r]);
                for (int t : targets[r]) if (t != Example.IGNORE) targetTokens++;
            } else {
                java.util.Arrays.fill(inputs[r], windows.padId());
                java.util.Arrays.fill(targets[r], Example.IGNORE);
            }
        }
        index += rows;
        boolean endsEpoch = index == n;
        if (endsEpoch) {
            epoch++;
            index = 0;
            order = null;
        }
        return new Batch(inputs, targets, rows, targetTokens, start, endsEpoch);
    }

    private int[] order() {
        if (order == null) order = orderOf(epoch);
        return order;
    }

    private int[] orderOf(int epoch) {
        int n = windows.size();
        if (shuffle) return Shuffle.permutation(n, Shuffle.derive(seed, epoch));
        int[] identity = new int[n];
        for (int i = 0; i < n; i++) identity[i] = i;
        return identity;
    }
}
