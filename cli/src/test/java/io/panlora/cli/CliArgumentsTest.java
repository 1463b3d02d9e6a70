package io.panlora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.panlora.gguf.GgmlType;
import io.panlora.gguf.GgufFile;
import io.panlora.gguf.GgufTensorInfo;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Issue 7, items 3 and 4: the commands run in-process on a tiny model; every bad flag, bad file and oversized plan is refused
 * with exit status 1, one line naming the flag or file, and no output directory or file created.
 */
class CliArgumentsTest {
    @TempDir
    static Path dir;
    static Path model, data;

    record Run(int code, String err) {}

    static Run run(String... args) {
        StringWriter err = new StringWriter();
        var cl = Main.commandLine();
        cl.setErr(new PrintWriter(err, true));
        int code = cl.execute(args);
        return new Run(code, err.toString());
    }

    @BeforeAll
    static void tinyModel() throws IOException {
        model = dir.resolve("tiny.gguf");
        Run r = run("init", "-o", model.toString(), "--preset", "tiny", "--layers", "1", "--dim", "32", "--heads", "2", "--ffn", "64");
        assertEquals(0, r.code(), r.err());
        data = dir.resolve("data.txt");
        Files.writeString(data, "Once upon a time there was a little cat. ".repeat(200));
    }

    /** A one-step train command line; a flag in extra replaces the default of the same flag (short or long name). */
    private static List<String> train(Path out, String... extra) {
        String[][] defaults = {{"-m", "--model", model.toString()}, {"--data", "--data", data.toString()}, {"-o", "--output", out.toString()},
                {"-t", "--threads", "1"}, {"--steps", "--steps", "1"}, {"-b", "--batch", "1"}, {"-c", "--ctx", "16"},
                {"--eval-every", "--eval-every", "0"}, {"--save-every", "--save-every", "0"}};
        List<String> given = List.of(extra);
        List<String> a = new ArrayList<>(List.of("train"));
        for (String[] d : defaults)
            if (!given.contains(d[0]) && !given.contains(d[1])) a.addAll(List.of(d[0], d[2]));
        a.addAll(given);
        return a;
    }

    static Stream<Arguments> badTrainFlags() {
        return Stream.of(Arguments.of(List.of("--rank", "100000"), "--rank"), Arguments.of(List.of("--alpha", "NaN"), "--alpha"),
                Arguments.of(List.of("--weight-decay", "-1"), "--weight-decay"), Arguments.of(List.of("--lr", "Infinity"), "--lr"),
                Arguments.of(List.of("--lr", "0"), "--lr"), Arguments.of(List.of("--adapter-type", "IQ4_NL"), "--adapter-type"),
                Arguments.of(List.of("--adapter-type", "FOO"), "--adapter-type"), Arguments.of(List.of("--clip", "-1"), "--clip"),
                Arguments.of(List.of("--clip", "NaN"), "--clip"), Arguments.of(List.of("--min-lr-ratio", "5"), "--min-lr-ratio"),
                Arguments.of(List.of("--eval-batches", "-1"), "--eval-batches"), Arguments.of(List.of("--epochs", "-1"), "--epochs"),
                Arguments.of(List.of("-b", "0"), "--batch"), Arguments.of(List.of("-c", "0"), "--ctx"), Arguments.of(List.of("-c", "1"), "--ctx"),
                Arguments.of(List.of("-c", "2147483647"), "--ctx"), Arguments.of(List.of("--val-fraction", "NaN"), "--val-fraction"),
                Arguments.of(List.of("--variant", "nope"), "--variant"),
                Arguments.of(List.of("--copra-p0", "0.2"), "--copra-p0 is an option of --variant copra, not of --variant lora"),
                Arguments.of(List.of("--variant", "copra", "--copra-p0", "2"), "--copra-p0 must be in [0, 1]"),
                Arguments.of(List.of("--variant", "cora", "--cora-basis", "missing.gguf"), "--cora-basis missing.gguf"), Arguments.of(List.of("--schedule", "zigzag"), "zigzag"),
                Arguments.of(List.of("-t", "0"), "--threads"), Arguments.of(List.of("--max-memory", "lots"), "--max-memory"),
                Arguments.of(List.of("--max-memory", "1K"), "--max-memory"),
                Arguments.of(List.of("-b", "100000", "-c", "64", "--max-memory", "4G"), "--max-memory"),
                // --full: the flags of LoRA runs mean nothing there; --type is the exported model's, with --full only
                Arguments.of(List.of("--full", "--rank", "4"), "--rank"), Arguments.of(List.of("--full", "-r", "4"), "--rank"),
                Arguments.of(List.of("--full", "--alpha", "8"), "--alpha"), Arguments.of(List.of("--full", "--targets", "all"), "--targets"),
                Arguments.of(List.of("--full", "--variant", "copra"), "--variant"), Arguments.of(List.of("--full", "--rslora"), "--rslora"),
                Arguments.of(List.of("--full", "--adapter-type", "F32"), "--adapter-type"),
                Arguments.of(List.of("--full", "--cola-links", "2"), "--cola-links"), Arguments.of(List.of("--type", "F16"), "--type"),
                Arguments.of(List.of("--full", "--type", "Q8_0"), "--type"),
                Arguments.of(List.of("--full", "-b", "100000", "-c", "64", "--max-memory", "4G"), "full-parameter"));
    }

    @Test
    void fullTrainingRefusesAQuantizedBase() throws IOException {
        Path q8 = dir.resolve("tiny-q8.gguf");
        Run made = run("init", "-o", q8.toString(), "--preset", "tiny", "--layers", "1", "--dim", "32", "--heads", "2", "--ffn", "64",
                "--type", "Q8_0");
        assertEquals(0, made.code(), made.err());
        Path out = dir.resolve("run-full-q8");
        Run r = run(train(out, "--full", "-m", q8.toString()).toArray(String[]::new));
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().contains("Q8_0") && r.err().contains("F32, F16 or BF16") && r.err().contains(q8.toString()), r.err());
        assertEquals(1, r.err().strip().lines().count(), "one line: " + r.err());
        assertFalse(Files.exists(out), "nothing created");
    }

    @ParameterizedTest
    @MethodSource("badTrainFlags")
    void trainRefusesBadFlagsBeforeCreatingAnything(List<String> flags, String named) {
        Path out = dir.resolve("run-" + String.join("_", flags).replaceAll("[^A-Za-z0-9_-]", ""));
        Run r = run(train(out, flags.toArray(String[]::new)).toArray(String[]::new));
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().startsWith("panlora train: error: ") && r.err().contains(named), r.err());
        assertEquals(1, r.err().strip().lines().count(), "one line: " + r.err());
        assertFalse(Files.exists(out), "no output directory for " + flags);
    }

    @Test
    void bigBatchIsRefusedAgainstAvailableMemory() {
        long avail = MemoryPlan.memAvailable();
        assumeTrue(avail > 0 && avail < (60L << 30), "the plan (~60 GiB) must exceed MemAvailable");
        Path out = dir.resolve("run-big");
        Run r = run(train(out, "-b", "100000", "-c", "64").toArray(String[]::new));
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().contains("MemAvailable") && r.err().contains("--batch 100000"), r.err());
        assertFalse(Files.exists(out));
    }

    @Test
    void badFilesAreNamed() throws IOException {
        Path out = dir.resolve("run-files");
        Run r = run(train(out, "--data", "afile.txt").toArray(String[]::new));
        assertTrue(r.code() == 1 && r.err().contains("--data afile.txt: no such file"), r.err());
        r = run(train(out, "--data", dir.toString()).toArray(String[]::new));
        assertTrue(r.code() == 1 && r.err().contains("--data " + dir + ": is a directory"), r.err());
        Path text = dir.resolve("notamodel.gguf");
        Files.writeString(text, "hello");
        r = run(train(out, "-m", text.toString()).toArray(String[]::new));
        assertTrue(r.code() == 1 && r.err().contains(text.toString()), r.err());
        assertFalse(Files.exists(out));
        Path notDir = dir.resolve("missing-dir").resolve("x.gguf");
        r = run("export", "-m", model.toString(), "--adapter", "nope.gguf", "-o", notDir.toString());
        assertTrue(r.code() == 1 && r.err().contains("--adapter nope.gguf"), r.err());
    }

    static Stream<Arguments> badOtherFlags() {
        String m = "MODEL";
        return Stream.of(Arguments.of(List.of("generate", "-m", m, "--temp", "NaN"), "--temp"),
                Arguments.of(List.of("generate", "-m", m, "--top-p", "2"), "--top-p"),
                Arguments.of(List.of("generate", "-m", m, "-c", "1"), "--ctx-size"),
                Arguments.of(List.of("generate", "-m", m, "--lora-scaled", "MODEL:NaN"), "--lora-scaled"),
                Arguments.of(List.of("generate", "-m", m, "--lora-scaled", "MODEL:Infinity"), "--lora-scaled"),
                Arguments.of(List.of("generate", "-m", m, "--lora", "missing.gguf"), "--lora missing.gguf"),
                Arguments.of(List.of("perplexity", "-m", m, "-f", "DATA", "--chunks", "0"), "--chunks"),
                Arguments.of(List.of("perplexity", "-m", m, "-f", "DATA", "-c", "0"), "--ctx-size"),
                Arguments.of(List.of("perplexity", "-m", m, "-f", "DATA", "-b", "0"), "--batch"),
                Arguments.of(List.of("eval", "-m", m, "--data", "DATA", "-c", "1"), "--ctx"),
                Arguments.of(List.of("eval", "-m", m, "--data", "DATA", "-b", "0"), "--batch"),
                Arguments.of(List.of("init", "-o", "OUT", "--type", "FOO"), "--type"),
                Arguments.of(List.of("init", "-o", "OUT", "--layers", "0"), "--layers"),
                Arguments.of(List.of("merge", "-m", m, "--adapter", "MODEL", "-o", "OUT", "--density", "NaN"), "--density"),
                Arguments.of(List.of("merge", "-m", m, "--adapter", "MODEL", "-o", "OUT", "--type", "Q8_K"), "--type"),
                Arguments.of(List.of("export", "-m", m, "--adapter", "MODEL", "-o", "OUT", "--type", "FOO"), "--type"),
                Arguments.of(List.of("prune", "-m", m, "--adapter", "MODEL", "--method", "rank", "-o", "OUT", "--keep", "-1"), "--keep"),
                Arguments.of(List.of("prune", "-m", m, "--adapter", "MODEL", "--method", "rank", "-o", "OUT", "--type", "Q8_1"), "--type"),
                Arguments.of(List.of("export", "-m", m, "--adapter", "MODEL", "-o", "OUT", "--type", "TQ1_0"), "--type"),
                Arguments.of(List.of("convert", "-m", m, "--adapter", "MODEL", "-o", "OUT", "--type", "IQ2_XS"), "--type"),
                Arguments.of(List.of("convert", "-m", m, "--adapter", "MODEL", "--to-peft", "OUT", "--type", "Q4_0"), "--type"),
                Arguments.of(List.of("convert", "-m", m, "--adapter", "MODEL", "--to-peft", "OUT", "--verify"), "--to-peft"),
                Arguments.of(List.of("export", "-m", m, "--adapter", "MODEL", "-o", "OUT", "--verify-logit-tolerance", "1"), "--verify"),
                Arguments.of(List.of("merge", "-m", m, "--adapter", "MODEL", "-o", "OUT", "--verify", "--verify-nll-tolerance", "-1"), "--verify-nll-tolerance"));
    }

    @ParameterizedTest
    @MethodSource("badOtherFlags")
    void otherCommandsRefuseBadFlags(List<String> args, String named) {
        Path out = dir.resolve("out-" + Math.abs(args.hashCode()) + ".gguf");
        String[] a = args.stream().map(s -> s.replace("MODEL", model.toString()).replace("DATA", data.toString()).replace("OUT", out.toString()))
                .toArray(String[]::new);
        Run r = run(a);
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().contains(named), r.err());
        assertEquals(1, r.err().strip().lines().filter(l -> l.startsWith("panlora ")).count(), r.err());
        assertFalse(Files.exists(out));
    }

    @Test
    void sizes() {
        assertEquals(8L << 30, Check.size("--max-memory", "8G"));
        assertEquals(512L << 20, Check.size("--max-memory", "512M"));
        assertEquals(1536L << 20, Check.size("--max-memory", "1.5GiB"));
        assertEquals(4096, Check.size("--max-memory", "4096"));
    }

    @Test
    void checkTensorsRefusesANonFiniteWeight() throws IOException {
        Path bad = dir.resolve("nan.gguf");
        Files.copy(model, bad);
        long at;
        try (GgufFile f = GgufFile.open(bad)) {
            GgufTensorInfo t = f.tensors().stream().filter(x -> x.type() == GgmlType.F32 && x.name().startsWith("blk.0.attn_q")).findFirst().orElseThrow();
            at = f.dataOffset() + t.offset() + 8;
        }
        try (FileChannel ch = FileChannel.open(bad, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putFloat(0, Float.NaN), at);
        }
        Run r = run("generate", "-m", bad.toString(), "-n", "1", "-t", "1", "--device", "cpu", "--check-tensors");
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().contains(bad.toString()) && r.err().contains("blk.0.attn_q.weight") && r.err().contains("NaN"), r.err());
    }
}
