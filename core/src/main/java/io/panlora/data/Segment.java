package io.panlora.data;

import java.util.Objects;

/**
 * A piece of a rendered training example, with whether its tokens are loss targets. Produced by
 * {@link ChatTemplate#render(java.util.List, boolean)} and turned into tokens by
 * {@link ExampleEncoder#segments}.
 */
public sealed interface Segment {

    /**
     * Whether this segment's tokens are prediction targets.
     *
     * @return true if the loss is taken on this segment's tokens
     */
    boolean trainable();

    /**
     * Text, tokenized on its own or joined with its neighbours (see {@link ExampleEncoder}).
     *
     * @param text      the text; not null, may be empty (then it produces no tokens)
     * @param trainable whether its tokens are prediction targets
     */
    record Text(String text, boolean trainable) implements Segment {
        /**
         * Checks the text.
         *
         * @throws NullPointerException if {@code text} is null
         */
        public Text {
            Objects.requireNonNull(text, "text");
        }
    }

    /**
     * The tokenizer's end-of-sequence token, by id (nothing if the tokenizer has none). It also ends a run
     * of text for tokenization: no token spans it.
     *
     * @param trainable whether the EOS token is a prediction target
     */
    record EndOfSequence(boolean trainable) implements Segment {}
}
