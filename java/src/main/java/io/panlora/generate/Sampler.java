package io.panlora.generate;

import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Picks the next token from logits as llama.cpp's default chain does: top-k, then top-p (nucleus),
 * then temperature; temperature 0 is greedy (argmax). Deterministic for a seed.
 */
public final class Sampler {
    private final float temperature;
    private final int topK;
    private final float topP;
    private final SplittableRandom rng;

    /** @param topK 0 = no limit; @param topP 1 = no limit; @param temperature 0 = greedy */
    public Sampler(float temperature, int topK, float topP, long seed) {
        if (temperature < 0) throw new IllegalArgumentException("temperature must be >= 0, got " + temperature);
        if (topK < 0) throw new IllegalArgumentException("top-k must be >= 0, got " + topK);
        if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("top-p must be in (0, 1], got " + topP);
        this.temperature = temperature;
        this.topK = topK;
        this.topP = topP;
        this.rng = new SplittableRandom(seed);
    }

    /** The index of the largest logit (lowest index on ties). */
    public static int argmax(float[] logits) {
        int best = 0;
        for (int i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
        return best;
    }

    /** Samples a token id from logits. */
    public int sample(float[] logits) {
        if (temperature == 0f) return argmax(logits);
        int n = logits.length;
        Integer[] idx = new Integer[n];
        for (int i = 0; i < n; i++) idx[i] = i;
        Arrays.sort(idx, (a, b) -> Float.compare(logits[b], logits[a]) != 0 ? Float.compare(logits[b], logits[a]) : Integer.compare(a, b));
        int k = topK > 0 ? Math.min(topK, n) : n;
        double max = logits[idx[0]];
        int keep = k;
        if (topP < 1f) { // nucleus over the untempered distribution, as llama.cpp's chain does
            double[] p1 = new double[k];
            double z = 0;
            for (int i = 0; i < k; i++) { p1[i] = Math.exp(logits[idx[i]] - max); z += p1[i]; }
            double cum = 0;
            for (int i = 0; i < k; i++) {
                cum += p1[i] / z;
                if (cum >= topP) { keep = i + 1; break; }
            }
        }
        double[] p = new double[keep];
        for (int i = 0; i < keep; i++) p[i] = Math.exp((logits[idx[i]] - max) / temperature);
        double total = 0;
        for (int i = 0; i < keep; i++) total += p[i];
        double r = rng.nextDouble() * total;
        for (int i = 0; i < keep; i++) {
            r -= p[i];
            if (r <= 0) return idx[i];
        }
        return idx[keep - 1];
    }
}
