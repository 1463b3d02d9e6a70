package io.panlora.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Bad input to {@code panlora distributed}: one line naming the problem, exit status 1 (2 for a malformed command line), before Spark starts. */
class DistributedArgumentsTest {
    @TempDir
    Path dir;

    private record Outcome(int status, String err) {}

    private Outcome run(String... args) {
        StringWriter err = new StringWriter();
        var cl = DistributedMain.commandLine();
        cl.setErr(new PrintWriter(err));
        int status = cl.execute(args);
        return new Outcome(status, err.toString());
    }

    private void refused(String expected, String... args) {
        Outcome o = run(args);
        assertEquals(1, o.status(), o.err());
        assertEquals(1, o.err().strip().lines().count(), "one line: " + o.err());
        assertTrue(o.err().contains(": error: " + expected), o.err());
        assertFalse(Files.exists(dir.resolve("out")), "nothing created");
    }

    private String[] train(String... more) throws Exception {
        Path data = TestSpark.stories(dir, 20_000);
        List<String> a = new ArrayList<>(List.of("train", "-m", TestSpark.base().toString(), "--data", data.toString(), "-o", dir.resolve("out").toString()));
        a.addAll(List.of(more));
        return a.toArray(String[]::new);
    }

    @Test
    void aMissingBaseIsRefused() throws Exception {
        String[] a = train();
        a[2] = dir.resolve("nope.gguf").toString();
        refused("-m " + a[2] + ": no such file", a);
    }

    @Test
    void shardCountsBelowOneAndEmptyShardsAreRefused() throws Exception {
        refused("--shards must be at least 1, got 0", train("--shards", "0"));
        Path tiny = Files.writeString(dir.resolve("tiny.txt"), "One story.\n\nAnother one.\n");
        String[] a = train("--shards", "3");
        a[4] = tiny.toString();
        refused(tiny + ": shard 0 would be empty: 2 units (lines) for 3 shards, each keeping one for validation", a);
    }

    @Test
    void unknownVariantsMergesAndSplitsAreRefused() throws Exception {
        Outcome v = run(train("--variant", "fedlora"));
        assertEquals(1, v.status());
        assertTrue(v.err().contains("error: --variant: unknown variant 'fedlora'"), v.err());
        refused("unknown merge 'avg' (linear, ties, dare, svd)", train("--merge", "avg"));
        refused("unknown merge 'cat' (linear, ties, dare, svd)", train("--merge", "cat"));
        refused("unknown split 'random' (contiguous, interleaved)", train("--split", "random"));
        refused("--weighting must be size or uniform, got tokens", train("--weighting", "tokens"));
        refused("--merge-rank must equal --rank (8) with --rounds above 1: each round starts from the merge",
                train("--rounds", "2", "--merge", "svd", "--merge-rank", "0"));
        refused("--adapter-type must be one of F32, F16", train("--adapter-type", "Q9"));
    }

    @Test
    void sweepGridsAreChecked() throws Exception {
        Path data = TestSpark.stories(dir, 20_000);
        String[] base = {"sweep", "-m", TestSpark.base().toString(), "--data", data.toString(), "-o", dir.resolve("out").toString()};
        List<String> a = new ArrayList<>(List.of(base));
        a.addAll(List.of("--variant", "lora,copra,nope"));
        assertTrue(run(a.toArray(String[]::new)).err().contains("error: --variant: unknown variant 'nope'"));
        a = new ArrayList<>(List.of(base));
        a.addAll(List.of("--lr", "1e-3,-1"));
        refused("--lr must be > 0, got -1.0", a.toArray(String[]::new));
        a = new ArrayList<>(List.of(base));
        a.addAll(List.of("--val-fraction", "0"));
        refused("a sweep needs validation data (--val, or --val-fraction above 0)", a.toArray(String[]::new));
    }

    @Test
    void aMissingDataSourceIsAUsageError() {
        Outcome o = run("train", "-m", TestSpark.base().toString(), "-o", dir.resolve("out").toString());
        assertEquals(2, o.status());
        assertTrue(o.err().contains("panlora distributed train: error: Error: Missing required argument"), o.err());
    }
}
