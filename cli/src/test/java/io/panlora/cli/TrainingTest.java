package io.panlora.cli;

import io.panlora.train.*;

import io.panlora.train.internal.Checkpoint;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.panlora.data.Dataset;
import io.panlora.data.Packer;
import io.panlora.data.ReadOptions;
import io.panlora.demo.JdkCorpora;
import io.panlora.gguf.GgmlType;
import io.panlora.lora.AdapterGguf;
import io.panlora.lora.LoraSet;
import io.panlora.lora.Target;
import io.panlora.model.LlamaConfig;
import io.panlora.model.LlamaModel;
import io.panlora.model.ModelInit;
import io.panlora.model.ModelWriter;
import io.panlora.model.TokenizerLoader;
import io.panlora.model.WeightTensor;
import io.panlora.testing.SharedData;
import io.panlora.tokenizer.BpeTrainer;
import io.panlora.tokenizer.Tokenizer;
import io.panlora.tokenizer.TokenizerSpec;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** End-to-end training: loss falls, real-model LoRA, export reproduces the trained model, resume, divergence. */
class TrainingTest {
    @TempDir
    Path dir;

    /** 40 KB of the JDK's licence texts: a small fixed real text every JDK has. */
    static String smallText() throws Exception {
        String s = JdkCorpora.legal(JdkCorpora.javaHome());
        return s.substring(0, Math.min(s.length(), 40_000));
    }

    static TrainConfig fullConfig(int steps) {
        return new TrainConfig(1, 1f, false, List.of(Target.ATTN_Q), 3e-3f, LrSchedule.Kind.COSINE, 5, 0.1f, steps, 4, 64, 1, 3,
                1f, 0f, 0.9f, 0.95f, 1e-8f, 0, 0, 0, false, StepEngine.Mode.FULL);
    }

    @Test
    void pretrainingATinyModelLowersHeldOutLoss() throws Exception {
        Path txt = dir.resolve("text.txt");
        Files.writeString(txt, smallText());
        TokenizerSpec spec = BpeTrainer.train(Files.readString(txt), 384);
        Tokenizer tok = Tokenizer.of(spec);
        LlamaConfig c = LlamaConfig.llama(spec.tokens().size(), 64, 2, 4, 2, 176, 64);
        Dataset ds = Dataset.load(txt, null, tok, ReadOptions.defaults(), new Packer(64, false, Packer.padIdFor(tok)), 0.1, 3);
        Arena arena = Arena.ofShared();
        try (LlamaModel m = LlamaModel.fromWeights(c, ModelInit.randomWeights(c, GgmlType.F32, 3, false, arena), arena)) {
            List<BatchSource.Batch> val = DatasetBatches.validation(ds, 4, 0);
            Trainer.Result r = new Trainer(m, null, fullConfig(160), new DatasetBatches(ds, 4, 3), val, null, null).run(false);
            System.out.printf("tiny pretraining: held-out loss %.3f -> %.3f%n", r.valBefore(), r.valAfter());
            // stated margin: at least 1.0 nat/token below the random init (≈ ln 384 = 5.95); measured 5.94 -> 4.57
            assertTrue(r.valBefore() - r.valAfter() > 1.0, "held-out loss " + r.valBefore() + " -> " + r.valAfter());
        }
    }

    @Test
    void loraOnStories260kTowardsShakespeareAndExportReproducesIt() throws Exception {
        Path model = SharedData.require("stories260K.gguf");
        String shakespeare = Files.readString(SharedData.require("tinyshakespeare.txt"));
        Path train = dir.resolve("train.txt"), val = dir.resolve("val.txt");
        // held out: the start of the play (where the data README's 3.92 reference was measured); trained: what follows
        Files.writeString(val, shakespeare.substring(0, 40_000));
        Files.writeString(train, shakespeare.substring(40_000, 340_000));
        TrainConfig cfg = new TrainConfig(8, 16f, false, Target.parseList("all"), 3e-3f, LrSchedule.Kind.COSINE, 5, 0.1f, 60, 4, 256, 1, 5,
                1f, 0f, 0.9f, 0.999f, 1e-8f, 0, 0, 0, false, StepEngine.Mode.LORA);
        LoraRun.Summary s = LoraRun.run(new LoraRun.Options(model, train, val, 0, cfg, 0, ReadOptions.defaults(), GgmlType.F32,
                dir.resolve("run"), false, null));
        Trainer.Result r = s.result();
        System.out.printf("stories260K -> shakespeare LoRA: held-out NLL %.4f -> %.4f%n", r.valBefore(), r.valAfter());
        // windows after the first start mid-text without BOS, so the base scores worse than the 3.92 of a BOS-first window
        assertTrue(r.valBefore() > 3.8 && r.valBefore() < 5.0, "the base's held-out NLL on Shakespeare: " + r.valBefore());
        // stated margin: 1.0 nat/token (measured 4.69 -> 3.12 in 60 steps)
        assertTrue(r.valBefore() - r.valAfter() > 1.0, "held-out NLL " + r.valBefore() + " -> " + r.valAfter());
        // the exported F32 adapter applied to a freshly loaded base reproduces the trained model's held-out NLL
        try (LlamaModel m = LlamaModel.load(model); LoraSet set = new LoraSet(m)) {
            Tokenizer tok = TokenizerLoader.fromGguf(m.gguf().orElseThrow());
            Dataset ds = Dataset.load(train, val, tok, ReadOptions.defaults(), new Packer(256, false, Packer.padIdFor(tok)), 0, 5);
            AdapterGguf.load(s.adapter(), set, 1f);
            set.attach();
            double reloaded = Trainer.evaluate(m, DatasetBatches.validation(ds, 4, 0));
            assertEquals(r.valAfter(), reloaded, 1e-6, "reloaded adapter's held-out NLL");
        }
    }

    @Test
    void instructionDataInAlpacaAndChatFormsTrainsOnlyTheAnswers() throws Exception {
        Path model = SharedData.require("stories260K.gguf");
        // self-instruct seed tasks rewritten as alpaca records and as chat records
        List<String> alpaca = new ArrayList<>(), chat = new ArrayList<>();
        for (String line : Files.readAllLines(SharedData.require("selfinstruct-seed-tasks.jsonl"))) {
            var o = (io.panlora.data.JsonValue.Obj) io.panlora.data.JsonParser.parse(line);
            String instruction = ((io.panlora.data.JsonValue.Str) o.fields().get("instruction")).value();
            var inst = (io.panlora.data.JsonValue.Obj) ((io.panlora.data.JsonValue.Arr) o.fields().get("instances")).items().get(0);
            String input = ((io.panlora.data.JsonValue.Str) inst.fields().get("input")).value();
            String output = ((io.panlora.data.JsonValue.Str) inst.fields().get("output")).value();
            alpaca.add("{\"instruction\": " + json(instruction) + ", \"input\": " + json(input) + ", \"output\": " + json(output) + "}");
            chat.add("{\"messages\": [{\"role\": \"user\", \"content\": " + json(instruction + (input.isEmpty() ? "" : "\n" + input))
                    + "}, {\"role\": \"assistant\", \"content\": " + json(output) + "}]}");
        }
        for (var form : List.of(Map.entry("alpaca.jsonl", alpaca), Map.entry("chat.jsonl", chat))) {
            Path data = dir.resolve(form.getKey());
            Files.write(data, form.getValue());
            TrainConfig cfg = TrainConfig.builder().lora(8, 16f).targets("all").lr(2e-3f, LrSchedule.Kind.COSINE, 2, 0.1f).steps(30)
                    .batch(4, 512, 1).seed(3).eval(0, 0).checkpointEvery(0).build();
            ReadOptions ro = ReadOptions.defaults().withChatTemplate(io.panlora.data.ChatTemplate.named("chatml"));
            LoraRun.Summary s = LoraRun.run(new LoraRun.Options(model, data, null, 0.1, cfg, 0, ro, GgmlType.F16, dir.resolve(form.getKey() + ".run"),
                    false, null));
            System.out.printf("%s: held-out answer NLL %.3f -> %.3f (%d train / %d validation examples)%n", form.getKey(),
                    s.result().valBefore(), s.result().valAfter(), s.trainWindows(), s.validationWindows());
            assertTrue(s.result().valAfter() < s.result().valBefore() - 0.2, form.getKey() + ": " + s.result());
        }
    }

    /** A JSON string literal. */
    static String json(String s) {
        return io.panlora.data.JsonValue.quote(s);
    }

    /** A tiny base written as GGUF for the CLI-level tests. */
    static Path tinyBase(Path dir) throws Exception {
        Path text = dir.resolve("data.txt");
        Files.writeString(text, smallText());
        TokenizerSpec spec = BpeTrainer.train(Files.readString(text), 320);
        LlamaConfig c = LlamaConfig.llama(spec.tokens().size(), 64, 2, 4, 2, 128, 64);
        Path base = dir.resolve("base.gguf");
        try (Arena a = Arena.ofConfined()) {
            ModelWriter.write(base, "tiny", c, spec, ModelInit.randomWeights(c, GgmlType.F32, 9, false, a));
        }
        return base;
    }

    /** Runs the CLI in a child JVM (the same class path and library); returns its exit code. */
    static int cli(Path dir, List<String> args, String... sysProps) throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElse("java"));
        cmd.add("--enable-native-access=ALL-UNNAMED");
        cmd.add("-Dpanlora.library.dir=" + System.getProperty("panlora.library.dir"));
        cmd.add("-Dpanlora.threads=2");
        for (String p : sysProps) cmd.add("-D" + p);
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add("io.panlora.cli.Main");
        cmd.addAll(args);
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true)
                .redirectOutput(dir.resolve("cli-" + System.nanoTime() + ".log").toFile()).start();
        return p.waitFor();
    }

    @org.junit.jupiter.params.ParameterizedTest(name = "--variant {0}")
    @org.junit.jupiter.params.provider.ValueSource(strings = {"lora", "copra", "cola", "lorasc"})
    void killedAndResumedRunGivesABitIdenticalAdapter(String variant) throws Exception {
        Path base = tinyBase(dir);
        List<String> common = new ArrayList<>(List.of("train", "-m", base.toString(), "--data", dir.resolve("data.txt").toString(), "--rank", "4",
                "--targets", "all", "--steps", "12", "--batch", "2", "--ctx", "32", "--grad-accum", "2", "--lr", "5e-3",
                "--save-every", "4", "--eval-every", "6", "--eval-batches", "2", "--adapter-type", "F32", "-t", "2",
                "--variant", variant));
        if (variant.equals("cola")) common.addAll(List.of("--cola-links", "3"));
        if (variant.equals("lorasc")) common.addAll(List.of("--lorasc-every", "3"));
        List<String> whole = new ArrayList<>(common);
        whole.addAll(List.of("-o", dir.resolve("whole").toString()));
        assertEquals(0, cli(dir, whole));
        List<String> killed = new ArrayList<>(common);
        killed.addAll(List.of("-o", dir.resolve("killed").toString()));
        // the child halts abruptly (no shutdown hooks, like a kill -9) right after its step-8 checkpoint
        int rc = cli(dir, killed, "panlora.test.haltAfterCheckpoint=8");
        assertEquals(137, rc, "the first run must be killed");
        assertTrue(!Files.exists(dir.resolve("killed/adapter.gguf")), "a killed run exports nothing");
        List<String> resumed = new ArrayList<>(common);
        resumed.addAll(List.of("--resume", dir.resolve("killed").toString()));
        assertEquals(0, cli(dir, resumed));
        assertArrayEquals(Files.readAllBytes(dir.resolve("whole/adapter.gguf")), Files.readAllBytes(dir.resolve("killed/adapter.gguf")),
                "resumed adapter must be bit-identical to the uninterrupted one");
        long lines = Files.readAllLines(dir.resolve("killed/metrics.jsonl")).stream().filter(l -> l.contains("\"loss\"")).count();
        assertEquals(12, lines, "metrics hold each step once");
    }

    @Test
    void evalCommandScoresTheTrainedTokens() throws Exception {
        Path base = tinyBase(dir);
        Files.write(dir.resolve("qa.jsonl"), List.of("{\"prompt\": \"Q: what licence?\\nA:\", \"completion\": \" GPL version 2\"}",
                "{\"prompt\": \"Q: who?\\nA:\", \"completion\": \" Oracle\"}"));
        assertEquals(0, cli(dir, List.of("eval", "-m", base.toString(), "--data", dir.resolve("qa.jsonl").toString(), "-c", "32")));
        String out = Files.readString(Files.list(dir).filter(p -> p.getFileName().toString().startsWith("cli-")).findFirst().orElseThrow());
        assertTrue(out.contains("mean NLL:") && out.contains("2 windows"), out);
        Files.write(dir.resolve("bad.jsonl"), List.of("{\"prompt\": \"x\", \"completion\": \"y\"}", "{\"prompt\": 3"));
        assertEquals(1, cli(dir, List.of("eval", "-m", base.toString(), "--data", dir.resolve("bad.jsonl").toString())));
    }

    @Test
    void nanInTheWeightsStopsTrainingAndKeepsTheLastGoodCheckpoint() throws Exception {
        Path base = tinyBase(dir);
        Path text = dir.resolve("data.txt");
        try (LlamaModel m = LlamaModel.load(base)) {
            Tokenizer tok = TokenizerLoader.fromGguf(m.gguf().orElseThrow());
            Dataset ds = Dataset.load(text, null, tok, ReadOptions.defaults(), new Packer(32, false, Packer.padIdFor(tok)), 0.1, 1);
            // a writable copy of the weights, so a NaN can be injected mid-run
            Arena arena = Arena.ofShared();
            Map<String, WeightTensor> w = new java.util.HashMap<>();
            for (var e : m.weights().entrySet()) {
                var seg = arena.allocate(e.getValue().data().byteSize(), 64);
                seg.copyFrom(e.getValue().data());
                w.put(e.getKey(), new WeightTensor(e.getValue().type(), e.getValue().ne0(), e.getValue().ne1(), seg));
            }
            try (LlamaModel mm = LlamaModel.fromWeights(m.config(), w, arena); LoraSet set = new LoraSet(mm)) {
                LoraInit.addStandard(set, 4, 2f, List.of(Target.ATTN_Q, Target.ATTN_V), 1);
                set.attach();
                TrainConfig cfg = new TrainConfig(4, 8f, false, List.of(Target.ATTN_Q, Target.ATTN_V), 1e-3f, LrSchedule.Kind.CONSTANT, 0,
                        0f, 10, 2, 32, 1, 1, 1f, 0f, 0.9f, 0.999f, 1e-8f, 0, 0, 3, false, StepEngine.Mode.LORA);
                Trainer tr = new Trainer(mm, set, cfg, new DatasetBatches(ds, 2, 1), List.of(), dir.resolve("nan"), null);
                tr.addHook(new TrainHook() {
                    @Override
                    public void beforeStep(Trainer t, int step) {
                        if (step == 4) w.get("blk.1.ffn_up.weight").data().setAtIndex(ValueLayout.JAVA_FLOAT, 17, Float.NaN);
                    }
                });
                Trainer.DivergedException e = assertThrows(Trainer.DivergedException.class, () -> tr.run(false));
                assertTrue(e.getMessage().contains("step 5") && e.getMessage().contains("checkpoint"), e.getMessage());
                assertEquals(3, Checkpoint.load(dir.resolve("nan"), set, tr.configKey()).step(), "the step-3 checkpoint survives");
            }
        }
    }
}
