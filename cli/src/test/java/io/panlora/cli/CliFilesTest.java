package io.panlora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.panlora.data.DataReader;
import io.panlora.data.ReadOptions;
import io.panlora.gguf.GgmlType;
import io.panlora.gguf.GgufFile;
import io.panlora.gguf.GgufTensorInfo;
import io.panlora.gguf.GgufWriter;
import io.panlora.lora.AdapterGguf;
import io.panlora.lora.LoraSet;
import io.panlora.lora.Target;
import io.panlora.model.LlamaModel;
import io.panlora.model.TokenizerLoader;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 7, item 4, the file side: bad model, adapter and data files are refused naming the file (and the tensor or key),
 * before any output appears; bad flag values are one line; write failures name their path.
 */
class CliFilesTest {
    @TempDir
    static Path dir;
    static Path model, data, adapter;

    record Run(int code, String err) {}

    static Run run(String... args) {
        StringWriter err = new StringWriter();
        var cl = Main.commandLine();
        cl.setErr(new PrintWriter(err, true));
        return new Run(cl.execute(args), err.toString());
    }

    /** Exit status 1, one line naming all of named, and no file at out. */
    static void refused(Run r, Path out, String... named) {
        assertEquals(1, r.code(), r.err());
        assertEquals(1, r.err().strip().lines().filter(l -> l.startsWith("panlora ")).count(), "one error line: " + r.err());
        assertFalse(r.err().contains("\tat "), "no stack trace: " + r.err());
        for (String n : named) assertTrue(r.err().contains(n), "names " + n + ": " + r.err());
        if (out != null) assertFalse(Files.exists(out), out + " must not exist");
    }

    @BeforeAll
    static void files() throws IOException {
        model = dir.resolve("tiny.gguf");
        Run r = run("init", "-o", model.toString(), "--preset", "tiny", "--layers", "1", "--dim", "32", "--heads", "2", "--ffn", "64");
        assertEquals(0, r.code(), r.err());
        data = dir.resolve("data.txt");
        Files.writeString(data, "Once upon a time there was a little cat. ".repeat(200));
        adapter = dir.resolve("adapter.gguf");
        try (LlamaModel m = LlamaModel.load(model, LlamaModel.LoadOptions.cpu()); LoraSet set = new LoraSet(m)) {
            Target q = Target.byName("q");
            int in = (int) q.in(m.config()), out = (int) q.out(m.config()), rank = 2;
            float[] a = new float[in * rank], b = new float[rank * out];
            Arrays.fill(a, 0.01f);
            Arrays.fill(b, 0.02f);
            set.setWeights(set.addSlot(0, q, rank, 1f), a, b);
            AdapterGguf.write(adapter, set, m.config(), GgmlType.F32, "test");
        }
    }

    /** A copy of src with one F32 value of the first tensor whose name contains tensor replaced by v. */
    static Path poisoned(Path src, String name, String tensor, float v) throws IOException {
        Path p = dir.resolve(name);
        Files.copy(src, p);
        long at;
        try (GgufFile f = GgufFile.open(p)) {
            GgufTensorInfo t = f.tensors().stream().filter(x -> x.type() == GgmlType.F32 && x.name().contains(tensor)).findFirst().orElseThrow();
            at = f.dataOffset() + t.offset() + 4;
        }
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putFloat(0, v), at);
        }
        return p;
    }

    /** A copy of src with one float metadata key set. */
    static Path withKey(Path src, String name, String key, float v, String... stringKeys) throws IOException {
        Path p = dir.resolve(name);
        try (GgufFile f = GgufFile.open(src)) {
            GgufWriter w = GgufWriter.copyOf(f).putFloat32(key, v);
            for (int i = 0; i + 1 < stringKeys.length; i += 2) w.putString(stringKeys[i], stringKeys[i + 1]);
            w.write(p);
        }
        return p;
    }

    @Test
    void adapterValuesAreCheckedAtLoad() throws IOException {
        Path nan = poisoned(adapter, "nan-adapter.gguf", "lora_a", Float.NaN);
        Path out = dir.resolve("conv-out.gguf");
        refused(run("convert", "-m", model.toString(), "--adapter", nan.toString(), "-o", out.toString()), out, nan.toString(), "NaN", "lora_a");
        refused(run("generate", "-m", model.toString(), "--lora", nan.toString(), "-n", "1", "-t", "1", "--device", "cpu"), null, nan.toString(), "NaN");
        Path inf = poisoned(adapter, "inf-adapter.gguf", "lora_b", Float.POSITIVE_INFINITY);
        Path merged = dir.resolve("merged.gguf");
        refused(run("export", "-m", model.toString(), "--adapter", inf.toString(), "-o", merged.toString()), merged, inf.toString(), "Infinity");
        Path alpha = withKey(adapter, "alpha-nan.gguf", "adapter.lora.alpha", Float.NaN);
        refused(run("export", "-m", model.toString(), "--adapter", alpha.toString(), "-o", merged.toString()), merged, alpha.toString(),
                "adapter.lora.alpha");
        // the clean adapter passes: the check is what refused the others
        assertEquals(0, run("export", "-m", model.toString(), "--adapter", adapter.toString(), "-o", merged.toString()).code());
    }

    @Test
    void ropeScalingFactorMustBePositiveAndFinite() throws IOException {
        for (float factor : new float[] {0f, -2f, Float.NaN}) {
            Path bad = withKey(model, "rope-" + factor + ".gguf", "llama.rope.scaling.factor", factor, "llama.rope.scaling.type", "linear");
            Path out = dir.resolve("run-rope-" + factor);
            refused(run("train", "-m", bad.toString(), "--data", data.toString(), "-o", out.toString(), "-t", "1", "--steps", "1", "-b", "1",
                    "-c", "16"), out, bad.toString(), "rope.scaling.factor");
            refused(run("generate", "-m", bad.toString(), "-n", "1", "-t", "1", "--device", "cpu"), null, bad.toString(), "rope.scaling.factor");
        }
    }

    @Test
    void checkTensorsIsOffByDefaultAndRefusesNonFiniteWeights() throws IOException {
        Path bad = poisoned(model, "inf-model.gguf", "ffn_up", Float.NEGATIVE_INFINITY);
        Path out = dir.resolve("run-inf");
        refused(run("train", "-m", bad.toString(), "--data", data.toString(), "-o", out.toString(), "-t", "1", "--steps", "1", "-b", "1",
                "-c", "16", "--check-tensors"), out, bad.toString(), "ffn_up", "-Infinity", "--check-tensors");
        Path ppl = dir.resolve("ppl.txt");
        refused(run("perplexity", "-m", bad.toString(), "-f", data.toString(), "-c", "16", "-t", "1", "--device", "cpu", "--check-tensors"), null,
                bad.toString(), "ffn_up");
        assertFalse(Files.exists(ppl));
    }

    @Test
    void modelAndDataFilesAreNamed() throws IOException {
        Path out = dir.resolve("run-files");
        Path text = dir.resolve("afile.txt");
        Files.writeString(text, "not a model");
        String[] base = {"train", "--data", data.toString(), "-o", out.toString(), "-t", "1", "--steps", "1", "-b", "1", "-c", "16", "-m"};
        refused(run(concat(base, text.toString())), out, text.toString());
        refused(run(concat(base, dir.toString())), out, "-m " + dir, "is a directory");
        refused(run(concat(base, "missing.gguf")), out, "-m missing.gguf", "no such file");
        refused(run("perplexity", "-m", model.toString(), "-f", dir.toString()), null, "--file " + dir, "is a directory");
        refused(run("eval", "-m", model.toString(), "--data", "nope.jsonl"), null, "--data nope.jsonl");
        Path out2 = dir.resolve("init-out.gguf");
        refused(run("init", "-o", out2.toString(), "--tokenizer-from", "nope.txt"), out2, "--tokenizer-from nope.txt");
        refused(run("train", "-m", model.toString(), "--data", data.toString(), "--val", dir.toString(), "-o", out.toString()), out, "--val " + dir);
        refused(run("merge", "-m", model.toString(), "--adapter", "gone.gguf:0.5", "-o", out2.toString()), out2, "--adapter gone.gguf");
        refused(run("convert", "-m", model.toString(), "--from-peft", "no-such-dir", "-o", out2.toString()), out2, "--from-peft no-such-dir");
        refused(run("export", "-m", model.toString(), "--checkpoint", data.toString(), "-o", out2.toString()), out2, "--checkpoint " + data);
        refused(run("prune", "-m", model.toString(), "--adapter", adapter.toString(), "--method", "rank", "--data", "x.txt", "-o", out2.toString()),
                out2, "--data x.txt");
        // an output that is a directory, or sits in a missing one, or is a device
        refused(run("export", "-m", model.toString(), "--adapter", adapter.toString(), "-o", dir.toString()), null, "-o " + dir, "is a directory");
        Path deep = dir.resolve("no").resolve("such").resolve("x.gguf");
        refused(run("export", "-m", model.toString(), "--adapter", adapter.toString(), "-o", deep.toString()), deep.getParent(), "-o " + deep);
        if (Files.exists(Path.of("/dev/null")))
            refused(run("init", "-o", "/dev/null"), null, "-o /dev/null", "not a regular file");
        // the trainer's output must be a directory
        refused(run("train", "-m", model.toString(), "--data", data.toString(), "-o", data.toString(), "-t", "1"), null, "-o " + data,
                "not a directory");
        assertEquals("Once upon", Files.readString(data).substring(0, 9));
    }

    @Test
    void dataReaderNamesADirectoryAndAMissingFile() throws IOException {
        try (GgufFile f = GgufFile.open(model)) {
            var tok = TokenizerLoader.fromGguf(f);
            IOException e = assertThrows(IOException.class, () -> DataReader.read(dir, tok, ReadOptions.defaults()));
            assertTrue(e.getMessage().contains(dir.toString()) && e.getMessage().contains("directory"), e.getMessage());
            Path missing = dir.resolve("missing.jsonl");
            e = assertThrows(IOException.class, () -> DataReader.read(missing, tok, ReadOptions.defaults()));
            assertEquals(missing + ": no such data file", Main.message(e));
        }
    }

    @Test
    void badFlagValuesAreOneLine() {
        Path out = dir.resolve("run-parse");
        Run r = run("train", "-m", model.toString(), "--data", data.toString(), "-o", out.toString(), "--rank", "abc");
        assertEquals(2, r.code(), r.err());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertTrue(r.err().startsWith("panlora train: error: ") && r.err().contains("--rank") && r.err().contains("abc"), r.err());
        assertFalse(Files.exists(out));
        r = run("generate", "-m", model.toString(), "--no-such-flag");
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertTrue(r.err().contains("--no-such-flag"), r.err());
    }

    @Test
    void moreCommandsRefuseNonsense() {
        Path out = dir.resolve("demo-run");
        refused(run("demo", "-o", out.toString(), "--lora-steps", "0"), out, "--lora-steps");
        Path json = dir.resolve("missing-dir").resolve("b.json");
        refused(run("bench", "train", "--json", json.toString()), json.getParent(), "--json " + json);
        refused(run("bench", "forward", "--types", "F32,FOO"), null, "--types");
        refused(run("bench", "train", "--rank", "0"), null, "--rank");
        refused(run("bench", "train", "--preset", "huge"), null, "--preset huge");
        Path run = dir.resolve("run-targets");
        refused(run("train", "-m", model.toString(), "--data", data.toString(), "-o", run.toString(), "--targets", "q,zz"), run, "--targets", "zz");
        refused(run("train", "-m", model.toString(), "--data", data.toString(), "-o", run.toString(), "--variant", "cora", "--cora-mode", "x"), run,
                "--cora-mode");
        refused(run("train", "-m", model.toString(), "--data", data.toString(), "-o", run.toString(), "-b", "65536", "-c", "1024"), run,
                "--batch 65536", "16777216");
        refused(run("generate", "-m", model.toString(), "--repeat-penalty", "0"), null, "--repeat-penalty");
        refused(run("generate", "-m", model.toString(), "-t", "1", "--device", "cpu", "-c", "1048576", "--max-memory", "1G"), null,
                "--max-memory", "1.0 GiB");
        refused(run("perplexity", "-m", model.toString(), "-f", data.toString(), "-c", "2147483647"), null, "--ctx-size");
        refused(run("merge", "-m", model.toString(), "--adapter", adapter + ":NaN", "-o", out.toString()), out, "--adapter", "weight");
    }

    @Test
    void writeFailuresNameTheirPath() {
        Path where = dir.resolve("run-x");
        IOException full = new IOException("No space left on device");
        IOException named = Check.naming(where, full);
        assertEquals(where + ": No space left on device", named.getMessage());
        assertSame(full, named.getCause());
        IOException other = new IOException("Connection reset");
        assertSame(other, Check.naming(where, other), "only write failures without a path are renamed");
        IOException has = new IOException(where + "/metrics.csv: No space left on device");
        assertSame(has, Check.naming(where, has));
        assertEquals("out of memory (Java heap space); use a smaller --batch or --ctx, or see --max-memory",
                Main.message(new OutOfMemoryError("Java heap space")));
        assertNotEquals(-1, Main.message(new java.nio.file.AccessDeniedException("/x/y")).indexOf("/x/y: permission denied"));
    }

    private static String[] concat(String[] a, String... b) {
        String[] r = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
