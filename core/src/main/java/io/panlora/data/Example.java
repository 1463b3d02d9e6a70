package io.panlora.data;

import java.util.Arrays;
import java.util.Objects;

/**
 * One tokenized training example: its tokens and which of them are prediction targets.
 *
 * <p>Convention: {@code lossMask[i]} (for {@code i >= 1}) says whether token {@code i} is a
 * target, i.e. whether the loss of the prediction made at position {@code i - 1} for token
 * {@code i} counts. Token 0 has no position before it, so {@code lossMask[0]} must be false.
 * The model-side form is {@link #shifted()}: {@code inputs[j] = tokens[j]} and
 * {@code targets[j] = lossMask[j + 1] ? tokens[j + 1] : IGNORE}, for {@code j < length - 1}.
 *
 * <p>The arrays are not copied; treat them as immutable. Unlike a plain record, {@code equals},
 * {@code hashCode} and {@code toString} use the arrays' contents.
 *
 * @param tokens   the token ids, BOS (if any) first; not null
 * @param lossMask per token, whether it is a prediction target; same length as {@code tokens},
 *                 {@code lossMask[0]} false
 */
public record Example(int[] tokens, boolean[] lossMask) {

    /** The target value that the loss ignores (not trained, or padding); never a valid token id. */
    public static final int IGNORE = -1;

    /**
     * Validates shapes and the mask convention.
     *
     * @throws NullPointerException     if either array is null
     * @throws IllegalArgumentException if the lengths differ or {@code lossMask[0]} is true
     */
    public Example {
        Objects.requireNonNull(tokens, "tokens");
        Objects.requireNonNull(lossMask, "lossMask");
        if (tokens.length != lossMask.length) {
            throw new IllegalArgumentException("tokens and lossMask differ in length: " + tokens.length + " vs " + lossMask.length);
        }
        if (lossMask.length > 0 && lossMask[0]) {
            throw new IllegalArgumentException("lossMask[0] must be false: the first token has no position predicting it");
        }
    }

    /**
     * An example whose every token but the first is a target (plain text).
     *
     * @param tokens the token ids; not null, used without copying
     * @return the example (with no target if it has fewer than two tokens)
     */
    public static Example allTrained(int[] tokens) {
        boolean[] mask = new boolean[tokens.length];
        Arrays.fill(mask, true);
        if (mask.length > 0) mask[0] = false;
        return new Example(tokens, mask);
    }

    /**
     * The number of tokens.
     *
     * @return {@code tokens.length}
     */
    public int length() {
        return tokens.length;
    }

    /**
     * The number of target tokens (true entries of the mask).
     *
     * @return from 0 to {@code length() - 1}
     */
    public int targetCount() {
        int count = 0;
        for (boolean trained : lossMask) if (trained) count++;
        return count;
    }

    /**
     * Inputs and next-token targets, without padding.
     *
     * @return new arrays of length {@code max(0, length() - 1)}: {@code inputs[j] = tokens[j]} and
     *         {@code targets[j] = lossMask[j + 1] ? tokens[j + 1] : IGNORE}
     */
    public Shifted shifted() {
        int n = Math.max(0, tokens.length - 1);
        int[] inputs = Arrays.copyOf(tokens, n);
        int[] targets = new int[n];
        for (int j = 0; j < n; j++) targets[j] = lossMask[j + 1] ? tokens[j + 1] : IGNORE;
        return new Shifted(inputs, targets);
    }

    /**
     * The model-side form of an example or window: what the model reads, and what it should predict.
     * Like {@link Example}, the arrays are not copied and {@code equals}, {@code hashCode} and
     * {@code toString} use their contents.
     *
     * @param inputs  the token id at each position
     * @param targets the token to predict at each position, or {@link #IGNORE}; same length as {@code inputs}
     */
    public record Shifted(int[] inputs, int[] targets) {
        /**
         * Checks that both have the same length.
         *
         * @throws IllegalArgumentException if the lengths differ
         * @throws NullPointerException     if either array is null
         */
        public Shifted {
            if (inputs.length != targets.length) {
                throw new IllegalArgumentException("inputs and targets differ in length: " + inputs.length + " vs " + targets.length);
            }
        }

        @Override
        public boolean equals(Object other) {
            return other instanceof Shifted s && Arrays.equals(inputs, s.inputs) && Arrays.equals(targets, s.targets);
        }

        @Override
        public int hashCode() {
            return 31 * Arrays.hashCode(inputs) + Arrays.hashCode(targets);
        }

        @Override
        public String toString() {
            return "Shifted[inputs=" + Arrays.toString(inputs) + ", targets=" + Arrays.toString(targets) + "]";
        }
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof Example e && Arrays.equals(tokens, e.tokens) && Arrays.equals(lossMask, e.lossMask);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(tokens) + Arrays.hashCode(lossMask);
    }

    @Override
    public String toString() {
        return "Example[tokens=" + Arrays.toString(tokens) + ", lossMask=" + Arrays.toString(lossMask) + "]";
    }
}
