package io.panlora.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Byte-level BPE training: sizes, round trips, determinism, speed. */
class TokTrainerTest {

    private static final String[] WORDS = {
        "the", "the", "the", "a", "and", "and", "to", "was", "she", "he", "they", "little", "dog", "cat", "ball",
        "park", "happy", "played", "with", "her", "his", "friend", "sun", "tree", "big", "red", "said", "wanted",
        "one", "day", "went", "home", "mom", "it", "of", "in", "saw", "very", "fun", "they're", "didn't", "can't"
    };

    /** Deterministic story-like text: sentences of common words with some punctuation, digits and newlines. */
    static String sampleText(int sentences, long seed) {
        Random random = new Random(seed);
        StringBuilder sb = new StringBuilder();
        for (int s = 0; s < sentences; s++) {
            int n = 4 + random.nextInt(8);
            for (int i = 0; i < n; i++) {
                String w = WORDS[random.nextInt(WORDS.length)];
                sb.append(i == 0 ? Character.toUpperCase(w.charAt(0)) + w.substring(1) : w);
                sb.append(i + 1 < n ? (random.nextInt(10) == 0 ? ", " : " ") : "");
            }
            sb.append(random.nextInt(5) == 0 ? "!" : ".");
            if (random.nextInt(20) == 0) {
                sb.append(" It was ").append(random.nextInt(100)).append(" o'clock.");
            }
            sb.append(random.nextInt(6) == 0 ? "\n\n" : " ");
        }
        return sb.toString();
    }

    /** About {@code size} chars of made-up words (Zipf-like frequencies) with some punctuation: many distinct pairs. */
    static String randomWordText(int size, long seed) {
        Random random = new Random(seed);
        String[] words = new String[5000];
        for (int i = 0; i < words.length; i++) {
            StringBuilder w = new StringBuilder();
            for (int k = 2 + random.nextInt(8); k > 0; k--) {
                w.append((char) ('a' + (int) (26 * Math.pow(random.nextDouble(), 1.5))));
            }
            words[i] = w.toString();
        }
        StringBuilder sb = new StringBuilder(size + 16);
        while (sb.length() < size) {
            double r = random.nextDouble();
            sb.append(words[(int) (words.length * r * r * r)]).append(random.nextInt(12) == 0 ? ". " : " ");
        }
        return sb.toString();
    }

    @Test
    void vocabularyHasTheAskedSizeAndLayout() {
        TokenizerSpec spec = BpeTrainer.train(randomWordText(100_000, 1), 500, List.of("<|im_start|>", "<|im_end|>"));
        assertEquals(500, spec.size());
        assertEquals(500, new HashSet<>(spec.tokens()).size(), "token texts are unique");
        assertEquals("gpt2", spec.model());
        assertEquals("gpt-2", spec.pre());
        assertEquals(BpeTrainer.BOS, spec.tokens().get(spec.bosId()));
        assertEquals(BpeTrainer.EOS, spec.tokens().get(spec.eosId()));
        assertEquals(List.of(3, 3, 3, 3), List.of(spec.tokenTypes()[0], spec.tokenTypes()[1], spec.tokenTypes()[2], spec.tokenTypes()[3]));
        assertEquals("Ā", spec.tokens().get(4), "byte 0 follows the specials");
        assertEquals(500 - 4 - 256, spec.merges().size());
        Tokenizer t = Tokenizer.of(spec);
        assertTrue(t.isEog(3), "<|im_end|> ends generation");
        assertArrayEquals(new int[] {0, 2}, Arrays.copyOf(t.encode("<|im_start|>hi", true, true), 2));
    }

    @Test
    void roundTripsHeldOutTextExactly() {
        Tokenizer t = Tokenizer.of(BpeTrainer.train(sampleText(3000, 2), 800));
        List<String> heldOut = List.of(sampleText(50, 99), "Café naïve 😀 日本語 — the end.\n", "  leading and trailing  ",
                "Hello , world ! it 's", "tabs\tand\r\nCRLF", "\u0000\u0001 control", "<|end_of_text|> literal");
        for (String s : heldOut) {
            int[] ids = t.encode(s, true, false);
            assertEquals(0, ids[0], "BOS first");
            assertEquals(s, t.decode(ids));
        }
    }

    @Test
    void commonWordsBecomeSingleTokens() {
        Tokenizer t = Tokenizer.of(BpeTrainer.train(sampleText(3000, 3), 600));
        for (String word : List.of(" the", " and", " little", " played", " happy")) {
            assertEquals(1, t.encode(word, false, false).length, word);
        }
        String text = sampleText(200, 4);
        int tokens = t.encode(text, false, false).length;
        int bytes = text.getBytes(StandardCharsets.UTF_8).length;
        assertTrue(tokens * 3 < bytes, "compression: " + tokens + " tokens for " + bytes + " bytes");
    }

    @Test
    void isDeterministic() {
        String text = sampleText(1500, 5);
        TokenizerSpec a = BpeTrainer.train(text, 700);
        TokenizerSpec b = BpeTrainer.train(text, 700);
        assertEquals(a.tokens(), b.tokens());
        assertEquals(a.merges(), b.merges());
        assertArrayEquals(a.tokenTypes(), b.tokenTypes());
    }

    @Test
    void padsWithUnusedTokensWhenTheTextRunsOut() {
        TokenizerSpec spec = BpeTrainer.train("ab ab ab", 300);
        assertEquals(300, spec.size());
        assertEquals(TokenType.UNUSED.ggufValue(), spec.tokenTypes()[299]);
        assertEquals("ab ab ab", Tokenizer.of(spec).decode(Tokenizer.of(spec).encode("ab ab ab", true, false)));
        assertThrows(IllegalArgumentException.class, () -> BpeTrainer.train("x", 257));
    }

    @Test
    void byteVocabularyCostsOneTokenPerByte() {
        TokenizerSpec spec = BpeTrainer.byteVocabulary(List.of());
        assertEquals(258, spec.size());
        Tokenizer t = Tokenizer.of(spec);
        assertEquals(6, t.encode("héllo", false, false).length);
        assertEquals("héllo 😀", t.decode(t.encode("héllo 😀", true, false)));
    }

    @Test
    void trainsOneMegabyteToFourThousandTokensQuickly() {
        String text = randomWordText(1 << 20, 6);
        long start = System.nanoTime();
        TokenizerSpec spec = BpeTrainer.train(text, 4096);
        double seconds = (System.nanoTime() - start) / 1e9;
        System.out.printf("BpeTrainer: %d bytes -> %d tokens in %.2f s%n", text.length(), spec.size(), seconds);
        assertEquals(4096, spec.size());
        assertEquals(TokenType.NORMAL.ggufValue(), spec.tokenTypes()[4095], "filled by merges, not padding");
        assertTrue(seconds < 60, "took " + seconds + " s");
        Tokenizer t = Tokenizer.of(spec);
        String sample = text.substring(0, 20_000);
        assertEquals(sample, t.decode(t.encode(sample, true, false)));
    }
}
