package io.panlora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * OpenBLAS at run time, as the CLI shows it: {@code panlora perplexity} on a small F32 model (its linears are GEMMs) in
 * child JVMs, since the engine reads PANLORA_GEMM once per process. Asked for OpenBLAS where it cannot be loaded, the
 * command prints one line saying so and scores exactly what the engine's own GEMM scores; with OpenBLAS loaded the score
 * agrees within float tolerance.
 */
class BlasFallbackTest {
    private static final String FALLBACK = "PANLORA_GEMM=openblas, but OpenBLAS could not be loaded: ";
    private static final Pattern NLL = Pattern.compile("mean NLL: ([0-9.]+) nats/token");

    @TempDir
    Path dir;

    record Run(int code, String out, String err) {
        double nll() {
            Matcher m = NLL.matcher(out);
            assertTrue(m.find(), out + err);
            return Double.parseDouble(m.group(1));
        }

        String nllText() {
            Matcher m = NLL.matcher(out);
            assertTrue(m.find(), out + err);
            return m.group(1);
        }

        long fallbackLines() {
            return err.lines().filter(l -> l.contains(FALLBACK)).count();
        }
    }

    private Run perplexity(Path model, Path text, Map<String, String> env) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElse("java"),
                "--enable-native-access=ALL-UNNAMED", "-Dpanlora.library.dir=" + System.getProperty("panlora.library.dir"),
                "-cp", System.getProperty("java.class.path"), "io.panlora.cli.Main", "perplexity", "-m", model.toString(),
                "-f", text.toString(), "-c", "64", "-b", "4", "-t", "2", "--device", "cpu"));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        pb.environment().remove("PANLORA_GEMM");
        pb.environment().remove("PANLORA_OPENBLAS_LIBRARY");
        pb.environment().putAll(env);
        pb.redirectError(dir.resolve("err.txt").toFile());
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "child timed out");
        return new Run(p.exitValue(), out, Files.readString(dir.resolve("err.txt")));
    }

    @Test
    void askedForButMissingOpenBlasIsOneLineAndTheOwnGemmsResult() throws Exception {
        Path model = dir.resolve("tiny.gguf");
        assertEquals(0, Main.commandLine().execute("init", "-o", model.toString(), "--layers", "2", "--dim", "64", "--heads", "4",
                "--ffn", "128", "--ctx", "128"));
        Path text = dir.resolve("text.txt");
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 40; i++) sb.append("The quick brown fox ").append(i).append(" jumps over the lazy dog. ");
        Files.writeString(text, sb);

        Run own = perplexity(model, text, Map.of());
        assertEquals(0, own.code(), own.out() + own.err());
        assertEquals(0, own.fallbackLines(), own.err());

        Run missing = perplexity(model, text, Map.of("PANLORA_GEMM", "openblas", "PANLORA_OPENBLAS_LIBRARY", "/nonexistent/libopenblas.so.0"));
        assertEquals(0, missing.code(), missing.out() + missing.err());
        assertEquals(1, missing.fallbackLines(), "one line, once: " + missing.err());
        assertTrue(missing.err().contains("panlora: " + FALLBACK + "/nonexistent/libopenblas.so.0: ")
                && missing.err().contains("; panlora's own GEMM runs instead\n"), missing.err());
        assertEquals(own.nllText(), missing.nllText(), "the own GEMM's result, to the printed digit");

        Run openblas = perplexity(model, text, Map.of("PANLORA_GEMM", "openblas"));
        assertEquals(0, openblas.code(), openblas.out() + openblas.err());
        if (openblas.fallbackLines() == 0) { // loaded: another summation order, the same score within float tolerance
            assertEquals(own.nll(), openblas.nll(), 1e-4 * Math.max(1, own.nll()), openblas.out());
            System.out.printf("BlasFallbackTest: mean NLL own %s, OpenBLAS %s%n", own.nllText(), openblas.nllText());
        } else { // not installed on this machine: the fallback again
            assertEquals(own.nllText(), openblas.nllText());
            System.out.println("BlasFallbackTest: OpenBLAS is not installed here; only the fallback was checked");
        }
    }
}
