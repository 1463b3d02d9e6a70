package io.panlora.data;

/**
 * Where a {@link BatchIterator} is: the epoch, and how many of that epoch's (shuffled) windows have
 * been handed out. Save it with a checkpoint and {@link BatchIterator#seek} to it to resume.
 *
 * @param epoch the 0-based epoch
 * @param index how many windows of that epoch were handed out, from 0 to the window count (the count itself
 *              means the epoch is finished; {@link BatchIterator#seek} moves on to the next one)
 */
public record Position(int epoch, int index) {
    /**
     * Checks the values are non-negative.
     *
     * @throws IllegalArgumentException if {@code epoch} or {@code index} is negative
     */
    public Position {
        if (epoch < 0 || index < 0) throw new IllegalArgumentException("position must be non-negative, got " + epoch + ":" + index);
    }

    /** The start of training: epoch 0, index 0. */
    public static final Position START = new Position(0, 0);

    /**
     * The position as text, the form {@link #parse} reads.
     *
     * @return {@code "epoch:index"}, e.g. {@code "2:128"}
     */
    @Override
    public String toString() {
        return epoch + ":" + index;
    }

    /**
     * Reads a position written by {@link #toString()}: {@code "epoch:index"}, whitespace around each number
     * allowed.
     *
     * @param text the text; not null
     * @return the position
     * @throws IllegalArgumentException if there is no colon, a part is not a decimal int, or a value is
     *                                  negative
     */
    public static Position parse(String text) {
        int colon = text.indexOf(':');
        if (colon < 0) throw new IllegalArgumentException("expected epoch:index, got '" + text + "'");
        try {
            return new Position(Integer.parseInt(text.substring(0, colon).strip()), Integer.parseInt(text.substring(colon + 1).strip()));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("expected epoch:index, got '" + text + "'", e);
        }
    }
}
