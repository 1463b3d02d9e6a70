package io.panlora.cli;

import io.panlora.model.*;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.panlora.bindings.PanloraException;
import io.panlora.cli.Main;
import io.panlora.demo.JdkCorpora;
import io.panlora.gguf.GgmlType;
import io.panlora.tokenizer.BpeTrainer;
import io.panlora.tokenizer.TokenizerSpec;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Device selection without a GPU: parsing, auto = CPU with a reason, CUDA asked for explicitly is a clear error (API and CLI),
 * the CPU path unchanged. The tests that need the absence of a GPU skip on a machine that has one.
 */
class DeviceTest {
    @TempDir
    Path dir;

    @Test
    void parseAcceptsCpuCudaAndCudaN() {
        assertEquals(Device.CPU, Device.parse("cpu"));
        assertEquals(Device.CPU, Device.parse(" CPU "));
        assertEquals(Device.cuda(0), Device.parse("cuda"));
        assertEquals(Device.cuda(0), Device.parse("cuda:0"));
        assertEquals(Device.cuda(3), Device.parse("CUDA:3"));
        assertEquals("cuda:3", Device.parse("cuda:3").toString());
        assertEquals("cpu", Device.CPU.toString());
        assertTrue(Device.CPU.isCpu() && !Device.CPU.isCuda());
        assertEquals(-1, Device.CPU.engineId());
        assertEquals(2, Device.cuda(2).engineId());
        assertEquals(Device.auto(), Device.parse("auto"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "gpu", "cuda:", "cuda:-1", "cuda:x", "cuda0", "cuda:1:2", "tpu:0", "cpu:0", "autox"})
    void parseRejectsEverythingElse(String spec) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Device.parse(spec));
        assertTrue(e.getMessage().contains("cpu, cuda, cuda:N or auto"), e.getMessage());
    }

    @Test
    void placementNames() {
        assertEquals(WeightPlacement.AUTO, WeightPlacement.parse("auto"));
        assertEquals(WeightPlacement.RESIDENT, WeightPlacement.parse("Resident"));
        assertEquals(WeightPlacement.STREAMED, WeightPlacement.parse("streamed"));
        assertEquals(WeightPlacement.F32, WeightPlacement.parse("f32"));
        assertThrows(IllegalArgumentException.class, () -> WeightPlacement.parse("bf16"));
        assertEquals(List.of(0, 1, 2, 3), Arrays.stream(WeightPlacement.values()).map(WeightPlacement::engineId).toList());
    }

    private static void assumeNoGpu() {
        assumeTrue(Device.cudaDeviceCount() == 0, "a CUDA device is present: this test is about a machine without one");
    }

    @Test
    void withoutAGpuAutoIsTheCpuAndTheReasonIsASentence() {
        assumeNoGpu();
        assertEquals(Device.CPU, Device.auto());
        String why = Device.cudaUnavailableReason().orElseThrow();
        assertFalse(why.isBlank());
        assertTrue(why.trim().contains(" ") && !why.contains("\n"), "one sentence: " + why);
        assertTrue(Device.CPU.announcement(false).startsWith("device cpu (CUDA unavailable: "), Device.CPU.announcement(false));
    }

    @Test
    void aCudaModelWithoutAGpuFailsNamingTheReason() {
        assumeNoGpu();
        String why = Device.cudaUnavailableReason().orElseThrow();
        IllegalStateException ise = assertThrows(IllegalStateException.class, () -> Device.cuda(0).checkUsable());
        assertTrue(ise.getMessage().contains(why), ise.getMessage());
        LlamaConfig c = Presets.byName("tiny");
        try (Arena a = Arena.ofConfined()) {
            var w = ModelInit.randomWeights(c, GgmlType.F32, 1, false, a);
            RuntimeException e = assertThrows(RuntimeException.class, () -> LlamaModel.fromWeights(c, w, null, Device.cuda(0)));
            assertTrue(e instanceof IllegalStateException || e instanceof PanloraException, e.toString());
            assertTrue(e.getMessage().contains("cuda:0") && e.getMessage().contains(why), e.getMessage());
            assertThrows(IllegalStateException.class, () -> LlamaModel.fromWeights(c, w, null, Device.cuda(5)));
            // the CPU overloads are unchanged
            try (LlamaModel m = LlamaModel.fromWeights(c, w, null)) {
                assertEquals(Device.CPU, m.device());
                assertEquals(new LlamaModel.DeviceMemory(0, 0, 0), m.deviceMemory());
            }
            try (LlamaModel m = LlamaModel.fromWeights(c, w, null, LlamaModel.LoadOptions.cpu().withPlacement(WeightPlacement.F32))) {
                assertEquals(Device.CPU, m.device());
            }
        }
    }

    /** A tiny GGUF base with a BPE tokenizer. */
    private Path tinyBase() throws Exception {
        String text = JdkCorpora.legal(JdkCorpora.javaHome());
        TokenizerSpec spec = BpeTrainer.train(text.substring(0, Math.min(20_000, text.length())), 300);
        LlamaConfig c = LlamaConfig.llama(spec.tokens().size(), 64, 2, 4, 2, 128, 64);
        Path base = dir.resolve("base.gguf");
        try (Arena a = Arena.ofConfined()) {
            ModelWriter.write(base, "tiny", c, spec, ModelInit.randomWeights(c, GgmlType.F32, 9, false, a));
        }
        return base;
    }

    /** Runs the CLI in this JVM: exit status, stdout, the CLI's error writer and System.err. */
    record Cli(int rc, String out, String err) {}

    static Cli cli(String... args) {
        PrintStream oldOut = System.out, oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        StringWriter cliErr = new StringWriter();
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            var cl = Main.commandLine();
            cl.setErr(new PrintWriter(cliErr, true));
            int rc = cl.execute(args);
            return new Cli(rc, out.toString(StandardCharsets.UTF_8), cliErr + err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    @Test
    void generateOnCudaWithoutAGpuIsAOneLineError() throws Exception {
        assumeNoGpu();
        Path base = tinyBase();
        Cli r = cli("generate", "-m", base.toString(), "-p", "Permission", "-n", "4", "--temp", "0", "--device", "cuda", "-t", "2");
        assertEquals(1, r.rc(), r.err());
        List<String> lines = r.err().lines().filter(l -> !l.isBlank()).toList();
        assertEquals(1, lines.size(), "one line: " + r.err());
        assertTrue(lines.get(0).startsWith("panlora generate: error: device cuda:0 asked for, but CUDA is unavailable: "), lines.get(0));
        assertTrue(lines.get(0).contains(Device.cudaUnavailableReason().orElseThrow()), lines.get(0));
        assertEquals("", r.out());
    }

    @Test
    void generateOnTheCpuWorksAsBefore() throws Exception {
        Path base = tinyBase();
        Cli r = cli("generate", "-m", base.toString(), "-p", "Permission", "-n", "8", "--temp", "0", "--device", "cpu", "--weights", "f32", "-t", "2");
        assertEquals(0, r.rc(), r.err());
        assertTrue(r.out().startsWith("Permission"), r.out());
        assertTrue(r.err().contains("panlora: device cpu\n") || r.err().contains("panlora: device cpu" + System.lineSeparator()), r.err());
        // greedy generation is the same as with the API's CPU model
        Cli again = cli("generate", "-m", base.toString(), "-p", "Permission", "-n", "8", "--temp", "0", "-t", "2");
        assertEquals(0, again.rc(), again.err());
        if (Device.cudaDeviceCount() == 0) {
            assertEquals(r.out(), again.out(), "--device auto is the CPU here");
            assertTrue(again.err().contains("panlora: device cpu (CUDA unavailable: "), again.err());
        }
    }

    @Test
    void badDeviceAndPlacementNamesAreOneLineErrors() throws Exception {
        Path base = tinyBase();
        Cli r = cli("generate", "-m", base.toString(), "-n", "2", "--device", "gpu");
        assertEquals(1, r.rc());
        assertTrue(r.err().strip().equals("panlora generate: error: unknown device 'gpu' (cpu, cuda, cuda:N or auto)"), r.err());
        Cli p = cli("perplexity", "-m", base.toString(), "-f", base.toString(), "--device", "cpu", "--weights", "bf16");
        assertEquals(1, p.rc());
        assertTrue(p.err().contains("panlora perplexity: error: unknown weight placement 'bf16'"), p.err());
    }

    @Test
    void gpuCheckWithoutAGpuExitsTwoWithTheReason() {
        assumeNoGpu();
        Cli r = cli("gpu-check", "--steps", "30");
        assertEquals(2, r.rc(), r.out() + r.err());
        assertEquals("gpu-check: no CUDA device: " + Device.cudaUnavailableReason().orElseThrow(), r.out().strip());
    }

    @Test
    void gpuPresetsHaveTheLlamaShapes() {
        LlamaConfig b1 = Presets.byName("1b"), b3 = Presets.byName("3b"), b8 = Presets.byName("8b"), m125 = Presets.byName("125m");
        assertEquals(List.of(2048L, 16L, 32L, 8L, 64L, 8192L, 128256L), List.of(b1.nEmbd(), b1.nLayer(), b1.nHead(), b1.nHeadKv(), b1.headDim(), b1.nFf(), b1.nVocab()));
        assertEquals(List.of(3072L, 28L, 24L, 8L, 128L, 8192L, 128256L), List.of(b3.nEmbd(), b3.nLayer(), b3.nHead(), b3.nHeadKv(), b3.headDim(), b3.nFf(), b3.nVocab()));
        assertEquals(List.of(4096L, 32L, 32L, 8L, 128L, 14336L, 128256L), List.of(b8.nEmbd(), b8.nLayer(), b8.nHead(), b8.nHeadKv(), b8.headDim(), b8.nFf(), b8.nVocab()));
        assertEquals(List.of(768L, 12L, 12L, 12L, 64L, 2048L, 32000L), List.of(m125.nEmbd(), m125.nLayer(), m125.nHead(), m125.nHeadKv(), m125.headDim(), m125.nFf(), m125.nVocab()));
        assertTrue(m125.nCtxTrain() >= 2048 && b8.nCtxTrain() >= 2048, "the CUDA benchmark's 2048 tokens fit");
        // Llama 3.2 1B: 1.24B parameters with the tied output
        assertEquals(1.236e9, b1.parameterCount(true), 0.01e9);
    }

    @Test
    void tiledRandomWeightsRepeatOneQuantizedPool() {
        LlamaConfig c = LlamaConfig.llama(600, 256, 2, 4, 2, 512, 64);
        try (Arena a = Arena.ofConfined()) {
            var w = ModelInit.tiledRandomWeights(c, GgmlType.Q4_K, 5, false, 256, a);
            WeightTensor emb = w.get("token_embd.weight");
            assertEquals(GgmlType.Q4_K, emb.type());
            long row = GgmlType.Q4_K.rowBytes(256);
            assertEquals(row * 600, emb.data().byteSize());
            // rows repeat with period 256 (the pool), the last partial copy included
            assertEquals(-1, emb.data().asSlice(0, row * 88).mismatch(emb.data().asSlice(row * 512, row * 88)));
            assertTrue(emb.data().asSlice(0, row).mismatch(emb.data().asSlice(row, row)) >= 0, "rows of the pool differ");
            // every layer's tensor has its own memory with the pool's bytes
            WeightTensor q0 = w.get("blk.0.attn_q.weight"), q1 = w.get("blk.1.attn_q.weight");
            assertEquals(-1, q0.data().mismatch(q1.data()));
            assertTrue(q0.data().address() != q1.data().address());
            assertEquals(GgmlType.F32, w.get("blk.1.ffn_norm.weight").type());
            assertEquals(1f, w.get("blk.1.ffn_norm.weight").data().getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, 255));
            // the engine runs it
            try (LlamaModel m = LlamaModel.fromWeights(c, w, null)) {
                float[] nll = m.nll(new int[][] {{1, 2, 3, 4}}, new int[][] {{2, 3, 4, 5}});
                for (float v : nll) assertTrue(Float.isFinite(v) && v > 0);
            }
        }
    }

    @Test
    void benchTrainOnTheCpuPrintsAndWritesJsonRows() throws Exception {
        Path json = dir.resolve("bench.json"); // an output's directory must exist (Check.outputFile)
        Cli r = cli("bench", "train", "--device", "cpu", "--preset", "tiny", "--types", "F32,Q8_0", "--tokens", "32", "--batch", "2", "--reps", "1",
                "--rank", "4", "--targets", "all", "--json", json.toString(), "-t", "2");
        assertEquals(0, r.rc(), r.out() + r.err());
        assertTrue(r.out().contains("LoRA step: rank 4 on q,k,v,o,gate,up,down, batch 2 x 32 tokens"), r.out());
        var root = (io.panlora.data.JsonValue.Obj) io.panlora.data.JsonParser.parse(Files.readString(json));
        assertEquals("cpu", ((io.panlora.data.JsonValue.Str) root.get("device")).value());
        var rows = ((io.panlora.data.JsonValue.Arr) root.get("rows")).items();
        assertEquals(2, rows.size());
        for (var row : rows) {
            var o = (io.panlora.data.JsonValue.Obj) row;
            assertEquals("ok", ((io.panlora.data.JsonValue.Str) o.get("status")).value());
            assertTrue(((io.panlora.data.JsonValue.Num) o.get("tokens_per_s")).doubleValue() > 0);
            assertTrue(((io.panlora.data.JsonValue.Num) o.get("mfu")).doubleValue() > 0);
        }
        assertEquals("Q8_0", ((io.panlora.data.JsonValue.Str) ((io.panlora.data.JsonValue.Obj) rows.get(1)).get("type")).value());
        assertTrue(((io.panlora.data.JsonValue.Num) ((io.panlora.data.JsonValue.Obj) root.get("reference")).get("tflops")).doubleValue() > 0);
    }

    // ---- with a GPU (skipped without one, also in CI) ----

    private static void assumeGpu() {
        assumeTrue(Device.cudaDeviceCount() > 0, "no CUDA device: " + Device.cudaUnavailableReason().orElse(""));
    }

    @Test
    void withAGpuAutoIsCuda0AndDescribed() {
        assumeGpu();
        assertEquals(Device.cuda(0), Device.auto());
        assertTrue(Device.cudaUnavailableReason().isEmpty());
        String d = Device.cuda(0).describe();
        assertFalse(d.isBlank());
        assertTrue(Device.cuda(0).announcement(false).startsWith("device cuda:0 (" + d), Device.cuda(0).announcement(false));
        assertThrows(IllegalStateException.class, () -> Device.cuda(Device.cudaDeviceCount()).checkUsable());
        assertTrue(Device.cuda(0).benchGemmTflops(2048, 3) > 1, "a BF16 GEMM of a GPU beats 1 TFLOP/s");
    }

    @Test
    void aCudaModelWithF32WeightsMatchesTheCpu() throws Exception {
        assumeGpu();
        Path p = io.panlora.testing.SharedData.require("stories260K.gguf");
        int[][] tok = {{1, 403, 407, 261, 378, 42, 290, 488, 17, 3}};
        try (LlamaModel cpu = LlamaModel.load(p); LlamaModel gpu = LlamaModel.load(p, LlamaModel.LoadOptions.on(Device.cuda(0)).withPlacement(WeightPlacement.F32))) {
            assertEquals(Device.cuda(0), gpu.device());
            float[] a = cpu.logits(tok), b = gpu.logits(tok);
            double d = 0, m = 0;
            for (int i = 0; i < a.length; i++) { d = Math.max(d, Math.abs(a[i] - b[i])); m = Math.max(m, Math.abs(a[i])); }
            assertTrue(d / m < 1e-4, "relative max |Δ| " + d / m);
            LlamaModel.DeviceMemory mem = gpu.deviceMemory();
            assertTrue(mem.used() > 0 && mem.peak() >= mem.used() && mem.total() > mem.peak(), mem.toString());
        }
    }

    @Test
    void benchTrainOnCudaWritesARowWithMfuAndMemory() throws Exception {
        assumeGpu();
        Path json = dir.resolve("gpu.json");
        Cli r = cli("bench", "train", "--device", "cuda", "--preset", "125m", "--types", "BF16", "--batch", "1", "--tokens", "256", "--reps", "1",
                "--json", json.toString());
        assertEquals(0, r.rc(), r.out() + r.err());
        assertTrue(r.out().contains("weights: random rows, tiled"), r.out());
        var root = (io.panlora.data.JsonValue.Obj) io.panlora.data.JsonParser.parse(Files.readString(json));
        var row = (io.panlora.data.JsonValue.Obj) ((io.panlora.data.JsonValue.Arr) root.get("rows")).items().get(0);
        assertEquals("ok", ((io.panlora.data.JsonValue.Str) row.get("status")).value(), row.toString());
        assertTrue(((io.panlora.data.JsonValue.Num) row.get("mfu")).doubleValue() > 0);
        assertTrue(((io.panlora.data.JsonValue.Num) row.get("peak_memory_bytes")).doubleValue() > 0);
    }
}
