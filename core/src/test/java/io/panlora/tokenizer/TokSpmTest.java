package io.panlora.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** SentencePiece tokenizer on a hand-built vocabulary whose merges can be followed by hand. */
class TokSpmTest {

    /** Normal pieces and their scores; higher scores merge first. */
    private static final Map<String, Float> PIECES = new LinkedHashMap<>();

    static {
        for (String c : List.of("▁", "h", "e", "l", "o", "w", "r", "d", "a", "b", "é")) {
            PIECES.put(c, -50f);
        }
        PIECES.put("▁h", -10f);
        PIECES.put("▁w", -11f);
        PIECES.put("el", -20f);
        PIECES.put("ll", -5f);
        PIECES.put("lo", -6f);
        PIECES.put("llo", -4f);
        PIECES.put("he", -3f);
        PIECES.put("hello", -1f);
        PIECES.put("▁hello", -0.5f);
        PIECES.put("or", -7f);
        PIECES.put("ld", -8f);
        PIECES.put("orld", -2f);
        PIECES.put("▁world", -0.7f);
        PIECES.put("▁▁", -30f);
    }

    /** {@code <unk> <s> </s>}, optionally the 256 byte tokens, then {@link #PIECES}. */
    static TokenizerSpec spec(boolean byteTokens, boolean addSpacePrefix, boolean addEos) {
        List<String> tokens = new ArrayList<>(List.of("<unk>", "<s>", "</s>"));
        List<Integer> types = new ArrayList<>(List.of(2, 3, 3));
        List<Float> scores = new ArrayList<>(List.of(0f, 0f, 0f));
        if (byteTokens) {
            for (int b = 0; b < 256; b++) {
                tokens.add(String.format("<0x%02X>", b));
                types.add(6);
                scores.add(0f);
            }
        }
        PIECES.forEach((text, score) -> {
            tokens.add(text);
            types.add(1);
            scores.add(score);
        });
        float[] s = new float[scores.size()];
        for (int i = 0; i < s.length; i++) {
            s[i] = scores.get(i);
        }
        return new TokenizerSpec("llama", null, tokens, s, types.stream().mapToInt(Integer::intValue).toArray(), null,
                1, 2, 0, -1, true, addEos, addSpacePrefix, null);
    }

    private static final Tokenizer TOK = Tokenizer.of(spec(true, true, false));

    private static int id(String text) {
        int id = TOK.tokenId(text);
        assertTrue(id >= 0, "no token " + text);
        return id;
    }

    private static int[] ids(String... texts) {
        int[] out = new int[texts.length];
        for (int i = 0; i < texts.length; i++) {
            out[i] = id(texts[i]);
        }
        return out;
    }

    @Test
    void mergesByScoreIntoKnownPieces() {
        assertArrayEquals(ids("▁hello", "▁world"), TOK.encode("hello world", false, false));
        // "he" (score -3) merges before "▁h" (-10), and "hell" is not a piece: greedy longest match would differ
        assertArrayEquals(ids("▁", "he", "ll"), TOK.encode("hell", false, false));
    }

    @Test
    void spacesLeadingTrailingAndRepeated() {
        assertArrayEquals(ids("▁", "a", "▁▁", "b"), TOK.encode("a  b", false, false));
        assertArrayEquals(ids("▁", "▁hello", "▁"), TOK.encode(" hello ", false, false));
        assertArrayEquals(ids("▁▁", "▁"), TOK.encode("  ", false, false));
        assertArrayEquals(new int[0], TOK.encode("", false, false));
        assertArrayEquals(new int[] {1}, TOK.encode("", true, false), "empty text with BOS gives BOS alone");
    }

    @Test
    void higherScoreWinsAndTiesGoLeft() {
        TokenizerSpec leftBetter = vocab(Map.of("a", -9f, "b", -9f, "c", -9f, "ab", -1f, "bc", -5f));
        TokenizerSpec rightBetter = vocab(Map.of("a", -9f, "b", -9f, "c", -9f, "ab", -5f, "bc", -1f));
        TokenizerSpec tie = vocab(Map.of("a", -9f, "b", -9f, "c", -9f, "ab", -2f, "bc", -2f));
        assertEquals(List.of("ab", "c"), texts(leftBetter, "abc"));
        assertEquals(List.of("a", "bc"), texts(rightBetter, "abc"));
        assertEquals(List.of("ab", "c"), texts(tie, "abc"));
        // -0.0 and 0.0 are equal scores (as in C++), so the tie still goes left
        assertEquals(List.of("ab", "c"), texts(vocab(Map.of("a", -9f, "b", -9f, "c", -9f, "ab", -0f, "bc", 0f)), "abc"));
    }

    private static TokenizerSpec vocab(Map<String, Float> pieces) {
        List<String> tokens = new ArrayList<>(List.of("<unk>", "<s>", "</s>"));
        List<Float> scores = new ArrayList<>(List.of(0f, 0f, 0f));
        pieces.entrySet().stream().sorted(Map.Entry.comparingByKey()).forEach(e -> {
            tokens.add(e.getKey());
            scores.add(e.getValue());
        });
        float[] s = new float[scores.size()];
        for (int i = 0; i < s.length; i++) {
            s[i] = scores.get(i);
        }
        int[] types = new int[tokens.size()];
        java.util.Arrays.fill(types, 1);
        types[0] = 2;
        types[1] = 3;
        types[2] = 3;
        return new TokenizerSpec("llama", null, tokens, s, types, null, 1, 2, 0, -1, true, false, false, null);
    }

    private static List<String> texts(TokenizerSpec spec, String text) {
        Tokenizer t = Tokenizer.of(spec);
        List<String> out = new ArrayList<>();
        for (int id : t.encode(text, false, false)) {
            out.add(t.tokenText(id));
        }
        return out;
    }

    @Test
    void unicodeAndByteFallback() {
        assertArrayEquals(ids("▁", "é", "<0xC3>", "<0xBC>"), TOK.encode("éü", false, false));
        assertArrayEquals(ids("▁", "<0xF0>", "<0x9F>", "<0x98>", "<0x80>"), TOK.encode("😀", false, false));
        Tokenizer noBytes = Tokenizer.of(spec(false, true, false));
        int[] got = noBytes.encode("éü", false, false);
        assertEquals(List.of("▁", "é", "<unk>", "<unk>"), List.of(noBytes.tokenText(got[0]), noBytes.tokenText(got[1]),
                noBytes.tokenText(got[2]), noBytes.tokenText(got[3])), "without byte tokens each byte becomes unk");
    }

    @Test
    void bosEosAndSpecialText() {
        assertArrayEquals(new int[] {1, id("▁hello")}, TOK.encode("hello", true, false));
        assertArrayEquals(new int[] {1, id("▁hello"), 2}, Tokenizer.of(spec(true, true, true)).encode("hello", true, false));
        // parsed: a special token, then the text after it gets the space prefix again (llama.cpp)
        assertArrayEquals(new int[] {1, id("▁hello"), 2}, TOK.encode("<s>hello</s>", false, true));
        // not parsed: the characters go through merging and byte fallback
        assertArrayEquals(ids("▁", "<0x3C>", "<0x73>", "<0x3E>", "hello"), TOK.encode("<s>hello", false, false));
    }

    @Test
    void decodeStripsThePrefixSpaceAndHidesControlTokens() {
        int[] withBos = TOK.encode("hello world", true, false);
        assertEquals("hello world", TOK.decode(withBos));
        assertEquals(" hello world", TOK.detokenize(withBos, false, false), "llama.cpp: a leading BOS takes the space-strip turn");
        assertEquals("<s> hello world", TOK.detokenize(withBos, false, true));
        assertEquals("hello world", TOK.detokenize(TOK.encode("hello world", false, false), false, false));
        assertEquals("", new String(TOK.pieceBytes(1)));
        assertEquals("<s>", new String(TOK.pieceBytes(1, true)));
        assertEquals(" hello", new String(TOK.pieceBytes(id("▁hello"))));
        assertArrayEquals(new byte[] {(byte) 0xC3}, TOK.pieceBytes(id("<0xC3>")));
    }

    @Test
    void roundTripsArbitraryText() {
        Random random = new Random(7);
        String alphabet = "helowrdab é ü\n\t😀日本<s>";
        List<String> samples = new ArrayList<>(List.of("hello world", " hello ", "  a  b  ", "\n", "éü😀", "<s>x</s>", " "));
        for (int n = 0; n < 200; n++) {
            StringBuilder sb = new StringBuilder();
            int len = random.nextInt(30);
            for (int i = 0; i < len; i++) {
                sb.appendCodePoint(alphabet.codePointAt(alphabet.offsetByCodePoints(0, random.nextInt(alphabet.codePointCount(0, alphabet.length())))));
            }
            samples.add(sb.toString());
        }
        for (String s : samples) {
            assertEquals(s, TOK.decode(TOK.encode(s, false, false)), () -> "round trip of [" + s + "]");
            assertEquals(s, TOK.decode(TOK.encode(s, true, false)), () -> "round trip with BOS of [" + s + "]");
        }
    }

    @Test
    void endOfGenerationAndTypes() {
        assertTrue(TOK.isEog(2));
        assertFalse(TOK.isEog(1));
        assertFalse(TOK.isEog(-1));
        assertEquals(TokenType.BYTE, TOK.tokenType(id("<0x41>")));
        assertEquals(TokenType.UNKNOWN, TOK.tokenType(0));
        assertEquals(3 + 256 + PIECES.size(), TOK.vocabSize());
        assertEquals(1, TOK.bos());
        assertEquals(2, TOK.eos());
        assertThrows(IllegalArgumentException.class, () -> TOK.decode(new int[] {TOK.vocabSize()}));
    }

    @Test
    void rejectsBadSpecs() {
        IllegalArgumentException duplicate = assertThrows(IllegalArgumentException.class, () -> Tokenizer.of(
                new TokenizerSpec("llama", null, List.of("a", "a"), null, null, null, -1, -1, -1, -1, false, false, true, null)));
        assertTrue(duplicate.getMessage().contains("same text"), duplicate.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new TokenizerSpec("llama", null, List.of("a"), new float[2], null,
                null, -1, -1, -1, -1, false, false, true, null));
        assertThrows(IllegalArgumentException.class, () -> new TokenizerSpec("llama", null, List.of("a"), null, null,
                null, 5, -1, -1, -1, false, false, true, null));
        assertThrows(IllegalArgumentException.class, () -> new TokenizerSpec("bert", null, List.of("a"), null, null,
                null, -1, -1, -1, -1, false, false, true, null));
        assertThrows(IllegalArgumentException.class, () -> new TokenizerSpec("gpt2", null, List.of("a"), null, null,
                null, -1, -1, -1, -1, false, false, false, null));
    }
}
