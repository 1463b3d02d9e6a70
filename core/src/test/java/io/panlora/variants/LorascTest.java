package io.panlora.variants;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.panlora.data.ReadOptions;
import io.panlora.gguf.GgmlType;
import io.panlora.lora.AdapterGguf;
import io.panlora.lora.LoraSet;
import io.panlora.lora.Target;
import io.panlora.model.LlamaConfig;
import io.panlora.model.LlamaModel;
import io.panlora.model.ModelInit;
import io.panlora.model.TokenizerLoader;
import io.panlora.model.WeightKind;
import io.panlora.model.WeightTensor;
import io.panlora.tensor.Codec;
import io.panlora.tensor.LowRank;
import io.panlora.testing.SharedData;
import io.panlora.train.DatasetBatches;
import io.panlora.train.LoraRun;
import io.panlora.train.LrSchedule;
import io.panlora.train.StepEngine;
import io.panlora.train.TrainConfig;
import io.panlora.train.TrainHook;
import io.panlora.train.Trainer;
import io.panlora.train.TrainingStrategy;
import io.panlora.variants.lorasc.LorascCascade;
import io.panlora.variants.lorasc.LorascConfig;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.io.TempDir;

/** The engine's dense corrections and LoRASC's cascade. */
class LorascTest {
    @TempDir
    Path dir;

    @Test
    void aDenseCorrectionActsLikeTheEquivalentFrozenSlotForwardAndBackward() {
        LlamaConfig c = new LlamaConfig("llama", 40, 32, 2, 4, 2, 8, 64, 8, 8, 10000f, 1f, 1e-5f, LlamaConfig.ROPE_NORMAL);
        Arena arena = Arena.ofShared();
        SplittableRandom r = new SplittableRandom(4);
        try (LlamaModel m = LlamaModel.fromWeights(c, ModelInit.randomWeights(c, GgmlType.Q8_0, 1, false, arena), arena);
             LoraSet set = new LoraSet(m)) {
            LoraSet.Slot trained = set.addSlot(0, Target.ATTN_V, 2, 1f); // below the correction: its gradient crosses it
            LoraSet.Slot frozen = set.addSlot(1, Target.FFN_UP, 3, 0.7f);
            float[] a = new float[(int) frozen.aLength()], b = new float[(int) frozen.bLength()];
            for (int i = 0; i < a.length; i++) a[i] = (float) r.nextGaussian() * 0.3f;
            for (int i = 0; i < b.length; i++) b[i] = (float) r.nextGaussian() * 0.3f;
            float[] ta = new float[(int) trained.aLength()], tb = new float[(int) trained.bLength()];
            for (int i = 0; i < ta.length; i++) ta[i] = (float) r.nextGaussian() * 0.3f;
            for (int i = 0; i < tb.length; i++) tb[i] = (float) r.nextGaussian() * 0.3f;
            set.setWeights(trained, ta, tb);
            set.setWeights(frozen, a, b);
            set.setFlags(frozen, 0.7f, false, false, true);
            set.attach();
            int[][] tok = {{1, 2, 3, 4, 5, 6, 7, 8}}, tgt = {{2, 3, 4, 5, 6, 7, 8, 9}};
            float[] withSlot = m.logits(tok);
            float[] gradSlot;
            try (StepEngine e = new StepEngine(m, 1, 8, StepEngine.Mode.LORA, false)) {
                e.zeroGrad();
                e.accumulate(tok, tgt, 1f);
                gradSlot = set.gradA(trained);
            }
            // the same update as a dense Δ = 0.7·B·A
            MemorySegment delta = arena.allocate(ValueLayout.JAVA_FLOAT, frozen.out() * frozen.in());
            for (int o = 0; o < frozen.out(); o++)
                for (int i = 0; i < frozen.in(); i++) {
                    double d = 0;
                    for (int j = 0; j < 3; j++) d += b[o * 3 + j] * a[j * (int) frozen.in() + i];
                    delta.setAtIndex(ValueLayout.JAVA_FLOAT, o * frozen.in() + i, (float) (0.7 * d));
                }
            set.setFlags(frozen, 0.7f, false, false, false);
            m.setDelta(WeightKind.FFN_UP, 1, delta);
            float[] withDelta = m.logits(tok);
            for (int i = 0; i < withSlot.length; i++) assertEquals(withSlot[i], withDelta[i], 1e-4, "logit " + i);
            try (StepEngine e = new StepEngine(m, 1, 8, StepEngine.Mode.LORA, false)) {
                e.zeroGrad();
                e.accumulate(tok, tgt, 1f);
                float[] gradDelta = set.gradA(trained);
                for (int i = 0; i < gradSlot.length; i++) assertEquals(gradSlot[i], gradDelta[i], 1e-4 * (1 + Math.abs(gradSlot[i])), "dA " + i);
            }
            m.setDelta(WeightKind.FFN_UP, 1, null);
            set.setFlags(frozen, 0.7f, false, false, true);
            assertArrayEquals(withSlot, m.logits(tok), "clearing the correction restores the model");
        }
    }

    /** What a wrapper around the cascade saw: the noise of step 0, and S and s·B·A just before the cascade's end. */
    private static final class Recorder implements TrainingStrategy, TrainHook {
        final LorascCascade cascade;
        LoraSet set;
        final Map<String, float[]> noise0 = new LinkedHashMap<>(); // Δ at step 0, where S = 0: the noise alone
        final Map<String, float[]> slowBefore = new LinkedHashMap<>(); // S before the last slow update
        final Map<String, float[]> fast = new LinkedHashMap<>(); // s·B·A of the last fast LoRA
        final Map<String, double[]> stdAndShape = new LinkedHashMap<>(); // std W₀, out, in
        double trainedVal = Double.NaN; // the validation loss of the model trained at the last step (noise included)

        Recorder(LorascCascade cascade) { this.cascade = cascade; }

        @Override
        public String name() { return cascade.name(); }

        @Override
        public void addSlots(LoraSet s, TrainConfig c) {
            set = s;
            cascade.addSlots(s, c);
            for (LoraSet.Slot sl : s.slots()) {
                WeightTensor w = s.model().weights().get("blk." + sl.layer() + "." + sl.target().gguf + ".weight");
                int n = (int) (sl.in() * sl.out());
                float[] d = Codec.dequantize(w.type(), w.data(), n);
                double mean = 0, sq = 0;
                for (float v : d) { mean += v; sq += (double) v * v; }
                mean /= n;
                stdAndShape.put(key(sl), new double[] {Math.sqrt(sq / n - mean * mean), sl.out(), sl.in()});
            }
        }

        @Override
        public List<TrainHook> hooks() { return List.of(this, cascade); } // this one's onEnd sees the state before the cascade's

        @Override
        public void afterStep(Trainer t, int step) {
            if (step == 0)
                for (LoraSet.Slot sl : set.slots()) noise0.put(key(sl), cascade.correction(sl.layer(), sl.target()));
        }

        @Override
        public void onEnd(Trainer t) {
            for (var e : cascade.tensorState().entrySet()) slowBefore.put(e.getKey().substring("lorasc.S.".length()), e.getValue().clone());
            for (LoraSet.Slot sl : set.slots()) {
                float[] p = new float[(int) (sl.in() * sl.out())];
                LowRank.addProduct(p, set.getB(sl), set.getA(sl), (int) sl.out(), (int) sl.in(), sl.rank(), set.scale(sl));
                fast.put(key(sl), p);
            }
            trainedVal = t.evaluate();
        }

        static String key(LoraSet.Slot sl) { return sl.layer() + "." + sl.target().gguf; }
    }

    private record Run(LoraRun.Summary summary, Recorder rec, Path model, Path data) {}

    private Run train(LorascConfig lc, int steps, String name) throws Exception {
        Path model = SharedData.require("stories260K.gguf");
        Path data = dir.resolve("shakespeare.txt");
        if (!Files.exists(data)) Files.writeString(data, Files.readString(SharedData.require("tinyshakespeare.txt")).substring(0, 120_000));
        TrainConfig cfg = TrainConfig.builder().lora(4, 8f).targets("q,v").lr(3e-3f, LrSchedule.Kind.COSINE, 2, 0.1f).steps(steps)
                .batch(4, 128, 1).seed(5).eval(0, 4).checkpointEvery(0).build();
        Recorder rec = new Recorder(new LorascCascade(lc));
        LoraRun.Summary s = LoraRun.run(new LoraRun.Options(model, data, null, 0.1, cfg, 0, ReadOptions.defaults(), GgmlType.F32,
                dir.resolve(name), false, null, rec));
        return new Run(s, rec, model, data);
    }

    /** The exported adapter's update s·B·A per module (blk.LAYER.TARGET), and its rank. */
    private static Map<String, float[]> exported(Path base, Path adapter, Map<String, Integer> ranks) throws Exception {
        Map<String, float[]> out = new LinkedHashMap<>();
        try (LlamaModel m = LlamaModel.load(base); LoraSet set = new LoraSet(m)) {
            AdapterGguf.load(adapter, set, 1f);
            for (LoraSet.Slot sl : set.slots()) {
                float[] p = out.computeIfAbsent(Recorder.key(sl), k -> new float[(int) (sl.in() * sl.out())]);
                LowRank.addProduct(p, set.getB(sl), set.getA(sl), (int) sl.out(), (int) sl.in(), sl.rank(), set.scale(sl));
                ranks.merge(Recorder.key(sl), sl.rank(), Integer::sum);
            }
        }
        return out;
    }

    /** S at the end, computed from what the recorder saw: S ← S + α·s·B·A. */
    private static Map<String, float[]> slowAtEnd(Recorder rec, double alpha) {
        Map<String, float[]> out = new LinkedHashMap<>();
        for (var e : rec.slowBefore.entrySet()) {
            float[] s = e.getValue().clone(), f = rec.fast.get(e.getKey());
            for (int i = 0; i < s.length; i++) s[i] += (float) (alpha * f[i]);
            out.put(e.getKey(), s);
        }
        return out;
    }

    private static double frob(float[] a) {
        double d = 0;
        for (float v : a) d += (double) v * v;
        return Math.sqrt(d);
    }

    private static double frobDiff(float[] a, float[] b) {
        double d = 0;
        for (int i = 0; i < a.length; i++) d += ((double) a[i] - b[i]) * ((double) a[i] - b[i]);
        return Math.sqrt(d);
    }

    /** Asserts the exported adapter is S (or its best rank-k approximation when rankOut > 0) on every module. */
    private static void assertExportIsS(Run run, LorascConfig lc, int iterations, int r) throws Exception {
        Map<String, float[]> slow = slowAtEnd(run.rec(), lc.alpha());
        Map<String, Integer> ranks = new LinkedHashMap<>();
        Map<String, float[]> exp = exported(run.model(), run.summary().adapter(), ranks);
        assertEquals(slow.keySet(), exp.keySet(), "one exported update per adapted module");
        for (var e : slow.entrySet()) {
            double[] sh = run.rec().stdAndShape.get(e.getKey());
            int out = (int) sh[1], in = (int) sh[2];
            float[] s = e.getValue(), got = exp.get(e.getKey());
            double norm = frob(s);
            assertTrue(norm > 0, "S of " + e.getKey() + " is not zero");
            int exact = Math.min(iterations * r, Math.min(in, out));
            if (lc.rankOut() == 0) {
                assertEquals(exact, ranks.get(e.getKey()), "the exact export's rank of " + e.getKey());
                assertTrue(frobDiff(s, got) <= 1e-3 * norm, "the export of " + e.getKey() + " is S: |E − S| = " + frobDiff(s, got) + ", |S| = " + norm);
            } else {
                int k = Math.min(lc.rankOut(), Math.min(in, out));
                assertEquals(k, ranks.get(e.getKey()), "the reduced export's rank of " + e.getKey());
                double[] sigma = new double[Math.min(in, out)];
                float[] best = bestRankK(s, out, in, k, sigma);
                double tail = 0;
                for (int i = k; i < sigma.length; i++) tail += sigma[i] * sigma[i];
                // distinct σ_k > σ_k+1 make the best approximation unique (here they differ by 1 % or more)
                assertTrue(sigma[k - 1] > 1.001 * sigma[k], "a spectral gap at " + k + ": " + sigma[k - 1] + " vs " + sigma[k]);
                assertTrue(Math.sqrt(tail) > 1e-2 * norm, "S of " + e.getKey() + " has rank above " + k);
                // Eckart–Young: the error of the best rank-k approximation is the tail of the spectrum
                assertEquals(Math.sqrt(tail), frobDiff(s, got), 1e-3 * norm, "the export's error is the best possible at rank " + k);
                assertTrue(frobDiff(best, got) <= 1e-4 * norm,
                        "the export of " + e.getKey() + " is S's best rank-" + k + " approximation: " + frobDiff(best, got) + " vs |S| " + norm);
            }
        }
    }

    /** The best rank-k approximation U_k U_kᵀ S of S (out × in), from the eigenvectors of S Sᵀ; fills the singular values. */
    private static float[] bestRankK(float[] s, int out, int in, int k, double[] sigma) {
        double[][] g = new double[out][out];
        for (int i = 0; i < out; i++)
            for (int j = 0; j < out; j++) {
                double d = 0;
                for (int x = 0; x < in; x++) d += (double) s[i * in + x] * s[j * in + x];
                g[i][j] = d;
            }
        double[][] v = new double[out][out];
        double[] vals = jacobi(g, v);
        Integer[] order = new Integer[out];
        for (int i = 0; i < out; i++) order[i] = i;
        Arrays.sort(order, (x, y) -> Double.compare(vals[y], vals[x]));
        for (int i = 0; i < sigma.length; i++) sigma[i] = Math.sqrt(Math.max(0, vals[order[i]]));
        float[] res = new float[out * in];
        for (int c = 0; c < k; c++) {
            int e = order[c];
            double[] ut = new double[in]; // u_cᵀ S
            for (int o = 0; o < out; o++) for (int x = 0; x < in; x++) ut[x] += v[o][e] * s[o * in + x];
            for (int o = 0; o < out; o++) for (int x = 0; x < in; x++) res[o * in + x] += (float) (v[o][e] * ut[x]);
        }
        return res;
    }

    /** Cyclic Jacobi eigen-decomposition of a symmetric matrix (destroyed); eigenvectors in the columns of v. */
    private static double[] jacobi(double[][] a, double[][] v) {
        int n = a.length;
        for (int i = 0; i < n; i++) { Arrays.fill(v[i], 0); v[i][i] = 1; }
        for (int sweep = 0; sweep < 100; sweep++) {
            double off = 0, diag = 0;
            for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) if (i != j) off += a[i][j] * a[i][j]; else diag += a[i][i] * a[i][i];
            if (off <= 1e-30 * diag) break;
            for (int p = 0; p < n; p++)
                for (int q = p + 1; q < n; q++) {
                    if (a[p][q] == 0) continue;
                    double theta = (a[q][q] - a[p][p]) / (2 * a[p][q]);
                    double t = Math.signum(theta) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
                    if (theta == 0) t = 1;
                    double c = 1 / Math.sqrt(t * t + 1), sn = t * c;
                    for (int k = 0; k < n; k++) { // A ← A J (columns p, q)
                        double akp = a[k][p], akq = a[k][q];
                        a[k][p] = c * akp - sn * akq;
                        a[k][q] = sn * akp + c * akq;
                    }
                    for (int k = 0; k < n; k++) { // A ← Jᵀ A (rows p, q)
                        double apk = a[p][k], aqk = a[q][k];
                        a[p][k] = c * apk - sn * aqk;
                        a[q][k] = sn * apk + c * aqk;
                    }
                    for (int k = 0; k < n; k++) {
                        double vkp = v[k][p], vkq = v[k][q];
                        v[k][p] = c * vkp - sn * vkq;
                        v[k][q] = sn * vkp + c * vkq;
                    }
                }
        }
        double[] d = new double[n];
        for (int i = 0; i < n; i++) d[i] = a[i][i];
        return d;
    }

    /** The noise of step 0 (S = 0 then) per module: its mean, its variance against the law's, and its range. */
    private static void assertNoiseStatistics(Recorder rec, LorascConfig lc) {
        assertTrue(!rec.noise0.isEmpty());
        for (var e : rec.noise0.entrySet()) {
            float[] n = e.getValue();
            double std = rec.stdAndShape.get(e.getKey())[0];
            assertTrue(std > 0);
            double mean = 0, sq = 0, max = 0;
            for (float v : n) { mean += v; sq += (double) v * v; max = Math.max(max, Math.abs(v)); }
            mean /= n.length;
            double var = sq / n.length - mean * mean, sd = lc.noiseStd(std);
            String what = lc.noise() + " noise of " + e.getKey() + " (" + n.length + " weights, std W " + std + ")";
            assertEquals(sd * sd, var, 0.12 * sd * sd, what + ": variance");
            assertEquals(0, mean, 5 * sd / Math.sqrt(n.length), what + ": mean");
            if (lc.noise() == LorascConfig.Noise.UNIFORM) {
                double half = lc.scale() / 2 * std;
                assertTrue(max <= half * (1 + 1e-6), what + ": |N| = " + max + " exceeds λ/2·std = " + half);
                assertTrue(max > 0.95 * half, what + ": |N| reaches λ/2·std: " + max + " vs " + half);
                assertEquals(sd * sd, (lc.scale() * std) * (lc.scale() * std) / 12, 1e-12, "uniform variance (λ·std)²/12");
            } else {
                assertTrue(max > 2.5 * sd, what + ": Gaussian tails beyond 2.5σ: " + max + " vs σ " + sd);
            }
        }
    }

    @Test
    void cascadeTrainsAndExportsTheSlowWeights() throws Exception {
        LorascConfig lc = new LorascConfig(8, 0.5, 0.01, 5); // the 4-argument form: Gaussian, exact export
        assertEquals(LorascConfig.Noise.GAUSSIAN, lc.noise());
        assertEquals(0, lc.rankOut());
        Run run = train(lc, 24, "run");
        LoraRun.Summary s = run.summary();
        assertEquals(3, run.rec().cascade.iteration(), "three iterations of 8 steps, the last one ended by the run's end");
        assertTrue(s.result().valAfter() < s.result().valBefore() - 0.3, "LoRASC lowers held-out loss: " + s.result());
        assertNoiseStatistics(run.rec(), lc);
        assertExportIsS(run, lc, 3, 4);
        assertNull(run.rec().cascade.correction(0, Target.ATTN_Q), "the run's end clears the dense corrections");
        try (LlamaModel m = LlamaModel.load(run.model()); LoraSet set = new LoraSet(m)) {
            AdapterGguf.load(s.adapter(), set, 1f);
            set.attach();
            var tok = TokenizerLoader.fromGguf(m.gguf().orElseThrow());
            var ds = io.panlora.data.Dataset.load(run.data(), null, tok, ReadOptions.defaults(),
                    new io.panlora.data.Packer(128, false, io.panlora.data.Packer.padIdFor(tok)), 0.1, 5);
            assertEquals(s.result().valAfter(), Trainer.evaluate(m, DatasetBatches.validation(ds, 4, 4)), 2e-3,
                    "the model after the run (W0 + S) is the exported adapter's");
        }
    }

    @ParameterizedTest(name = "alpha {0}, gamma {1}")
    @CsvSource({"1.0, 0.01", "0.5, 0.0", "1.0, 0.0"})
    void ablationsRunAndExportS(double alpha, double gamma) throws Exception {
        LorascConfig lc = new LorascConfig(4, alpha, LorascConfig.Noise.GAUSSIAN, gamma, 0, 9);
        Run run = train(lc, 12, "ablation");
        assertEquals(3, run.rec().cascade.iteration());
        assertTrue(run.summary().result().valAfter() < run.summary().result().valBefore(), "it learns: " + run.summary().result());
        assertExportIsS(run, lc, 3, 4);
        if (gamma == 0) for (float[] n : run.rec().noise0.values()) for (float v : n) assertEquals(0f, v, "γ = 0: no noise");
        if (alpha == 1 && gamma == 0) // then S after the end is S + s·B·A: the model trained at the last step
            assertEquals(run.rec().trainedVal, run.summary().result().valAfter(), 2e-3, "α = 1, γ = 0: the export is the trained model");
    }

    @Test
    void uniformNoiseAndAReducedExportRank() throws Exception {
        LorascConfig lc = new LorascConfig(4, 0.5, LorascConfig.Noise.UNIFORM, LorascConfig.defaultScale(LorascConfig.Noise.UNIFORM), 5, 3);
        Run run = train(lc, 12, "uniform");
        assertNoiseStatistics(run.rec(), lc);
        assertExportIsS(run, lc, 3, 4);
    }

    @Test
    void configChecksEveryValue() {
        LorascConfig d = new LorascConfig(3, 0.5, 0.02, 7);
        assertEquals(new LorascConfig(3, 0.5, LorascConfig.Noise.GAUSSIAN, 0.02, 0, 7), d);
        assertEquals(0.01, LorascConfig.defaultScale(LorascConfig.Noise.GAUSSIAN));
        assertEquals(0.15, LorascConfig.defaultScale(LorascConfig.Noise.UNIFORM));
        assertEquals(LorascConfig.Noise.UNIFORM, LorascConfig.Noise.parse(" Uniform"));
        assertEquals(LorascConfig.Noise.GAUSSIAN, LorascConfig.Noise.parse(LorascConfig.Noise.GAUSSIAN.toString()));
        assertThrows(IllegalArgumentException.class, () -> LorascConfig.Noise.parse("laplace"));
        assertThrows(IllegalArgumentException.class, () -> LorascConfig.Noise.parse(null));
        assertThrows(IllegalArgumentException.class, () -> LorascConfig.defaultScale(null));
        new LorascConfig(1, 1.0, LorascConfig.Noise.UNIFORM, 0, 0, 0); // the edges are allowed
        for (Runnable bad : List.<Runnable>of(
                () -> new LorascConfig(0, 0.5, 0.01, 1),
                () -> new LorascConfig(1, 0, 0.01, 1),
                () -> new LorascConfig(1, 1.0001, 0.01, 1),
                () -> new LorascConfig(1, Double.NaN, 0.01, 1),
                () -> new LorascConfig(1, 0.5, -0.01, 1),
                () -> new LorascConfig(1, 0.5, Double.NaN, 1),
                () -> new LorascConfig(1, 0.5, Double.POSITIVE_INFINITY, 1),
                () -> new LorascConfig(1, 0.5, null, 0.01, 0, 1),
                () -> new LorascConfig(1, 0.5, LorascConfig.Noise.UNIFORM, -1, 0, 1),
                () -> new LorascConfig(1, 0.5, LorascConfig.Noise.GAUSSIAN, 0.01, -1, 1)))
            assertThrows(IllegalArgumentException.class, bad::run);
        assertThrows(IllegalArgumentException.class, () -> new LorascCascade(null));
    }

    @Test
    void closeClearsTheCorrectionsAndACascadeServesOneRun() {
        LlamaConfig c = new LlamaConfig("llama", 40, 32, 2, 4, 2, 8, 64, 8, 8, 10000f, 1f, 1e-5f, LlamaConfig.ROPE_NORMAL);
        Arena arena = Arena.ofShared();
        try (LlamaModel m = LlamaModel.fromWeights(c, ModelInit.randomWeights(c, GgmlType.Q8_0, 1, false, arena), arena);
             LoraSet set = new LoraSet(m)) {
            int[][] tok = {{1, 2, 3, 4, 5, 6, 7, 8}};
            LorascCascade cascade = new LorascCascade(new LorascConfig(2, 0.5, LorascConfig.Noise.UNIFORM, 0.5, 0, 1));
            TrainConfig cfg = TrainConfig.builder().lora(2, 4f).targets("q,v").steps(4).batch(1, 8, 1).seed(1).build();
            cascade.addSlots(set, cfg);
            set.attach();
            float[] base = m.logits(tok); // the fast LoRA starts with B = 0
            cascade.beforeStep(null, 0); // the first iteration's noise: a run that then throws leaves it on the model
            assertNotNull(cascade.correction(1, Target.ATTN_V));
            assertTrue(!Arrays.equals(base, m.logits(tok)), "the noise is on the backbone");
            cascade.close();
            assertArrayEquals(base, m.logits(tok), "close() restores the base model (B = 0)");
            assertNull(cascade.correction(1, Target.ATTN_V));
            cascade.close(); // idempotent
            assertThrows(IllegalStateException.class, () -> cascade.beforeStep(null, 1));
            assertThrows(IllegalStateException.class, () -> cascade.addSlots(set, cfg));
        }
    }

    /** LoRASC with a hook that fails at step 3 (its noise and slow weights on the backbone by then); closes the cascade. */
    private static final class Failing implements TrainingStrategy, TrainHook, AutoCloseable {
        final LorascCascade cascade;

        Failing(LorascCascade cascade) { this.cascade = cascade; }

        @Override
        public String name() { return cascade.name(); }

        @Override
        public void addSlots(LoraSet s, TrainConfig c) { cascade.addSlots(s, c); }

        @Override
        public List<TrainHook> hooks() { return List.of(cascade, this); }

        @Override
        public void beforeStep(io.panlora.train.Trainer trainer, int step) {
            if (step == 3) throw new IllegalStateException("failing on purpose at step 3");
        }

        @Override
        public void close() { cascade.close(); }
    }

    @Test
    void aFailedRunLeavesTheCallersModelAsItWasLoaded() throws Exception {
        Path model = SharedData.require("stories260K.gguf");
        try (LlamaModel m = LlamaModel.load(model)) {
            int[] tokens = new int[2048];
            for (int i = 0; i < tokens.length; i++) tokens[i] = 1 + (i * 37) % 500;
            var data = io.panlora.data.TrainingData.of(dir.resolve("t.txt"), io.panlora.data.TrainingData.Layout.TOKEN_STREAM,
                    List.of(io.panlora.data.Example.allTrained(tokens)));
            int[][] probe = {{1, 5, 9, 13, 17, 21, 25, 29}};
            float[] before = m.logits(probe);
            TrainConfig cfg = TrainConfig.builder().lora(4, 8f).targets("q,v").lr(1e-2f, LrSchedule.Kind.CONSTANT, 0, 1f).steps(8)
                    .batch(2, 64, 1).seed(3).eval(0, 0).checkpointEvery(0).build();
            Failing strategy = new Failing(new LorascCascade(new LorascConfig(2, 0.5, LorascConfig.Noise.GAUSSIAN, 0.05, 0, 3)));
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> LoraRun.run(m, new LoraRun.Options(model,
                    dir.resolve("unused.txt"), null, 0.1, cfg, 0, ReadOptions.defaults(), GgmlType.F32, dir.resolve("failed"), false, null,
                    strategy), data, null));
            assertTrue(e.getMessage().contains("on purpose"), e.getMessage());
            assertArrayEquals(before, m.logits(probe), "no noise or slow weights left on the model");
        }
    }
}
