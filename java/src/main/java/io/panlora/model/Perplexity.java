package io.panlora.model;

import io.panlora.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.List;

/** Windowed perplexity: the token stream (no BOS) cut into windows of ctx−1 tokens, each scored after a BOS. */
public final class Perplexity {
    private Perplexity() {}

    /** Mean NLL over all scored predictions. */
    public record Result(int windows, long predictions, double meanNll) {}

    /** Progress callback: windows done, total windows, running mean NLL. */
    public interface Progress {
        void update(int done, int total, double runningMeanNll);
    }

    /** Scores text with the model in windows of ctx tokens (BOS + ctx−1 text tokens); maxWindows < 0 means all. */
    public static Result evaluate(LlamaModel m, Tokenizer tok, String text, int ctx, int maxWindows, int batch, Progress progress) {
        return evaluate(m, tok, text, ctx, maxWindows, batch, 0, progress);
    }

    /**
     * As above, scoring only the predictions of positions ≥ firstScored of each window (llama.cpp's
     * llama-perplexity scores the second half: firstScored = ctx/2).
     */
    public static Result evaluate(LlamaModel m, Tokenizer tok, String text, int ctx, int maxWindows, int batch, int firstScored,
                                  Progress progress) {
        if (firstScored < 0 || firstScored >= ctx - 1) throw new IllegalArgumentException("first scored position " + firstScored + " outside the window");
        if (ctx < 2) throw new IllegalArgumentException("context must be at least 2 tokens, got " + ctx);
        int[] ids = tok.encode(text, false, false);
        int bos = tok.bos();
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
            float[] nll = m.nll(tokens, targets);
            for (int b = 0; b < nb; b++)
                for (int t = firstScored; t + 1 < ctx; t++) { sum += nll[b * ctx + t]; n++; }
            if (progress != null) progress.update(i + nb, windows.size(), sum / n);
        }
        return new Result(windows.size(), n, sum / n);
    }
}
