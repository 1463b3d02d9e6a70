package io.panlora.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.panlora.bindings.PanloraException;
import io.panlora.convert.PeftAdapter;
import io.panlora.convert.Safetensors;
import io.panlora.gguf.GgmlType;
import io.panlora.gguf.GgufException;
import io.panlora.gguf.GgufFile;
import io.panlora.gguf.GgufTensorInfo;
import io.panlora.gguf.GgufValue;
import io.panlora.gguf.GgufWriter;
import io.panlora.lora.AdapterGguf;
import io.panlora.lora.LoraSet;
import io.panlora.lora.Target;
import io.panlora.tokenizer.BpeTrainer;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every number from a file is bounded before it reaches the engine or an allocation: crafted hyperparameters and adapter
 * tensor names are refused with an exception naming the file, the key (or tensor) and the limit, and the JVM lives on.
 */
class InputBoundsTest {
    @TempDir
    Path dir;
    /** One head of 64: q, k, v and o are all 64 x 64, the shapes the crafted 2^62+1-head header wraps to. */
    static final LlamaConfig ONE_HEAD = LlamaConfig.llama(260, 64, 1, 1, 1, 96, 16);
    Path good;

    @BeforeEach
    void writeGoodModel() throws Exception {
        good = dir.resolve("good.gguf");
        try (Arena a = Arena.ofConfined()) {
            ModelWriter.write(good, "t", ONE_HEAD, BpeTrainer.byteVocabulary(List.of("<pad>", "<x>")),
                    ModelInit.randomWeights(ONE_HEAD, GgmlType.F32, 1, false, a));
        }
        try (LlamaModel m = LlamaModel.load(good)) {
            assertEquals(3 * 260, m.logits(new int[][] {{1, 2, 3}}).length);
        }
    }

    Path variant(String name, Consumer<GgufWriter> edit) throws Exception {
        Path p = dir.resolve(name);
        try (GgufFile f = GgufFile.open(good)) {
            GgufWriter w = GgufWriter.copyOf(f);
            edit.accept(w);
            w.write(p);
        }
        return p;
    }

    /** Loading (and, were it to load, running) p fails with a GgufException naming the file and every word. */
    static void assertRefused(Path p, String... words) {
        GgufException e = assertThrows(GgufException.class, () -> {
            try (LlamaModel m = LlamaModel.load(p)) {
                m.logits(new int[][] {{1, 2, 3}});
            }
        });
        assertTrue(e.getMessage().contains(p.getFileName().toString()), "message names the file: " + e.getMessage());
        for (String w : words) assertTrue(e.getMessage().contains(w), "message mentions '" + w + "': " + e.getMessage());
    }

    @Test
    void craftedHeadCountThatWrapsTheAttentionWidthIsRefused() throws Exception {
        long huge = (1L << 62) + 1; // (2^62+1) * 64 = 64 mod 2^64: the q/k/v/o shapes of the one-head model
        Path p = variant("heads.gguf", w -> w.put("llama.attention.head_count", GgufValue.uint64(huge))
                .put("llama.attention.head_count_kv", GgufValue.uint64(huge))
                .put("llama.attention.key_length", GgufValue.uint32(64))
                .put("llama.rope.dimension_count", GgufValue.uint32(64)));
        assertRefused(p, "llama.attention.head_count", Long.toString(huge), "65536");
        // the same numbers handed to the config directly (the path of fromWeights) are refused too
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new LlamaConfig("llama", 260, 64, 1, huge, huge, 64,
                96, 16, 64, 10000f, 1f, 1e-5f, LlamaConfig.ROPE_NORMAL));
        assertTrue(e.getMessage().contains("n_head") && e.getMessage().contains("65536"), e.getMessage());
        // within the head limit but over the attention width: 256 heads of 4096
        assertRefused(variant("width.gguf", w -> w.put("llama.attention.head_count", GgufValue.uint32(256))
                .put("llama.attention.head_count_kv", GgufValue.uint32(256)).put("llama.attention.key_length", GgufValue.uint32(8192))),
                "llama.attention.key_length", "4096");
    }

    @Test
    void contextLengthBeyondTheLimitIsRefused() throws Exception {
        assertRefused(variant("ctx.gguf", w -> w.put("llama.context_length", GgufValue.uint32(1L << 31))),
                "llama.context_length", "2147483648", "16777216");
        assertRefused(variant("ctx0.gguf", w -> w.put("llama.context_length", GgufValue.uint32(0))), "llama.context_length");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> LlamaConfig.llama(260, 64, 1, 1, 1, 96, 1L << 31));
        assertTrue(e.getMessage().contains("n_ctx_train") && e.getMessage().contains("16777216"), e.getMessage());
        // the limit itself loads, and stays an int wherever a window is derived from it
        try (LlamaModel m = LlamaModel.load(variant("ctxmax.gguf", w -> w.put("llama.context_length", GgufValue.uint32(LlamaConfig.MAX_CTX))))) {
            assertEquals(LlamaConfig.MAX_CTX, m.config().nCtxTrain());
            assertTrue((int) m.config().nCtxTrain() > 0);
        }
    }

    @Test
    void everyOtherHyperparameterIsBounded() throws Exception {
        assertRefused(variant("layers.gguf", w -> w.put("llama.block_count", GgufValue.uint32(5000))), "llama.block_count", "4096");
        assertRefused(variant("embd.gguf", w -> w.put("llama.embedding_length", GgufValue.uint64(1L << 40))), "llama.embedding_length", "1048576");
        assertRefused(variant("ff.gguf", w -> w.put("llama.feed_forward_length", GgufValue.uint32(1L << 23))), "llama.feed_forward_length");
        assertRefused(variant("kvheads.gguf", w -> w.put("llama.attention.head_count_kv", GgufValue.uint64((1L << 62) + 1))),
                "llama.attention.head_count_kv");
        assertRefused(variant("keylen.gguf", w -> w.put("llama.attention.key_length", GgufValue.uint32(0))), "llama.attention.key_length");
        assertRefused(variant("vallen.gguf", w -> w.put("llama.attention.value_length", GgufValue.uint32(32))), "llama.attention.value_length");
        assertRefused(variant("vocab.gguf", w -> w.put("llama.vocab_size", GgufValue.uint64(1L << 31))), "llama.vocab_size", "2147483647");
        assertRefused(variant("rot.gguf", w -> w.put("llama.rope.dimension_count", GgufValue.uint32(65))), "llama.rope.dimension_count");
        assertRefused(variant("rot0.gguf", w -> w.put("llama.rope.dimension_count", GgufValue.uint32(0))), "llama.rope.dimension_count");
        assertRefused(variant("base.gguf", w -> w.put("llama.rope.freq_base", GgufValue.float32(Float.NaN))), "llama.rope.freq_base");
        assertRefused(variant("eps.gguf", w -> w.put("llama.attention.layer_norm_rms_epsilon", GgufValue.float32(-1f))),
                "llama.attention.layer_norm_rms_epsilon");
    }

    @Test
    void ropeScalingFactorMustBeFiniteAndPositive() throws Exception {
        for (float f : new float[] {0f, -2f, Float.NaN, Float.POSITIVE_INFINITY}) {
            Path p = variant("rope" + Float.floatToIntBits(f) + ".gguf", w -> w.putString("llama.rope.scaling.type", "linear")
                    .put("llama.rope.scaling.factor", GgufValue.float32(f)));
            assertRefused(p, "llama.rope.scaling.factor");
        }
        // a factor so small that 1/factor overflows F32 (a fuzzing find: it used to escape as IllegalArgumentException)
        Path tiny = variant("ropetiny.gguf", w -> w.putString("llama.rope.scaling.type", "linear")
                .put("llama.rope.scaling.factor", GgufValue.float32(Float.MIN_VALUE)));
        assertRefused(tiny, "llama.rope.scaling.factor");
        Path tiny64 = variant("ropetiny64.gguf", w -> w.putString("llama.rope.scaling.type", "linear")
                .put("llama.rope.scaling.factor", GgufValue.float64(1e-300)));
        assertRefused(tiny64, "llama.rope.scaling.factor");
        Path nan = variant("ropenan.gguf", w -> w.put("llama.rope.scaling.factor", GgufValue.float32(Float.NaN)));
        assertRefused(nan, "llama.rope.scaling.factor");
        try (LlamaModel m = LlamaModel.load(variant("rope4.gguf", w -> w.putString("llama.rope.scaling.type", "linear")
                .put("llama.rope.scaling.factor", GgufValue.float32(4f))))) {
            assertEquals(0.25f, m.config().ropeFreqScale());
        }
        assertThrows(IllegalArgumentException.class, () -> new LlamaConfig("llama", 260, 64, 1, 1, 1, 64, 96, 16, 64, 10000f, Float.NaN,
                1e-5f, LlamaConfig.ROPE_NORMAL));
        assertThrows(IllegalArgumentException.class, () -> new LlamaConfig("llama", 260, 64, 1, 1, 1, 64, 96, 16, 64, 10000f, 0f,
                1e-5f, LlamaConfig.ROPE_NORMAL));
    }

    /** Writes a one-slot adapter for the good model, then a copy whose tensors are renamed by rename. */
    Path adapterWithNames(String file, java.util.function.UnaryOperator<String> rename) throws Exception {
        Path plain = dir.resolve("plain-" + file);
        try (LlamaModel m = LlamaModel.load(good); LoraSet set = new LoraSet(m)) {
            set.addSlot(0, Target.ATTN_Q, 4, 1f);
            AdapterGguf.write(plain, set, ONE_HEAD, GgmlType.F32, "t");
        }
        Path p = dir.resolve(file);
        try (GgufFile f = GgufFile.open(plain)) {
            GgufWriter w = new GgufWriter();
            w.putAll(f.metadata());
            for (GgufTensorInfo t : f.tensors()) w.addTensor(rename.apply(t.name()), t.ne(), t.type(), f.tensorData(t));
            w.write(p);
        }
        return p;
    }

    void assertAdapterRefused(Path p, String... words) throws Exception {
        try (LlamaModel m = LlamaModel.load(good); LoraSet set = new LoraSet(m)) {
            GgufException e = assertThrows(GgufException.class, () -> AdapterGguf.load(p, set, 1f));
            assertTrue(e.getMessage().contains(p.toString()), "message names the file: " + e.getMessage());
            for (String w : words) assertTrue(e.getMessage().contains(w), "message mentions '" + w + "': " + e.getMessage());
            assertEquals(0, set.slots().size(), "nothing was added");
        }
    }

    @Test
    void adapterLayerIndicesAreParsedSafely() throws Exception {
        Path over = adapterWithNames("int.gguf", n -> n.replace("blk.0.", "blk.2147483648."));
        assertAdapterRefused(over, "blk.2147483648.attn_q.weight.lora_", "layer 2147483648", "1 layers");
        Path huge = adapterWithNames("digits.gguf", n -> n.replace("blk.0.", "blk.99999999999999999999999999."));
        assertAdapterRefused(huge, "blk.99999999999999999999999999.attn_q.weight.lora_", "1 layers");
        Path beyond = adapterWithNames("beyond.gguf", n -> n.replace("blk.0.", "blk.1."));
        assertAdapterRefused(beyond, "blk.1.attn_q.weight.lora_", "layer 1");
        Path target = adapterWithNames("target.gguf", n -> n.replace("attn_q", "attn_zz"));
        assertAdapterRefused(target, "blk.0.attn_zz.weight.lora_", "attn_zz");
        // the unrenamed adapter loads
        Path ok = adapterWithNames("ok.gguf", n -> n);
        try (LlamaModel m = LlamaModel.load(good); LoraSet set = new LoraSet(m)) {
            assertEquals(1, AdapterGguf.load(ok, set, 1f));
        }
    }

    /** Writes a one-slot PEFT adapter for the good model, then rewrites its safetensors with edit applied. */
    Path peftWith(String name, java.util.function.UnaryOperator<Map<String, Safetensors.Tensor>> edit) throws Exception {
        Path peft = dir.resolve(name);
        try (LlamaModel m = LlamaModel.load(good); LoraSet set = new LoraSet(m)) {
            set.addSlot(0, Target.ATTN_Q, 4, 1f);
            PeftAdapter.write(peft, set, "F32", "t");
        }
        Path st = peft.resolve("adapter_model.safetensors");
        Safetensors.write(st, edit.apply(Safetensors.read(st)), "F32", Map.of("format", "pt"));
        return peft;
    }

    void assertPeftRefused(Path peft, String... words) throws Exception {
        try (LlamaModel m = LlamaModel.load(good); LoraSet set = new LoraSet(m)) {
            IOException e = assertThrows(IOException.class, () -> PeftAdapter.load(peft, set, 1f));
            assertTrue(e.getMessage().contains("adapter_model.safetensors"), "message names the file: " + e.getMessage());
            for (String w : words) assertTrue(e.getMessage().contains(w), "message mentions '" + w + "': " + e.getMessage());
            assertEquals(0, set.slots().size(), "nothing was added");
        }
    }

    @Test
    void peftLayerIndicesAndRanksAreChecked() throws Exception {
        Path over = peftWith("peft-int", t -> {
            Map<String, Safetensors.Tensor> r = new LinkedHashMap<>();
            t.forEach((k, v) -> r.put(k.replace("layers.0.", "layers.2147483648."), v));
            return r;
        });
        assertPeftRefused(over, "layers.2147483648.self_attn.q_proj.lora_", "layer 2147483648", "1 layers");
        Path digits = peftWith("peft-digits", t -> {
            Map<String, Safetensors.Tensor> r = new LinkedHashMap<>();
            t.forEach((k, v) -> r.put(k.replace("layers.0.", "layers.99999999999999999999999999."), v));
            return r;
        });
        assertPeftRefused(digits, "layers.99999999999999999999999999.", "1 layers");
        // rank 65 of a 64 x 64 linear: shapes consistent with each other, rank above min(in, out)
        Path rank = peftWith("peft-rank", t -> {
            Map<String, Safetensors.Tensor> r = new LinkedHashMap<>();
            t.forEach((k, v) -> r.put(k, k.contains("lora_A") ? new Safetensors.Tensor(new long[] {65, 64}, new float[65 * 64])
                    : new Safetensors.Tensor(new long[] {64, 65}, new float[64 * 65])));
            return r;
        });
        assertPeftRefused(rank, "rank 65", "1..64");
        Path ok = peftWith("peft-ok", t -> t);
        try (LlamaModel m = LlamaModel.load(good); LoraSet set = new LoraSet(m)) {
            assertEquals(1, PeftAdapter.load(ok, set, 1f));
        }
    }

    @Test
    void adamStateLengthsAreChecked() throws Exception {
        try (LlamaModel m = LlamaModel.load(good); LoraSet set = new LoraSet(m)) {
            LoraSet.Slot s = set.addSlot(0, Target.ATTN_V, 2, 1f);
            int na = (int) s.aLength(), nb = (int) s.bLength();
            float[] ma = new float[na], va = new float[na], mb = new float[nb], vb = new float[nb];
            for (int i = 0; i < na; i++) { ma[i] = i * 0.5f; va[i] = i; }
            for (int i = 0; i < nb; i++) { mb[i] = -i; vb[i] = 2 * i; }
            set.setAdam(s, new LoraSet.AdamState(ma, va, mb, vb, 3));
            LoraSet.AdamState back = set.getAdam(s);
            assertArrayEquals(ma, back.mA());
            assertArrayEquals(vb, back.vB());
            assertEquals(3, back.step());
            // a state of another shape (a checkpoint of another rank) is refused by the engine, which reads no further
            PanloraException e = assertThrows(PanloraException.class,
                    () -> set.setAdam(s, new LoraSet.AdamState(new float[na / 2], new float[na / 2], mb, vb, 1)));
            assertTrue(e.getMessage().contains("length " + na / 2) && e.getMessage().contains("expected " + na), e.getMessage());
            assertThrows(PanloraException.class, () -> set.setAdam(s, new LoraSet.AdamState(ma, va, new float[4 * nb], new float[4 * nb], 1)));
            assertThrows(IllegalArgumentException.class, () -> set.setAdam(s, new LoraSet.AdamState(ma, new float[1], mb, vb, 1)));
            assertArrayEquals(ma, set.getAdam(s).mA(), "refused calls change nothing");
        }
    }
}
