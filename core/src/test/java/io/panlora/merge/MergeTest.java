package io.panlora.merge;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.panlora.gguf.GgmlType;
import io.panlora.gguf.GgufFile;
import io.panlora.lora.AdapterGguf;
import io.panlora.lora.LoraSet;
import io.panlora.lora.Target;
import io.panlora.model.LlamaConfig;
import io.panlora.model.LlamaModel;
import io.panlora.model.ModelInit;
import io.panlora.model.ModelWriter;
import io.panlora.tensor.SplitMix64;
import io.panlora.tokenizer.BpeTrainer;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Merged-model export and adapter merging (cat, svd, linear, ties, dare). */
class MergeTest {
    @TempDir
    Path dir;
    Path base, a1, a2;
    static final int[][] TOK = {{1, 5, 9, 20, 33, 40, 7, 8, 100, 200}};
    static final LlamaConfig C = LlamaConfig.llama(260, 64, 2, 4, 2, 128, 16);

    @BeforeEach
    void setUp() throws Exception {
        base = dir.resolve("base.gguf");
        try (Arena a = Arena.ofConfined()) {
            ModelWriter.write(base, "t", C, BpeTrainer.byteVocabulary(List.of("<x>", "<y>")), ModelInit.randomWeights(C, GgmlType.F32, 3, false, a));
        }
        a1 = adapter("a1.gguf", 11, List.of(Target.ATTN_Q, Target.FFN_DOWN), 4);
        a2 = adapter("a2.gguf", 12, List.of(Target.ATTN_Q, Target.ATTN_V), 4);
    }

    Path adapter(String name, long seed, List<Target> targets, int r) throws Exception {
        Path p = dir.resolve(name);
        try (LlamaModel m = LlamaModel.load(base); LoraSet set = new LoraSet(m)) {
            SplittableRandom rng = new SplittableRandom(seed);
            for (int l = 0; l < 2; l++) for (Target t : targets) {
                LoraSet.Slot s = set.addSlot(l, t, r, 0.5f);
                float[] a = new float[(int) s.aLength()], b = new float[(int) s.bLength()];
                for (int i = 0; i < a.length; i++) a[i] = (float) rng.nextGaussian() * 0.3f;
                for (int i = 0; i < b.length; i++) b[i] = (float) rng.nextGaussian() * 0.3f;
                set.setWeights(s, a, b);
            }
            AdapterGguf.write(p, set, C, GgmlType.F32, name);
        }
        return p;
    }

    static float maxRel(float[] x, float[] y) {
        float d = 0, n = 0;
        for (int i = 0; i < x.length; i++) { d = Math.max(d, Math.abs(x[i] - y[i])); n = Math.max(n, Math.abs(y[i])); }
        return d / n;
    }

    @Test
    void mergedModelEqualsBasePlusAdapter() throws Exception {
        float[] want;
        try (LlamaModel m = LlamaModel.load(base); LoraSet set = new LoraSet(m)) {
            AdapterGguf.load(a1, set, 1f);
            set.attach();
            want = m.logits(TOK);
            set.detach();
            MergedModel.write(m.gguf().orElseThrow(), set, dir.resolve("merged.gguf"), null);
            MergedModel.write(m.gguf().orElseThrow(), set, dir.resolve("merged-q8.gguf"), GgmlType.Q8_0);
        }
        try (LlamaModel merged = LlamaModel.load(dir.resolve("merged.gguf"))) {
            assertTrue(maxRel(merged.logits(TOK), want) < 1e-5, "F32 merge: " + maxRel(merged.logits(TOK), want));
        }
        try (LlamaModel merged = LlamaModel.load(dir.resolve("merged-q8.gguf")); GgufFile f = GgufFile.open(dir.resolve("merged-q8.gguf"))) {
            assertTrue(maxRel(merged.logits(TOK), want) < 3e-2, "Q8_0 merge: " + maxRel(merged.logits(TOK), want));
            assertEquals(GgmlType.Q8_0, f.tensor("blk.0.attn_q.weight").type());
            assertEquals(GgmlType.F32, f.tensor("blk.0.attn_k.weight").type(), "untouched tensors are copied as they were");
            assertEquals(7, f.getInt("general.file_type"));
        }
    }

    @Test
    void quantizedBasesMergeIntoF16ByDefault() throws Exception {
        Path q = dir.resolve("q8.gguf");
        try (Arena a = Arena.ofConfined()) {
            ModelWriter.write(q, "q", C, BpeTrainer.byteVocabulary(List.of("<x>", "<y>")), ModelInit.randomWeights(C, GgmlType.Q8_0, 3, false, a));
        }
        float[] want;
        try (LlamaModel m = LlamaModel.load(q); LoraSet set = new LoraSet(m)) {
            AdapterGguf.load(a1, set, 1f);
            set.attach();
            want = m.logits(TOK);
            set.detach();
            MergedModel.write(m.gguf().orElseThrow(), set, dir.resolve("q8-merged.gguf"), null);
        }
        try (LlamaModel merged = LlamaModel.load(dir.resolve("q8-merged.gguf")); GgufFile f = GgufFile.open(dir.resolve("q8-merged.gguf"))) {
            assertEquals(GgmlType.F16, f.tensor("blk.0.attn_q.weight").type(), "an adapted Q8_0 tensor is written as F16");
            assertEquals(GgmlType.Q8_0, f.tensor("blk.0.attn_k.weight").type(), "an untouched one stays Q8_0");
            assertTrue(maxRel(merged.logits(TOK), want) < 2e-3, "F16 merge of a Q8_0 base: " + maxRel(merged.logits(TOK), want));
        }
    }

    float[] logitsWith(Path... adapters) throws Exception {
        try (LlamaModel m = LlamaModel.load(base); LoraSet set = new LoraSet(m)) {
            for (Path p : adapters) AdapterGguf.load(p, set, 1f);
            set.attach();
            return m.logits(TOK);
        }
    }

    Path merged(AdapterMerge.Method method, int rank, double density) throws Exception {
        Path out = dir.resolve(method + "-" + rank + ".gguf");
        try (LlamaModel m = LlamaModel.load(base); LoraSet set = new LoraSet(m)) {
            AdapterMerge.merge(m, List.of(a1, a2), new double[] {1, 1}, method, rank, density, 3, set);
            AdapterGguf.write(out, set, C, GgmlType.F32, "m");
        }
        return out;
    }

    @Test
    void catAndFullRankSvdAreExact() throws Exception {
        float[] both = logitsWith(a1, a2);
        assertTrue(maxRel(logitsWith(merged(AdapterMerge.Method.CAT, 0, 1)), both) < 1e-5);
        assertTrue(maxRel(logitsWith(merged(AdapterMerge.Method.SVD, 0, 1)), both) < 1e-4, "rank 8 holds both rank-4 updates");
        assertTrue(maxRel(logitsWith(merged(AdapterMerge.Method.TASK_ARITHMETIC, 0, 1)), both) < 1e-4);
        assertTrue(maxRel(logitsWith(merged(AdapterMerge.Method.TIES, 0, 1.0)), both) > 1e-4, "TIES at density 1 still elects signs");
        try (GgufFile f = GgufFile.open(merged(AdapterMerge.Method.SVD, 2, 1))) {
            assertEquals(2, f.tensor("blk.0.attn_q.weight.lora_b").ne()[0], "svd to a lower rank");
        }
    }

    @Test
    void tiesAndDareFollowTheirDefinitions() {
        float[] x = {1f, -2f, 0.1f, 3f}, y = {-3f, -1f, 0.2f, 0.9f};
        // trim to 50 %: x keeps -2, 3; y keeps -3, -1; sums per entry: -3, -3, 0, 3 → signs -, -, 0, +
        assertArrayEquals(new float[] {-3f, -1.5f, 0f, 3f}, AdapterMerge.ties(List.of(x, y), 0.5));
        assertArrayEquals(new float[] {-2f, -3f, 0.3f, 3.9f}, AdapterMerge.dare(List.of(x, y), 1.0, new SplitMix64(1)), "density 1: the sum");
        float[] d = AdapterMerge.dare(List.of(new float[10_000]), 0.3, new SplitMix64(2));
        assertEquals(0f, d[0]);
        float[] ones = new float[10_000];
        java.util.Arrays.fill(ones, 1f);
        float[] kept = AdapterMerge.dare(List.of(ones), 0.3, new SplitMix64(2));
        double mean = 0;
        for (float v : kept) mean += v;
        assertEquals(1.0, mean / kept.length, 0.05, "rescaling keeps the expectation");
    }
}
