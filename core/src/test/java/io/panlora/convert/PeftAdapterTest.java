package io.panlora.convert;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.panlora.gguf.GgmlType;
import io.panlora.lora.LoraSet;
import io.panlora.lora.Target;
import io.panlora.model.LlamaConfig;
import io.panlora.model.LlamaModel;
import io.panlora.model.ModelInit;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** PEFT adapters: safetensors round trip, the q/k row permutation, GGUF ↔ PEFT ↔ GGUF logits. */
class PeftAdapterTest {
    @TempDir
    Path dir;
    static final LlamaConfig C = new LlamaConfig("llama", 50, 64, 2, 4, 2, 16, 96, 12, 16, 10000f, 1f, 1e-5f, LlamaConfig.ROPE_NORMAL);
    static final int[][] TOK = {{1, 5, 9, 20, 33, 2, 7, 8}};

    @Test
    void safetensorsRoundTripInEveryDtype() throws IOException {
        Map<String, Safetensors.Tensor> t = new LinkedHashMap<>();
        t.put("a", new Safetensors.Tensor(new long[] {2, 3}, new float[] {1f, -2.5f, 0.125f, 3e-3f, 65504f, -0f}));
        t.put("b.c", new Safetensors.Tensor(new long[] {1}, new float[] {0.5f}));
        for (String dtype : new String[] {"F32", "F16", "BF16"}) {
            Path p = dir.resolve(dtype + ".safetensors");
            Safetensors.write(p, t, dtype, Map.of("format", "pt"));
            byte[] head = Files.readAllBytes(p);
            long headerLen = java.nio.ByteBuffer.wrap(head, 0, 8).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong();
            assertEquals(0, (8 + headerLen) % 8, "tensor data starts 8-byte aligned");
            Map<String, Safetensors.Tensor> back = Safetensors.read(p);
            assertArrayEquals(new long[] {2, 3}, back.get("a").shape());
            float tol = dtype.equals("F32") ? 0 : dtype.equals("F16") ? 2e-3f : 1e-2f;
            for (int i = 0; i < 6; i++) assertEquals(t.get("a").values()[i], back.get("a").values()[i], tol * Math.max(1, Math.abs(t.get("a").values()[i])));
        }
        Files.write(dir.resolve("bad.safetensors"), new byte[] {100, 0, 0, 0, 0, 0, 0, 0, '{'});
        IOException e = assertThrows(IOException.class, () -> Safetensors.read(dir.resolve("bad.safetensors")));
        assertTrue(e.getMessage().contains("bad.safetensors"), e.getMessage());
    }

    @Test
    void qkPermutationFollowsTheLlamaConversion() {
        // llama.cpp's permute(w, n_head): w.reshape(n_head, 2, rows/n_head/2, cols).swapaxes(1, 2).reshape(w.shape)
        int heads = 4, hd = 16, r = 3, rows = heads * hd;
        float[] hf = new float[rows * r];
        for (int i = 0; i < hf.length; i++) hf[i] = i;
        float[] want = new float[rows * r];
        for (int h = 0; h < heads; h++)               // new index order (h, j, t): swapaxes of (h, t, j)
            for (int j = 0; j < hd / 2; j++)
                for (int t = 0; t < 2; t++) {
                    int dst = ((h * (hd / 2) + j) * 2 + t), src = ((h * 2 + t) * (hd / 2) + j);
                    System.arraycopy(hf, src * r, want, dst * r, r);
                }
        assertArrayEquals(want, PeftAdapter.permuteRows(hf, Target.ATTN_Q, C, r, true));
        assertArrayEquals(hf, PeftAdapter.permuteRows(want, Target.ATTN_Q, C, r, false));
        assertArrayEquals(hf, PeftAdapter.permuteRows(hf, Target.ATTN_V, C, r, true), "v is not permuted");
    }

    @Test
    void ggufToPeftAndBackKeepsTheLogits() throws Exception {
        Arena arena = Arena.ofShared();
        try (LlamaModel m = LlamaModel.fromWeights(C, ModelInit.randomWeights(C, GgmlType.F32, 1, false, arena), arena)) {
            float[] want;
            try (LoraSet set = new LoraSet(m)) {
                SplittableRandom rng = new SplittableRandom(4);
                for (int l = 0; l < 2; l++) for (Target t : Target.values()) {
                    LoraSet.Slot s = set.addSlot(l, t, 8, 2f);
                    float[] a = new float[(int) s.aLength()], b = new float[(int) s.bLength()];
                    for (int i = 0; i < a.length; i++) a[i] = (float) rng.nextGaussian() * 0.2f;
                    for (int i = 0; i < b.length; i++) b[i] = (float) rng.nextGaussian() * 0.2f;
                    set.setWeights(s, a, b);
                }
                set.attach();
                want = m.logits(TOK);
                PeftAdapter.write(dir.resolve("peft"), set, "F32", "tiny");
                set.detach();
            }
            String cfg = Files.readString(dir.resolve("peft/adapter_config.json"));
            assertTrue(cfg.contains("\"r\": 8") && cfg.contains("\"lora_alpha\": 16.0") && cfg.contains("q_proj"), cfg);
            assertTrue(Safetensors.read(dir.resolve("peft/adapter_model.safetensors"))
                    .containsKey("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"));
            try (LoraSet back = new LoraSet(m)) {
                assertEquals(14, PeftAdapter.load(dir.resolve("peft"), back, 1f));
                back.attach();
                assertArrayEquals(want, m.logits(TOK), "F32 PEFT round trip reproduces the logits exactly");
                back.detach();
            }
        }
    }
}
