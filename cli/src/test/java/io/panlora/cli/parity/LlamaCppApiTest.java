package io.panlora.cli.parity;

import io.panlora.llamacpp.*;

import static io.panlora.cli.parity.LlamaCppTesting.cli;
import static io.panlora.cli.parity.LlamaCppTesting.diff;
import static io.panlora.cli.parity.LlamaCppTesting.ours;
import static io.panlora.cli.parity.LlamaCppTesting.randomAdapter;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.panlora.generate.Generator;
import io.panlora.generate.Sampler;
import io.panlora.gguf.GgmlType;
import io.panlora.lora.Target;
import io.panlora.model.KvCache;
import io.panlora.model.LlamaModel;
import io.panlora.model.TokenizerLoader;
import io.panlora.testing.SharedData;
import io.panlora.tokenizer.Tokenizer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Java API of the bridge on stories260K: model facts, adapters swapped between requests on one context without reloading
 * the base (each request's logits equal panlora's for that adapter set), user scales (0 is the base, 2 equals panlora's
 * --lora-scaled F:2 and doubles a small adapter's effect), tokenize/detokenize, greedy generation equal to panlora's, errors
 * carrying llama.cpp's message, no memory growth over 200 context cycles, and closed objects refused.
 */
class LlamaCppApiTest {
    static final int N = 96;
    static final double F32_TOL = 2e-4;

    @TempDir
    static Path dir;
    static Path model;
    static LlamaModel m;
    static LlamaCppModel lm;
    static Tokenizer tok;
    static int[] ids;
    static int nv;
    static Path adapterA, adapterB, small;

    @BeforeAll
    static void load() throws IOException {
        LlamaCppTesting.requireLlamaCpp();
        model = LlamaCppTesting.stories();
        m = LlamaModel.load(model, LlamaModel.LoadOptions.cpu());
        lm = LlamaCppModel.load(model);
        tok = TokenizerLoader.fromGguf(m.gguf().orElseThrow());
        ids = LlamaCppTesting.storyIds(m, N);
        nv = (int) m.config().nVocab();
        adapterA = randomAdapter(m, dir.resolve("a.gguf"), GgmlType.F32, 5, Target.parseList("all"), 10f, false, 0.04f, 21);
        adapterB = randomAdapter(m, dir.resolve("b.gguf"), GgmlType.F32, 12, Target.parseList("q,v,up,down"), 24f, false, 0.04f, 22);
        small = randomAdapter(m, dir.resolve("small.gguf"), GgmlType.F32, 8, Target.parseList("all"), 16f, false, 0.001f, 23);
    }

    @AfterAll
    static void close() {
        if (lm != null) lm.close();
        if (m != null) m.close();
    }

    @Test
    void modelFacts() {
        assertEquals(512, lm.nVocab());
        assertEquals(64, lm.nEmbd());
        assertEquals(5, lm.nLayer());
        assertEquals(512, lm.nCtxTrain());
        assertEquals(1, lm.bos());
        assertEquals(2, lm.eos());
        assertTrue(lm.addsBos());
        assertTrue(lm.isEog(2));
        assertFalse(lm.isEog(100));
        assertEquals(m.config().parameterCount(false), lm.nParams(), "parameters of stories260K");
        assertFalse(lm.vocabOnly());
        assertEquals(model, lm.path());
    }

    /** base → A → B → none → A and B at 0.7 and -1.3 → A: one context, one model, each request equal to panlora's. */
    @Test
    void adaptersSwappedBetweenRequestsWithoutReloading() throws IOException {
        try (LlamaCppContext ctx = LlamaCppTesting.context(lm, N)) {
            LlamaCppAdapter a = lm.loadAdapter(adapterA), b = lm.loadAdapter(adapterB);
            record Step(String name, List<LlamaCppContext.Scaled> set, Parity.Adapter[] ours) {}
            List<Step> steps = List.of(
                    new Step("base", List.of(), new Parity.Adapter[0]),
                    new Step("A", List.of(new LlamaCppContext.Scaled(a, 1f)), new Parity.Adapter[] {new Parity.Adapter(adapterA, 1f)}),
                    new Step("B", List.of(new LlamaCppContext.Scaled(b, 1f)), new Parity.Adapter[] {new Parity.Adapter(adapterB, 1f)}),
                    new Step("none", List.of(), new Parity.Adapter[0]),
                    new Step("A 0.7 + B -1.3", List.of(new LlamaCppContext.Scaled(a, 0.7f), new LlamaCppContext.Scaled(b, -1.3f)),
                            new Parity.Adapter[] {new Parity.Adapter(adapterA, 0.7f), new Parity.Adapter(adapterB, -1.3f)}),
                    new Step("A again", List.of(new LlamaCppContext.Scaled(a, 1f)), new Parity.Adapter[] {new Parity.Adapter(adapterA, 1f)}));
            float[] base = ours(m, ids);
            for (Step s : steps) {
                ctx.setAdapters(s.set());
                assertEquals(s.set(), ctx.adapters());
                float[] theirs = ctx.logits(ids), want = ours(m, ids, s.ours());
                LlamaCppTesting.Diff d = diff(want, theirs, ids, nv);
                System.out.printf(Locale.ROOT, "api swap %-16s %s%n", s.name(), d);
                assertTrue(d.maxAbs() <= F32_TOL && d.nllDelta() <= 1e-5, s.name() + ": " + d);
                if (!s.set().isEmpty()) assertTrue(diff(base, want, ids, nv).maxAbs() > 1, s.name() + " must differ from the base");
            }
            a.close();
            assertTrue(ctx.adapters().isEmpty(), "closing an adapter removes it from the contexts using it");
            b.close();
        }
    }

    /** Scale 0 gives the base; scale 2 equals panlora's --lora-scaled F:2; a small adapter's effect doubles with the scale. */
    @Test
    void userScales() throws IOException {
        try (LlamaCppContext ctx = LlamaCppTesting.context(lm, N); LlamaCppAdapter a = lm.loadAdapter(adapterA);
             LlamaCppAdapter s = lm.loadAdapter(small)) {
            float[] base = ours(m, ids);
            ctx.setAdapters(List.of(new LlamaCppContext.Scaled(a, 0f)));
            LlamaCppTesting.Diff zero = diff(base, ctx.logits(ids), ids, nv);
            assertTrue(zero.maxAbs() <= F32_TOL, "scale 0 is the base: " + zero);
            ctx.setAdapters(List.of(new LlamaCppContext.Scaled(a, 2f)));
            LlamaCppTesting.Diff two = diff(ours(m, ids, new Parity.Adapter(adapterA, 2f)), ctx.logits(ids), ids, nv);
            System.out.println("api scale 0 vs base " + zero + "; scale 2 vs panlora --lora-scaled :2 " + two);
            assertTrue(two.maxAbs() <= F32_TOL && two.nllDelta() <= 1e-5, "scale 2: " + two);
            ctx.setAdapters(List.of(new LlamaCppContext.Scaled(s, 1f)));
            float[] one = ctx.logits(ids);
            ctx.setAdapters(List.of(new LlamaCppContext.Scaled(s, 2f)));
            float[] twice = ctx.logits(ids);
            double num = 0, den = 0, effect = 0;
            for (int i = 0; i < base.length; i++) {
                double d1 = one[i] - base[i], d2 = twice[i] - base[i];
                num = Math.max(num, Math.abs(d2 - 2 * d1));
                den = Math.max(den, Math.abs(2 * d1));
                effect = Math.max(effect, Math.abs(d1));
            }
            System.out.printf(Locale.ROOT, "api scale 2 of a small adapter: max|delta(2) - 2 delta(1)| %.2e of max|2 delta(1)| %.2e%n", num, den);
            assertTrue(effect > 100 * F32_TOL, "the small adapter must still move the logits: " + effect);
            assertTrue(num <= 0.05 * den, "scale 2 doubles a small adapter's effect: " + num + " of " + den);
        }
    }

    /** The CLI's --lora-scaled through both engines (perplexity of 4 windows; its llama.cpp path keeps llama.cpp's F16 KV cache). */
    @Test
    void cliLoraScaledOnBothEngines() throws IOException {
        Path text = SharedData.require("tinystories-valid-sample.txt");
        double[] ppl = new double[2];
        String[] engines = {"panlora", "llama.cpp"};
        for (int i = 0; i < 2; i++) {
            var r = cli("perplexity", "-m", model.toString(), "-f", text.toString(), "-c", "128", "--chunks", "4", "--lora-scaled",
                    adapterA + ":0.5", "--lora-scaled", adapterB + ":-0.4", "--engine", engines[i], "-t", Integer.toString(LlamaCppTesting.THREADS)).ok();
            var mt = java.util.regex.Pattern.compile("(?m)^perplexity: ([0-9.]+)$").matcher(r.out());
            assertTrue(mt.find(), r.out());
            ppl[i] = Double.parseDouble(mt.group(1));
        }
        System.out.printf(Locale.ROOT, "api perplexity --lora-scaled A:0.5 --lora-scaled B:-0.4: panlora %.6f, llama.cpp %.6f%n", ppl[0], ppl[1]);
        assertEquals(ppl[0], ppl[1], 1e-3 * ppl[0], "within 1e-3 relative (llama.cpp keeps its default F16 KV cache here)");
    }

    @Test
    void tokenizeDetokenizeRoundTrip() throws IOException {
        String text = Files.readString(SharedData.require("tinystories-valid-sample.txt")).substring(0, 20_000);
        int[] theirs = lm.tokenize(text, true, false);
        assertArrayEquals(tok.encode(text, true, false), theirs);
        assertEquals(1, theirs[0], "BOS first");
        int[] noBos = lm.tokenize(text, false, false);
        assertArrayEquals(Arrays.copyOfRange(theirs, 1, theirs.length), noBos);
        assertEquals(text, lm.detokenize(noBos, false, false), "detokenize(tokenize(text)): the space prefix removed again");
        // with BOS, removing it keeps the space prefix (llama.cpp's rule: BOS takes the first token's turn), as panlora does
        assertEquals(" " + text, lm.detokenize(theirs, true, false));
        assertEquals(tok.detokenize(theirs, true, false), lm.detokenize(theirs, true, false));
        assertEquals(tok.detokenize(theirs, false, true), lm.detokenize(theirs, false, true));
        assertEquals(tok.detokenize(noBos, false, false), lm.detokenize(noBos, false, false));
        ByteArrayOutputStream pieces = new ByteArrayOutputStream();
        for (int i = 1; i < theirs.length; i++) pieces.writeBytes(lm.pieceBytes(theirs[i], false));
        assertEquals(" " + text, pieces.toString(StandardCharsets.UTF_8), "pieces with SentencePiece's leading space");
        for (int id : theirs) assertArrayEquals(tok.pieceBytes(id, true), lm.pieceBytes(id, true), "token " + id);
        assertEquals("<s>", new String(lm.pieceBytes(1, true), StandardCharsets.UTF_8));
        assertEquals(0, lm.pieceBytes(1, false).length, "control tokens render as nothing without special");
        assertThrows(IllegalArgumentException.class, () -> lm.pieceBytes(512, false));
        assertThrows(IllegalArgumentException.class, () -> lm.detokenize(new int[] {5, -1}, false, false));
    }

    /** Greedy generation: the same ids as panlora's KV-cache decoding and the same text as panlora's Generator, with and without an adapter. */
    @Test
    void greedyGenerationEqualsPanlora() throws IOException {
        String prompt = "Once upon a time";
        int n = 80;
        for (Path adapter : new Path[] {null, adapterA}) {
            String ourText;
            int[] ourIds = new int[n];
            int produced = 0;
            try (var lora = adapter == null ? null : new io.panlora.lora.LoraSet(m)) {
                if (lora != null) {
                    io.panlora.lora.AdapterGguf.load(adapter, lora, 1f);
                    lora.attach();
                }
                ourText = Generator.generate(m, tok, prompt, n, 256, new Sampler(0f, 0, 1f, 0), null);
                int[] p = tok.encode(prompt, true, false);
                try (KvCache cache = m.newKvCache(256)) {
                    float[] logits = cache.decode(p);
                    while (produced < n) {
                        int next = Sampler.argmax(logits);
                        if (tok.isEog(next)) break;
                        ourIds[produced++] = next;
                        logits = cache.decode(next);
                    }
                }
            }
            int[] theirs;
            try (LlamaCppContext ctx = lm.newContext(new LlamaCppContext.Options(256, 64, LlamaCppTesting.THREADS, true));
                 LlamaCppSampler greedy = LlamaCppSampler.greedy(lm.nVocab())) {
                LlamaCppAdapter la = adapter == null ? null : lm.loadAdapter(adapter);
                if (la != null) ctx.setAdapters(List.of(new LlamaCppContext.Scaled(la, 1f)));
                theirs = ctx.generate(lm.tokenize(prompt, true, false), n, greedy, null);
                if (la != null) la.close();
            }
            ByteArrayOutputStream text = new ByteArrayOutputStream();
            for (int t : theirs) text.writeBytes(lm.pieceBytes(t, false));
            String what = adapter == null ? "base" : "adapter A";
            System.out.printf(Locale.ROOT, "api greedy %s: %d tokens equal: %s%n", what, theirs.length, ourText.replace("\n", "\\n"));
            assertArrayEquals(Arrays.copyOf(ourIds, produced), theirs, what + ": greedy ids");
            assertEquals(ourText, text.toString(StandardCharsets.UTF_8), what + ": greedy text");
            assertTrue(theirs.length >= 40, what + ": " + theirs.length + " tokens");
        }
    }

    /** The generate command prints the same greedy text on both engines. */
    @Test
    void cliGreedyGenerationOnBothEngines() {
        String[] out = new String[2];
        String[] engines = {"panlora", "llama.cpp"};
        for (int i = 0; i < 2; i++)
            out[i] = cli("generate", "-m", model.toString(), "-p", "Lily and Ben", "-n", "60", "--temp", "0", "--lora", adapterB.toString(),
                    "--engine", engines[i], "-t", Integer.toString(LlamaCppTesting.THREADS)).ok().out();
        assertTrue(out[0].startsWith("Lily and Ben") && out[0].length() > 80, out[0]);
        assertEquals(out[0], out[1]);
    }

    @Test
    void errorsCarryLlamaCppsMessage() throws IOException {
        LlamaCppException e = assertThrows(LlamaCppException.class, () -> LlamaCppModel.load(dir.resolve("missing.gguf")));
        assertTrue(e.getMessage().contains("missing.gguf") && e.getMessage().contains("no such file"), e.getMessage());

        Path notGguf = dir.resolve("not-a-model.gguf");
        Files.writeString(notGguf, "this is not a GGUF file at all, just some text long enough to be read");
        e = assertThrows(LlamaCppException.class, () -> LlamaCppModel.load(notGguf));
        System.out.println("api error (not a GGUF): " + e.getMessage());
        assertTrue(e.getMessage().startsWith("llama.cpp: " + notGguf + ": the model could not be loaded ("), e.getMessage());
        assertTrue(e.getMessage().contains("gguf"), "llama.cpp's own words: " + e.getMessage());

        // an adapter made for another model: a tiny init model whose FFN is 192 wide (stories260K's is 172)
        Path other = dir.resolve("other.gguf");
        cli("init", "-o", other.toString(), "--preset", "tiny", "--layers", "5").ok();
        Path foreign = dir.resolve("foreign-adapter.gguf");
        try (LlamaModel om = LlamaModel.load(other, LlamaModel.LoadOptions.cpu())) {
            randomAdapter(om, foreign, GgmlType.F32, 4, Target.parseList("all"), 8f, false, 0.04f, 1);
        }
        e = assertThrows(LlamaCppException.class, () -> lm.loadAdapter(foreign));
        System.out.println("api error (adapter of another model): " + e.getMessage());
        assertTrue(e.getMessage().startsWith("llama.cpp: " + foreign + ": the adapter could not be loaded ("), e.getMessage());
        assertTrue(e.getMessage().contains("shape"), "llama.cpp's own words: " + e.getMessage());

        e = assertThrows(LlamaCppException.class, () -> lm.loadAdapter(dir.resolve("no-adapter.gguf")));
        assertTrue(e.getMessage().contains("no such file"), e.getMessage());
        // panlora refuses the same file
        var r = cli("perplexity", "-m", model.toString(), "-f", SharedData.require("tinystories-valid-sample.txt").toString(), "-c", "32",
                "--chunks", "1", "--lora", foreign.toString());
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().contains(foreign.toString()), r.err());

        try (LlamaCppContext ctx = LlamaCppTesting.context(lm, 16)) {
            int n = ctx.nCtx(); // llama.cpp may round the size up
            assertTrue(n >= 16, "context of " + n);
            IllegalArgumentException x = assertThrows(IllegalArgumentException.class, () -> ctx.logits(new int[n + 1]));
            assertTrue(x.getMessage().contains("exceed the context of " + n), x.getMessage());
            assertThrows(IllegalArgumentException.class, () -> ctx.logits(new int[] {1, 512}));
        }
    }

    /**
     * 200 create / evaluate / close cycles of a context (and 50 of an adapter) leave llama.cpp's memory where it was: glibc's
     * mallinfo2 (bytes in use, heap and mmapped, every arena: what llama.cpp's buffers take, unaffected by the Java heap) grows by
     * less than three contexts' worth (the JVM's own native allocations meanwhile land there too), where leaking every context
     * would cost 200. The resident set size is printed too.
     */
    @Test
    void noLeakAfterClose() throws Throwable {
        var linker = java.lang.foreign.Linker.nativeLinker();
        var sym = linker.defaultLookup().find("mallinfo2");
        SharedData.present(sym.isPresent(), "glibc's mallinfo2 is not available");
        java.lang.invoke.MethodHandle mallinfo2 = linker.downcallHandle(sym.get(), java.lang.foreign.FunctionDescriptor.of(MALLINFO2));
        int[] few = Arrays.copyOf(ids, 32);
        Runnable cycle = () -> {
            try (LlamaCppContext c = LlamaCppTesting.context(lm, 64)) {
                c.logits(few);
            }
        };
        for (int i = 0; i < 20; i++) cycle.run();
        long one0 = mallocated(mallinfo2);
        long perContext;
        try (LlamaCppContext c = LlamaCppTesting.context(lm, 64)) {
            c.logits(few);
            perContext = mallocated(mallinfo2) - one0;
        }
        long rss0 = rssKb(), before = mallocated(mallinfo2);
        for (int i = 0; i < 200; i++) cycle.run();
        for (int i = 0; i < 50; i++) lm.loadAdapter(adapterB).close();
        long after = mallocated(mallinfo2), rss1 = rssKb();
        System.out.printf(Locale.ROOT, "api leak: native bytes in use %+d KB over 200 context and 50 adapter cycles (an open context holds %d KB); "
                + "RSS %d -> %d KB%n", (after - before) / 1024, perContext / 1024, rss0, rss1);
        assertTrue(perContext > 256 * 1024, "a context must take measurable memory: " + perContext + " bytes");
        assertTrue(after - before < 3 * perContext, "native memory grew by " + (after - before) + " bytes; a context holds " + perContext);
    }

    private static final java.lang.foreign.StructLayout MALLINFO2 = java.lang.foreign.MemoryLayout.structLayout(
            java.lang.foreign.ValueLayout.JAVA_LONG.withName("arena"), java.lang.foreign.ValueLayout.JAVA_LONG.withName("ordblks"),
            java.lang.foreign.ValueLayout.JAVA_LONG.withName("smblks"), java.lang.foreign.ValueLayout.JAVA_LONG.withName("hblks"),
            java.lang.foreign.ValueLayout.JAVA_LONG.withName("hblkhd"), java.lang.foreign.ValueLayout.JAVA_LONG.withName("usmblks"),
            java.lang.foreign.ValueLayout.JAVA_LONG.withName("fsmblks"), java.lang.foreign.ValueLayout.JAVA_LONG.withName("uordblks"),
            java.lang.foreign.ValueLayout.JAVA_LONG.withName("fordblks"), java.lang.foreign.ValueLayout.JAVA_LONG.withName("keepcost"));

    /** hblkhd + uordblks: bytes malloc has handed out (mmapped and from the arenas). */
    private static long mallocated(java.lang.invoke.MethodHandle mallinfo2) throws Throwable {
        try (var arena = java.lang.foreign.Arena.ofConfined()) {
            java.lang.foreign.MemorySegment s = (java.lang.foreign.MemorySegment) mallinfo2.invokeExact((java.lang.foreign.SegmentAllocator) arena);
            return s.get(java.lang.foreign.ValueLayout.JAVA_LONG, 32) + s.get(java.lang.foreign.ValueLayout.JAVA_LONG, 56);
        }
    }

    static long rssKb() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status")))
            if (line.startsWith("VmRSS:")) return Long.parseLong(line.replaceAll("[^0-9]", ""));
        throw new IllegalStateException("no VmRSS");
    }

    @Test
    void closedObjectsAreRefused() throws IOException {
        LlamaCppModel own = LlamaCppModel.load(model);
        LlamaCppContext ctx = LlamaCppTesting.context(own, 32);
        LlamaCppAdapter a = own.loadAdapter(adapterA);
        LlamaCppSampler sampler = LlamaCppSampler.greedy(own.nVocab());
        ctx.setAdapters(List.of(new LlamaCppContext.Scaled(a, 1f)));
        assertTrue(a.meta("adapter.lora.alpha").isPresent());

        sampler.close();
        assertThrows(IllegalStateException.class, () -> ctx.generate(new int[] {1}, 4, sampler, null));
        a.close();
        assertThrows(IllegalStateException.class, () -> a.meta("adapter.type"));
        assertThrows(IllegalStateException.class, () -> ctx.setAdapters(List.of(new LlamaCppContext.Scaled(a, 1f))));
        ctx.close();
        ctx.close(); // twice is fine
        assertThrows(IllegalStateException.class, () -> ctx.logits(new int[] {1, 2}));
        assertThrows(IllegalStateException.class, ctx::nCtx);
        assertThrows(IllegalStateException.class, ctx::clearCache);
        assertThrows(IllegalStateException.class, () -> ctx.setAdapters(List.of()));

        LlamaCppContext orphan = LlamaCppTesting.context(own, 32);
        LlamaCppAdapter b = own.loadAdapter(adapterB);
        own.close();
        own.close();
        assertThrows(IllegalStateException.class, () -> orphan.logits(new int[] {1, 2}), "closing the model closes its contexts");
        assertThrows(IllegalStateException.class, () -> b.meta("adapter.type"), "and its adapters");
        assertThrows(IllegalStateException.class, own::nVocab);
        assertThrows(IllegalStateException.class, () -> own.tokenize("x", false, false));
        assertThrows(IllegalStateException.class, () -> own.detokenize(new int[] {5}, false, false));
        assertThrows(IllegalStateException.class, () -> own.newContext(LlamaCppContext.Options.of(8)));
        assertThrows(IllegalStateException.class, () -> own.loadAdapter(adapterA));

        try (LlamaCppModel vocab = LlamaCppModel.load(model, LlamaCppModel.Options.vocabularyOnly())) {
            assertTrue(vocab.vocabOnly());
            assertArrayEquals(lm.tokenize("Once upon a time", true, false), vocab.tokenize("Once upon a time", true, false));
            assertThrows(IllegalStateException.class, () -> vocab.newContext(LlamaCppContext.Options.of(8)));
            assertThrows(IllegalStateException.class, () -> vocab.loadAdapter(adapterA));
        }
    }

    /** panlora verify: PASS within the tolerances (exit 0), FAIL beyond them (exit 1). */
    @Test
    void verifyCommand() {
        var ok = cli("verify", "-m", model.toString(), "--lora", adapterA + ":0.5", "--lora", adapterB.toString(), "-c", "64", "-t", "1").ok();
        assertTrue(ok.out().contains("token ids: equal") && ok.out().contains("verify: PASS"), ok.out());
        var fail = cli("verify", "-m", model.toString(), "--lora", adapterA.toString(), "-c", "64", "-t", "1", "--logit-tolerance", "0");
        assertEquals(1, fail.code(), fail.out() + fail.err());
        assertTrue(fail.out().contains("verify: FAIL (logits differ beyond the tolerance)"), fail.out());
    }
}
