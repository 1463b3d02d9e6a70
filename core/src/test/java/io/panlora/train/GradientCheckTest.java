package io.panlora.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.panlora.gguf.GgmlType;
import io.panlora.lora.LoraSet;
import io.panlora.lora.Target;
import io.panlora.model.LlamaConfig;
import io.panlora.model.LlamaModel;
import io.panlora.model.ModelInit;
import io.panlora.model.WeightKind;
import io.panlora.model.WeightTensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Finite-difference checks of the engine's gradients through the whole model: every LoRA factor of every target
 * (several slots, frozen factors, masked layers, GQA, quantized base) and, in FULL mode, every weight kind.
 */
class GradientCheckTest {
    static final int SEQ = 2, T = 7;

    static LlamaConfig tinyGqa() {
        return new LlamaConfig("llama", 37, 32, 3, 4, 2, 8, 64, 16, 8, 10000f, 1f, 1e-5f, LlamaConfig.ROPE_NORMAL);
    }

    static int[][][] batch(LlamaConfig c, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[][] tok = new int[SEQ][T], tgt = new int[SEQ][T];
        for (int s = 0; s < SEQ; s++)
            for (int t = 0; t < T; t++) {
                tok[s][t] = r.nextInt((int) c.nVocab());
                tgt[s][t] = (s == 1 && t == 2) ? -1 : r.nextInt((int) c.nVocab()); // one ignored target
            }
        return new int[][][] {tok, tgt};
    }

    static double lossSum(LlamaModel m, int[][][] b) {
        float[] nll = m.nll(b[0], b[1]);
        double s = 0;
        for (float v : nll) s += v;
        return s;
    }

    static void check(double analytic, double numeric, String what, List<String> failures) {
        if (Math.abs(analytic - numeric) > 5e-3 + 3e-2 * Math.abs(numeric))
            failures.add(String.format("%s: analytic %.6f numeric %.6f", what, analytic, numeric));
    }

    /** Indices to probe: the largest |g| entries and a few random ones. */
    static int[] probes(float[] g, SplittableRandom r, int n) {
        List<Integer> idx = new ArrayList<>();
        int best = 0;
        for (int i = 1; i < g.length; i++) if (Math.abs(g[i]) > Math.abs(g[best])) best = i;
        idx.add(best);
        while (idx.size() < n) idx.add(r.nextInt(g.length));
        return idx.stream().mapToInt(Integer::intValue).toArray();
    }

    @ParameterizedTest(name = "LoRA over {0} base")
    @ValueSource(strings = {"F32", "Q8_0"})
    void loraGradientsMatchFiniteDifferences(String baseType) {
        LlamaConfig c = tinyGqa();
        Arena arena = Arena.ofShared();
        Map<String, WeightTensor> w = ModelInit.randomWeights(c, GgmlType.valueOf(baseType), 5, true, arena);
        scaleUp(w, arena);
        try (LlamaModel m = LlamaModel.fromWeights(c, w, arena); LoraSet set = new LoraSet(m)) {
            SplittableRandom r = new SplittableRandom(9);
            List<LoraSet.Slot> slots = new ArrayList<>();
            for (int l = 0; l < c.nLayer(); l++)
                for (Target t : Target.values()) slots.add(set.addSlot(l, t, 3, 0.7f));
            LoraSet.Slot extra = set.addSlot(1, Target.ATTN_V, 2, 1.3f); // a second slot on one target
            slots.add(extra);
            for (LoraSet.Slot s : slots) set.setWeights(s, rand(r, s.aLength(), 0.3), rand(r, s.bLength(), 0.3));
            set.setFlags(slots.get(3), 0.7f, false, true, true);   // layer 0 attn_output: A frozen
            set.setFlags(slots.get(8), 0.7f, true, false, true);   // layer 1 attn_k: B frozen
            set.setLayerEnabled(2, false);                         // layer 2 masked off
            set.attach();
            int[][][] b = batch(c, 3);
            try (StepEngine e = new StepEngine(m, SEQ, T, StepEngine.Mode.LORA, false)) {
                e.zeroGrad();
                e.accumulate(b[0], b[1], 1f);
                List<String> failures = new ArrayList<>();
                int checked = 0;
                for (LoraSet.Slot s : slots) {
                    float[] a = set.getA(s), bb = set.getB(s), ga = set.gradA(s), gb = set.gradB(s);
                    boolean masked = s.layer() == 2;
                    for (int i : probes(ga, r, 3)) {
                        double num = fd(m, set, s, a, bb, true, i, b);
                        double want = masked || s == slots.get(3) ? 0 : num;
                        check(ga[i], want, "slot " + s + " dA[" + i + "]", failures);
                        checked++;
                    }
                    for (int i : probes(gb, r, 3)) {
                        double num = fd(m, set, s, a, bb, false, i, b);
                        double want = masked || s == slots.get(8) ? 0 : num;
                        check(gb[i], want, "slot " + s + " dB[" + i + "]", failures);
                        checked++;
                    }
                }
                assertTrue(failures.isEmpty(), checked + " probes, failures:\n" + String.join("\n", failures));
            }
        }
    }

    private static double fd(LlamaModel m, LoraSet set, LoraSet.Slot s, float[] a, float[] b, boolean isA, int i, int[][][] batch) {
        float[] v = isA ? a : b;
        float orig = v[i];
        double h = 1e-2;
        v[i] = (float) (orig + h);
        set.setWeights(s, isA ? v : null, isA ? null : v);
        double lp = lossSum(m, batch);
        v[i] = (float) (orig - h);
        set.setWeights(s, isA ? v : null, isA ? null : v);
        double lm = lossSum(m, batch);
        v[i] = orig;
        set.setWeights(s, isA ? v : null, isA ? null : v);
        return (lp - lm) / (2 * h);
    }

    @Test
    void fullGradientsMatchFiniteDifferences() {
        LlamaConfig c = tinyGqa();
        Arena arena = Arena.ofShared();
        Map<String, WeightTensor> w = ModelInit.randomWeights(c, GgmlType.F32, 11, false, arena);
        scaleUp(w, arena);
        try (LlamaModel m = LlamaModel.fromWeights(c, w, arena); StepEngine e = new StepEngine(m, SEQ, T, StepEngine.Mode.FULL, true)) {
            int[][][] b = batch(c, 4);
            e.zeroGrad();
            e.accumulate(b[0], b[1], 1f);
            SplittableRandom r = new SplittableRandom(2);
            List<String> failures = new ArrayList<>();
            for (WeightKind k : WeightKind.values()) {
                for (int l = 0; l < (k.perLayer ? c.nLayer() : 1); l++) {
                    WeightTensor t = w.get(k.ggufName(l));
                    if (t == null) continue;
                    long n = t.ne0() * t.ne1();
                    float[] g = e.weightGrad(k, l, n);
                    MemorySegment seg = t.data();
                    for (int i : probes(g, r, 3)) {
                        float orig = seg.getAtIndex(ValueLayout.JAVA_FLOAT, i);
                        double h = 1e-2;
                        seg.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (orig + h));
                        double lp = lossSum(m, b);
                        seg.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (orig - h));
                        double lm = lossSum(m, b);
                        seg.setAtIndex(ValueLayout.JAVA_FLOAT, i, orig);
                        check(g[i], (lp - lm) / (2 * h), k.ggufName(l) + "[" + i + "]", failures);
                    }
                }
            }
            assertTrue(failures.isEmpty(), String.join("\n", failures));
        }
    }

    @Test
    void recomputeGivesTheSameGradients() {
        LlamaConfig c = tinyGqa();
        Arena arena = Arena.ofShared();
        Map<String, WeightTensor> w = ModelInit.randomWeights(c, GgmlType.F32, 12, false, arena);
        try (LlamaModel m = LlamaModel.fromWeights(c, w, arena); LoraSet set = new LoraSet(m)) {
            SplittableRandom r = new SplittableRandom(1);
            for (int l = 0; l < c.nLayer(); l++) for (Target t : Target.values()) {
                LoraSet.Slot s = set.addSlot(l, t, 2, 1f);
                set.setWeights(s, rand(r, s.aLength(), 0.2), rand(r, s.bLength(), 0.2));
            }
            set.attach();
            int[][][] b = batch(c, 8);
            float[][] g = new float[2][];
            for (int mode = 0; mode < 2; mode++)
                try (StepEngine e = new StepEngine(m, SEQ, T, StepEngine.Mode.LORA, mode == 1)) {
                    e.zeroGrad();
                    e.accumulate(b[0], b[1], 0.5f);
                    g[mode] = set.gradA(set.slots().get(0));
                }
            assertArrayEquals(g[0], g[1]);
        }
    }

    /** Larger weights than the 0.02 init so that gradients are well above float noise. */
    static void scaleUp(Map<String, WeightTensor> w, Arena arena) {
        for (var e : w.entrySet()) {
            WeightTensor t = e.getValue();
            if (t.type() != GgmlType.F32 || t.ne1() == 1) continue;
            MemorySegment s = t.data();
            for (long i = 0; i < t.ne0() * t.ne1(); i++) s.setAtIndex(ValueLayout.JAVA_FLOAT, i, s.getAtIndex(ValueLayout.JAVA_FLOAT, i) * 10);
        }
    }

    static float[] rand(SplittableRandom r, long n, double std) {
        float[] v = new float[(int) n];
        for (int i = 0; i < v.length; i++) v[i] = (float) (r.nextGaussian() * std);
        return v;
    }
}
