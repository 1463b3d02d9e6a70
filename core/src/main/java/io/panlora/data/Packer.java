package io.panlora.data;

import java.util.Arrays;
import java.util.List;

/**
 * Cuts examples into {@link Windows} of {@code contextLength + 1} tokens.
 *
 * <p>Token streams (plain text): windows start every {@code contextLength} tokens, so consecutive
 * windows share one token (the last token of one is the first input of the next) and every token
 * but the first is a target exactly once. The last, partial window is kept and padded rather than
 * dropped, so that a text shorter than one window still trains (and no tail is silently lost).
 *
 * <p>Separate examples (JSONL records): one example per window, truncated to its first
 * {@code contextLength + 1} tokens (counted in {@link Windows#truncatedExamples()}); an example with
 * no target left after truncation is dropped (counted in {@link Windows#droppedExamples()}). With
 * {@code packExamples}, consecutive examples are packed next-fit, in order, into one window while
 * they fit whole; packed examples are not masked from each other's attention (as in Hugging Face
 * packing without position-id resets), and the boundary token is never a target.
 *
 * <p>Packing is deterministic and keeps example order; a packer is immutable and thread-safe.
 *
 * @param contextLength the number of input positions per window (ctx)
 * @param packExamples  pack several short examples into one window
 * @param padId         the token id written into input positions past the data; any valid id works, since its
 *                      targets are ignored and, under causal attention, positions after the data cannot
 *                      affect the positions before them
 */
public record Packer(int contextLength, boolean packExamples, int padId) {

    /**
     * Checks the values.
     *
     * @throws IllegalArgumentException if {@code contextLength < 1} or {@code padId < 0}
     */
    public Packer {
        if (contextLength < 1) throw new IllegalArgumentException("context length must be >= 1, got " + contextLength);
        if (padId < 0) throw new IllegalArgumentException("pad id must be >= 0, got " + padId);
    }

    /**
     * A pad id for a tokenizer: its EOS if it has one, else 0. (The vocabulary's own pad id is not used;
     * any valid id works, see {@link #padId()}.)
     *
     * @param tokenizer the model's tokenizer; not null
     * @return the EOS id, or 0 when the tokenizer has no EOS
     */
    public static int padIdFor(io.panlora.tokenizer.Tokenizer tokenizer) {
        return tokenizer.eos() >= 0 ? tokenizer.eos() : 0;
    }

    /**
     * Windows for data in its layout: {@link #stream} for {@link TrainingData.Layout#TOKEN_STREAM},
     * {@link #examples} for {@link TrainingData.Layout#EXAMPLES}.
     *
     * @param data the examples and their layout; not null
     * @return the windows, possibly none
     */
    public Windows pack(TrainingData data) {
        return switch (data.layout()) {
            case TOKEN_STREAM -> stream(data.examples());
            case EXAMPLES -> examples(data.examples());
        };
    }

    /**
     * Consecutive windows over each example's tokens (windows do not cross examples): for an example of n
     * tokens, windows start at 0, ctx, 2 ctx, ... while at least two tokens remain, so an example of fewer
     * than two tokens yields no window. Each window's own first token is not a target.
     *
     * @param examples the token streams; not null
     * @return the windows, in order; no example is counted as truncated or dropped
     */
    public Windows stream(List<Example> examples) {
        SpanList spans = new SpanList();
        for (int e = 0; e < examples.size(); e++) {
            int n = examples.get(e).length();
            for (int start = 0; start + 1 < n; start += contextLength) {
                spans.add(e, start, Math.min(contextLength + 1, n - start));
                spans.endWindow();
            }
        }
        return spans.build(examples, contextLength, padId, 0, 0);
    }

    /**
     * One window per example, or packed if {@link #packExamples}: each example is cut to its first
     * {@code contextLength + 1} tokens, dropped if no target remains, and (when packing) appended to the
     * open window if it fits whole, else starts a new one.
     *
     * @param examples the examples, in order; not null
     * @return the windows, with the truncated and dropped counts
     */
    public Windows examples(List<Example> examples) {
        int capacity = contextLength + 1;
        SpanList spans = new SpanList();
        int truncated = 0;
        int dropped = 0;
        int used = 0; // tokens in the open window
        for (int e = 0; e < examples.size(); e++) {
            Example example = examples.get(e);
            int length = Math.min(example.length(), capacity);
            if (!hasTarget(example, length)) {
                dropped++;
                continue;
            }
            if (example.length() > capacity) truncated++;
            if (used > 0 && (!packExamples || used + length > capacity)) {
                spans.endWindow();
                used = 0;
            }
            spans.add(e, 0, length);
            used += length;
        }
        if (used > 0) spans.endWindow();
        return spans.build(examples, contextLength, padId, truncated, dropped);
    }

    private static boolean hasTarget(Example example, int length) {
        boolean[] mask = example.lossMask();
        for (int i = 1; i < length; i++) if (mask[i]) return true;
        return false;
    }

    /** Accumulates span triples and window boundaries. */
    private static final class SpanList {
        private int[] spans = new int[48];
        private int spanInts;
        private int[] windows = new int[16];
        private int windowCount;

        void add(int example, int start, int length) {
            if (spanInts + 3 > spans.length) spans = Arrays.copyOf(spans, spans.length * 2);
            spans[spanInts++] = example;
            spans[spanInts++] = start;
            spans[spanInts++] = length;
        }

        /** Closes the current window after the spans added so far. */
        void endWindow() {
            if (windowCount + 2 > windows.length) windows = Arrays.copyOf(windows, windows.length * 2);
            windows[++windowCount] = spanInts / 3;
        }

        Windows build(List<Example> examples, int contextLength, int padId, int truncated, int dropped) {
            return new Windows(List.copyOf(examples), contextLength, padId, Arrays.copyOf(spans, spanInts),
                    Arrays.copyOf(windows, windowCount + 1), truncated, dropped);
        }
    }
}
