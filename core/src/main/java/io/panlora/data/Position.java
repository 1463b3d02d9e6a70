package io.panlora.data;

/**
 * Where a {@link BatchIterator} is: the epoch, and how many of that epoch's (shuffled) windows have
 * been handed out. Save it with a checkpoint and {@link BatchIterator#seek} to it to resume.
 */
public record Position(int epoch, int index) {
    /** Checks the values are non-negative. */
    public Position {
        if (epoch < 0 || index < 0) throw new IllegalArgumentException("position must be non-negative, got " + epoch + ":" + index);
    }

    /** The start of training. */
    public static final Position START = new Position(0, 0);

    /** "epoch:index", the form {@link #parse} reads. */
    @Override
    public String toString() {
        return epoch + ":" + index;
    }

    /** Reads "epoch:index". */
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
