package io.panlora.model;

import java.util.Map;

/**
 * An independent, plain scalar LLaMA forward in double precision: the reference the engine is tested against.
 * Weights are dense row-major float arrays by GGUF name, W[o][i] at [o * in + i] (ggml's ne0 = in contiguous).
 */
final class ReferenceLlama {
    private final LlamaConfig c;
    private final Map<String, float[]> w;

    ReferenceLlama(LlamaConfig c, Map<String, float[]> weights) {
        this.c = c;
        this.w = weights;
    }

    /** Logits [T][V] of one sequence. */
    double[][] logits(int[] tokens) {
        int T = tokens.length, D = (int) c.nEmbd(), V = (int) c.nVocab();
        int H = (int) c.nHead(), Hkv = (int) c.nHeadKv(), hd = (int) c.headDim(), F = (int) c.nFf();
        double[][] x = new double[T][D];
        float[] emb = w.get("token_embd.weight");
        for (int t = 0; t < T; t++)
            for (int i = 0; i < D; i++) x[t][i] = emb[tokens[t] * D + i];
        for (int l = 0; l < c.nLayer(); l++) {
            String p = "blk." + l + ".";
            double[][] xn = rmsnorm(x, w.get(p + "attn_norm.weight"));
            double[][] q = linear(xn, w.get(p + "attn_q.weight"), H * hd, w.get(p + "attn_q.bias"));
            double[][] k = linear(xn, w.get(p + "attn_k.weight"), Hkv * hd, w.get(p + "attn_k.bias"));
            double[][] v = linear(xn, w.get(p + "attn_v.weight"), Hkv * hd, w.get(p + "attn_v.bias"));
            rope(q, H);
            rope(k, Hkv);
            double[][] att = new double[T][H * hd];
            for (int h = 0; h < H; h++) {
                int hk = h / (H / Hkv);
                for (int t = 0; t < T; t++) {
                    double[] s = new double[t + 1];
                    double mx = Double.NEGATIVE_INFINITY;
                    for (int u = 0; u <= t; u++) {
                        double d = 0;
                        for (int j = 0; j < hd; j++) d += q[t][h * hd + j] * k[u][hk * hd + j];
                        s[u] = d / Math.sqrt(hd);
                        mx = Math.max(mx, s[u]);
                    }
                    double sum = 0;
                    for (int u = 0; u <= t; u++) { s[u] = Math.exp(s[u] - mx); sum += s[u]; }
                    for (int u = 0; u <= t; u++)
                        for (int j = 0; j < hd; j++) att[t][h * hd + j] += s[u] / sum * v[u][hk * hd + j];
                }
            }
            double[][] o = linear(att, w.get(p + "attn_output.weight"), D, null);
            for (int t = 0; t < T; t++) for (int i = 0; i < D; i++) x[t][i] += o[t][i];
            xn = rmsnorm(x, w.get(p + "ffn_norm.weight"));
            double[][] g = linear(xn, w.get(p + "ffn_gate.weight"), F, null);
            double[][] up = linear(xn, w.get(p + "ffn_up.weight"), F, null);
            for (int t = 0; t < T; t++)
                for (int j = 0; j < F; j++) g[t][j] = g[t][j] / (1 + Math.exp(-g[t][j])) * up[t][j];
            double[][] d = linear(g, w.get(p + "ffn_down.weight"), D, null);
            for (int t = 0; t < T; t++) for (int i = 0; i < D; i++) x[t][i] += d[t][i];
        }
        double[][] xn = rmsnorm(x, w.get("output_norm.weight"));
        float[] out = w.containsKey("output.weight") ? w.get("output.weight") : emb;
        return linear(xn, out, V, null);
    }

    private double[][] rmsnorm(double[][] x, float[] g) {
        double[][] y = new double[x.length][];
        for (int t = 0; t < x.length; t++) {
            double ss = 0;
            for (double v : x[t]) ss += v * v;
            double r = 1 / Math.sqrt(ss / x[t].length + c.normEps());
            y[t] = new double[x[t].length];
            for (int i = 0; i < x[t].length; i++) y[t][i] = x[t][i] * r * g[i];
        }
        return y;
    }

    private static double[][] linear(double[][] x, float[] W, int out, float[] bias) {
        int in = x[0].length;
        if (W.length != (long) in * out) throw new IllegalArgumentException("weight size " + W.length + " != " + in + "x" + out);
        double[][] y = new double[x.length][out];
        for (int t = 0; t < x.length; t++)
            for (int o = 0; o < out; o++) {
                double s = bias == null ? 0 : bias[o];
                for (int i = 0; i < in; i++) s += W[o * in + i] * x[t][i];
                y[t][o] = s;
            }
        return y;
    }

    private void rope(double[][] x, int nHead) {
        int hd = (int) c.headDim(), nRot = (int) c.nRot();
        for (int t = 0; t < x.length; t++)
            for (int h = 0; h < nHead; h++)
                for (int i = 0; i < nRot / 2; i++) {
                    double theta = t * (double) c.ropeFreqScale() * Math.pow(c.ropeFreqBase(), -2.0 * i / nRot);
                    if (w.containsKey("rope_freqs.weight")) theta /= w.get("rope_freqs.weight")[i];
                    int i0 = c.ropeType() == LlamaConfig.ROPE_NEOX ? i : 2 * i;
                    int i1 = c.ropeType() == LlamaConfig.ROPE_NEOX ? i + nRot / 2 : 2 * i + 1;
                    double a = x[t][h * hd + i0], b = x[t][h * hd + i1];
                    x[t][h * hd + i0] = a * Math.cos(theta) - b * Math.sin(theta);
                    x[t][h * hd + i1] = a * Math.sin(theta) + b * Math.cos(theta);
                }
    }
}
