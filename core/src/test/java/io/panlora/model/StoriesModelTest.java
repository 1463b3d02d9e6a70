package io.panlora.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.panlora.generate.Sampler;
import io.panlora.testing.SharedData;
import io.panlora.tokenizer.Tokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** A real pretrained model (stories260K, TinyStories): reference NLL and fluent generation. */
class StoriesModelTest {

    @Test
    void reproducesReferenceNllOnTinyStories() throws Exception {
        Path model = SharedData.require("stories260K.gguf");
        String text = Files.readString(SharedData.require("tinystories-valid-sample.txt"));
        try (LlamaModel m = LlamaModel.load(model)) {
            Tokenizer tok = TokenizerLoader.fromGguf(m.gguf().orElseThrow());
            int[] ids = tok.encode(text.substring(0, 4000), true, false);
            assertEquals(tok.bos(), ids[0], "BOS first");
            int[] window = Arrays.copyOf(ids, 400);
            int[] targets = new int[400];
            for (int t = 0; t < 400; t++) targets[t] = t + 1 < 400 ? window[t + 1] : -1;
            float[] nll = m.nll(new int[][] {window}, new int[][] {targets});
            double sum = 0;
            for (int t = 0; t < 399; t++) sum += nll[t];
            double mean = sum / 399;
            System.out.printf("stories260K: mean NLL over the first 400 tokens = %.4f (reference 1.356)%n", mean);
            assertEquals(1.356, mean, 0.002);
            // the perplexity command's windowing gives the same number for one 400-token window
            Perplexity.Result r = Perplexity.evaluate(m, tok, text.substring(0, 4000), 400, 1, 1, null);
            assertEquals(399, r.predictions());
            assertEquals(mean, r.meanNll(), 1e-6);
        }
    }

    @Test
    void generatesTinyStoriesEnglish() throws Exception {
        Path model = SharedData.require("stories260K.gguf");
        try (LlamaModel m = LlamaModel.load(model)) {
            Tokenizer tok = TokenizerLoader.fromGguf(m.gguf().orElseThrow());
            String out = io.panlora.generate.Generator.generate(m, tok, "Once upon a time", 60, 256, new Sampler(0f, 0, 1f, 1), null);
            System.out.println("stories260K greedy: Once upon a time" + out);
            String[] words = out.trim().split("\\s+");
            assertTrue(words.length >= 25, "expected a story, got: " + out);
            long known = Arrays.stream(words).map(w -> w.replaceAll("[^A-Za-z]", "").toLowerCase())
                    .filter(w -> w.isEmpty() || COMMON.contains(" " + w + " ")).count();
            assertTrue(known >= words.length * 0.6, "expected mostly common English words, got: " + out);
        }
    }

    private static final String COMMON = " a an the and was were is are he she it they his her their there once upon time day one "
            + "little big girl boy named lily tim ben mom dad friend friends to of in on at with for from very so but "
            + "had have has saw see said wanted want play played went go liked like loved love happy sad you i we "
            + "ball dog cat tree park toy home house sun fun not do did be can could would all that this when then "
            + "what up out too also every new found find man lady bird fish car red blue help helped look looked "
            + "asked say says smiled felt feel made make came come away back down under some they're ";
}
