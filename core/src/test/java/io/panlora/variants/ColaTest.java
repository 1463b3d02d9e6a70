package io.panlora.variants;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.panlora.data.ReadOptions;
import io.panlora.gguf.GgmlType;
import io.panlora.gguf.GgufFile;
import io.panlora.lora.AdapterGguf;
import io.panlora.lora.LoraSet;
import io.panlora.model.LlamaConfig;
import io.panlora.model.LlamaModel;
import io.panlora.model.ModelInit;
import io.panlora.testing.SharedData;
import io.panlora.train.BatchSource;
import io.panlora.train.LoraRun;
import io.panlora.train.LrSchedule;
import io.panlora.train.TrainConfig;
import io.panlora.train.TrainHook;
import io.panlora.train.TrainListener;
import io.panlora.train.Trainer;
import io.panlora.variants.cola.ColaChain;
import io.panlora.variants.cola.ColaConfig;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Chain of LoRA: link boundaries and options, knots that leave the model function unchanged, a forward cost that does not
 * grow with the links, learning-rate restarts, exact resume, training and export.
 */
class ColaTest {
    @TempDir
    Path dir;

    /** A tiny random model with a quantized base (vocab 40, dim 32, 2 layers, context 16). */
    static final LlamaConfig TINY = new LlamaConfig("llama", 40, 32, 2, 4, 2, 8, 64, 16, 8, 10000f, 1f, 1e-5f, LlamaConfig.ROPE_NORMAL);

    @Test
    void linksSplitTheRunEvenly() {
        ColaConfig c = new ColaConfig(3);
        assertEquals(0, c.linkStart(0, 30));
        assertEquals(10, c.linkStart(1, 30));
        assertEquals(20, c.linkStart(2, 30));
        assertEquals(0, c.linkOf(9, 30));
        assertEquals(1, c.linkOf(10, 30));
        assertEquals(2, c.linkOf(29, 30));
    }

    @Test
    void optionsHaveTheDocumentedDefaultsAndAreChecked() {
        assertEquals(new ColaConfig(3, false, 0, ColaConfig.Fold.SLOTS), new ColaConfig(3));
        assertEquals(new ColaConfig(3), ColaConfig.defaults());
        ColaConfig step = new ColaConfig(4, false, 3, ColaConfig.Fold.DENSE);
        assertArrayEquals(new int[] {8, 5, 2, 1}, new int[] {step.linkRank(0, 8), step.linkRank(1, 8), step.linkRank(2, 8), step.linkRank(3, 8)});
        assertEquals(8, new ColaConfig(4).linkRank(3, 8), "no rank step: every link has rank r");
        assertEquals(1, new ColaConfig(ColaConfig.MAX, false, ColaConfig.MAX, ColaConfig.Fold.SLOTS).linkRank(ColaConfig.MAX - 1, 8),
                "no overflow at the limits");
        assertThrows(IllegalArgumentException.class, () -> new ColaConfig(0));
        assertThrows(IllegalArgumentException.class, () -> new ColaConfig(ColaConfig.MAX + 1));
        assertThrows(IllegalArgumentException.class, () -> new ColaConfig(3, false, -1, ColaConfig.Fold.DENSE));
        assertThrows(IllegalArgumentException.class, () -> new ColaConfig(3, false, ColaConfig.MAX + 1, ColaConfig.Fold.DENSE));
        assertThrows(IllegalArgumentException.class, () -> new ColaConfig(3, true, 0, null));
    }

    @ParameterizedTest
    @EnumSource(ColaConfig.Fold.class)
    void aKnotLeavesTheModelFunctionUnchanged(ColaConfig.Fold fold) {
        Arena arena = Arena.ofShared();
        try (LlamaModel m = LlamaModel.fromWeights(TINY, ModelInit.randomWeights(TINY, GgmlType.Q8_0, 1, false, arena), arena);
             LoraSet set = new LoraSet(m)) {
            ColaChain chain = new ColaChain(new ColaConfig(3, false, 1, fold)); // ranks 4, 3, 2
            TrainConfig cfg = TrainConfig.builder().lora(4, 8f).targets("all").steps(9).batch(1, 8, 1).build();
            chain.addSlots(set, cfg);
            set.attach();
            int modules = chain.linkSlots(0).size();
            assertEquals(3 * modules, set.slots().size());
            assertEquals(modules, enabled(set), "only link 0 is on at the start");
            SplittableRandom r = new SplittableRandom(2);
            int[][] tok = {{1, 2, 3, 4, 5, 6, 7, 8}};
            Trainer t = new Trainer(m, set, cfg, null, List.of(), null, null);
            for (int k = 1; k < 3; k++) {
                learn(set, chain.linkSlots(k - 1), r); // the finished link has learned something
                float[] before = m.logits(tok);
                chain.beforeStep(t, 3 * k); // steps 3..5 are link 1, 6..8 link 2: a knot
                assertEquals(k, chain.currentLink());
                assertClose(before, m.logits(tok), "tying knot " + k + " must not change the model");
                assertEquals(fold == ColaConfig.Fold.DENSE ? modules : (k + 1) * modules, enabled(set),
                        "DENSE: one slot per module on, whatever the link; SLOTS: one per link so far");
                for (LoraSet.Slot s : chain.linkSlots(k)) {
                    assertEquals(4 - k, s.rank(), "the rank steps down");
                    assertEquals(8f / (4 - k), set.scale(s), "scale alpha/r of the link's rank");
                    assertTrue(set.enabled(s));
                }
            }
            learn(set, chain.linkSlots(2), r);
            float[] trained = m.logits(tok);
            chain.onEnd(t); // the chain unfolded into its slots: the adapter is the whole chain
            assertEquals(3 * modules, enabled(set));
            assertClose(trained, m.logits(tok), "unfolding must not change the model");
            float[] alpha = new float[1];
            assertEquals(4 + 3 + 2, AdapterGguf.collect(set, alpha).get("blk.0.attn_q.weight").rank(), "the export stacks the links");
        }
    }

    @Test
    void aDenseChainKeepsOneSlotPerModuleOnAndExportsTheTrainedModel() throws Exception {
        Arena arena = Arena.ofShared();
        try (LlamaModel m = LlamaModel.fromWeights(TINY, ModelInit.randomWeights(TINY, GgmlType.Q8_0, 3, false, arena), arena);
             LoraSet set = new LoraSet(m)) {
            ColaChain chain = new ColaChain(new ColaConfig(3, false, 0, ColaConfig.Fold.DENSE));
            TrainConfig cfg = TrainConfig.builder().lora(4, 8f).targets("all").lr(2e-2f, LrSchedule.Kind.COSINE, 2, 0.1f).steps(12)
                    .batch(2, 8, 1).seed(7).checkpointEvery(0).build();
            chain.addSlots(set, cfg);
            set.attach();
            int modules = chain.linkSlots(0).size();
            int[][] probe = {{3, 1, 4, 1, 5, 9, 2, 6}};
            List<Integer> on = new ArrayList<>();
            float[][] folded = new float[1][];
            Trainer t = new Trainer(m, set, cfg, new RandomBatches(2, 8, 40, 11), List.of(), null, null);
            t.addHook(new TrainHook() { // before the chain's hook: sees the model as the chain has it during training
                @Override
                public void afterStep(Trainer tr, int step) {
                    if (step + 1 == cfg.steps()) folded[0] = m.logits(probe);
                }
            });
            for (TrainHook h : chain.hooks()) t.addHook(h);
            t.addHook(new TrainHook() {
                @Override
                public void beforeStep(Trainer tr, int step) { on.add(enabled(set)); }
            });
            float[] base;
            set.detach();
            base = m.logits(probe);
            set.attach();
            t.run(false);
            assertEquals(12, on.size());
            for (int step = 0; step < 12; step++) assertEquals(modules, on.get(step), "slots on (forward cost) at step " + step);
            assertEquals(2, chain.currentLink());
            assertTrue(maxDiff(base, folded[0]) > 1e-2, "the chain changed the model: " + maxDiff(base, folded[0]));
            assertClose(folded[0], m.logits(probe), "the unfolded chain is the trained model");
            Path adapter = dir.resolve("cola.gguf");
            AdapterGguf.write(adapter, set, m.config(), GgmlType.F32, "cola");
            try (GgufFile f = GgufFile.open(adapter)) {
                assertEquals(12, f.tensor("blk.1.ffn_down.weight.lora_b").ne()[0], "three links of rank 4 export as rank 12");
            }
            set.detach();
            try (LoraSet loaded = new LoraSet(m)) {
                AdapterGguf.load(adapter, loaded, 1f);
                loaded.attach();
                assertClose(folded[0], m.logits(probe), "the exported adapter reproduces the trained model");
            }
        }
    }

    @Test
    void theLearningRateContinuesOrRestartsPerLink() throws Exception {
        TrainConfig cfg = TrainConfig.builder().lora(2, 4f).targets("q,v").lr(1e-2f, LrSchedule.Kind.COSINE, 2, 0.1f).steps(10)
                .batch(1, 8, 1).seed(3).checkpointEvery(0).build();
        for (boolean restart : new boolean[] {false, true}) {
            ColaConfig cc = new ColaConfig(3, restart, 0, ColaConfig.Fold.DENSE);
            List<Double> lrs = trainLrs(cfg, new ColaChain(cc), List.of());
            for (int step = 0; step < 10; step++) {
                int k = cc.linkOf(step, 10), start = cc.linkStart(k, 10), end = k < 2 ? cc.linkStart(k + 1, 10) : 10;
                float want = restart ? LrSchedule.at(LrSchedule.Kind.COSINE, 1e-2f, step - start, end - start, 2, 0.1f)
                        : LrSchedule.at(LrSchedule.Kind.COSINE, 1e-2f, step, 10, 2, 0.1f);
                assertEquals(want, lrs.get(step), 0, (restart ? "restarted" : "continued") + " schedule at step " + step);
            }
            if (restart) assertEquals(lrs.get(0), lrs.get(cc.linkStart(1, 10)), 0, "warmup again at a link's first step");
        }
    }

    @Test
    void hooksCanChangeTheLearningRateInTurn() throws Exception {
        TrainConfig cfg = TrainConfig.builder().lora(2, 4f).targets("q").lr(1e-2f, LrSchedule.Kind.LINEAR, 0, 0f).steps(4).batch(1, 8, 1)
                .checkpointEvery(0).build();
        TrainHook half = new TrainHook() {
            @Override
            public float learningRate(Trainer t, int step, float lr) { return lr / 2; }
        };
        TrainHook plusStep = new TrainHook() {
            @Override
            public float learningRate(Trainer t, int step, float lr) { return lr + step; }
        };
        List<Double> lrs = trainLrs(cfg, io.panlora.train.TrainingStrategy.LORA, List.of(half, plusStep));
        for (int step = 0; step < 4; step++)
            assertEquals(LrSchedule.at(LrSchedule.Kind.LINEAR, 1e-2f, step, 4, 0, 0f) / 2 + step, lrs.get(step), 0, "step " + step);
    }

    @ParameterizedTest
    @EnumSource(ColaConfig.Fold.class)
    void aCancelledAndResumedChainEqualsTheWholeRunBitForBit(ColaConfig.Fold fold) throws Exception {
        TrainConfig cfg = TrainConfig.builder().lora(4, 8f).targets("all").lr(2e-2f, LrSchedule.Kind.COSINE, 1, 0.1f).steps(12)
                .batch(2, 8, 1).seed(9).checkpointEvery(4).build();
        ColaConfig cc = new ColaConfig(3, true, 1, fold);
        List<float[]> whole = trainFactors(cfg, cc, dir.resolve("whole"), -1, false);
        for (int stopAt : new int[] {4, 6, 9}) { // at a knot, inside link 1, inside link 2
            Path run = dir.resolve(fold + "-" + stopAt);
            trainFactors(cfg, cc, run, stopAt, false);
            List<float[]> resumed = trainFactors(cfg, cc, run, -1, true);
            assertEquals(whole.size(), resumed.size());
            for (int i = 0; i < whole.size(); i++)
                assertArrayEquals(whole.get(i), resumed.get(i), "factor " + i + " after a resume at step " + stopAt);
        }
    }

    @Test
    void chainTrainsAndExportsTheSumOfItsLinks() throws Exception {
        Path model = SharedData.require("stories260K.gguf");
        Path data = dir.resolve("shakespeare.txt");
        Files.writeString(data, Files.readString(SharedData.require("tinyshakespeare.txt")).substring(0, 120_000));
        TrainConfig cfg = TrainConfig.builder().lora(8, 16f).targets("q,k,v,o").lr(3e-3f, LrSchedule.Kind.COSINE, 2, 0.1f).steps(30)
                .batch(4, 128, 1).seed(5).eval(0, 4).checkpointEvery(0).build();
        LoraRun.Summary s = LoraRun.run(new LoraRun.Options(model, data, null, 0.1, cfg, 0, ReadOptions.defaults(), GgmlType.F32,
                dir.resolve("run"), false, null, new ColaChain(new ColaConfig(3))));
        assertTrue(s.result().valAfter() < s.result().valBefore() - 0.5, "COLA training lowers held-out loss: " + s.result());
        try (GgufFile f = GgufFile.open(s.adapter())) {
            assertEquals(24, f.tensor("blk.0.attn_q.weight.lora_b").ne()[0], "three links of rank 8 export as rank 24");
        }
        // the exported sum of links reproduces the trained model's held-out loss
        try (LlamaModel m = LlamaModel.load(model); LoraSet set = new LoraSet(m)) {
            io.panlora.lora.AdapterGguf.load(s.adapter(), set, 1f);
            set.attach();
            var tok = io.panlora.model.TokenizerLoader.fromGguf(m.gguf().orElseThrow());
            var ds = io.panlora.data.Dataset.load(data, null, tok, ReadOptions.defaults(),
                    new io.panlora.data.Packer(128, false, io.panlora.data.Packer.padIdFor(tok)), 0.1, 5);
            List<BatchSource.Batch> val = io.panlora.train.DatasetBatches.validation(ds, 4, 4);
            assertEquals(s.result().valAfter(), Trainer.evaluate(m, val), 1e-4);
        }
    }

    /**
     * Trains a chain on the tiny model (a fresh one each call, same seed) in outDir; stops (cancels) after {@code stopAfter}
     * steps when that is positive; returns every slot's A and B at the end.
     */
    private static List<float[]> trainFactors(TrainConfig cfg, ColaConfig cc, Path outDir, int stopAfter, boolean resume)
            throws Exception {
        Arena arena = Arena.ofShared();
        try (LlamaModel m = LlamaModel.fromWeights(TINY, ModelInit.randomWeights(TINY, GgmlType.Q8_0, 5, false, arena), arena);
             LoraSet set = new LoraSet(m)) {
            ColaChain chain = new ColaChain(cc);
            chain.addSlots(set, cfg);
            set.attach();
            Trainer t = new Trainer(m, set, cfg, new RandomBatches(cfg.batch(), cfg.ctx(), 40, 13), List.of(), outDir, null);
            for (TrainHook h : chain.hooks()) t.addHook(h);
            int[] done = {0};
            t.listener(new TrainListener() {
                @Override
                public void stepped(int step, int steps, double loss, double lr, double gradNorm, double tps) { done[0] = step; }

                @Override
                public boolean cancelled() { return stopAfter > 0 && done[0] >= stopAfter; }
            });
            Trainer.Result r = t.run(resume);
            assertEquals(stopAfter > 0, r.cancelled());
            List<float[]> out = new ArrayList<>();
            for (LoraSet.Slot s : set.slots()) {
                out.add(set.getA(s));
                out.add(set.getB(s));
            }
            return out;
        }
    }

    /** The learning rate of every step of a short run on the tiny model. */
    private static List<Double> trainLrs(TrainConfig cfg, io.panlora.train.TrainingStrategy strategy, List<TrainHook> extra) throws Exception {
        Arena arena = Arena.ofShared();
        try (LlamaModel m = LlamaModel.fromWeights(TINY, ModelInit.randomWeights(TINY, GgmlType.Q8_0, 5, false, arena), arena);
             LoraSet set = new LoraSet(m)) {
            strategy.addSlots(set, cfg);
            set.attach();
            Trainer t = new Trainer(m, set, cfg, new RandomBatches(cfg.batch(), cfg.ctx(), 40, 1), List.of(), null, null);
            for (TrainHook h : strategy.hooks()) t.addHook(h);
            for (TrainHook h : extra) t.addHook(h);
            List<Double> lrs = new ArrayList<>();
            t.listener(new TrainListener() {
                @Override
                public void stepped(int step, int steps, double loss, double lr, double gradNorm, double tps) { lrs.add(lr); }
            });
            t.run(false);
            return lrs;
        }
    }

    /** Random token windows, a deterministic function of the seed and the position (so a resume sees the same data). */
    static final class RandomBatches implements BatchSource {
        private final int batch, ctx, vocab;
        private final long seed;
        private long pos;

        RandomBatches(int batch, int ctx, int vocab, long seed) {
            this.batch = batch;
            this.ctx = ctx;
            this.vocab = vocab;
            this.seed = seed;
        }

        @Override
        public Batch next() {
            SplittableRandom r = new SplittableRandom(seed * 1_000_003L + pos++);
            int[][] in = new int[batch][ctx], tg = new int[batch][ctx];
            for (int s = 0; s < batch; s++) {
                int[] seq = new int[ctx + 1];
                seq[0] = r.nextInt(vocab);
                for (int i = 1; i <= ctx; i++) seq[i] = r.nextInt(4) == 0 ? r.nextInt(vocab) : (seq[i - 1] * 7 + 3) % vocab; // learnable
                System.arraycopy(seq, 0, in[s], 0, ctx);
                System.arraycopy(seq, 1, tg[s], 0, ctx);
            }
            return new Batch(in, tg);
        }

        @Override
        public long[] position() { return new long[] {pos}; }

        @Override
        public void seek(long[] position) { pos = position[0]; }
    }

    /** Gives the slots random B (as if trained). */
    private static void learn(LoraSet set, List<LoraSet.Slot> slots, SplittableRandom r) {
        for (LoraSet.Slot s : slots) {
            float[] b = new float[(int) s.bLength()];
            for (int i = 0; i < b.length; i++) b[i] = (float) r.nextGaussian() * 0.1f;
            set.setWeights(s, null, b);
        }
    }

    private static int enabled(LoraSet set) {
        return (int) set.slots().stream().filter(set::enabled).count();
    }

    private static double maxDiff(float[] x, float[] y) {
        double d = 0;
        for (int i = 0; i < x.length; i++) d = Math.max(d, Math.abs(x[i] - y[i]));
        return d;
    }

    /** Equal within float rounding: max |x − y| ≤ 1e-5 · (1 + max |x|). */
    private static void assertClose(float[] want, float[] got, String what) {
        assertEquals(want.length, got.length);
        double scale = 0;
        for (float v : want) scale = Math.max(scale, Math.abs(v));
        double d = maxDiff(want, got);
        assertTrue(d <= 1e-5 * (1 + scale), what + ": max |Δ logit| " + d + " (max |logit| " + scale + ")");
    }
}
