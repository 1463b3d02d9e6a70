package io.panlora.data;

import io.panlora.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Turns text records into {@link Example}s with a tokenizer.
 *
 * <p>Records with an untrained prompt and a trained part are rendered as {@link Segment}s, and each
 * token's loss flag comes from the segment its text belongs to. How segments are tokenized is a
 * {@link SegmentTokenization}:
 * <ul>
 *   <li>{@link SegmentTokenization#PER_SEGMENT}: each segment is tokenized on its own (control-token
 *       text parsed) and the pieces are concatenated. Every token lies wholly inside one segment, so
 *       the mask is exact, but at a boundary the tokens can differ from tokenizing the joined string:
 *       no BPE merge spans the boundary, and a SentencePiece tokenizer that adds a dummy-prefix space
 *       to raw text adds it to every segment (Llama 2's {@code " answer"} then starts with "▁▁").
 *       That is acceptable where the boundaries fall at control tokens or after a newline, as in most
 *       built-in formats: the split is the same in every example, so the model learns one consistent
 *       format, only the first token after a boundary can differ, and the tokenizer interface has no
 *       character offsets that would let a joined tokenization be split exactly.</li>
 *   <li>{@link SegmentTokenization#JOINED} (the default): the joined text of each run of segments is
 *       tokenized once, so the tokens are exactly what inference on the same text sees (as Hugging
 *       Face trainers tokenize the rendered conversation whole); the text before each boundary is
 *       tokenized too, and where that is a prefix of the joined tokens the boundary is exact. Where it
 *       is not (a token spans the boundary), the spanning token is trained if either side is. This
 *       costs about one extra tokenization of the text per boundary.</li>
 * </ul>
 * An {@link Segment.EndOfSequence} is a hard boundary in both modes (it is an id, not text).
 *
 * <p>BOS: an example starts with the tokenizer's BOS id when the tokenizer adds one to
 * {@code encode(text, addSpecial = true, ...)} and the rendered text did not already produce it.
 * EOS: an {@link Segment.EndOfSequence} becomes the tokenizer's EOS id, or nothing if it has none.
 * The first token of an example is never a target, whatever its segment.
 *
 * <p>An encoder holds no mutable state; it is thread-safe if its tokenizer is (panlora's are).
 */
public final class ExampleEncoder {

    /** How a list of segments becomes tokens; see the class comment. */
    public enum SegmentTokenization {
        /** Tokenize each run of text segments joined, and find each segment's tokens by tokenizing its prefix. */
        JOINED,
        /** Tokenize every segment on its own and concatenate. */
        PER_SEGMENT
    }

    /** The standard Alpaca preamble for records without an input (ends with a blank line). */
    public static final String ALPACA_NO_INPUT_PREAMBLE =
            "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n";

    /** The standard Alpaca preamble for records with an input (ends with a blank line). */
    public static final String ALPACA_WITH_INPUT_PREAMBLE =
            "Below is an instruction that describes a task, paired with an input that provides further context. "
                    + "Write a response that appropriately completes the request.\n\n";

    private final Tokenizer tokenizer;
    private final boolean parseSpecial;
    private final SegmentTokenization segmentTokenization;
    private final int bos;

    /**
     * An encoder with {@link SegmentTokenization#JOINED} segments.
     *
     * @param tokenizer    the model's tokenizer; not null
     * @param parseSpecial whether control-token text (e.g. "&lt;|im_end|&gt;") inside record fields
     *                     becomes control tokens; chat-template markup is always parsed so
     * @throws NullPointerException if {@code tokenizer} is null
     */
    public ExampleEncoder(Tokenizer tokenizer, boolean parseSpecial) {
        this(tokenizer, parseSpecial, SegmentTokenization.JOINED);
    }

    /**
     * An encoder. Construction encodes a one-letter probe text to learn whether the tokenizer adds a BOS
     * id of its own.
     *
     * @param tokenizer           the model's tokenizer; not null
     * @param parseSpecial        whether control-token text (e.g. "&lt;|im_end|&gt;") inside record fields
     *                            becomes control tokens; chat-template markup is always parsed so
     * @param segmentTokenization how runs of prompt and trained text are tokenized; not null
     * @throws NullPointerException if {@code tokenizer} or {@code segmentTokenization} is null
     */
    public ExampleEncoder(Tokenizer tokenizer, boolean parseSpecial, SegmentTokenization segmentTokenization) {
        this.tokenizer = Objects.requireNonNull(tokenizer, "tokenizer");
        this.parseSpecial = parseSpecial;
        this.segmentTokenization = Objects.requireNonNull(segmentTokenization, "segmentTokenization");
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

    /**
     * A whole text, every token trained: {@code encode(text, addSpecial = true, parseSpecial)}. No EOS is
     * appended beyond what the vocabulary's add_eos asks for.
     *
     * @param text the text; not null, may be empty
     * @return the tokens, BOS first if the vocabulary adds one, all but the first token targets
     */
    public Example text(String text) {
        return Example.allTrained(tokenizer.encode(text, true, parseSpecial));
    }

    /**
     * A prompt (not trained) followed directly by its completion and EOS (trained). Nothing is inserted
     * between the two: put any separating space or newline into one of them.
     *
     * @param prompt     the context the model is given; not null
     * @param completion the text the model should learn to produce; not null
     * @return BOS (if the tokenizer adds one), the prompt's tokens, the completion's tokens and EOS (if the
     *         tokenizer has one), with the completion and EOS as targets
     */
    public Example promptCompletion(String prompt, String completion) {
        return encode(List.of(new Segment.Text(prompt, false), new Segment.Text(completion, true),
                new Segment.EndOfSequence(true)), parseSpecial);
    }

    /**
     * An Alpaca record: the standard prompt (not trained, see {@link #alpacaPrompt}), then the output and
     * EOS (trained).
     *
     * @param instruction the task; not null
     * @param input       further context for the task; null or empty for none
     * @param output      the response to train on; not null
     * @return the encoded example, with the output and EOS (if the tokenizer has one) as targets
     */
    public Example alpaca(String instruction, String input, String output) {
        return encode(List.of(new Segment.Text(alpacaPrompt(instruction, input), false),
                new Segment.Text(output, true), new Segment.EndOfSequence(true)), parseSpecial);
    }

    /**
     * The standard Alpaca prompt, with the input section only if {@code input} is non-empty:
     * the preamble, {@code "### Instruction:\n"} + instruction, optionally {@code "\n\n### Input:\n"} +
     * input, then {@code "\n\n### Response:\n"}.
     *
     * @param instruction the task
     * @param input       further context; null or empty for none
     * @return the prompt text, ending just before the response
     */
    public static String alpacaPrompt(String instruction, String input) {
        if (input == null || input.isEmpty()) {
            return ALPACA_NO_INPUT_PREAMBLE + "### Instruction:\n" + instruction + "\n\n### Response:\n";
        }
        return ALPACA_WITH_INPUT_PREAMBLE + "### Instruction:\n" + instruction + "\n\n### Input:\n" + input
                + "\n\n### Response:\n";
    }

    /**
     * A conversation rendered with a chat template; only assistant content and end markers trained.
     * The rendered markup is tokenized with control-token parsing on, regardless of this encoder's
     * {@code parseSpecial}.
     *
     * @param messages the turns; not null
     * @param template the chat format; not null
     * @return the encoded conversation (without a trailing generation prompt)
     * @throws IllegalArgumentException if the conversation cannot be rendered in this template (see
     *                                  {@link ChatTemplate#render(List, boolean)})
     */
    public Example chat(List<ChatMessage> messages, ChatTemplate template) {
        return segments(template.render(messages));
    }

    /**
     * Rendered segments, each tokenized with parseSpecial = true (template markup must become control tokens).
     *
     * @param segments the segments in order, e.g. from {@link ChatTemplate#render(List)}; empty texts are
     *                 skipped
     * @return the encoded example; each token's loss flag comes from its segment as described in the class
     *         comment
     */
    public Example segments(List<Segment> segments) {
        return encode(segments, true);
    }

    private Example encode(List<Segment> segments, boolean parseSpecialInText) {
        IntList tokens = new IntList();
        BoolList mask = new BoolList();
        List<Segment.Text> run = new ArrayList<>();
        for (Segment segment : segments) {
            switch (segment) {
                case Segment.Text text -> {
                    if (!text.text().isEmpty()) run.add(text);
                }
                case Segment.EndOfSequence(boolean trainable) -> {
                    encodeRun(run, parseSpecialInText, tokens, mask);
                    run.clear();
                    if (tokenizer.eos() >= 0) {
                        tokens.add(tokenizer.eos());
                        mask.add(trainable);
                    }
                }
            }
        }
        encodeRun(run, parseSpecialInText, tokens, mask);
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

    /** Appends the tokens of consecutive text segments and their loss flags. */
    private void encodeRun(List<Segment.Text> run, boolean parseSpecialInText, IntList tokens, BoolList mask) {
        if (run.isEmpty()) return;
        if (segmentTokenization == SegmentTokenization.PER_SEGMENT || run.size() == 1) {
            for (Segment.Text segment : run) {
                for (int id : tokenizer.encode(segment.text(), false, parseSpecialInText)) {
                    tokens.add(id);
                    mask.add(segment.trainable());
                }
            }
            return;
        }
        StringBuilder joined = new StringBuilder();
        for (Segment.Text segment : run) joined.append(segment.text());
        int[] all = tokenizer.encode(joined.toString(), false, parseSpecialInText);
        // Segment j owns tokens ends[j - 1] .. ends[j] - 1; its end is where the tokens of the text
        // before the boundary stop agreeing with the joined tokens.
        int k = run.size();
        int[] ends = new int[k];
        boolean[] straddles = new boolean[k];
        int prefixChars = 0;
        int start = 0;
        for (int j = 0; j < k - 1; j++) {
            prefixChars += run.get(j).text().length();
            int[] prefix = tokenizer.encode(joined.substring(0, prefixChars), false, parseSpecialInText);
            int common = commonPrefixLength(prefix, all);
            straddles[j] = common < prefix.length;
            ends[j] = Math.max(common, start);
            start = ends[j];
        }
        ends[k - 1] = all.length;
        boolean[] flags = new boolean[all.length];
        start = 0;
        for (int j = 0; j < k; j++) {
            for (int t = start; t < ends[j]; t++) flags[t] = run.get(j).trainable();
            start = ends[j];
        }
        for (int j = 0; j < k - 1; j++) {
            // The first token after an inexact boundary also holds the end of segment j.
            if (straddles[j] && ends[j] < all.length && run.get(j).trainable()) flags[ends[j]] = true;
        }
        for (int t = 0; t < all.length; t++) {
            tokens.add(all[t]);
            mask.add(flags[t]);
        }
    }

    private static int commonPrefixLength(int[] a, int[] b) {
        int n = Math.min(a.length, b.length);
        int i = 0;
        while (i < n && a[i] == b[i]) i++;
        return i;
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
