package io.panlora.fuzz;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.panlora.convert.PeftAdapter;
import io.panlora.convert.Safetensors;
import io.panlora.gguf.GgmlType;
import io.panlora.gguf.GgufException;
import io.panlora.gguf.GgufFile;
import io.panlora.gguf.GgufTensorInfo;
import io.panlora.gguf.GgufValue;
import io.panlora.gguf.GgufValueType;
import io.panlora.gguf.GgufWriter;
import io.panlora.lora.AdapterGguf;
import io.panlora.lora.LoraSet;
import io.panlora.model.TokenizerLoader;
import io.panlora.tensor.Codec;
import io.panlora.train.internal.Checkpoint;
import io.panlora.train.DivergenceGuard;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every crash the fuzz targets found, as a plain test: the committed input (in the target's inputs directory, where
 * Jazzer saved it and where the @FuzzTest replays it too) and the clear error it must now give. Before each fix these
 * inputs ended in the exception named in the test's comment. After them: one input found by reading the code, and the
 * checks added with the fixes (the checkpoint's explicit type, shape and value checks, PEFT's), on inputs built from
 * the seeds.
 */
class FuzzFindingsTest {
    @TempDir
    Path dir;

    /** A committed input of a fuzz target, copied to dir/fileName. */
    Path input(String testClass, String method, String name, String fileName) throws IOException {
        String resource = "/io/panlora/fuzz/" + testClass + "Inputs/" + method + "/" + name;
        try (InputStream in = FuzzFindingsTest.class.getResourceAsStream(resource)) {
            if (in == null) throw new IllegalStateException("missing test resource " + resource);
            Path p = dir.resolve(fileName);
            Files.createDirectories(p.getParent());
            Files.write(p, in.readAllBytes());
            return p;
        }
    }

    static void assertMentions(Throwable e, String... words) {
        for (String w : words) assertTrue(e.getMessage().contains(w), "message mentions '" + w + "': " + e.getMessage());
    }

    /** Was: NullPointerException (a header entry without "dtype" was cast and dereferenced). */
    @Test
    void safetensorsEntryWithoutDtype() throws IOException {
        Path p = input("SafetensorsFuzzTest", "safetensors", "crash-misspelt-metadata-without-dtype.safetensors", "adapter_model.safetensors");
        IOException e = assertThrows(IOException.class, () -> Safetensors.read(p));
        assertMentions(e, p.toString(), "tensor '__meadtata__'", "dtype is missing or not a string");
    }

    /** Was: a MalformedInputException whose message ("Input length = 3") named neither the file nor the problem. */
    @Test
    void peftConfigThatIsNotUtf8() throws IOException {
        byte[] packed = Files.readAllBytes(input("PeftFuzzTest", "peft", "crash-config-not-utf8.bin", "packed.bin"));
        int n = (packed[0] & 0xFF) | (packed[1] & 0xFF) << 8;
        Path peft = Files.createDirectories(dir.resolve("peft"));
        Files.write(peft.resolve("adapter_config.json"), Arrays.copyOfRange(packed, 2, 2 + n));
        Files.write(peft.resolve("adapter_model.safetensors"), Arrays.copyOfRange(packed, 2 + n, packed.length));
        try (LoraSet set = new LoraSet(FuzzSupport.base())) {
            IOException e = assertThrows(IOException.class, () -> PeftAdapter.load(peft, set, 1f));
            assertMentions(e, peft.resolve("adapter_config.json").toString(), "not UTF-8 text");
        }
    }

    /** Was: IllegalArgumentException "unknown LoRA target 'attn\uFFFDv'" from export --checkpoint, not naming the file. */
    @Test
    void checkpointSlotOfAnUnknownTarget() throws IOException {
        Path p = input("CheckpointFuzzTest", "checkpoint", "crash-slot-where-unknown-target.gguf", "run/" + Checkpoint.FILE);
        try (LoraSet empty = new LoraSet(FuzzSupport.base())) {
            GgufException e = assertThrows(GgufException.class, () -> Checkpoint.loadSlotsInto(p.getParent(), empty));
            assertMentions(e, p.toString(), "panlora.slot.1.where", "is not LAYER/TARGET/RANK");
        }
        try (LoraSet set = FuzzSupport.checkpointSlots()) {
            IOException e = assertThrows(IOException.class, () -> Checkpoint.load(p.getParent(), set, FuzzSupport.CHECKPOINT_KEY));
            assertTrue(e.getMessage().startsWith(p.toString()) && !e.getMessage().contains("\n"), e.getMessage());
            assertMentions(e, "slot 1 is");
        }
    }

    /** Was: the engine's PanloraException "pl_lora_set_adam: step 1152921504606846983 out of range" (no file named). */
    @Test
    void checkpointAdamStepBeyondTheEnginesBound() throws IOException {
        Path p = input("CheckpointFuzzTest", "checkpoint", "crash-adam-step-beyond-2-53.gguf", "run/" + Checkpoint.FILE);
        assertLoadRefuses(p, "step", "out of range 0..9007199254740992");
    }

    /** Was: IllegalArgumentException "tokenizer tokens 43 and 121 have the same text" from the tokenizer, not naming the file. */
    @Test
    void tokenizerWithTwoTokensOfOneText() throws IOException {
        Path p = input("ModelFuzzTest", "model", "crash-duplicate-token-text.gguf", "model.gguf");
        try (GgufFile f = GgufFile.open(p)) {
            GgufException e = assertThrows(GgufException.class, () -> TokenizerLoader.fromGguf(f));
            assertMentions(e, p.toString(), "bad tokenizer", "have the same text");
        }
    }

    /**
     * Found by reading the code, not by the fuzzer (it did not get there in 3 × 90 s): a factor of a type the engine
     * cannot decode (here I8, whose byte size still fits the file) was a PanloraException from pl_dequantize that did
     * not name the file.
     */
    @Test
    void adapterFactorOfATypeTheEngineCannotDecode() throws IOException {
        Path p = input("AdapterFuzzTest", "adapter", "review-lora-a-of-type-i8.gguf", "adapter.gguf");
        try (LoraSet set = new LoraSet(FuzzSupport.base())) {
            GgufException e = assertThrows(GgufException.class, () -> AdapterGguf.load(p, set, 1f));
            assertMentions(e, p.toString(), "tensor 'blk.0.attn_q.weight.lora_a' is I8", "cannot decode");
        }
    }

    // ---- checks added when Checkpoint.load stopped wrapping every RuntimeException (variants of the seed checkpoint) ----

    /** The seed checkpoint with edits: metadata put (a null value removes the key), tensors replaced. */
    Path editedCheckpoint(Map<String, io.panlora.gguf.GgufValue> metadata, String tensor, GgmlType type,
                          long[] ne, float[] values) throws IOException {
        Path seed = input("CheckpointFuzzTest", "checkpoint", "seed-checkpoint.gguf", "seed/" + Checkpoint.FILE);
        Path out = dir.resolve("run/" + Checkpoint.FILE);
        Files.createDirectories(out.getParent());
        try (GgufFile f = GgufFile.open(seed)) {
            GgufWriter w = new io.panlora.gguf.GgufWriter();
            w.putAll(f.metadata());
            metadata.forEach((k, v) -> {
                if (v == null) w.remove(k);
                else w.put(k, v);
            });
            for (GgufTensorInfo t : f.tensors()) {
                if (!t.name().equals(tensor)) {
                    w.copyTensor(f, t);
                    continue;
                }
                try (Arena a = Arena.ofConfined()) {
                    float[] v = values != null ? values : f.tensorData(t).toArray(ValueLayout.JAVA_FLOAT);
                    w.addTensor(t.name(), ne != null ? ne : t.ne(), type, Codec.quantize(type, v, a).toArray(ValueLayout.JAVA_BYTE));
                }
            }
            w.write(out);
        }
        return out;
    }

    /** Checkpoint.load must refuse with one line that starts with the file and names the problem. */
    void assertLoadRefuses(Path ckpt, String... words) {
        try (LoraSet set = FuzzSupport.checkpointSlots()) {
            IOException e = assertThrows(IOException.class, () -> Checkpoint.load(ckpt.getParent(), set, FuzzSupport.CHECKPOINT_KEY));
            assertTrue(e.getMessage().startsWith(ckpt.toString()) && !e.getMessage().contains("\n"), e.getMessage());
            assertMentions(e, words);
        }
    }

    @Test
    void checkpointTensorsMustBeF32OfTheSlotsShape() throws IOException {
        assertLoadRefuses(editedCheckpoint(Map.of(), "panlora.slot.0.a", GgmlType.F16, null, null),
                "tensor panlora.slot.0.a is F16 [32, 2], expected F32 [32, 2]");
        assertLoadRefuses(editedCheckpoint(Map.of(), "panlora.slot.2.m_b", GgmlType.F32, new long[] {32, 1}, new float[32]),
                "tensor panlora.slot.2.m_b is F32 [32, 1], expected F32 [1, 32]");
        assertLoadRefuses(editedCheckpoint(Map.of(), "panlora.hook.lorasc.slow.0", GgmlType.F16, null, null),
                "tensor panlora.hook.lorasc.slow.0 is F16 [3, 1], expected F32 [n, 1]");
    }

    @Test
    void checkpointValuesMustBeFiniteAndSecondMomentsNonNegative() throws IOException {
        float[] b = new float[64];
        b[5] = Float.NaN;
        assertLoadRefuses(editedCheckpoint(Map.of(), "panlora.slot.0.b", GgmlType.F32, null, b),
                "tensor panlora.slot.0.b holds NaN at element 5");
        float[] v = new float[64];
        v[3] = -1e-3f;
        assertLoadRefuses(editedCheckpoint(Map.of(), "panlora.slot.0.v_a", GgmlType.F32, null, v),
                "tensor panlora.slot.0.v_a holds -0.001 at element 3; a second moment is >= 0");
    }

    @Test
    void checkpointStepsPositionsAndGuardStateAreChecked() throws IOException {
        assertLoadRefuses(editedCheckpoint(Map.of("panlora.checkpoint.step", GgufValue.int64(1L << 31)), null, null, null, null),
                "panlora.checkpoint.step = 2147483648 is out of range 0..2147483647");
        assertLoadRefuses(editedCheckpoint(Map.of("panlora.slot.1.step", GgufValue.int64(-1)), null, null, null, null),
                "panlora.slot.1.step = -1 is out of range");
        assertLoadRefuses(editedCheckpoint(Map.of("panlora.checkpoint.data_position",
                GgufValue.intArray(GgufValueType.INT64, 0, -4)), null, null, null, null),
                "panlora.checkpoint.data_position element #1 = -4 is not a position");
        long[] guard = new long[2 + DivergenceGuard.WINDOW];
        guard[0] = -3; // was: restored as is, then the guard's next observe() indexed its window at -3 % 8 (ArrayIndexOutOfBounds)
        assertLoadRefuses(editedCheckpoint(Map.of("panlora.checkpoint.divergence_state",
                GgufValue.intArray(GgufValueType.INT64, guard)), null, null, null, null),
                "panlora.checkpoint.divergence_state: the step count -3 is negative");
        DivergenceGuard g = new io.panlora.train.DivergenceGuard();
        g.restore(guard); // a state with a problem leaves the guard fresh
        g.observe(1.0);
        assertEquals(1, g.count());
    }

    @Test
    void checkpointSlotsForExportAreCheckedAgainstTheModel() throws IOException {
        for (String[] c : new String[][] {
            {"5/attn_q/2", "slot 0 is on layer 5, but the model has 2 layers"},
            {"0/attn_q/0", "slot 0 (0/attn_q/0) has rank 0, out of range 1..32"},
            {"0/attn_q/99999999999", "is not LAYER/TARGET/RANK"},
            {"-1/attn_q/2", "is not LAYER/TARGET/RANK"},
        }) {
            Path p = editedCheckpoint(Map.of("panlora.slot.0.where", GgufValue.string(c[0])), null, null, null, null);
            try (LoraSet empty = new LoraSet(FuzzSupport.base())) {
                GgufException e = assertThrows(GgufException.class, () -> Checkpoint.loadSlotsInto(p.getParent(), empty));
                assertMentions(e, p.toString(), c[1]);
            }
        }
        Path p = editedCheckpoint(Map.of("panlora.slot.2.scale", GgufValue.float32(Float.POSITIVE_INFINITY)), null, null, null, null);
        try (LoraSet empty = new LoraSet(FuzzSupport.base())) {
            GgufException e = assertThrows(GgufException.class, () -> Checkpoint.loadSlotsInto(p.getParent(), empty));
            assertMentions(e, p.toString(), "panlora.slot.2.scale = Infinity, not a finite number");
        }
    }

    // ---- PEFT checks added with the fixes above ----

    Path peftDir(String config, byte[] weights) throws IOException {
        Path peft = Files.createDirectories(dir.resolve("peft-" + Integer.toHexString(config.hashCode())));
        Files.writeString(peft.resolve("adapter_config.json"), config);
        Files.write(peft.resolve("adapter_model.safetensors"), weights);
        return peft;
    }

    @Test
    void peftAlphaWhoseScaleOverflowsAFloat() throws IOException {
        byte[] packed = Files.readAllBytes(input("PeftFuzzTest", "peft", "seed-f32.bin", "seed.bin"));
        int n = (packed[0] & 0xFF) | (packed[1] & 0xFF) << 8;
        String config = new String(packed, 2, n, StandardCharsets.UTF_8).replaceFirst("\"lora_alpha\": [^,]*,", "\"lora_alpha\": 1e300,");
        Path peft = peftDir(config, Arrays.copyOfRange(packed, 2 + n, packed.length));
        try (LoraSet set = new LoraSet(FuzzSupport.base())) {
            IOException e = assertThrows(IOException.class, () -> PeftAdapter.load(peft, set, 1f));
            assertMentions(e, peft.resolve("adapter_config.json").toString(), "lora_alpha 1.0E300", "not a finite float");
        }
    }

    @Test
    void peftModuleGivenTwice() throws IOException {
        Map<String, Safetensors.Tensor> t = new LinkedHashMap<>();
        t.put("base_model.model.model.layers.0.self_attn.v_proj.lora_A.weight", new Safetensors.Tensor(new long[] {1, 32}, new float[32]));
        t.put("base_model.model.model.layers.0.self_attn.v_proj.lora_B.weight", new Safetensors.Tensor(new long[] {16, 1}, new float[16]));
        t.put("model.layers.00.self_attn.v_proj.lora_A.weight", new Safetensors.Tensor(new long[] {1, 32}, new float[32]));
        Path w = dir.resolve("w.safetensors");
        Safetensors.write(w, t, "F32", Map.of());
        Path peft = peftDir("{\"peft_type\": \"LORA\", \"r\": 1, \"lora_alpha\": 2}", Files.readAllBytes(w));
        try (LoraSet set = new LoraSet(FuzzSupport.base())) {
            IOException e = assertThrows(IOException.class, () -> PeftAdapter.load(peft, set, 1f));
            assertMentions(e, "adapter_model.safetensors", "tensor 'model.layers.00.self_attn.v_proj.lora_A.weight' is a second lora_A of layer 00 v_proj");
        }
    }
}
