package io.panlora.data;

import java.util.Objects;

/** A piece of a rendered training example, with whether its tokens are loss targets. */
public sealed interface Segment {

    /** Whether this segment's tokens are prediction targets. */
    boolean trainable();

    /** Text, tokenized on its own (see {@link ExampleEncoder}). */
    record Text(String text, boolean trainable) implements Segment {
        public Text {
            Objects.requireNonNull(text, "text");
        }
    }

    /** The tokenizer's end-of-sequence token, by id (nothing if the tokenizer has none). */
    record EndOfSequence(boolean trainable) implements Segment {}
}
