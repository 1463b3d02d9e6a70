package io.panlora.generate;

import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Deque;
import java.util.HashSet;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * Picks the next token from logits in llama.cpp's default chain order: repetition penalty over the last
 * {@code repeatLastN} tokens, top-k, top-p (nucleus), min-p, then temperature and a draw; temperature 0 is
 * greedy (argmax after the penalty). Deterministic for a seed.
 *
 * <p>Stateful (a random stream and the recent tokens) and not thread-safe: use one sampler per generation, from one
 * thread.
 */
public final class Sampler {
    private final float temperature;
    private final int topK;
    private final float topP;
    private final float minP;
    private final float repeatPenalty;
    private final int repeatLastN;
    private final Deque<Integer> recent = new ArrayDeque<>();
    private final SplittableRandom rng;

    /**
     * top-k, top-p and temperature only (min-p 0, no repetition penalty).
     *
     * @param temperature ≥ 0; 0 = greedy
     * @param topK        ≥ 0; 0 = no limit
     * @param topP        in (0, 1]; 1 = no limit
     * @param seed        the random seed of the draws
     * @throws IllegalArgumentException if a value is out of range
     */
    public Sampler(float temperature, int topK, float topP, long seed) {
        this(temperature, topK, topP, 0f, 1f, 64, seed);
    }

    /**
     * The full chain. top-p and min-p act on the untempered probabilities of the top-k candidates; the temperature then
     * shapes the draw among the survivors.
     *
     * @param temperature   ≥ 0; 0 = greedy (the other filters then do not matter; the penalty does)
     * @param topK          ≥ 0; 0 = no limit
     * @param topP          in (0, 1]; 1 = no limit
     * @param minP          in [0, 1); 0 = off: drop tokens whose probability is below minP × the top probability
     * @param repeatPenalty &gt; 0; 1 = off: logits of recent tokens divided (positive) or multiplied (negative) by it
     * @param repeatLastN   ≥ 0: how many of the most recent tokens (prompt and generated) the penalty covers; 0 = none
     * @param seed          the random seed of the draws
     * @throws IllegalArgumentException if a value is out of range
     */
    public Sampler(float temperature, int topK, float topP, float minP, float repeatPenalty, int repeatLastN, long seed) {
        if (temperature < 0) throw new IllegalArgumentException("temperature must be >= 0, got " + temperature);
        if (topK < 0) throw new IllegalArgumentException("top-k must be >= 0, got " + topK);
        if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("top-p must be in (0, 1], got " + topP);
        if (!(minP >= 0 && minP < 1)) throw new IllegalArgumentException("min-p must be in [0, 1), got " + minP);
        if (!(repeatPenalty > 0)) throw new IllegalArgumentException("repeat penalty must be > 0, got " + repeatPenalty);
        if (repeatLastN < 0) throw new IllegalArgumentException("repeat-last-n must be >= 0, got " + repeatLastN);
        this.temperature = temperature;
        this.topK = topK;
        this.topP = topP;
        this.minP = minP;
        this.repeatPenalty = repeatPenalty;
        this.repeatLastN = repeatLastN;
        this.rng = new SplittableRandom(seed);
    }

    /**
     * The index of the largest logit (lowest index on ties).
     *
     * @param logits at least one value
     * @return the index of the largest value
     */
    public static int argmax(float[] logits) {
        int best = 0;
        for (int i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
        return best;
    }

    /**
     * Records a token of the context (prompt or generated) for the repetition penalty; only the last
     * {@code repeatLastN} are kept. {@link #sample} records its own choices.
     *
     * @param token a token id
     */
    public void accept(int token) {
        if (repeatLastN == 0) return;
        recent.addLast(token);
        while (recent.size() > repeatLastN) recent.removeFirst();
    }

    /**
     * Samples a token id from logits (not modified) and records it.
     *
     * @param logits raw logits over the vocabulary (at least one)
     * @return the chosen token id, an index into {@code logits}
     */
    public int sample(float[] logits) {
        float[] l = logits;
        if (repeatPenalty != 1f && !recent.isEmpty()) {
            l = logits.clone();
            Set<Integer> seen = new HashSet<>(recent);
            for (int t : seen) if (t >= 0 && t < l.length) l[t] = l[t] > 0 ? l[t] / repeatPenalty : l[t] * repeatPenalty;
        }
        int chosen = temperature == 0f ? argmax(l) : draw(l);
        accept(chosen);
        return chosen;
    }

    private int draw(float[] l) {
        int n = l.length;
        Integer[] idx = new Integer[n];
        for (int i = 0; i < n; i++) idx[i] = i;
        Arrays.sort(idx, (a, b) -> Float.compare(l[b], l[a]) != 0 ? Float.compare(l[b], l[a]) : Integer.compare(a, b));
        int keep = topK > 0 ? Math.min(topK, n) : n;
        double max = l[idx[0]];
        if (topP < 1f || minP > 0f) { // nucleus and min-p over the untempered distribution, as llama.cpp's chain does
            double[] p1 = new double[keep];
            double z = 0;
            for (int i = 0; i < keep; i++) { p1[i] = Math.exp(l[idx[i]] - max); z += p1[i]; }
            if (topP < 1f) {
                double cum = 0;
                for (int i = 0; i < keep; i++) {
                    cum += p1[i] / z;
                    if (cum >= topP) { keep = i + 1; break; }
                }
            }
            if (minP > 0f) {
                int k = 1; // p1[0] is the top probability (unnormalised 1.0)
                while (k < keep && p1[k] >= minP * p1[0]) k++;
                keep = k;
            }
        }
        double[] p = new double[keep];
        double total = 0;
        for (int i = 0; i < keep; i++) { p[i] = Math.exp((l[idx[i]] - max) / temperature); total += p[i]; }
        double r = rng.nextDouble() * total;
        for (int i = 0; i < keep; i++) {
            r -= p[i];
            if (r <= 0) return idx[i];
        }
        return idx[keep - 1];
    }
}
