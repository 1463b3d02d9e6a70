package io.panlora.fuzz;

import io.panlora.convert.PeftAdapter;
import io.panlora.gguf.GgmlType;
import io.panlora.gguf.GgufValue;
import io.panlora.gguf.GgufValueType;
import io.panlora.gguf.GgufWriter;
import io.panlora.lora.AdapterGguf;
import io.panlora.lora.LoraSet;
import io.panlora.lora.Target;
import io.panlora.model.LlamaConfig;
import io.panlora.model.ModelInit;
import io.panlora.model.ModelWriter;
import io.panlora.tokenizer.BpeTrainer;
import io.panlora.tokenizer.TokenizerSpec;
import io.panlora.train.internal.Checkpoint;
import io.panlora.train.DivergenceGuard;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Writes the committed seed corpora of the fuzz targets, every file made by the project's own writers (ModelWriter,
 * GgufWriter, AdapterGguf.write, PeftAdapter.write, Checkpoint.save) from small shapes, so each is a few KB.
 * Deterministic: the same code writes the same bytes. Run it (it needs the native library, for the adapter set) with
 * {@code ci/fuzz.sh --seeds}; the files go to {@code src/test/resources/io/panlora/fuzz/<Target>Inputs/<method>/seed-*},
 * the directories Jazzer replays in regression mode and starts from when fuzzing.
 */
public final class FuzzSeeds {
    private FuzzSeeds() {}

    /** The SentencePiece-style vocabulary of the first model seed: specials, a few byte tokens, pieces. */
    static TokenizerSpec spmSpec(int size) {
        List<String> tokens = new ArrayList<>(List.of("<unk>", "<s>", "</s>", "<0x0A>", "<0x20>", "<0xC3>", "<0xA9>", "▁"));
        List<Integer> types = new ArrayList<>(List.of(2, 3, 3, 6, 6, 6, 6, 1));
        String[] pieces = {"▁the", "▁a", "▁once", "▁upon", "▁time", "he", "ll", "llo", "▁hello", "or", "ld", "▁world", "e", "t", "a",
            "o", "n", "i", "s", "r", "h", "l", "d", "u", "p", "m", "c", "w", "y", "g", "f", "b", "k", "v", "x", "q", "j", "z", "!",
            ".", ","};
        for (String p : pieces) {
            if (tokens.size() == size) break;
            tokens.add(p);
            types.add(1);
        }
        float[] scores = new float[tokens.size()];
        for (int i = 0; i < scores.length; i++) scores[i] = i < 8 ? 0f : -i - tokens.get(i).length() * 0.1f;
        return new TokenizerSpec("llama", null, tokens, scores, types.stream().mapToInt(Integer::intValue).toArray(), null, 1, 2, 0, -1,
                true, false, true, "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}");
    }

    /** The chat control tokens of the data target's byte-level BPE vocabulary (chatml, llama3, gemma, phi3, zephyr). */
    static final List<String> CHAT_SPECIALS = List.of("<|im_start|>", "<|im_end|>", "<|start_header_id|>", "<|end_header_id|>",
            "<|eot_id|>", "<start_of_turn>", "<end_of_turn>", "<|user|>", "<|assistant|>", "<|system|>", "<|end|>", "</s>", "<s>",
            "[INST]", "[/INST]");

    public static void main(String[] args) throws Exception {
        Path root = Path.of(args.length > 0 ? args[0] : "src/test/resources").resolve("io/panlora/fuzz");
        Path scratch = Files.createTempDirectory("panlora-seeds");
        try {
            write(root, scratch);
        } finally {
            FuzzSupport.deleteTree(scratch);
        }
        System.out.println("seeds written under " + root.toAbsolutePath());
        System.exit(0);
    }

    static void write(Path root, Path scratch) throws IOException {
        // ---- models (target 2, and GGUF files for target 1) ----
        LlamaConfig spmModel = new LlamaConfig("llama", 48, 32, 1, 2, 1, 16, 64, 16, 16, 10000f, 1f, 1e-5f, LlamaConfig.ROPE_NORMAL);
        Path m1 = scratch.resolve("m1.gguf");
        try (Arena a = Arena.ofConfined()) {
            ModelWriter.write(m1, "fuzz-spm", spmModel, spmSpec(48), ModelInit.randomWeights(spmModel, GgmlType.Q4_0, 1, false, a));
        }
        TokenizerSpec bpe = BpeTrainer.train("once upon a time the hello world of the tiny model, the end. hello again!", 262,
                List.of("<|im_start|>", "<|im_end|>"));
        LlamaConfig qwen = new LlamaConfig("qwen2", bpe.size(), 8, 1, 2, 1, 4, 16, 32, 4, 1000000f, 0.5f, 1e-6f, LlamaConfig.ROPE_NEOX);
        Path m2 = scratch.resolve("m2.gguf");
        try (Arena a = Arena.ofConfined()) {
            ModelWriter.write(m2, "fuzz-bpe", qwen, bpe, ModelInit.randomWeights(qwen, GgmlType.F16, 2, false, a));
        }
        LlamaConfig q8 = new LlamaConfig("mistral", 48, 32, 1, 2, 2, 16, 32, 16, 8, 10000f, 1f, 1e-5f, LlamaConfig.ROPE_NORMAL);
        Path m3 = scratch.resolve("m3.gguf");
        try (Arena a = Arena.ofConfined()) {
            ModelWriter.write(m3, "fuzz-q8", q8, spmSpec(48), ModelInit.randomWeights(q8, GgmlType.Q8_0, 3, false, a));
        }
        copy(m1, dir(root, "ModelFuzzTest", "model").resolve("seed-llama-spm-q4_0.gguf"));
        copy(m2, dir(root, "ModelFuzzTest", "model").resolve("seed-qwen2-bpe-f16.gguf"));
        copy(m3, dir(root, "ModelFuzzTest", "model").resolve("seed-mistral-q8_0.gguf"));
        copy(m1, dir(root, "GgufFuzzTest", "ggufFile").resolve("seed-model.gguf"));

        // every value type, nested arrays, version 2, another alignment
        GgufWriter w = new GgufWriter().version(2).alignment(64);
        w.put("u8", GgufValue.intArray(GgufValueType.UINT8, new long[] {0, 255}));
        w.put("i8", new GgufValue.IntValue(GgufValueType.INT8, -128));
        w.put("u16", new GgufValue.IntValue(GgufValueType.UINT16, 65535));
        w.put("i16", GgufValue.intArray(GgufValueType.INT16, new long[] {-32768, 32767}));
        w.putUint32("u32", 4294967295L);
        w.putInt32("i32", -1);
        w.put("u64", new GgufValue.IntValue(GgufValueType.UINT64, -1L));
        w.put("i64", GgufValue.intArray(GgufValueType.INT64, new long[] {Long.MIN_VALUE, 3}));
        w.putFloat32("f32", 1.5f);
        w.put("f64", new GgufValue.Float64Value(-2.25));
        w.put("f32s", GgufValue.float32Array(new float[] {1f, Float.NaN}));
        w.put("f64s", new GgufValue.Float64Array(new double[] {0.5, 1e300}));
        w.putBool("b", true);
        w.put("bs", new GgufValue.BoolArray(new boolean[] {true, false}));
        w.putString("s", "héllo");
        w.put("ss", GgufValue.stringArray(List.of("a", "", "ü")));
        w.put("nested", new GgufValue.NestedArray(List.of(GgufValue.intArray(GgufValueType.UINT32, new long[] {1, 2}),
                GgufValue.stringArray(List.of("x")))));
        w.addTensor("t.f32", new long[] {4, 2}, GgmlType.F32, new byte[32]);
        w.addTensor("t.q8", new long[] {32}, GgmlType.Q8_0, new byte[34]);
        w.addTensor("t.q4k", new long[] {256, 1, 1, 1}, GgmlType.Q4_K, new byte[144]);
        w.write(dir(root, "GgufFuzzTest", "ggufFile").resolve("seed-every-type-v2.gguf"));

        // ---- adapters (target 3), checkpoints (target 6), PEFT (targets 4) on the fuzz base ----
        try (LoraSet set = new LoraSet(FuzzSupport.base())) {
            SplittableRandom rng = new SplittableRandom(11);
            for (Target t : Target.values()) set.addSlot(0, t, 2, 0.75f);
            set.addSlot(1, Target.ATTN_Q, 4, 0.5f);
            set.addSlot(1, Target.ATTN_Q, 1, 0.25f); // two slots on one target: merged into one pair on export
            randomize(set, rng);
            for (GgmlType t : List.of(GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0)) {
                Path p = dir(root, "AdapterFuzzTest", "adapter").resolve("seed-" + t.name().toLowerCase() + ".gguf");
                AdapterGguf.write(p, set, FuzzSupport.BASE, t, "fuzz");
                if (t == GgmlType.F16) copy(p, dir(root, "GgufFuzzTest", "ggufFile").resolve("seed-adapter.gguf"));
            }
        }
        try (LoraSet set = new LoraSet(FuzzSupport.base())) { // PEFT files have one rank for every module (no rank_pattern)
            for (Target t : Target.values()) set.addSlot(0, t, 2, 1f);
            set.addSlot(1, Target.ATTN_Q, 2, 1f);
            randomize(set, new SplittableRandom(13));
            for (String dtype : List.of("F32", "F16", "BF16")) {
                Path peft = scratch.resolve("peft-" + dtype);
                PeftAdapter.write(peft, set, dtype, "fuzz-base");
                byte[] config = Files.readAllBytes(peft.resolve("adapter_config.json"));
                byte[] weights = Files.readAllBytes(peft.resolve("adapter_model.safetensors"));
                if (dtype.equals("BF16")) {
                    config = new String(config, StandardCharsets.UTF_8).replace("\"use_rslora\": false", "\"use_rslora\": true")
                            .getBytes(StandardCharsets.UTF_8);
                }
                Files.write(dir(root, "PeftFuzzTest", "peft").resolve("seed-" + dtype.toLowerCase() + ".bin"), PeftFuzzTest.pack(config, weights));
                Files.write(dir(root, "SafetensorsFuzzTest", "safetensors").resolve("seed-" + dtype.toLowerCase() + ".safetensors"), weights);
            }
        }
        try (LoraSet set = FuzzSupport.checkpointSlots()) {
            randomize(set, new SplittableRandom(12));
            for (LoraSet.Slot s : set.slots()) {
                SplittableRandom r = new SplittableRandom(s.index());
                set.setAdam(s, new LoraSet.AdamState(floats(r, s.aLength()), abs(floats(r, s.aLength())), floats(r, s.bLength()),
                        abs(floats(r, s.bLength())), 7)); // second moments are >= 0
            }
            DivergenceGuard guard = new DivergenceGuard();
            for (double loss : new double[] {3.5, 3.1, 2.9}) guard.observe(loss);
            Map<String, float[]> hooks = new LinkedHashMap<>();
            hooks.put("lorasc.slow.0", new float[] {0.5f, -0.25f, 1f});
            Path dir = scratch.resolve("ckpt");
            Files.createDirectories(dir);
            Checkpoint.save(dir, set, new Checkpoint.State(7, new long[] {1, 3}, new long[] {42, 2}, FuzzSupport.CHECKPOINT_KEY, hooks,
                    guard.state()));
            copy(dir.resolve(Checkpoint.FILE), dir(root, "CheckpointFuzzTest", "checkpoint").resolve("seed-checkpoint.gguf"));
            copy(dir.resolve(Checkpoint.FILE), dir(root, "GgufFuzzTest", "ggufFile").resolve("seed-checkpoint.gguf"));
        }

        // ---- training data (target 5): an options byte (see DataFuzzTest) and the file's bytes ----
        Path data = dir(root, "DataFuzzTest", "trainingData");
        String mixed = """
                {"text": "Once upon a time there was a tiny model."}
                {"prompt": "Say hello: ", "completion": "hello world"}
                {"instruction": "Translate to French", "input": "cat", "output": "chat"}
                {"instruction": "Count to three", "input": null, "output": "1 2 3", "extra": [1, 2.5e3, -0, true, false, null, {}]}

                {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi \\u00e9\\ud83d\\ude00"}, {"role": "assistant", "content": "Hello!"}]}
                """;
        Files.write(data.resolve("seed-mixed.bin"), DataFuzzTest.pack(DataFuzzTest.options(false, false, true, false, 0, 0, 5), mixed));
        String chat = """
                {"messages": [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "4"}, {"role": "user", "content": "And 3+3?"}, {"role": "assistant", "content": "6"}]}
                {"messages": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "<|im_start|>hi"}, {"role": "assistant", "content": " ok\\n"}]}
                """;
        for (int template = 1; template <= io.panlora.data.ChatTemplate.values().length; template++) {
            Files.write(data.resolve("seed-chat-" + io.panlora.data.ChatTemplate.values()[template - 1].id() + ".bin"),
                    DataFuzzTest.pack(DataFuzzTest.options(false, false, true, template % 2 == 0, template, template % 2, 3), chat));
        }
        String bad = """
                {"text": "fine"}
                {"text": "unterminated}
                {"prompt": "only a prompt"}
                [1, 2]
                {"messages": []}
                {"messages": [{"role": "robot", "content": "x"}]}
                {"text": "also fine", "text2": 1}
                """;
        Files.write(data.resolve("seed-bad-lines-skipped.bin"), DataFuzzTest.pack(DataFuzzTest.options(false, true, false, false, 0, 1, 2), bad));
        Files.write(data.resolve("seed-text.bin"), DataFuzzTest.pack(DataFuzzTest.options(true, false, false, false, 0, 0, 4),
                "\uFEFFOnce upon a time,\r\nthere was a model.\n\nThe end é 😀\n"));
    }

    private static void randomize(LoraSet set, SplittableRandom rng) {
        for (LoraSet.Slot s : set.slots()) set.setWeights(s, floats(rng, s.aLength()), floats(rng, s.bLength()));
    }

    private static float[] floats(SplittableRandom rng, long n) {
        float[] v = new float[(int) n];
        for (int i = 0; i < v.length; i++) v[i] = (float) (rng.nextGaussian() * 0.1);
        return v;
    }

    private static float[] abs(float[] v) {
        for (int i = 0; i < v.length; i++) v[i] = Math.abs(v[i]);
        return v;
    }

    private static Path dir(Path root, String testClass, String method) throws IOException {
        return Files.createDirectories(root.resolve(testClass + "Inputs").resolve(method));
    }

    private static void copy(Path from, Path to) throws IOException {
        Files.copy(from, to, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
    }

    /** Bytes of a UTF-8 string (for tests that build inputs). */
    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    /** Concatenates byte arrays. */
    static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) out.writeBytes(p);
        return out.toByteArray();
    }
}
