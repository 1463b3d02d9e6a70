package io.panlora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.panlora.bindings.LlamaCppLibrary;
import io.panlora.gguf.GgmlType;
import io.panlora.gguf.GgufFile;
import io.panlora.gguf.GgufTensorInfo;
import io.panlora.llamacpp.LlamaCpp;
import io.panlora.lora.AdapterGguf;
import io.panlora.lora.LoraSet;
import io.panlora.lora.Target;
import io.panlora.model.LlamaModel;
import io.panlora.testing.SharedData;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --verify} of export, merge, prune and convert, and {@code verify}'s comparison against F16: the written GGUF runs
 * through panlora and llama.cpp, PASS exits 0 and a difference beyond the tolerance exits 1; a quantized adapter also reports
 * its size and NLL cost against its F16 version. These need llama.cpp built and stories260K: they skip where either is absent
 * and fail in CI (CI=true). Without llama.cpp, --verify stops the command before any work (checked in a child JVM whose cache
 * directory holds no build).
 */
class VerifyFlagTest {
    @TempDir
    static Path dir;
    static Path base, source;

    record Run(int code, String out, String err) {}

    /** Runs the CLI in this JVM, capturing System.out (where the commands print) and picocli's err. */
    static synchronized Run run(String... args) {
        StringWriter err = new StringWriter();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrintStream old = System.out;
        int code;
        try (PrintStream ps = new PrintStream(out, true, StandardCharsets.UTF_8)) {
            System.setOut(ps);
            var cl = Main.commandLine();
            cl.setErr(new PrintWriter(err, true));
            code = cl.execute(args);
        } finally {
            System.setOut(old);
        }
        Run r = new Run(code, out.toString(StandardCharsets.UTF_8), err.toString());
        System.out.print(r.out());
        System.out.print(r.err());
        return r;
    }

    static void requireLlamaCpp() {
        SharedData.present(LlamaCpp.available(), "llama.cpp " + LlamaCppLibrary.TAG + " is not built (native/llama.cpp/build.sh)");
    }

    /** stories260K and an F32 adapter of rank 32 on all seven targets with trained-like magnitudes. */
    @BeforeAll
    static void adapter() throws Exception {
        if (!LlamaCpp.available() || !Files.isRegularFile(storiesOrNull())) return; // each test skips (or fails in CI) itself
        base = storiesOrNull();
        source = dir.resolve("source-f32.gguf");
        try (LlamaModel m = LlamaModel.load(base, LlamaModel.LoadOptions.cpu()); LoraSet set = new LoraSet(m)) {
            SplittableRandom r = new SplittableRandom(21);
            for (int l = 0; l < m.config().nLayer(); l++)
                for (Target t : Target.values()) {
                    LoraSet.Slot s = set.addSlot(l, t, 32, 1f);
                    float[] a = new float[(int) s.aLength()], b = new float[(int) s.bLength()];
                    for (int i = 0; i < a.length; i++) a[i] = (float) (r.nextGaussian() / 8);
                    for (int i = 0; i < b.length; i++) b[i] = (float) (r.nextGaussian() * 0.0125);
                    set.setWeights(s, a, b);
                }
            AdapterGguf.write(source, set, m.config(), GgmlType.F32, "source");
        }
    }

    static Path storiesOrNull() {
        String env = System.getenv("PANLORA_SHARED_DATA");
        Path p = (env != null && !env.isBlank() ? Path.of(env) : SharedData.repoRoot().resolveSibling("shared").resolve("data")).resolve("stories260K.gguf");
        return p;
    }

    static void needs() {
        requireLlamaCpp();
        SharedData.require("stories260K.gguf");
        assertTrue(source != null && Files.isRegularFile(source), "the source adapter was made");
    }

    static final Pattern COST = Pattern.compile("size: ([0-9.]+) KB \\(F16: ([0-9.]+) KB, ([0-9.]+) %\\), NLL cost vs F16: ([+-][0-9.]+) nats/token");

    static GgmlType typeOf(Path gguf, String tensor) throws Exception {
        try (GgufFile f = GgufFile.open(gguf)) {
            return f.tensor(tensor).type();
        }
    }

    @Test
    void exportVerifyOfAQuantizedAdapterPassesAndReportsTheCostAgainstF16() throws Exception {
        needs();
        Path out = dir.resolve("q4k.gguf");
        Run r = run("export", "-m", base.toString(), "--adapter", source.toString(), "-o", out.toString(), "--type", "Q4_K", "--verify");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("written as Q4_1"), "rank 32 and rows of 64 fall back to Q4_1: " + r.out());
        assertTrue(r.out().contains("verify: PASS"), r.out());
        assertTrue(r.out().contains("F16 version of " + out + ": exported from the same factors"), r.out());
        Matcher m = COST.matcher(r.out());
        assertTrue(m.find(), r.out());
        double kb = Double.parseDouble(m.group(1)), f16 = Double.parseDouble(m.group(2)), cost = Double.parseDouble(m.group(4));
        assertEquals(Files.size(out) / 1024.0, kb, 0.06);
        assertTrue(kb < 0.5 * f16, "Q4_1/F16 tensors take well under half of F16's bytes: " + r.out());
        assertTrue(cost != 0 && Math.abs(cost) < 0.1, "a 4-bit adapter changes llama.cpp's NLL a little: " + cost);
    }

    @Test
    void verifyFailsWithExitStatus1BeyondTheTolerance() throws Exception {
        needs();
        Path out = dir.resolve("q8-strict.gguf");
        Run r = run("export", "-m", base.toString(), "--adapter", source.toString(), "-o", out.toString(), "--type", "Q8_0", "--verify",
                "--verify-logit-tolerance", "1e-6");
        assertEquals(1, r.code(), r.out());
        assertTrue(r.out().contains("verify: FAIL (logits differ beyond the tolerance)"), r.out());
        assertTrue(Files.exists(out), "the output is kept: it was written before the check");
        Run v = run("verify", "-m", base.toString(), "--lora", out.toString(), "--nll-tolerance", "0");
        assertEquals(1, v.code(), v.out());
        assertTrue(v.out().contains("verify: FAIL (mean NLL differs beyond the tolerance)"), v.out());
    }

    @Test
    void exportMergeVerifiesTheMergedModelAlone() throws Exception {
        needs();
        for (String type : List.of("F16", "Q8_0")) {
            Path out = dir.resolve("merged-" + type + ".gguf");
            Run r = run("export", "-m", base.toString(), "--adapter", source.toString(), "-o", out.toString(), "--merge", "--type", type, "--verify");
            assertEquals(0, r.code(), r.out() + r.err());
            assertTrue(r.out().contains("verify: " + out + " against llama.cpp"), "the merged model, no adapter: " + r.out());
            assertTrue(r.out().contains("verify: PASS"), r.out());
            assertFalse(r.out().contains("NLL cost vs F16"), r.out());
        }
        assertEquals(GgmlType.Q8_0, typeOf(dir.resolve("merged-Q8_0.gguf"), "blk.0.attn_q.weight"));
    }

    @Test
    void mergePruneAndConvertVerifyTheirOutputs() throws Exception {
        needs();
        Path merged = dir.resolve("merged-adapter.gguf"), pruned = dir.resolve("pruned.gguf"), converted = dir.resolve("converted.gguf");
        Run m = run("merge", "-m", base.toString(), "--adapter", source + ":0.5", "--adapter", source + ":0.5", "--method", "linear",
                "-o", merged.toString(), "--type", "Q5_0", "--verify");
        assertEquals(0, m.code(), m.out() + m.err());
        assertTrue(m.out().contains("verify: PASS") && COST.matcher(m.out()).find(), m.out());
        Run p = run("prune", "-m", base.toString(), "--adapter", source.toString(), "--method", "rank", "-r", "8", "-o", pruned.toString(),
                "--device", "cpu", "--verify");
        assertEquals(0, p.code(), p.out() + p.err());
        assertTrue(p.out().contains("verify: PASS"), p.out());
        assertFalse(p.out().contains("NLL cost vs F16"), "an F16 output has nothing to compare with: " + p.out());
        Run c = run("convert", "-m", base.toString(), "--adapter", source.toString(), "-o", converted.toString(), "--type", "Q2_K", "--verify");
        assertEquals(0, c.code(), c.out() + c.err());
        assertTrue(c.out().contains("verify: PASS") && COST.matcher(c.out()).find(), c.out());
        assertEquals(GgmlType.Q4_0, typeOf(converted, "blk.0.attn_q.weight.lora_b"), "Q2_K with rank 32 falls back to Q4_0");
    }

    @Test
    void verifyFindsTheRunCheckpointAsTheF16Source() throws Exception {
        needs();
        Path text = dir.resolve("train.txt");
        Files.writeString(text, Files.readString(SharedData.require("tinyshakespeare.txt")).substring(0, 20_000));
        Path runDir = dir.resolve("run");
        Run t = run("train", "-m", base.toString(), "--data", text.toString(), "-o", runDir.toString(), "--steps", "3", "--rank", "32",
                "--targets", "all", "--lr", "3e-3", "-b", "2", "-c", "64", "--adapter-type", "Q4_0", "--device", "cpu");
        assertEquals(0, t.code(), t.out() + t.err());
        Path adapter = runDir.resolve("adapter.gguf");
        Run v = run("verify", "-m", base.toString(), "--lora", adapter.toString());
        assertEquals(0, v.code(), v.out());
        assertTrue(v.out().contains("exported from " + runDir.resolve("checkpoint.gguf") + " (it reproduces the file)"), v.out());
        assertTrue(COST.matcher(v.out()).find(), v.out());
        // the same file elsewhere: no source is found, the size is still compared
        Path copy = dir.resolve("alone-q4_0.gguf");
        Files.copy(adapter, copy);
        Run w = run("verify", "-m", base.toString(), "--lora", copy.toString());
        assertEquals(0, w.code(), w.out());
        assertTrue(w.out().contains("NLL cost vs F16: not measured (no higher-precision source of " + copy), w.out());
        Run x = run("verify", "-m", base.toString(), "--lora", copy.toString(), "--f16-source", runDir.toString());
        assertEquals(0, x.code(), x.out());
        assertTrue(COST.matcher(x.out()).find(), x.out());
        Run off = run("verify", "-m", base.toString(), "--lora", copy.toString(), "--no-against-f16");
        assertEquals(0, off.code(), off.out());
        assertFalse(off.out().contains("size:"), off.out());
    }

    /** --verify without a llama.cpp build: one line naming the build script, exit 1, nothing written (a child JVM, no build in its cache). */
    @Test
    void verifyWithoutLlamaCppStopsBeforeAnyWork() throws Exception {
        Path empty = Files.createDirectories(dir.resolve("empty-cache"));
        Path tiny = dir.resolve("tiny.gguf"), out = dir.resolve("never.gguf");
        assertEquals(0, run("init", "-o", tiny.toString(), "--layers", "1", "--dim", "32", "--heads", "2", "--ffn", "64").code());
        List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"), "--enable-native-access=ALL-UNNAMED",
                "-Dpanlora.library.dir=" + System.getProperty("panlora.library.dir"), "-cp", System.getProperty("java.class.path"),
                "io.panlora.cli.Main", "export", "-m", tiny.toString(), "--adapter", tiny.toString(), "-o", out.toString(), "--verify"));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().remove("PANLORA_LLAMA_DIR");
        pb.environment().remove("PANLORA_LLAMA_CACHE");
        pb.environment().put("XDG_CACHE_HOME", empty.toString());
        Process p = pb.start();
        String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS));
        assertEquals(1, p.exitValue(), output);
        assertTrue(output.contains("llama.cpp " + LlamaCppLibrary.TAG + " is not built") && output.contains("native/llama.cpp/build.sh"), output);
        assertEquals(1, output.strip().lines().count(), output);
        assertFalse(output.contains("not an adapter"), "stopped before reading the (wrong) adapter: " + output);
        assertFalse(Files.exists(out));
    }
}
