package io.panlora.cli.parity;

import io.panlora.llamacpp.*;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.panlora.model.LlamaModel;
import io.panlora.model.Perplexity;
import io.panlora.model.TokenizerLoader;
import io.panlora.testing.SharedData;
import io.panlora.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code panlora perplexity --second-half} gives the figure of llama.cpp's own {@code llama-perplexity} (run as a subprocess:
 * its tokenizer, its chunking, its batched evaluation) on stories260K and TinyStories, within 1e-3 relative; so do the Java
 * method ({@link Perplexity#secondHalf}) and {@code --engine llama.cpp} (the bridge). The first 32 chunks of 128 tokens (2016
 * scored predictions) are compared: the whole file (3070 chunks) takes llama-perplexity minutes on a busy 2-core machine.
 */
class LlamaCppPerplexityTest {
    static final int CTX = 128, CHUNKS = 32;
    static final double REL = 1e-3;
    static Path model, text;
    static double reference;

    @BeforeAll
    static void llamaPerplexity() throws IOException, InterruptedException {
        LlamaCppTesting.requireLlamaCpp();
        model = LlamaCppTesting.stories();
        text = SharedData.require("tinystories-valid-sample.txt");
        Path bin = LlamaCppTesting.buildDir().resolve("bin/llama-perplexity");
        SharedData.present(Files.isExecutable(bin), bin + " is not built (native/llama.cpp/build.sh builds it)");
        Process p = new ProcessBuilder(bin.toString(), "-m", model.toString(), "-f", text.toString(), "-c", Integer.toString(CTX),
                "--chunks", Integer.toString(CHUNKS), "-t", Integer.toString(LlamaCppTesting.THREADS))
                .redirectErrorStream(true).start();
        p.getOutputStream().close();
        byte[] out = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "llama-perplexity did not end");
        String log = new String(out, StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), log);
        reference = finalEstimate(log);
        assertTrue(log.contains("calculating perplexity over " + CHUNKS + " chunks, n_ctx=" + CTX), log);
        System.out.printf(Locale.ROOT, "perplexity llama-perplexity -c %d --chunks %d: PPL = %.4f%n", CTX, CHUNKS, reference);
    }

    /** The X of llama-perplexity's "Final estimate: PPL = X +/- Y". */
    static double finalEstimate(String log) {
        Matcher m = Pattern.compile("Final estimate: PPL = ([0-9.]+) \\+/- [0-9.]+").matcher(log);
        assertTrue(m.find(), "no final estimate in llama-perplexity's output:\n" + log);
        return Double.parseDouble(m.group(1));
    }

    /** The perplexity line of panlora's perplexity command. */
    static double cliPerplexity(String... extra) {
        List<String> args = new java.util.ArrayList<>(List.of("perplexity", "-m", model.toString(), "-f", text.toString(), "-c",
                Integer.toString(CTX), "--second-half", "--chunks", Integer.toString(CHUNKS), "-t", Integer.toString(LlamaCppTesting.THREADS)));
        args.addAll(List.of(extra));
        LlamaCppTesting.Cli r = LlamaCppTesting.cli(args.toArray(String[]::new)).ok();
        assertTrue(r.out().contains("chunks (second half scored, as llama-perplexity): " + CHUNKS + " x " + CTX + " tokens, "
                + CHUNKS * (CTX / 2 - 1) + " predictions scored"), r.out());
        Matcher m = Pattern.compile("(?m)^perplexity: ([0-9.]+)$").matcher(r.out());
        assertTrue(m.find(), r.out());
        return Double.parseDouble(m.group(1));
    }

    static void near(String what, double ppl) {
        double rel = Math.abs(ppl - reference) / reference;
        System.out.printf(Locale.ROOT, "perplexity %s: %.6f (relative difference %.1e)%n", what, ppl, rel);
        assertTrue(rel <= REL, what + " " + ppl + " vs llama-perplexity " + reference);
    }

    @Test
    void cliSecondHalfEqualsLlamaPerplexity() {
        near("panlora perplexity --second-half", cliPerplexity());
    }

    @Test
    void cliWithTheLlamaCppEngineEqualsLlamaPerplexity() {
        near("panlora perplexity --second-half --engine llama.cpp", cliPerplexity("--engine", "llama.cpp"));
    }

    @Test
    void javaSecondHalfEqualsLlamaPerplexity() throws IOException {
        try (LlamaModel m = LlamaModel.load(model, LlamaModel.LoadOptions.cpu())) {
            Tokenizer tok = TokenizerLoader.fromGguf(m.gguf().orElseThrow());
            int[] ids = tok.encode(Files.readString(text), true, false);
            Perplexity.Result r = Perplexity.secondHalf(ids, tok.addBos() ? tok.bos() : -1, CTX, CHUNKS, 4, m::nll, null);
            assertEquals(CHUNKS, r.windows());
            assertEquals((long) CHUNKS * (CTX / 2 - 1), r.predictions());
            near("Perplexity.secondHalf (Java)", Math.exp(r.meanNll()));
        }
    }

    /**
     * The comparison can fail: scoring every prediction, keeping the chunks' first text token instead of BOS, or chunks shifted
     * by half a chunk each give a figure outside the tolerance.
     */
    @Test
    void theComparisonDependsOnTheMethod() throws IOException {
        try (LlamaModel m = LlamaModel.load(model, LlamaModel.LoadOptions.cpu())) {
            Tokenizer tok = TokenizerLoader.fromGguf(m.gguf().orElseThrow());
            int[] ids = tok.encode(Files.readString(text), true, false);
            double noBos = Math.exp(Perplexity.secondHalf(ids, -1, CTX, CHUNKS, 4, m::nll, null).meanNll());
            double shifted = Math.exp(Perplexity.secondHalf(java.util.Arrays.copyOfRange(ids, CTX / 2, ids.length), tok.bos(), CTX, CHUNKS,
                    4, m::nll, null).meanNll());
            double every = Math.exp(Perplexity.evaluate(java.util.Arrays.copyOfRange(ids, 1, ids.length), tok.bos(), CTX, CHUNKS, 4, 0,
                    m::nll, null).meanNll());
            System.out.printf(Locale.ROOT, "perplexity variants: no BOS %.4f, shifted %.4f, every prediction %.4f%n", noBos, shifted, every);
            for (double v : new double[] {noBos, shifted, every}) assertTrue(Math.abs(v - reference) / reference > REL, v + " vs " + reference);
        }
    }
}
