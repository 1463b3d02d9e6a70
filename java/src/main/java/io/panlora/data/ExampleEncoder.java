package io.panlora.data;

import io.panlora.tokenizer.Tokenizer;
import java.util.List;
import java.util.Objects;

/**
 * Turns text records into {@link Example}s with a tokenizer.
 *
 * <p>Records with a prompt and a trained part are rendered as {@link Segment}s and each segment is
 * tokenized on its own, then the pieces are concatenated, so that every token belongs wholly to one
 * segment and the loss mask is exact. At a segment boundary this can differ from tokenizing the
 * joined string (a BPE merge across the boundary cannot happen; a SentencePiece tokenizer may add
 * its dummy-prefix space to a segment). That is acceptable: the boundaries sit where the chat
 * format places them (after a header, at an end-of-turn marker, which are control tokens or end
 * in a newline in the built-in formats), the same split happens for every example so the model
 * learns a consistent format, and Hugging Face trainers that mask by prompt tokenization make the
 * same compromise.
 *
 * <p>BOS: an example starts with the tokenizer's BOS id when the tokenizer adds one to
 * {@code encode(text, addSpecial = true, ...)} and the rendered text did not already produce it.
 * EOS: an {@link Segment.EndOfSequence} becomes the tokenizer's EOS id, or nothing if it has none.
 */
public final class ExampleEncoder {

    /** The standard Alpaca preamble for records without an input. */
    public static final String ALPACA_NO_INPUT_PREAMBLE =
            "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n";

    /** The standard Alpaca preamble for records with an input. */
    public static final String ALPACA_WITH_INPUT_PREAMBLE =
            "Below is an instruction that describes a task, paired with an input that provides further context. "
                    + "Write a response that appropriately completes the request.\n\n";

    private final Tokenizer tokenizer;
    private final boolean parseSpecial;
    private final int bos;

    /**
     * @param parseSpecial whether control-token text (e.g. "&lt;|im_end|&gt;") inside record fields
     *                     becomes control tokens; chat-template markup is always parsed so
     */
    public ExampleEncoder(Tokenizer tokenizer, boolean parseSpecial) {
        this.tokenizer = Objects.requireNonNull(tokenizer, "tokenizer");
        this.parseSpecial = parseSpecial;
        this.bos = addedBos(tokenizer);
    }

    /** The BOS id the tokenizer puts in front of text with addSpecial, or -1 if it adds none. */
    private static int addedBos(Tokenizer tokenizer) {
        int bos = tokenizer.bos();
        if (bos < 0) return -1;
        // Probing with real text respects a model that has a BOS token but does not add it (add_bos_token = false).
        int[] with = tokenizer.encode("a", true, false);
        int[] without = tokenizer.encode("a", false, false);
        boolean adds = with.length > without.length && with[0] == bos;
        return adds ? bos : -1;
    }

    /** A whole text, every token trained: {@code encode(text, addSpecial = true, parseSpecial)}. */
    public Example text(String text) {
        return Example.allTrained(tokenizer.encode(text, true, parseSpecial));
    }

    /** A prompt (not trained) followed directly by its completion and EOS (trained). */
    public Example promptCompletion(String prompt, String completion) {
        return encode(List.of(new Segment.Text(prompt, false), new Segment.Text(completion, true),
                new Segment.EndOfSequence(true)), parseSpecial);
    }

    /** An Alpaca record: the standard prompt (not trained), then the output and EOS (trained). */
    public Example alpaca(String instruction, String input, String output) {
        return encode(List.of(new Segment.Text(alpacaPrompt(instruction, input), false),
                new Segment.Text(output, true), new Segment.EndOfSequence(true)), parseSpecial);
    }

    /** The standard Alpaca prompt, with the input section only if {@code input} is non-empty. */
    public static String alpacaPrompt(String instruction, String input) {
        if (input == null || input.isEmpty()) {
            return ALPACA_NO_INPUT_PREAMBLE + "### Instruction:\n" + instruction + "\n\n### Response:\n";
        }
        return ALPACA_WITH_INPUT_PREAMBLE + "### Instruction:\n" + instruction + "\n\n### Input:\n" + input
                + "\n\n### Response:\n";
    }

    /** A conversation rendered with a chat template; only assistant content and end markers trained. */
    public Example chat(List<ChatMessage> messages, ChatTemplate template) {
        return segments(template.render(messages));
    }

    /** Rendered segments, each tokenized with parseSpecial = true (template markup must become control tokens). */
    public Example segments(List<Segment> segments) {
        return encode(segments, true);
    }

    private Example encode(List<Segment> segments, boolean parseSpecialInText) {
        IntList tokens = new IntList();
        BoolList mask = new BoolList();
        for (Segment segment : segments) {
            switch (segment) {
                case Segment.Text(String text, boolean trainable) -> {
                    if (text.isEmpty()) continue;
                    for (int id : tokenizer.encode(text, false, parseSpecialInText)) {
                        tokens.add(id);
                        mask.add(trainable);
                    }
                }
                case Segment.EndOfSequence(boolean trainable) -> {
                    if (tokenizer.eos() >= 0) {
                        tokens.add(tokenizer.eos());
                        mask.add(trainable);
                    }
                }
            }
        }
        boolean prependBos = bos >= 0 && (tokens.size() == 0 || tokens.get(0) != bos);
        int offset = prependBos ? 1 : 0;
        int[] ids = new int[tokens.size() + offset];
        boolean[] trained = new boolean[ids.length];
        if (prependBos) ids[0] = bos;
        for (int i = 0; i < tokens.size(); i++) {
            ids[i + offset] = tokens.get(i);
            trained[i + offset] = mask.get(i);
        }
        if (trained.length > 0) trained[0] = false; // nothing predicts the first token
        return new Example(ids, trained);
    }

    /** A growable int array (avoids boxing every token). */
    private static final class IntList {
        private int[] items = new int[64];
        private int size;

        void add(int value) {
            if (size == items.length) items = java.util.Arrays.copyOf(items, size * 2);
            items[size++] = value;
        }

        int get(int i) {
            return items[i];
        }

        int size() {
            return size;
        }
    }

    /** A growable boolean array. */
    private static final class BoolList {
        private boolean[] items = new boolean[64];
        private int size;

        void add(boolean value) {
            if (size == items.length) items = java.util.Arrays.copyOf(items, size * 2);
            items[size++] = value;
        }

        boolean get(int i) {
            return items[i];
        }
    }
}
