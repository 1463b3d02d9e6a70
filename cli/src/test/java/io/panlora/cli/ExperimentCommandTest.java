package io.panlora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code panlora experiment}: bad names and flags are refused before anything runs or is written (the runs: core's ExperimentQuickTest). */
class ExperimentCommandTest {
    @TempDir
    Path dir;

    private static int run(StringWriter err, String... args) {
        var cl = Main.commandLine();
        cl.setErr(new PrintWriter(err, true));
        return cl.execute(args);
    }

    @Test
    void refusesUnknownNamesAndBadFlags() {
        Path out = dir.resolve("out");
        StringWriter err = new StringWriter();
        assertEquals(1, run(err, "experiment", "nope", "-o", out.toString(), "--data-dir", dir.toString()));
        assertTrue(err.toString().contains("unknown experiment 'nope'"), err.toString());
        err = new StringWriter();
        assertEquals(1, run(err, "experiment", "cola", "--seeds", "0", "-o", out.toString(), "--data-dir", dir.toString()));
        assertTrue(err.toString().contains("--seeds"), err.toString());
        err = new StringWriter();
        assertEquals(1, run(err, "experiment", "cora", "--quick", "-o", out.toString(), "--data-dir", dir.toString()));
        assertTrue(err.toString().contains("stories260K.gguf"), err.toString());
        assertFalse(Files.exists(out));
    }

    @Test
    void listedInHelp() {
        StringWriter out = new StringWriter();
        var cl = Main.commandLine();
        cl.setOut(new PrintWriter(out, true));
        cl.execute("experiment", "--help");
        assertTrue(out.toString().contains("--seeds") && out.toString().contains("--quick"), out.toString());
    }
}
