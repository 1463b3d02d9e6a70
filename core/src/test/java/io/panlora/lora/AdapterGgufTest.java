package io.panlora.lora;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.panlora.gguf.GgmlType;
import io.panlora.gguf.GgufException;
import io.panlora.gguf.GgufFile;
import io.panlora.gguf.GgufTensorInfo;
import io.panlora.model.LlamaConfig;
import io.panlora.model.LlamaModel;
import io.panlora.model.ModelInit;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Export → reload of GGUF LoRA adapters reproduces the in-memory adapter's logits. */
class AdapterGgufTest {
    @TempDir
    Path dir;

    static final LlamaConfig C = new LlamaConfig("llama", 50, 64, 2, 4, 2, 16, 96, 12, 16, 10000f, 1f, 1e-5f, LlamaConfig.ROPE_NORMAL);
    static final int[][] TOKENS = {{1, 5, 9, 20, 33, 2, 7, 8, 40, 41, 3, 0}};

    static void randomize(LoraSet set, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        for (LoraSet.Slot s : set.slots()) {
            float[] a = new float[(int) s.aLength()], b = new float[(int) s.bLength()];
            for (int i = 0; i < a.length; i++) a[i] = (float) (r.nextGaussian() * 0.2);
            for (int i = 0; i < b.length; i++) b[i] = (float) (r.nextGaussian() * 0.2);
            set.setWeights(s, a, b);
        }
    }

    static float maxRelDiff(float[] a, float[] b) {
        float d = 0, m = 0;
        for (int i = 0; i < a.length; i++) { d = Math.max(d, Math.abs(a[i] - b[i])); m = Math.max(m, Math.abs(b[i])); }
        return d / m;
    }

    @Test
    void zeroBGivesExactlyTheBaseLogits() {
        Arena arena = Arena.ofShared();
        try (LlamaModel m = LlamaModel.fromWeights(C, ModelInit.randomWeights(C, GgmlType.F32, 1, false, arena), arena);
             LoraSet set = new LoraSet(m)) {
            float[] base = m.logits(TOKENS);
            io.panlora.train.LoraInit.addStandard(set, 8, 2f, List.of(Target.values()), 3);
            set.attach();
            assertArrayEquals(base, m.logits(TOKENS), "B = 0 must leave the model unchanged");
        }
    }

    @Test
    void f32RoundTripIsExactAndQuantizedWithinBounds() throws Exception {
        Arena arena = Arena.ofShared();
        try (LlamaModel m = LlamaModel.fromWeights(C, ModelInit.randomWeights(C, GgmlType.Q8_0, 1, false, arena), arena)) {
            float[] trained;
            try (LoraSet set = new LoraSet(m)) {
                for (int l = 0; l < 2; l++) for (Target t : List.of(Target.ATTN_Q, Target.ATTN_V, Target.FFN_DOWN)) set.addSlot(l, t, 32, 0.5f);
                randomize(set, 5);
                set.attach();
                trained = m.logits(TOKENS);
                for (GgmlType t : List.of(GgmlType.F32, GgmlType.F16, GgmlType.Q8_0)) {
                    List<String> notes = AdapterGguf.write(dir.resolve(t + ".gguf"), set, C, t, "test");
                    assertTrue(notes.isEmpty(), "rank 32 fits every block: " + notes);
                }
                set.detach();
            }
            for (GgmlType t : List.of(GgmlType.F32, GgmlType.F16, GgmlType.Q8_0)) {
                try (LoraSet loaded = new LoraSet(m)) {
                    assertEquals(6, AdapterGguf.load(dir.resolve(t + ".gguf"), loaded, 1f));
                    loaded.attach();
                    float[] got = m.logits(TOKENS);
                    if (t == GgmlType.F32) assertArrayEquals(trained, got, "F32 adapter reproduces the logits exactly");
                    else {
                        float bound = t == GgmlType.F16 ? 1e-3f : 2e-2f;
                        assertTrue(maxRelDiff(got, trained) < bound, t + ": relative logit difference " + maxRelDiff(got, trained));
                    }
                    loaded.detach();
                }
            }
            try (GgufFile f = GgufFile.open(dir.resolve("Q8_0.gguf"))) {
                assertEquals("adapter", f.getString("general.type"));
                assertEquals("lora", f.getString("adapter.type"));
                assertEquals("llama", f.getString("general.architecture"));
                assertEquals(16f, f.getFloat("adapter.lora.alpha"));
                GgufTensorInfo a = f.tensor("blk.1.ffn_down.weight.lora_a"), b = f.tensor("blk.1.ffn_down.weight.lora_b");
                assertArrayEquals(new long[] {96, 32}, a.ne());
                assertArrayEquals(new long[] {32, 64}, b.ne());
                assertEquals(GgmlType.Q8_0, b.type());
            }
        }
    }

    @Test
    void severalSlotsAndOddRanksFoldIntoOneFactorPair() throws Exception {
        Arena arena = Arena.ofShared();
        try (LlamaModel m = LlamaModel.fromWeights(C, ModelInit.randomWeights(C, GgmlType.F32, 2, false, arena), arena)) {
            float[] trained;
            try (LoraSet set = new LoraSet(m)) {
                set.addSlot(0, Target.ATTN_Q, 4, 0.75f);
                set.addSlot(0, Target.ATTN_Q, 6, (float) (3 / Math.sqrt(6))); // an rsLoRA-style scale on the same target
                set.addSlot(1, Target.FFN_UP, 5, 2f);
                LoraSet.Slot off = set.addSlot(1, Target.ATTN_K, 4, 1f);
                randomize(set, 8);
                set.setFlags(off, 1f, true, true, false); // disabled: not exported
                set.attach();
                trained = m.logits(TOKENS);
                List<String> notes = AdapterGguf.write(dir.resolve("q8.gguf"), set, C, GgmlType.Q8_0, "t");
                assertFalse(notes.isEmpty(), "ranks 10 and 5 cannot be Q8_0 lora_b: F16 fallback reported");
                AdapterGguf.write(dir.resolve("f32.gguf"), set, C, GgmlType.F32, "t");
                set.detach();
            }
            try (LoraSet loaded = new LoraSet(m)) {
                assertEquals(2, AdapterGguf.load(dir.resolve("f32.gguf"), loaded, 1f));
                loaded.attach();
                assertTrue(maxRelDiff(m.logits(TOKENS), trained) < 1e-5, "folded scales reproduce the logits");
                loaded.detach();
            }
            try (GgufFile f = GgufFile.open(dir.resolve("q8.gguf"))) {
                assertEquals(GgmlType.F16, f.tensor("blk.0.attn_q.weight.lora_b").type());
                assertEquals(GgmlType.Q8_0, f.tensor("blk.0.attn_q.weight.lora_a").type());
                assertFalse(f.hasTensor("blk.1.attn_k.weight.lora_a"));
            }
        }
    }

    @Test
    void badAdaptersAreRejectedWithTheFileNamed() throws Exception {
        Arena arena = Arena.ofShared();
        LlamaConfig other = new LlamaConfig("llama", 50, 32, 2, 4, 2, 8, 96, 12, 8, 10000f, 1f, 1e-5f, LlamaConfig.ROPE_NORMAL);
        try (LlamaModel m = LlamaModel.fromWeights(C, ModelInit.randomWeights(C, GgmlType.F32, 1, false, arena), arena);
             LlamaModel m2 = LlamaModel.fromWeights(other, ModelInit.randomWeights(other, GgmlType.F32, 1, false, Arena.ofShared()), null)) {
            try (LoraSet s2 = new LoraSet(m2)) {
                s2.addSlot(0, Target.ATTN_Q, 4, 1f);
                AdapterGguf.write(dir.resolve("small.gguf"), s2, other, GgmlType.F32, "x");
            }
            try (LoraSet set = new LoraSet(m)) {
                GgufException e = assertThrows(GgufException.class, () -> AdapterGguf.load(dir.resolve("small.gguf"), set, 1f));
                assertTrue(e.getMessage().contains("small.gguf") && e.getMessage().contains("do not fit"), e.getMessage());
                Files.writeString(dir.resolve("junk.gguf"), "not a gguf at all");
                GgufException e2 = assertThrows(GgufException.class, () -> AdapterGguf.load(dir.resolve("junk.gguf"), set, 1f));
                assertTrue(e2.getMessage().contains("junk.gguf"), e2.getMessage());
            }
        }
    }

    @Test
    void aRefusedAdapterLeavesTheSetAsItWas() throws Exception {
        Arena arena = Arena.ofShared();
        try (LlamaModel m = LlamaModel.fromWeights(C, ModelInit.randomWeights(C, GgmlType.F32, 1, false, arena), arena)) {
            Path file = dir.resolve("two.gguf");
            try (LoraSet s = new LoraSet(m)) {
                s.addSlot(0, Target.ATTN_Q, 4, 1f);
                s.addSlot(1, Target.ATTN_Q, 4, 1f);
                randomize(s, 3);
                AdapterGguf.write(file, s, C, GgmlType.F32, "x");
            }
            // a NaN in the last value of the file: the last pair's lora_b, checked after the first pair was read
            byte[] bytes = Files.readAllBytes(file);
            java.nio.ByteBuffer.wrap(bytes).order(java.nio.ByteOrder.LITTLE_ENDIAN).putFloat(bytes.length - 4, Float.NaN);
            Files.write(file, bytes);
            try (LoraSet set = new LoraSet(m)) {
                set.addSlot(1, Target.ATTN_V, 2, 1f);
                GgufException e = assertThrows(GgufException.class, () -> AdapterGguf.load(file, set, 1f));
                assertTrue(e.getMessage().contains("blk.1.attn_q.weight.lora_b"), e.getMessage());
                assertEquals(1, set.slots().size(), "nothing of the refused file was added");
            }
        }
    }
}
