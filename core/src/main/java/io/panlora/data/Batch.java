package io.panlora.data;

/**
 * A training batch: {@code inputs[b][t]} are token ids, {@code targets[b][t]} the token to
 * predict after position t, or {@link Example#IGNORE} (not trained, or padding).
 *
 * <p>Made by {@link BatchIterator#next()}. The arrays are not copied and the record's
 * {@code equals} compares them by identity; treat them as read-only.
 *
 * @param inputs        [batch][ctx] token ids (padding positions hold the pad id)
 * @param targets       [batch][ctx] targets, {@link Example#IGNORE} where no loss is taken
 * @param rows          how many rows hold windows, from 1 to the batch size; rows past it are all padding
 *                      (only in an epoch's last batch)
 * @param targetTokens  how many targets are not {@link Example#IGNORE} (normalize the loss by this); may be 0
 * @param start         the iterator position before this batch (seek to it to produce this batch again)
 * @param endsEpoch     whether this is the last batch of its epoch
 */
public record Batch(int[][] inputs, int[][] targets, int rows, long targetTokens, Position start, boolean endsEpoch) {

    /**
     * The number of rows, padding rows included.
     *
     * @return the batch size ({@code inputs.length})
     */
    public int batchSize() {
        return inputs.length;
    }

    /**
     * The number of positions per row.
     *
     * @return the context length ({@code inputs[0].length}), or 0 for a batch without rows
     */
    public int contextLength() {
        return inputs.length == 0 ? 0 : inputs[0].length;
    }
}
