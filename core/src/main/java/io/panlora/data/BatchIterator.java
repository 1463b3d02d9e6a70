package io.panlora.data;

import java.util.Objects;

/**
 * Hands out batches of windows, epoch after epoch, without end. Each epoch visits every window
 * once, in an order shuffled by {@code (seed, epoch)} (or in order without shuffling); an epoch's
 * last batch is filled up with padding rows rather than borrowing from the next epoch, so epochs
 * stay whole. The state is just a {@link Position}: {@link #seek} to a saved one yields exactly the
 * batches that would have followed it.
 *
 * <p>Instances are mutable and not thread-safe; use one per training loop.
 */
public final class BatchIterator {
    private final Windows windows;
    private final int batchSize;
    private final long seed;
    private final boolean shuffle;
    private int epoch;
    private int index;
    private int[] order; // of the current epoch; null until needed

    /**
     * An iterator positioned at {@link Position#START} (epoch 0, index 0).
     *
     * @param windows   the windows to batch; must hold at least one window
     * @param batchSize rows per batch, {@code >= 1}
     * @param seed      the base seed of the per-epoch shuffles (epoch e uses
     *                  {@code Shuffle.derive(seed, e)}); unused without shuffling
     * @param shuffle   whether each epoch visits the windows in a seeded random order rather than in order
     * @throws IllegalArgumentException if there are no windows or {@code batchSize < 1}
     * @throws NullPointerException     if {@code windows} is null
     */
    public BatchIterator(Windows windows, int batchSize, long seed, boolean shuffle) {
        this.windows = Objects.requireNonNull(windows, "windows");
        if (windows.size() == 0) throw new IllegalArgumentException("there are no windows to make batches of");
        if (batchSize < 1) throw new IllegalArgumentException("batch size must be >= 1, got " + batchSize);
        this.batchSize = batchSize;
        this.seed = seed;
        this.shuffle = shuffle;
    }

    /**
     * The windows this iterator hands out.
     *
     * @return the windows given to the constructor
     */
    public Windows windows() {
        return windows;
    }

    /**
     * Rows per batch, padding rows included.
     *
     * @return the batch size given to the constructor
     */
    public int batchSize() {
        return batchSize;
    }

    /**
     * Batches per epoch: the window count divided by the batch size, rounded up.
     *
     * @return the number of batches in each epoch (the last one may be partly padding)
     */
    public int batchesPerEpoch() {
        return (windows.size() + batchSize - 1) / batchSize;
    }

    /**
     * Where the next batch starts; save it with a checkpoint and pass it to {@link #seek} to resume.
     *
     * @return the epoch and the number of windows of that epoch already handed out
     */
    public Position position() {
        return new Position(epoch, index);
    }

    /**
     * Continues from a saved position: the following {@link #next()} calls yield exactly the batches that
     * followed it originally (given the same windows, batch size, seed and shuffle flag). An index equal to
     * the window count means the start of the next epoch.
     *
     * @param position where to continue; its index must not exceed the number of windows
     * @throws IllegalArgumentException if the index is past the windows of an epoch (the position was saved
     *                                  for different data), or the epoch would overflow
     * @throws NullPointerException     if {@code position} is null
     */
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

    /**
     * The next batch, advancing the position. Never runs out: after an epoch's last batch (which is padded
     * with rows of pad ids and {@link Example#IGNORE} targets) the next epoch begins, with a fresh order if
     * shuffling.
     *
     * @return {@code [batchSize][ctx]} inputs and targets, with the position before it as {@link Batch#start()}
     */
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
