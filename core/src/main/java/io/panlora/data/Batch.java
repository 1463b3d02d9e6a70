package io.panlora.data;

/**
 * A training batch: {@code inputs[b][t]} are token ids, {@code targets[b][t]} the token to
 * predict after position t, or {@link Example#IGNORE} (not trained, or padding).
 *
 * @param inputs        [batch][ctx] token ids (padding positions hold the pad id)
 * @param targets       [batch][ctx] targets, {@link Example#IGNORE} where no loss is taken
 * @param rows          how many rows hold windows; rows past it are all padding (an epoch's last batch)
 * @param targetTokens  how many targets are not {@link Example#IGNORE} (normalize the loss by this)
 * @param start         the iterator position before this batch
 * @param endsEpoch     whether this is the last batch of its epoch
 */
public record Batch(int[][] inputs, int[][] targets, int rows, long targetTokens, Position start, boolean endsEpoch) {

    /** The number of rows (the batch size). */
    public int batchSize() {
        return inputs.length;
    }

    /** The number of positions per row (the context length). */
    public int contextLength() {
        return inputs.length == 0 ? 0 : inputs[0].length;
    }
}
