package io.panlora.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.panlora.gguf.GgmlType;
import io.panlora.tensor.Codec;
import java.lang.foreign.Arena;
import java.util.HashMap;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** The engine's forward against the scalar reference on random models of several shapes and weight types. */
class LlamaForwardTest {

    static Stream<Arguments> shapes() {
        return Stream.of(
                // name, config, type, tolerance vs reference on the engine-dequantized weights
                Arguments.of("odd non-GQA F32", cfg(53, 24, 2, 3, 3, 40, 8, 16f, LlamaConfig.ROPE_NORMAL), GgmlType.F32, 1e-4),
                Arguments.of("GQA F32", cfg(61, 32, 2, 4, 2, 56, 8, 8f, LlamaConfig.ROPE_NORMAL), GgmlType.F32, 1e-4),
                Arguments.of("MQA neox partial rope F32", cfg(40, 48, 1, 4, 1, 64, 12, 6f, LlamaConfig.ROPE_NEOX), GgmlType.F32, 1e-4),
                Arguments.of("F16", cfg(64, 64, 2, 4, 2, 96, 16, 16f, LlamaConfig.ROPE_NORMAL), GgmlType.F16, 1e-4),
                Arguments.of("BF16", cfg(64, 64, 2, 4, 2, 96, 16, 16f, LlamaConfig.ROPE_NORMAL), GgmlType.BF16, 1e-4),
                Arguments.of("Q8_0", cfg(64, 64, 2, 4, 2, 96, 16, 16f, LlamaConfig.ROPE_NORMAL), GgmlType.Q8_0, 1e-4),
                Arguments.of("Q4_0", cfg(64, 64, 2, 4, 4, 96, 16, 16f, LlamaConfig.ROPE_NORMAL), GgmlType.Q4_0, 1e-4),
                Arguments.of("Q4_1", cfg(64, 64, 1, 4, 2, 96, 16, 16f, LlamaConfig.ROPE_NORMAL), GgmlType.Q4_1, 1e-4),
                Arguments.of("Q5_0", cfg(64, 64, 1, 4, 2, 96, 16, 16f, LlamaConfig.ROPE_NORMAL), GgmlType.Q5_0, 1e-4),
                Arguments.of("Q5_1", cfg(64, 64, 1, 4, 2, 96, 16, 16f, LlamaConfig.ROPE_NORMAL), GgmlType.Q5_1, 1e-4),
                Arguments.of("Q2_K", cfg(64, 256, 1, 4, 2, 256, 8, 64f, LlamaConfig.ROPE_NORMAL), GgmlType.Q2_K, 1e-4),
                Arguments.of("Q3_K", cfg(64, 256, 1, 4, 2, 256, 8, 64f, LlamaConfig.ROPE_NORMAL), GgmlType.Q3_K, 1e-4),
                Arguments.of("Q4_K", cfg(64, 256, 1, 4, 2, 256, 8, 64f, LlamaConfig.ROPE_NORMAL), GgmlType.Q4_K, 1e-4),
                Arguments.of("Q5_K", cfg(64, 256, 1, 4, 2, 256, 8, 64f, LlamaConfig.ROPE_NORMAL), GgmlType.Q5_K, 1e-4),
                Arguments.of("Q6_K", cfg(64, 256, 1, 4, 4, 256, 8, 64f, LlamaConfig.ROPE_NORMAL), GgmlType.Q6_K, 1e-4),
                Arguments.of("llama3.1-style rope_freqs F32", cfg(50, 64, 2, 4, 2, 96, 10, 16f, LlamaConfig.ROPE_NORMAL), GgmlType.F32, 1e-4),
                Arguments.of("qwen2-style biases + neox F32", qwen2(cfg(71, 48, 2, 6, 2, 80, 9, 8f, LlamaConfig.ROPE_NEOX)), GgmlType.F32, 1e-4),
                Arguments.of("qwen2-style biases + neox Q8_0", qwen2(cfg(64, 64, 2, 4, 2, 96, 9, 16f, LlamaConfig.ROPE_NEOX)), GgmlType.Q8_0, 1e-4));
    }

    /** The same shape under the qwen2 architecture name: Q/K/V carry biases. */
    static LlamaConfig qwen2(LlamaConfig c) {
        return new LlamaConfig("qwen2", c.nVocab(), c.nEmbd(), c.nLayer(), c.nHead(), c.nHeadKv(), c.headDim(), c.nFf(), c.nCtxTrain(),
                c.nRot(), 1000000f, 1f, 1e-6f, LlamaConfig.ROPE_NEOX);
    }

    /** A config with head_dim = dim / heads and n_rot = rotFraction·head_dim. */
    static LlamaConfig cfg(long vocab, long dim, long layers, long heads, long kv, long ffn, long ctx, float nRot, int rope) {
        long hd = dim / heads;
        return new LlamaConfig("llama", vocab, dim, layers, heads, kv, hd, ffn, ctx, (long) Math.min(nRot, hd), 10000f, 1f, 1e-5f, rope);
    }

    /** Random weights with non-trivial norms (so a wrong norm weight shows), as floats and as engine tensors. */
    static Map<String, WeightTensor> weights(LlamaConfig c, GgmlType type, long seed, Arena arena, Map<String, float[]> dense, boolean untied) {
        SplittableRandom rng = new SplittableRandom(seed);
        Map<String, WeightTensor> out = new HashMap<>();
        for (WeightKind k : WeightKind.values()) {
            if (k == WeightKind.OUTPUT && !untied) continue;
            if (k.name().endsWith("_BIAS") && !c.arch().equals("qwen2")) continue;
            if (k == WeightKind.ROPE_FREQS && c.nVocab() != 50) continue; // only the rope_freqs case carries factors
            for (long l = 0; l < (k.perLayer ? c.nLayer() : 1); l++) {
                long[] sh = k.shape(c);
                float[] v = new float[(int) (sh[0] * sh[1])];
                for (int i = 0; i < v.length; i++)
                    v[i] = k == WeightKind.ROPE_FREQS ? (float) (1 + 7 * rng.nextDouble()) // Llama 3.1's factors lie in [1, 8]
                            : k.isVector() ? (float) (1 + 0.3 * rng.nextGaussian()) : (float) (rng.nextGaussian() * 0.3 / Math.sqrt(sh[0]) * 3);
                WeightTensor t = ModelInit.tensor(v, sh[0], sh[1], k.isVector() ? GgmlType.F32 : type, arena);
                out.put(k.ggufName(l), t);
                dense.put(k.ggufName(l), t.type() == GgmlType.F32 ? v : Codec.dequantize(t.type(), t.data(), v.length));
            }
        }
        return out;
    }

    static double relErr(float[] got, double[][] want, int offset) {
        double maxDiff = 0, maxRef = 0;
        int V = want[0].length;
        for (int t = 0; t < want.length; t++)
            for (int v = 0; v < V; v++) {
                maxDiff = Math.max(maxDiff, Math.abs(got[offset + t * V + v] - want[t][v]));
                maxRef = Math.max(maxRef, Math.abs(want[t][v]));
            }
        return maxDiff / maxRef;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("shapes")
    void logitsMatchReference(String name, LlamaConfig c, GgmlType type, double tol) {
        Map<String, float[]> dense = new HashMap<>();
        Arena arena = Arena.ofShared();
        try (LlamaModel m = LlamaModel.fromWeights(c, weights(c, type, 42, arena, dense, true), arena)) {
            ReferenceLlama ref = new ReferenceLlama(c, dense);
            SplittableRandom rng = new SplittableRandom(7);
            int T = (int) c.nCtxTrain();
            int[][] tokens = new int[2][T];
            for (int[] row : tokens) for (int i = 0; i < T; i++) row[i] = rng.nextInt((int) c.nVocab());
            float[] logits = m.logits(tokens);
            for (int s = 0; s < 2; s++) {
                double err = relErr(logits, ref.logits(tokens[s]), (int) (s * T * c.nVocab()));
                assertTrue(err < tol, name + ": sequence " + s + " relative error " + err + " >= " + tol);
            }
            // incremental decoding with the KV cache reproduces the full forward position by position
            try (KvCache cache = m.newKvCache(T)) {
                int V = (int) c.nVocab();
                float[] first = cache.decode(tokens[1][0], tokens[1][1], tokens[1][2]);
                assertClose(logits, (T + 2) * V, first, 1e-4, name + " decode prefix");
                for (int t = 3; t < T; t++) {
                    float[] step = cache.decode(tokens[1][t]);
                    assertClose(logits, (T + t) * V, step, 1e-4, name + " decode position " + t);
                }
                assertEquals(T, cache.length());
            }
            // per-token NLL agrees with the log-softmax of the reference
            int[][] targets = new int[2][T];
            for (int s = 0; s < 2; s++) for (int t = 0; t < T; t++) targets[s][t] = t + 1 < T ? tokens[s][t + 1] : -1;
            float[] nll = m.nll(tokens, targets);
            double[][] r0 = ref.logits(tokens[0]);
            for (int t = 0; t + 1 < T; t++) {
                double mx = Double.NEGATIVE_INFINITY, z = 0;
                for (double v : r0[t]) mx = Math.max(mx, v);
                for (double v : r0[t]) z += Math.exp(v - mx);
                double want = Math.log(z) + mx - r0[t][targets[0][t]];
                assertEquals(want, nll[t], 1e-3 * Math.max(1, Math.abs(want)), name + " nll at " + t);
            }
            assertEquals(0f, nll[T - 1]);
        }
    }

    /**
     * Decoding under the fast matmul mode — 8-bit activations with integer dots for the quantized types, an F16 KV cache
     * where the head size is a multiple of 8 — against the F32 full forward: within 8e-2 of the largest logit at every
     * position (8-bit rounding of the activations and F16 rounding of the cache; measured 4e-4–2e-3 for the F16 cache
     * alone, 2e-2–5e-2 with 8-bit activations on these random models, whose logits are small), and different from it
     * where those paths ran (AVX-512 machines, which have them all). FastDecodeTest bounds the effect on a real model.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("shapes")
    void fastDecodingStaysNearTheF32Forward(String name, LlamaConfig c, GgmlType type, double tol) {
        Map<String, float[]> dense = new HashMap<>();
        Arena arena = Arena.ofShared();
        try (LlamaModel m = LlamaModel.fromWeights(c, weights(c, type, 42, arena, dense, true), arena)) {
            SplittableRandom rng = new SplittableRandom(11);
            int T = (int) c.nCtxTrain(), V = (int) c.nVocab();
            int[] tokens = new int[T];
            for (int i = 0; i < T; i++) tokens[i] = rng.nextInt(V);
            float[] logits = m.logits(new int[][] {tokens});
            double worst = 0;
            io.panlora.bindings.Native.setMatmul(io.panlora.bindings.Native.Matmul.AUTO);
            try (KvCache cache = m.newKvCache(T)) {
                float[] first = cache.decode(tokens[0], tokens[1], tokens[2]);
                worst = Math.max(worst, relDiff(logits, 2 * V, first));
                for (int t = 3; t < T; t++) worst = Math.max(worst, relDiff(logits, t * V, cache.decode(tokens[t])));
            } finally {
                io.panlora.bindings.Native.setMatmul(io.panlora.bindings.Native.Matmul.F32);
            }
            System.out.printf("fast decoding %s: largest relative logit difference to the F32 forward %.2e%n", name, worst);
            assertTrue(worst < 8e-2, name + ": fast decoding differs from the F32 forward by " + worst);
            boolean fastPaths = c.headDim() % 8 == 0 || type != GgmlType.F32 && type != GgmlType.F16 && type != GgmlType.BF16;
            if (io.panlora.bindings.Native.cpuHasBf16() && fastPaths)
                assertTrue(worst > 0, name + ": the fast paths ran (the logits differ from F32's)");
        }
    }

    static double relDiff(float[] full, int offset, float[] got) {
        double maxDiff = 0, maxRef = 0;
        for (int v = 0; v < got.length; v++) {
            maxDiff = Math.max(maxDiff, Math.abs(full[offset + v] - got[v]));
            maxRef = Math.max(maxRef, Math.abs(full[offset + v]));
        }
        return maxDiff / maxRef;
    }

    static void assertClose(float[] full, int offset, float[] got, double tol, String what) {
        double d = relDiff(full, offset, got);
        assertTrue(d < tol, what + ": relative difference " + d);
    }
}
