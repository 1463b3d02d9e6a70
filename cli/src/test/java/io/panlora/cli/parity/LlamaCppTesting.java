package io.panlora.cli.parity;

import io.panlora.llamacpp.*;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.panlora.bindings.LlamaCppLibrary;
import io.panlora.cli.Main;
import io.panlora.gguf.GgmlType;
import io.panlora.lora.AdapterGguf;
import io.panlora.lora.LoraSet;
import io.panlora.lora.Target;
import io.panlora.model.LlamaModel;
import io.panlora.model.TokenizerLoader;
import io.panlora.testing.SharedData;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/** What the llama.cpp parity tests share: the build check, the data, random adapters, logit comparisons, the CLI in-process. */
final class LlamaCppTesting {
    private LlamaCppTesting() {}

    /** llama.cpp's threads in the tests: one, as a busy 2-core machine makes its spinning thread pool crawl. */
    static final int THREADS = 1;

    /** Skips the calling test when llama.cpp is not built (fails it in CI, like missing shared data). */
    static void requireLlamaCpp() {
        SharedData.present(LlamaCpp.available(), "llama.cpp " + LlamaCppLibrary.TAG + " is not built (" + LlamaCppLibrary.BUILD_HINT + ")");
    }

    /** The build directory of llama.cpp (after {@link #requireLlamaCpp}). */
    static Path buildDir() {
        return LlamaCppLibrary.find();
    }

    static Path stories() {
        return SharedData.require("stories260K.gguf");
    }

    /** The first n token ids (BOS first) of tinystories-valid-sample.txt with the model's own tokenizer. */
    static int[] storyIds(LlamaModel m, int n) throws IOException {
        String text = Files.readString(SharedData.require("tinystories-valid-sample.txt"));
        int[] ids = TokenizerLoader.fromGguf(m.gguf().orElseThrow()).encode(text.substring(0, 20 * n), true, false);
        if (ids.length < n) throw new IllegalStateException("only " + ids.length + " tokens");
        return Arrays.copyOf(ids, n);
    }

    /** A context of n positions for logits, F32 cache, one thread. */
    static LlamaCppContext context(LlamaCppModel lm, int n) {
        return lm.newContext(new LlamaCppContext.Options(n, n, THREADS, true));
    }

    /**
     * Two engines' logits of one window compared.
     *
     * @param maxAbs      max |logit difference|
     * @param maxLogit    max |logit| (the first array), the scale of maxAbs
     * @param nllA        mean NLL of the window from the first logits
     * @param nllB        the same from the second
     * @param argmaxAgree positions where both argmaxes agree
     */
    record Diff(double maxAbs, double maxLogit, double nllA, double nllB, int argmaxAgree, int positions) {
        double nllDelta() {
            return Math.abs(nllA - nllB);
        }

        @Override
        public String toString() {
            return String.format(java.util.Locale.ROOT, "max|dlogit| %.3e (max|logit| %.2f), NLL %.6f vs %.6f (|d| %.2e), argmax %d/%d",
                    maxAbs, maxLogit, nllA, nllB, nllDelta(), argmaxAgree, positions);
        }
    }

    static Diff diff(float[] a, float[] b, int[] ids, int nVocab) {
        assertEquals(a.length, b.length, "logit counts");
        double maxAbs = 0, maxLogit = 0;
        int agree = 0;
        for (int t = 0; t < ids.length; t++) {
            int am = 0, bm = 0;
            for (int v = 0; v < nVocab; v++) {
                int i = t * nVocab + v;
                maxAbs = Math.max(maxAbs, Math.abs((double) a[i] - b[i]));
                maxLogit = Math.max(maxLogit, Math.abs(a[i]));
                if (a[i] > a[t * nVocab + am]) am = v;
                if (b[i] > b[t * nVocab + bm]) bm = v;
            }
            if (am == bm) agree++;
        }
        return new Diff(maxAbs, maxLogit, Parity.meanNll(a, ids, nVocab), Parity.meanNll(b, ids, nVocab), agree, ids.length);
    }

    /** panlora's logits of one sequence with these adapter files at these user scales (as --lora-scaled). */
    static float[] ours(LlamaModel m, int[] ids, Parity.Adapter... adapters) throws IOException {
        return Parity.ourLogits(m, List.of(adapters), ids);
    }

    /** llama.cpp's logits of one sequence with these adapter files at these user scales, loaded for this call. */
    static float[] theirs(LlamaCppModel lm, LlamaCppContext ctx, int[] ids, Parity.Adapter... adapters) {
        List<LlamaCppAdapter> loaded = new java.util.ArrayList<>();
        try {
            List<LlamaCppContext.Scaled> scaled = new java.util.ArrayList<>();
            for (Parity.Adapter a : adapters) {
                LlamaCppAdapter la = lm.loadAdapter(a.file());
                loaded.add(la);
                scaled.add(new LlamaCppContext.Scaled(la, a.scale()));
            }
            ctx.setAdapters(scaled);
            return ctx.logits(ids);
        } finally {
            ctx.setAdapters(List.of());
            for (LlamaCppAdapter la : loaded) la.close();
        }
    }

    /**
     * Writes a random non-zero adapter through panlora's own writer: one slot per (layer, target) of the given rank with scale
     * alpha/rank (rsLoRA: alpha/√rank), A ~ U(±1/√in) as PEFT initialises it, B ~ N(0, bStd²).
     */
    static Path randomAdapter(LlamaModel m, Path out, GgmlType type, int rank, List<Target> targets, float alpha, boolean rsLora,
                              float bStd, long seed) throws IOException {
        try (LoraSet set = new LoraSet(m)) {
            SplittableRandom r = new SplittableRandom(seed);
            float scale = rsLora ? (float) (alpha / Math.sqrt(rank)) : alpha / rank;
            for (int layer = 0; layer < m.config().nLayer(); layer++)
                for (Target t : targets) fill(set, set.addSlot(layer, t, rank, scale), r, bStd);
            AdapterGguf.write(out, set, m.config(), type, "random-" + type + "-r" + rank);
        }
        return out;
    }

    static void fill(LoraSet set, LoraSet.Slot s, SplittableRandom r, float bStd) {
        float[] a = new float[(int) s.aLength()], b = new float[(int) s.bLength()];
        double bound = 1 / Math.sqrt(s.in());
        for (int i = 0; i < a.length; i++) a[i] = (float) ((r.nextDouble() * 2 - 1) * bound);
        for (int i = 0; i < b.length; i++) b[i] = (float) (r.nextGaussian() * bStd);
        set.setWeights(s, a, b);
    }

    /** A CLI run in this JVM: exit code, stdout, stderr. */
    record Cli(int code, String out, String err) {
        Cli ok() {
            assertEquals(0, code, "exit status; stderr: " + err + "\nstdout: " + out);
            return this;
        }
    }

    /** Runs the CLI in this JVM; the engine's thread count (which -t changes for the process) is restored afterwards. */
    static synchronized Cli cli(String... args) {
        StringWriter err = new StringWriter();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrintStream old = System.out;
        int threads = io.panlora.bindings.Native.threads();
        int code;
        try (PrintStream ps = new PrintStream(out, true, StandardCharsets.UTF_8)) {
            System.setOut(ps);
            var cl = Main.commandLine();
            cl.setErr(new PrintWriter(err, true));
            cl.setOut(new PrintWriter(ps, true));
            code = cl.execute(args);
        } finally {
            System.setOut(old);
            io.panlora.bindings.Native.setThreads(threads);
        }
        return new Cli(code, out.toString(StandardCharsets.UTF_8), err.toString());
    }
}
