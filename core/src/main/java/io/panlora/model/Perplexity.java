package io.panlora.model;

import io.panlora.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.List;

/**
 * Windowed perplexity: the token stream (no BOS) cut into windows of ctx−1 tokens, each scored after a BOS (or, without a
 * BOS token, into windows of ctx tokens). Windows do not overlap; a tail shorter than a window is not scored. Also
 * llama.cpp's {@code llama-perplexity} method ({@link #secondHalf}). Perplexity is {@code exp(meanNll)}.
 */
public final class Perplexity {
    private Perplexity() {}

    /**
     * The outcome of a perplexity run.
     *
     * @param windows     windows (or chunks) scored
     * @param predictions token predictions scored over all windows
     * @param meanNll     mean negative log-likelihood per scored prediction, in nats; the perplexity is its exponential
     */
    public record Result(int windows, long predictions, double meanNll) {}

    /** Progress callback, called on the caller's thread after each batch of windows. */
    public interface Progress {
        /**
         * Reports progress.
         *
         * @param done           windows scored so far
         * @param total          windows to score in all
         * @param runningMeanNll mean NLL in nats over the predictions scored so far
         */
        void update(int done, int total, double runningMeanNll);
    }

    /**
     * Scores text with the model in windows of ctx tokens (BOS + ctx−1 text tokens), every prediction of each window
     * scored. The text is encoded without special tokens; the tokenizer's BOS (if it has one) starts every window. The
     * model's attached adapters, if any, take part.
     *
     * @param m          the model
     * @param tok        the model's tokenizer
     * @param text       the text to score
     * @param ctx        the window length in tokens, BOS included, ≥ 2
     * @param maxWindows the most windows to score, or a negative number for all (0 scores one window)
     * @param batch      windows per forward call, ≥ 1
     * @param progress   called after each batch, or null
     * @return the windows and predictions scored and their mean NLL
     * @throws IllegalArgumentException if {@code ctx} is below 2, or the text is shorter than one window
     */
    public static Result evaluate(LlamaModel m, Tokenizer tok, String text, int ctx, int maxWindows, int batch, Progress progress) {
        return evaluate(m, tok, text, ctx, maxWindows, batch, 0, progress);
    }

    /**
     * As {@link #evaluate(LlamaModel, Tokenizer, String, int, int, int, Progress)}, scoring only the predictions made at
     * positions ≥ firstScored of each window (llama.cpp's llama-perplexity scores the second half: firstScored = ctx/2).
     *
     * @param m           the model
     * @param tok         the model's tokenizer
     * @param text        the text to score
     * @param ctx         the window length in tokens, BOS included, ≥ 2
     * @param maxWindows  the most windows to score, or a negative number for all (0 scores one window)
     * @param batch       windows per forward call, ≥ 1
     * @param firstScored the first position whose prediction (of the next token) counts, 0 .. ctx−2
     * @param progress    called after each batch, or null
     * @return the windows and predictions scored and their mean NLL
     * @throws IllegalArgumentException if {@code ctx} is below 2, {@code firstScored} is outside 0 .. ctx−2, or the text is
     *                                  shorter than one window
     */
    public static Result evaluate(LlamaModel m, Tokenizer tok, String text, int ctx, int maxWindows, int batch, int firstScored,
                                  Progress progress) {
        return evaluate(tok.encode(text, false, false), tok.bos(), ctx, maxWindows, batch, firstScored, m::nll, progress);
    }

    /**
     * The same over token ids of the text (no BOS) from any tokenizer, scored by any engine; bos &lt; 0: no BOS token.
     *
     * @param ids         the text's token ids, without BOS
     * @param bos         the BOS id to put first in every window (windows then hold ctx−1 text tokens), or negative for
     *                    none (windows of ctx text tokens)
     * @param ctx         the window length in tokens, ≥ 2
     * @param maxWindows  the most windows to score, or a negative number for all (0 scores one window)
     * @param batch       windows per {@code scorer} call, ≥ 1
     * @param firstScored the first position whose prediction counts, 0 .. ctx−2
     * @param scorer      computes the NLLs of a batch (for example {@code model::nll})
     * @param progress    called after each batch, or null
     * @return the windows and predictions scored and their mean NLL
     * @throws IllegalArgumentException if {@code ctx} is below 2, {@code firstScored} is outside 0 .. ctx−2, or
     *                                  {@code ids} is shorter than one window
     */
    public static Result evaluate(int[] ids, int bos, int ctx, int maxWindows, int batch, int firstScored, BatchScorer scorer,
                                  Progress progress) {
        if (ctx < 2) throw new IllegalArgumentException("context must be at least 2 tokens, got " + ctx);
        if (batch < 1) throw new IllegalArgumentException("batch must be at least 1, got " + batch);
        if (firstScored < 0 || firstScored >= ctx - 1) throw new IllegalArgumentException("first scored position " + firstScored + " outside the window");
        int body = bos >= 0 ? ctx - 1 : ctx;
        List<int[]> windows = new ArrayList<>();
        for (int start = 0; start + body <= ids.length; start += body) {
            int[] w = new int[ctx];
            int off = 0;
            if (bos >= 0) w[off++] = bos;
            System.arraycopy(ids, start, w, off, body);
            windows.add(w);
            if (maxWindows >= 0 && windows.size() >= maxWindows) break;
        }
        if (windows.isEmpty())
            throw new IllegalArgumentException("the text has " + ids.length + " tokens, fewer than one window of " + body);
        double sum = 0;
        long n = 0;
        for (int i = 0; i < windows.size(); i += batch) {
            int nb = Math.min(batch, windows.size() - i);
            int[][] tokens = new int[nb][];
            int[][] targets = new int[nb][ctx];
            for (int b = 0; b < nb; b++) {
                tokens[b] = windows.get(i + b);
                for (int t = 0; t < ctx; t++) targets[b][t] = t + 1 < ctx ? tokens[b][t + 1] : -1;
            }
            float[] nll = scorer.nll(tokens, targets);
            for (int b = 0; b < nb; b++)
                for (int t = firstScored; t + 1 < ctx; t++) { sum += nll[b * ctx + t]; n++; }
            if (progress != null) progress.update(i + nb, windows.size(), sum / n);
        }
        return new Result(windows.size(), n, sum / n);
    }

    /** Per-position NLL of a batch of equal-length sequences: nll[b * len + t] of tokens[b][t + 1] given tokens[b][..t]. */
    public interface BatchScorer {
        /**
         * Scores a batch, as {@link LlamaModel#nll} does.
         *
         * @param tokens  [n_seq][len] token ids
         * @param targets [n_seq][len] the id to predict at each position (the next token), negative where nothing is scored
         * @return n_seq · len NLLs in nats, row-major; values at ignored positions are not read
         */
        float[] nll(int[][] tokens, int[][] targets);
    }

    /**
     * llama.cpp's llama-perplexity method: the whole text tokenized once ({@code tokens}, BOS first when the vocabulary adds
     * it), cut into chunks of ctx tokens (tokens.length / ctx of them, or maxChunks), the first token of each chunk replaced by
     * BOS when the vocabulary adds BOS (bos ≥ 0), and only the predictions of positions ctx/2 .. ctx−2 scored (the second
     * half). At least 2·ctx tokens are needed, as there.
     *
     * @param tokens    the whole text's token ids, BOS first when the vocabulary adds it
     * @param bos       the BOS id that replaces each chunk's first token, or negative to keep the chunks as they are
     * @param ctx       the chunk length in tokens, ≥ 4
     * @param maxChunks the most chunks to score, or a negative number for all (0 scores nothing: the mean is NaN)
     * @param batch     chunks per {@code scorer} call, ≥ 1
     * @param scorer    computes the NLLs of a batch (for example {@code model::nll})
     * @param progress  called after each batch, or null
     * @return the chunks and predictions scored (ctx − 1 − ctx/2 per chunk) and their mean NLL
     * @throws IllegalArgumentException if {@code ctx} is below 4 or {@code tokens} holds fewer than 2·ctx tokens
     */
    public static Result secondHalf(int[] tokens, int bos, int ctx, int maxChunks, int batch, BatchScorer scorer, Progress progress) {
        if (ctx < 4) throw new IllegalArgumentException("context must be at least 4 tokens for --second-half, got " + ctx);
        if (batch < 1) throw new IllegalArgumentException("batch must be at least 1, got " + batch);
        if (tokens.length < 2L * ctx)
            throw new IllegalArgumentException("the text has " + tokens.length + " tokens; scoring the second half of chunks of " + ctx
                    + " needs at least " + 2L * ctx + " (as llama-perplexity)");
        int nChunks = tokens.length / ctx;
        if (maxChunks >= 0) nChunks = Math.min(nChunks, maxChunks);
        int first = ctx / 2;
        double sum = 0;
        long n = 0;
        for (int i = 0; i < nChunks; i += batch) {
            int nb = Math.min(batch, nChunks - i);
            int[][] toks = new int[nb][];
            int[][] targets = new int[nb][ctx];
            for (int b = 0; b < nb; b++) {
                int start = (i + b) * ctx;
                toks[b] = java.util.Arrays.copyOfRange(tokens, start, start + ctx);
                if (bos >= 0) toks[b][0] = bos;
                for (int t = 0; t < ctx; t++) targets[b][t] = t >= first && t + 1 < ctx ? tokens[start + t + 1] : -1;
            }
            float[] nll = scorer.nll(toks, targets);
            for (int b = 0; b < nb; b++)
                for (int t = first; t + 1 < ctx; t++) { sum += nll[b * ctx + t]; n++; }
            if (progress != null) progress.update(i + nb, nChunks, sum / n);
        }
        return new Result(nChunks, n, sum / n);
    }
}
