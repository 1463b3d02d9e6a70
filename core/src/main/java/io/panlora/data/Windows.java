package io.panlora.data;

import java.util.Arrays;
import java.util.List;

/**
 * Fixed-length training windows over a list of examples, made by {@link Packer}. A window is up to
 * {@code ctx + 1} consecutive tokens, taken from one or more spans of examples; it becomes
 * {@code inputs[ctx]} and {@code targets[ctx]} by shifting (see {@link Example}), with the pad id /
 * {@link Example#IGNORE} after its last token. Windows are materialized only when asked for, so a
 * large dataset costs its tokens plus a few ints per window.
 *
 * <p>Windows are numbered 0 to {@code size() - 1}; a window index outside that range throws an
 * {@link IndexOutOfBoundsException}. The windows never change. Reading them ({@link #fill},
 * {@link #window}, {@link #targetCount(int)}) is safe from several threads; {@link #fingerprint()} caches
 * its result without synchronization, so call it once before sharing the instance.
 */
public final class Windows {
    private final List<Example> examples;
    private final int contextLength;
    private final int padId;
    /** Spans as triples (example, start, length), grouped by window. */
    private final int[] spans;
    /** Window w owns span triples windowSpans[w] .. windowSpans[w + 1] - 1. */
    private final int[] windowSpans;
    private final int truncatedExamples;
    private final int droppedExamples;
    private long fingerprint;
    private boolean fingerprinted;

    Windows(List<Example> examples, int contextLength, int padId, int[] spans, int[] windowSpans,
            int truncatedExamples, int droppedExamples) {
        this.examples = examples;
        this.contextLength = contextLength;
        this.padId = padId;
        this.spans = spans;
        this.windowSpans = windowSpans;
        this.truncatedExamples = truncatedExamples;
        this.droppedExamples = droppedExamples;
    }

    /**
     * The number of windows.
     *
     * @return the window count, possibly 0
     */
    public int size() {
        return windowSpans.length - 1;
    }

    /**
     * The number of input positions per window (ctx); a window holds up to ctx + 1 tokens.
     *
     * @return the packer's context length
     */
    public int contextLength() {
        return contextLength;
    }

    /**
     * The token id written into input positions past a window's end (their targets are
     * {@link Example#IGNORE}).
     *
     * @return the packer's pad id
     */
    public int padId() {
        return padId;
    }

    /**
     * How many examples were longer than ctx + 1 tokens and lost their end (separate examples only).
     *
     * @return the count; 0 for a token stream and for the train/validation parts split off a stream
     */
    public int truncatedExamples() {
        return truncatedExamples;
    }

    /**
     * How many examples were left out because no target remained within ctx + 1 tokens (separate examples
     * only).
     *
     * @return the count; 0 for a token stream
     */
    public int droppedExamples() {
        return droppedExamples;
    }

    /**
     * How many example pieces the windows are made of.
     *
     * @return for separate examples, the examples kept; for a stream, the windows
     */
    public int spanCount() {
        return spans.length / 3;
    }

    /**
     * Writes window {@code w} into {@code inputs} and {@code targets} (each of length ctx), overwriting every
     * element: the window's tokens shifted as in {@link Example#shifted()}, then pad ids and
     * {@link Example#IGNORE} up to ctx. The window's first token, and the first token of each further packed
     * example, is never a target.
     *
     * @param w       the window index, 0 to {@code size() - 1}
     * @param inputs  receives the input token ids; length ctx
     * @param targets receives the targets; length ctx
     * @throws IllegalArgumentException  if an array's length is not ctx
     * @throws IndexOutOfBoundsException if {@code w} is out of range
     */
    public void fill(int w, int[] inputs, int[] targets) {
        if (inputs.length != contextLength || targets.length != contextLength) {
            throw new IllegalArgumentException("expected arrays of length " + contextLength);
        }
        int written = 0; // tokens of the window placed so far (window token k feeds input k and target k - 1)
        for (int s = windowSpans[w]; s < windowSpans[w + 1]; s++) {
            Example example = examples.get(spans[3 * s]);
            int start = spans[3 * s + 1];
            int length = spans[3 * s + 2];
            int[] tokens = example.tokens();
            boolean[] mask = example.lossMask();
            for (int i = start; i < start + length; i++, written++) {
                if (written < contextLength) inputs[written] = tokens[i];
                // The first token of a stream window is the previous window's last target, so it is
                // not a target here (written == 0 has no position before it).
                if (written > 0) targets[written - 1] = mask[i] ? tokens[i] : Example.IGNORE;
            }
        }
        for (int k = written; k < contextLength; k++) inputs[k] = padId;
        for (int k = Math.max(written - 1, 0); k < contextLength; k++) targets[k] = Example.IGNORE;
    }

    /**
     * Window {@code w} as new arrays (see {@link #fill}).
     *
     * @param w the window index, 0 to {@code size() - 1}
     * @return the inputs and targets, each of length ctx
     * @throws IndexOutOfBoundsException if {@code w} is out of range
     */
    public Example.Shifted window(int w) {
        int[] inputs = new int[contextLength];
        int[] targets = new int[contextLength];
        fill(w, inputs, targets);
        return new Example.Shifted(inputs, targets);
    }

    /**
     * The number of targets (not {@link Example#IGNORE}) in window {@code w}, without materializing it.
     *
     * @param w the window index, 0 to {@code size() - 1}
     * @return the count, from 0 to ctx
     * @throws IndexOutOfBoundsException if {@code w} is out of range
     */
    public int targetCount(int w) {
        int count = 0;
        for (int s = windowSpans[w]; s < windowSpans[w + 1]; s++) {
            boolean[] mask = examples.get(spans[3 * s]).lossMask();
            int start = spans[3 * s + 1];
            int end = start + spans[3 * s + 2];
            // A window's first token is never a target.
            for (int i = (s == windowSpans[w] ? start + 1 : start); i < end; i++) if (mask[i]) count++;
        }
        return count;
    }

    /**
     * The number of targets over all windows (the tokens one epoch trains on).
     *
     * @return the sum of {@link #targetCount(int)} over the windows
     */
    public long targetCount() {
        long total = 0;
        for (int w = 0; w < size(); w++) total += targetCount(w);
        return total;
    }

    /** Windows from..to-1 of these (sharing the examples). */
    Windows slice(int from, int to) {
        if (from < 0 || to > size() || from > to) throw new IndexOutOfBoundsException("slice " + from + ".." + to + " of " + size());
        int[] sliceSpans = Arrays.copyOfRange(spans, 3 * windowSpans[from], 3 * windowSpans[to]);
        int[] sliceWindows = new int[to - from + 1];
        for (int w = from; w <= to; w++) sliceWindows[w - from] = windowSpans[w] - windowSpans[from];
        return new Windows(examples, contextLength, padId, sliceSpans, sliceWindows, 0, 0);
    }

    /**
     * A 64-bit hash of every window's inputs and targets (and the shape): equal windows give equal
     * fingerprints, so a checkpoint can detect that it is being resumed on different data. Computed on the
     * first call by materializing every window, then cached (the cache is not synchronized).
     *
     * @return an FNV-1a hash over the context length, the window count and every input and target
     */
    public long fingerprint() {
        if (!fingerprinted) {
            long h = 0xCBF29CE484222325L;
            h = mixIn(h, contextLength);
            h = mixIn(h, size());
            int[] inputs = new int[contextLength];
            int[] targets = new int[contextLength];
            for (int w = 0; w < size(); w++) {
                fill(w, inputs, targets);
                for (int k = 0; k < contextLength; k++) {
                    h = mixIn(h, inputs[k]);
                    h = mixIn(h, targets[k]);
                }
            }
            fingerprint = h;
            fingerprinted = true;
        }
        return fingerprint;
    }

    private static long mixIn(long h, int value) {
        return (h ^ value) * 0x100000001B3L; // FNV-1a over 32-bit words
    }
}
