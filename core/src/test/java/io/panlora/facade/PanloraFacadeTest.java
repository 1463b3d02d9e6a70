package io.panlora.facade;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.panlora.Adapter;
import io.panlora.Data;
import io.panlora.Evaluation;
import io.panlora.Panlora;
import io.panlora.Variant;
import io.panlora.data.ChatMessage;
import io.panlora.gguf.GgmlType;
import io.panlora.merge.AdapterMerge;
import io.panlora.testing.SharedData;
import io.panlora.train.TrainListener;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * The facade end to end on the real stories260K base (adapted to Shakespeare's speeches), as a library user calls it (this test lives outside the library's
 * packages, so it sees only the public API): train from in-memory texts with events, evaluate, export at another type,
 * export a merged model, generate with adapter scales, merge, prune, prompt/completion and chat data, cancellation, errors.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class PanloraFacadeTest {
    @TempDir(cleanup = org.junit.jupiter.api.io.CleanupMode.ALWAYS)
    static Path dir;

    Panlora base;
    List<String> stories;
    Data validation;

    @BeforeAll
    void load() throws Exception {
        base = Panlora.base(SharedData.require("stories260K.gguf")).device("cpu").threads(2).load();
        String text = Files.readString(SharedData.require("tinyshakespeare.txt"));
        stories = new ArrayList<>();
        for (String s : text.split("\\n\\s*\\n")) if (s.strip().length() > 200 && stories.size() < 400) stories.add(s.strip());
        assertTrue(stories.size() > 60, "stories " + stories.size());
        validation = Data.texts(stories.subList(0, 20));
    }

    @AfterAll
    void close() {
        if (base != null) base.close(); // null when the shared data is missing (the class is skipped)
    }

    private Adapter trained;

    /** One training shared by the tests that only use its adapter. */
    private synchronized Adapter trained() {
        if (trained == null) {
            trained = base.lora().rank(4).alpha(8).targets("q,k,v,o").learningRate(4e-3).steps(40).batch(4, 64, 1).seed(7)
                    .evaluation(0, 4).validation(validation).train(Data.texts(stories.subList(20, stories.size())), dir.resolve("shared"));
        }
        return trained;
    }

    @Test
    void trainingFromMemoryLowersHeldOutLossAndReportsEveryStep() {
        List<double[]> steps = new ArrayList<>();
        List<Double> validations = new ArrayList<>();
        TrainListener events = new TrainListener() {
            @Override
            public void stepped(int step, int total, double loss, double lr, double gradNorm, double tokensPerSecond) {
                steps.add(new double[] {step, total, loss, lr, tokensPerSecond});
            }

            @Override
            public void validated(int step, double loss) {
                validations.add(loss);
            }
        };
        Evaluation before = base.evaluate(validation);
        Adapter a = base.lora().rank(4).alpha(8).learningRate(4e-3).steps(40).batch(4, 64, 1).seed(7).evaluation(20, 4)
                .validation(validation).listener(events).train(Data.texts(stories.subList(20, stories.size())), dir.resolve("run"));
        assertEquals(40, steps.size());
        for (int i = 0; i < 40; i++) {
            assertEquals(i + 1, (int) steps.get(i)[0]);
            assertEquals(40, (int) steps.get(i)[1]);
            assertTrue(steps.get(i)[2] > 0 && steps.get(i)[3] > 0 && steps.get(i)[4] > 0);
        }
        assertEquals(2, validations.size(), "validation at steps 20 and 40");
        assertTrue(Files.isRegularFile(a.file()) && a.file().equals(dir.resolve("run/adapter.gguf")));
        assertEquals(40, a.training().orElseThrow().result().steps());
        Evaluation after = base.evaluate(validation, a.scaled(1));
        assertTrue(after.loss() < before.loss() - 0.05, "held-out loss " + before.loss() + " -> " + after.loss());
        assertEquals(before.tokens(), after.tokens());
        assertEquals(Math.exp(after.loss()), after.perplexity(), 1e-9);
        // the base is left as it was, and scale 0 turns the adapter off
        assertEquals(before.loss(), base.evaluate(validation).loss(), 0.0);
        assertEquals(before.loss(), base.evaluate(validation, a.scaled(0)).loss(), 1e-6);
        // the same run again is bit-identical (same seed, same data)
        Adapter again = trained();
        assertEquals(after.loss(), base.evaluate(validation, again.scaled(1)).loss(), 0.0);
    }

    @Test
    void exportsAtAnotherTypeAndAsAMergedModel() {
        Adapter a = trained();
        double loss = base.evaluate(validation, a.scaled(1)).loss();
        Adapter q8 = base.exportAdapter(a, GgmlType.Q8_0, dir.resolve("q8.gguf"));
        assertTrue(q8.types().contains("Q8_0"), q8.types()); // lora_b rows (the rank, 4) are too short for Q8_0 blocks: F16
        assertTrue(q8.bytes() < a.bytes(), q8.bytes() + " vs " + a.bytes());
        assertEquals(loss, base.evaluate(validation, q8.scaled(1)).loss(), 0.01);
        Path merged = base.exportMerged(GgmlType.F32, dir.resolve("merged.gguf"), a.scaled(1));
        try (Panlora m = Panlora.base(merged).device("cpu").load()) {
            assertEquals(loss, m.evaluate(validation).loss(), 2e-3);
        }
        // half the scale is a different model, between the base and the full adapter
        double half = base.evaluate(validation, a.scaled(0.5)).loss();
        double none = base.evaluate(validation).loss();
        assertTrue(half < none && half != loss, none + " > " + half + " != " + loss);
    }

    @Test
    void generatesDeterministicallyAtTemperatureZeroAndStreams() {
        Adapter a = trained();
        StringBuilder streamed = new StringBuilder();
        var r = base.generate("Once upon a time").adapters(a.scaled(1)).maxTokens(24).temperature(0).onText(streamed::append).run();
        assertTrue(r.generatedTokens() > 0 && !r.text().isEmpty());
        assertEquals(r.text(), streamed.toString());
        assertEquals(r.text(), base.generate("Once upon a time").adapters(a.scaled(1)).maxTokens(24).temperature(0).text());
        String plain = base.generate("Once upon a time").maxTokens(24).temperature(0).text();
        assertNotEquals(plain, r.text(), "the adapter changes the greedy continuation");
        assertEquals(plain, base.generate("Once upon a time").adapters(a.scaled(0)).maxTokens(24).temperature(0).text());
        String sampled1 = base.generate("Once").maxTokens(16).seed(5).text(), sampled2 = base.generate("Once").maxTokens(16).seed(5).text();
        assertEquals(sampled1, sampled2, "the same seed samples the same text");
    }

    @Test
    void mergesAndPrunes() {
        Adapter a = trained();
        double loss = base.evaluate(validation, a.scaled(1)).loss();
        // linear (PEFT's: A and B each summed with √w) of an adapter with itself at 1/4 + 1/4 is the adapter
        Adapter self = base.merge().add(a, 0.25).add(a, 0.25).method(AdapterMerge.Method.LINEAR).type(GgmlType.F32)
                .writeTo(dir.resolve("self.gguf"));
        assertEquals(loss, base.evaluate(validation, self.scaled(1)).loss(), 1e-4);
        // cat is the weighted sum of the updates: weights 1 and 1 double it
        Adapter doubled = base.merge().add(a).add(a).method(AdapterMerge.Method.CAT).type(GgmlType.F32).writeTo(dir.resolve("cat.gguf"));
        assertEquals(base.evaluate(validation, a.scaled(2)).loss(), base.evaluate(validation, doubled.scaled(1)).loss(), 1e-4);
        // svd at the summed rank is exact too
        Adapter svd = base.merge().add(a, 0.5).add(a, 0.5).method(AdapterMerge.Method.SVD).type(GgmlType.F32).writeTo(dir.resolve("svd.gguf"));
        assertEquals(loss, base.evaluate(validation, svd.scaled(1)).loss(), 1e-3);
        // the default (ties, density 0.5) makes an adapter that still helps
        Adapter ties = base.merge().add(a).writeTo(dir.resolve("ties.gguf"));
        assertTrue(base.evaluate(validation, ties.scaled(1)).loss() < base.evaluate(validation).loss());
        // keeping everything changes nothing; rank 1 of 4 keeps part of the gain
        Adapter all = base.prune(a).magnitude(1.0).type(GgmlType.F32).writeTo(dir.resolve("all.gguf"));
        assertEquals(loss, base.evaluate(validation, all.scaled(1)).loss(), 1e-4);
        Adapter r1 = base.prune(a).rank(1).type(GgmlType.F32).writeTo(dir.resolve("r1.gguf"));
        double none = base.evaluate(validation).loss(), pruned = base.evaluate(validation, r1.scaled(1)).loss();
        assertTrue(pruned < none && pruned > loss - 1e-3, none + " > " + pruned + " >= " + loss);
        var layers = base.prune(a).layers(2, validation, 2);
        Adapter l = layers.type(GgmlType.F32).writeTo(dir.resolve("layers.gguf"));
        assertEquals(2, layers.removedLayers().length);
        assertTrue(Files.isRegularFile(l.file()));
        assertThrows(IllegalStateException.class, () -> base.prune(a).writeTo(dir.resolve("x.gguf")));
    }

    @Test
    void pairsAndChatsTrainOnlyWhatTheModelShouldSay() {
        List<Data.Pair> pairs = new ArrayList<>();
        for (int i = 0; i < 24; i++) pairs.add(new Data.Pair("Tom had " + i + " apples.", " He ate one and was happy."));
        Data p = Data.pairs(pairs);
        Evaluation before = base.evaluate(p);
        // counted: the completion's tokens and EOS, never the prompt (a longer prompt counts the same)
        List<Data.Pair> longer = new ArrayList<>();
        for (Data.Pair q : pairs) longer.add(new Data.Pair(q.prompt() + " They were red and shiny and very sweet.", q.completion()));
        assertEquals(before.tokens(), base.evaluate(Data.pairs(longer)).tokens());
        assertTrue(before.tokens() >= 24 * 7 && before.tokens() <= 24 * 12, "tokens " + before.tokens());
        Adapter a = base.lora().rank(4).alpha(8).learningRate(5e-3).steps(15).batch(4, 64, 1).validationFraction(0)
                .variant(Variant.copra()).train(p, dir.resolve("pairs"));
        assertTrue(base.evaluate(p, a.scaled(1)).loss() < before.loss() - 0.2);

        List<List<ChatMessage>> chats = new ArrayList<>();
        for (int i = 0; i < 16; i++)
            chats.add(List.of(ChatMessage.user("Say hello to " + (char) ('A' + i)), ChatMessage.assistant("Hello!")));
        Data c = Data.chats(chats);
        Evaluation chatBefore = base.evaluate(c);
        Adapter ca = base.lora().rank(4).alpha(8).learningRate(5e-3).steps(15).batch(4, 64, 1).validationFraction(0)
                .train(c, dir.resolve("chats"));
        assertTrue(base.evaluate(c, ca.scaled(1)).loss() < chatBefore.loss() - 0.2);
        assertThrows(IllegalArgumentException.class, () -> base.evaluate(Data.chats(List.of(List.of(ChatMessage.user("hi"))))));
    }

    @Test
    void cancellingStopsAtTheStepAndStillWritesTheAdapter() {
        int[] seen = {0};
        Adapter a = base.lora().rank(2).steps(50).batch(2, 32, 1).validationFraction(0).listener(new TrainListener() {
            @Override
            public void stepped(int step, int steps, double loss, double lr, double gradNorm, double tokensPerSecond) {
                seen[0] = step;
            }

            @Override
            public boolean cancelled() {
                return seen[0] == 3;
            }
        }).train(Data.texts(stories.subList(0, 10)), dir.resolve("cancel"));
        assertTrue(a.training().orElseThrow().result().cancelled());
        assertEquals(3, a.training().orElseThrow().result().steps());
        assertTrue(Files.isRegularFile(a.file()));
    }

    @Test
    void badInputIsAClearUncheckedError() throws Exception {
        var missing = assertThrows(UncheckedIOException.class, () -> Panlora.base(dir.resolve("nope.gguf")).load());
        assertTrue(missing.getMessage().contains("nope.gguf"), missing.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Panlora.base(dir.resolve("x")).device("tpu"));
        assertThrows(IllegalArgumentException.class, () -> base.lora().rank(0));
        assertThrows(IllegalArgumentException.class, () -> base.lora().targets("q,nope"));
        assertThrows(IllegalArgumentException.class, () -> base.lora().adapterType(GgmlType.Q8_1));
        assertThrows(IllegalArgumentException.class, () -> Data.texts(List.of()));
        assertThrows(IllegalArgumentException.class, () -> Variant.named("dora"));
        Path bad = dir.resolve("bad.jsonl");
        Files.writeString(bad, "{\"text\": \"fine\"}\n{not json\n");
        var e = assertThrows(IllegalArgumentException.class, () -> base.lora().steps(1).train(Data.file(bad), dir.resolve("bad")));
        assertTrue(e.getMessage().contains("bad.jsonl:2"), e.getMessage());
        assertFalse(Files.exists(dir.resolve("bad")), "nothing is created for bad data");
        assertThrows(UncheckedIOException.class, () -> base.adapter(dir.resolve("missing.gguf")));
        Path notAdapter = SharedData.require("stories260K.gguf");
        assertThrows(RuntimeException.class, () -> base.adapter(notAdapter));
        try (Panlora closed = Panlora.base(SharedData.require("stories260K.gguf")).device("cpu").load()) {
            closed.close();
            assertThrows(IllegalStateException.class, closed::lora);
        }
        assertArrayEquals(new int[0], base.prune(trained()).removedLayers());
    }
}
