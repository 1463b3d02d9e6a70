package io.panlora.prune;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.panlora.gguf.GgmlType;
import io.panlora.lora.LoraSet;
import io.panlora.lora.Target;
import io.panlora.model.LlamaConfig;
import io.panlora.model.LlamaModel;
import io.panlora.model.ModelInit;
import io.panlora.tensor.LowRank;
import io.panlora.train.BatchSource;
import java.lang.foreign.Arena;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Magnitude, rank and Shapley-layer pruning of adapters. */
class PruneTest {
    static final LlamaConfig C = new LlamaConfig("llama", 40, 32, 3, 4, 2, 8, 64, 8, 8, 10000f, 1f, 1e-5f, LlamaConfig.ROPE_NORMAL);

    static void randomSlots(LoraSet set, int r) {
        SplittableRandom rng = new SplittableRandom(1);
        for (int l = 0; l < C.nLayer(); l++) {
            LoraSet.Slot s = set.addSlot(l, Target.ATTN_Q, r, 0.5f);
            float[] a = new float[(int) s.aLength()], b = new float[(int) s.bLength()];
            for (int i = 0; i < a.length; i++) a[i] = (float) rng.nextGaussian() * 0.3f;
            for (int i = 0; i < b.length; i++) b[i] = (float) (rng.nextGaussian() * 0.3 * (l + 1)); // later layers matter more
            set.setWeights(s, a, b);
        }
    }

    static float[] delta(LoraSet set, int layer) {
        float[] d = new float[32 * 32];
        for (LoraSet.Slot s : set.slots())
            if (s.layer() == layer && set.enabled(s)) LowRank.addProduct(d, set.getB(s), set.getA(s), 32, 32, s.rank(), set.scale(s));
        return d;
    }

    @Test
    void rankPruningKeepsTheTopSingularDirectionsAndMagnitudeKeepsTheLargestEntries() {
        Arena arena = Arena.ofShared();
        try (LlamaModel m = LlamaModel.fromWeights(C, ModelInit.randomWeights(C, GgmlType.F32, 2, false, arena), arena);
             LoraSet set = new LoraSet(m)) {
            randomSlots(set, 6);
            float[] before = delta(set, 0);
            AdapterPrune.rank(set, 6, 1);
            assertArrayEquals(before, delta(set, 0), 1e-6f, "pruning to the same rank changes nothing");
            LowRank.Factors best = LowRank.factor(before, 32, 32, 2, 9);
            float[] want = new float[32 * 32];
            LowRank.addProduct(want, best.b(), best.a(), 32, 32, 2, 1f);
            AdapterPrune.rank(set, 2, 1);
            assertArrayEquals(want, delta(set, 0), 1e-4f, "rank 2 = the best rank-2 approximation");
        }
        Arena arena2 = Arena.ofShared();
        try (LlamaModel m = LlamaModel.fromWeights(C, ModelInit.randomWeights(C, GgmlType.F32, 2, false, arena2), arena2);
             LoraSet set = new LoraSet(m)) {
            randomSlots(set, 32); // full rank: the pruned update is represented exactly
            float[] before = delta(set, 1);
            AdapterPrune.magnitude(set, 0.25, 1);
            float[] after = delta(set, 1);
            int kept = 0;
            for (int i = 0; i < after.length; i++)
                if (Math.abs(after[i]) > 1e-4) { kept++; assertEquals(before[i], after[i], 1e-3f); }
            assertEquals(256, kept, 3, "a quarter of the 1024 entries kept");
        }
    }

    @Test
    void shapleyPruningRemovesTheLeastValuableLayers() {
        Arena arena = Arena.ofShared();
        try (LlamaModel m = LlamaModel.fromWeights(C, ModelInit.randomWeights(C, GgmlType.F32, 2, false, arena), arena);
             LoraSet set = new LoraSet(m)) {
            randomSlots(set, 4);
            set.attach();
            SplittableRandom r = new SplittableRandom(3);
            int[][] tok = new int[2][8], tgt = new int[2][8];
            for (int s = 0; s < 2; s++) for (int t = 0; t < 8; t++) { tok[s][t] = r.nextInt(40); tgt[s][t] = r.nextInt(40); }
            int[] removed = AdapterPrune.layers(m, set, List.of(new BatchSource.Batch(tok, tgt)), 2, 4, 1);
            assertEquals(2, removed.length);
            for (LoraSet.Slot s : set.slots()) {
                boolean isRemoved = s.layer() == removed[0] || s.layer() == removed[1];
                assertEquals(!isRemoved, set.enabled(s));
            }
            assertTrue(removed[0] != removed[1]);
        }
    }

    @Test
    void exactShapleyValuesAreEfficientAgreeWithManyPermutationsAndRestoreTheMasks() {
        Arena arena = Arena.ofShared();
        try (LlamaModel m = LlamaModel.fromWeights(C, ModelInit.randomWeights(C, GgmlType.F32, 2, false, arena), arena);
             LoraSet set = new LoraSet(m)) {
            randomSlots(set, 4);
            set.attach();
            SplittableRandom r = new SplittableRandom(5);
            int[][] tok = new int[2][8], tgt = new int[2][8];
            for (int s = 0; s < 2; s++) for (int t = 0; t < 8; t++) { tok[s][t] = r.nextInt(40); tgt[s][t] = r.nextInt(40); }
            List<BatchSource.Batch> val = List.of(new BatchSource.Batch(tok, tgt));
            set.setLayerEnabled(1, false);
            Shapley.Values ex = Shapley.exact(m, set, val);
            assertTrue(!set.layerEnabled(1) && set.layerEnabled(0) && set.layerEnabled(2), "masks restored");
            assertEquals(0, ex.permutations());
            double sum = 0;
            for (double v : ex.mean()) sum += v;
            assertEquals(ex.lossNone() - ex.lossAll(), sum, 1e-9, "efficiency: the values sum to what the whole adapter removes");
            // with 3 layers there are only 3! = 6 orders: enough permutations average them all out to the exact values
            Shapley.Values mc = Shapley.estimate(m, set, val, 600, 7);
            for (int l = 0; l < 3; l++) assertEquals(ex.mean()[l], mc.mean()[l], 4 * mc.stderr()[l] + 1e-6, "layer " + l);
        }
    }
}
