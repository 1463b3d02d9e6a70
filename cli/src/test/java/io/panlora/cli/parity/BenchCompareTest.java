package io.panlora.cli.parity;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.panlora.bindings.Native;
import io.panlora.cli.Main;
import io.panlora.llamacpp.LlamaCppContext;
import io.panlora.llamacpp.LlamaCppModel;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * {@code panlora bench compare} on stories260K: a row per test with both engines' rates and their ratio, the LoRA step in both
 * precisions, the same run's peaks; and {@link LlamaCppContext#time} leaves an empty cache behind and refuses what does not fit.
 */
class BenchCompareTest {
    @Test
    void compareRunsBothEnginesOnTheSameFile() throws Exception {
        LlamaCppTesting.requireLlamaCpp();
        Path model = LlamaCppTesting.stories();
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        PrintStream old = System.out;
        int rc;
        try (PrintStream ps = new PrintStream(buf, true, StandardCharsets.UTF_8)) {
            System.setOut(ps);
            rc = Main.commandLine().execute("bench", "compare", "-m", model.toString(), "--tokens", "64", "--gen", "8", "--reps", "1",
                    "--batch", "2", "-t", "2");
        } finally {
            System.setOut(old);
        }
        String out = buf.toString(StandardCharsets.UTF_8);
        assertEquals(0, rc, out);
        assertTrue(out.contains("peak:    F32 GEMM"), out);
        for (String test : new String[] {"pp64", "tg8"}) {
            Matcher m = Pattern.compile("stories260K.gguf\\s+" + test + "\\s+([0-9.]+)\\s+(\\S+)\\s+([0-9.]+)\\s+([0-9.]+)x").matcher(out);
            assertTrue(m.find(), test + " row in\n" + out);
            assertTrue(Double.parseDouble(m.group(1)) > 0 && Double.parseDouble(m.group(3)) > 0, m.group());
        }
        assertTrue(out.contains("LoRA step"), out);
        assertTrue(out.contains("panlora fast"), out);
        Matcher mem = Pattern.compile("peak:    memory reads \\(512 MiB streamed, \\d+ threads\\): ([0-9.]+) GB/s").matcher(out);
        assertTrue(mem.find() && Double.parseDouble(mem.group(1)) > 0, out);
        assertTrue(out.contains("peak:    int8 dot products"), out);
        Matcher bw = Pattern.compile("stories260K.gguf\\s+tg8 %bw\\s+-\\s+([0-9]+)%\\s+([0-9]+)%.*bound ([0-9.]+) tokens/s").matcher(out);
        assertTrue(bw.find() && Double.parseDouble(bw.group(3)) > 0, "the decode roofline row in\n" + out);
        assertEquals(Native.Matmul.F32, Native.matmul(), "the command leaves the engine's F32 default behind");
    }

    @Test
    void timingLeavesAnEmptyCacheAndRefusesWhatDoesNotFit() {
        LlamaCppTesting.requireLlamaCpp();
        try (LlamaCppModel lm = LlamaCppModel.load(LlamaCppTesting.stories(), LlamaCppModel.Options.cpu());
             LlamaCppContext ctx = lm.newContext(new LlamaCppContext.Options(40, 32, 1, false))) {
            int[] p = new int[32];
            for (int i = 0; i < p.length; i++) p[i] = 1 + i;
            double[] s = ctx.time(p, 8);
            assertTrue(s[0] > 0 && s[1] > 0);
            int room = ctx.nCtx() - p.length; // llama.cpp may round the context up
            double[] again = ctx.time(p, room); // the cache was emptied: a full context fits again
            assertTrue(again[0] > 0 && again[1] > 0);
            org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> ctx.time(p, room + 1));
            org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> ctx.time(new int[0], 1));
        }
    }
}
