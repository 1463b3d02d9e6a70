package io.panlora.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Byte-level BPE tokenizer on a hand-built vocabulary and merge list. */
class TokBpeTest {

    private static final List<String> MERGES = List.of("Ġ t", "h e", "Ġt he", "1 2", "12 3", "4 5", "123 45", "' M");

    /** Specials, the 256 byte characters, the merge results, and "xyz" which no merge produces. */
    static TokenizerSpec spec(String pre) {
        List<String> tokens = new ArrayList<>(List.of("<|endoftext|>", "<|im_start|>", "<|im_end|>", "<user>"));
        List<Integer> types = new ArrayList<>(List.of(3, 3, 1 /* llama.cpp makes it control */, 4));
        for (int b = 0; b < 256; b++) {
            tokens.add(String.valueOf(ByteLevel.charOf(b)));
            types.add(1);
        }
        for (String merge : MERGES) {
            tokens.add(merge.replace(" ", ""));
            types.add(1);
        }
        tokens.add("xyz");
        types.add(1);
        return new TokenizerSpec("gpt2", pre, tokens, null, types.stream().mapToInt(Integer::intValue).toArray(), MERGES,
                0, 0, -1, -1, false, false, false, null);
    }

    private static final Tokenizer GPT2 = Tokenizer.of(spec("gpt-2"));
    private static final Tokenizer LLAMA3 = Tokenizer.of(spec("llama-bpe"));
    private static final Tokenizer QWEN2 = Tokenizer.of(spec("qwen2"));

    private static List<String> pieces(Tokenizer t, String text, boolean parseSpecial) {
        List<String> out = new ArrayList<>();
        for (int id : t.encode(text, false, parseSpecial)) {
            out.add(t.tokenText(id));
        }
        return out;
    }

    @Test
    void mergesByRankWithinWords() {
        assertEquals(List.of("t", "he", "Ġ", "12345", "Ġthe"), pieces(GPT2, "the 12345 the", false));
        assertEquals(List.of("t", "he", "Ġ", "123", "45", "Ġthe"), pieces(LLAMA3, "the 12345 the", false));
        assertEquals(List.of("t", "he", "Ġ", "1", "2", "3", "4", "5", "Ġthe"), pieces(QWEN2, "the 12345 the", false));
    }

    @Test
    void contractionsAreCaseInsensitiveOnlyForLlama3() {
        assertEquals(List.of("I", "'", "M"), pieces(GPT2, "I'M", false));
        assertEquals(List.of("I", "'M"), pieces(LLAMA3, "I'M", false));
    }

    @Test
    void llama3TakesWholeWordsThatAreTokens() {
        assertEquals(List.of("xyz"), pieces(LLAMA3, "xyz", false), "ignore_merges");
        assertEquals(List.of("x", "y", "z"), pieces(GPT2, "xyz", false));
    }

    @Test
    void specialTokensOnlyWhenParsingButUserDefinedAlways() {
        assertEquals(List.of("<|im_start|>", "h", "i", "<|im_end|>"), pieces(GPT2, "<|im_start|>hi<|im_end|>", true));
        List<String> literal = pieces(GPT2, "<|im_start|>hi<|im_end|>", false);
        assertFalse(literal.contains("<|im_start|>") || literal.contains("<|im_end|>"), literal.toString());
        assertEquals("<|im_start|>hi<|im_end|>", GPT2.decode(GPT2.encode("<|im_start|>hi<|im_end|>", false, false)));
        assertEquals(List.of("a", "<user>", "b"), pieces(GPT2, "a<user>b", false));
    }

    @Test
    void endOfGenerationAndTypeOverrides() {
        assertTrue(GPT2.isEog(0));
        assertTrue(GPT2.isEog(2), "<|im_end|> ends generation");
        assertEquals(TokenType.CONTROL, GPT2.tokenType(2), "<|im_end|> becomes control");
        assertFalse(GPT2.isEog(1));
        assertEquals("", GPT2.decode(new int[] {2}));
        assertEquals("<|im_end|>", GPT2.detokenize(new int[] {2}, false, true));
    }

    @Test
    void decodeIsExactButDetokenizeCleansSpacesLikeLlamaCpp() {
        String text = "Hello , world ! it 's";
        assertEquals(text, GPT2.decode(GPT2.encode(text, false, false)));
        assertEquals("Hello, world! it's", GPT2.detokenize(GPT2.encode(text, false, false), false, false));
        assertEquals(text, QWEN2.detokenize(QWEN2.encode(text, false, false), false, false), "qwen2 has no clean-up");
    }

    @Test
    void roundTripsArbitraryUnicodeAndBytes() {
        Random random = new Random(11);
        int[][] ranges = {{0, 0x7F}, {0x80, 0x7FF}, {0x800, 0xD7FF}, {0xE000, 0xFFFD}, {0x1F300, 0x1FAFF}, {0x10000, 0x10FFFF}};
        List<String> samples = new ArrayList<>(List.of("", " ", "  \n\t ", "😀🎉👨‍👩‍👧", "日本語", "a\u0000b", "ÿ\u0085\u00a0"));
        for (int n = 0; n < 300; n++) {
            StringBuilder sb = new StringBuilder();
            int len = random.nextInt(40);
            for (int i = 0; i < len; i++) {
                int[] r = ranges[random.nextInt(ranges.length)];
                sb.appendCodePoint(r[0] + random.nextInt(r[1] - r[0] + 1));
            }
            samples.add(sb.toString());
        }
        for (Tokenizer t : List.of(GPT2, LLAMA3, QWEN2)) {
            for (String s : samples) {
                int[] ids = t.encode(s, false, false);
                assertEquals(s, t.decode(ids), () -> "round trip of " + s.codePoints().mapToObj(Integer::toHexString).toList());
                ByteArrayOutputStream bytes = new ByteArrayOutputStream();
                for (int id : ids) {
                    bytes.writeBytes(t.pieceBytes(id));
                }
                assertArrayEquals(s.getBytes(StandardCharsets.UTF_8), bytes.toByteArray());
            }
        }
    }

    @Test
    void streamingDecoderHoldsBackSplitCharacters() {
        int[] ids = GPT2.encode("a😀b", false, false);
        assertEquals(6, ids.length, "the emoji costs four byte tokens");
        TokenStreamDecoder stream = new TokenStreamDecoder(GPT2);
        List<String> parts = new ArrayList<>();
        for (int id : ids) {
            parts.add(stream.push(id));
        }
        assertEquals(List.of("a", "", "", "", "😀", "b"), parts);
        assertEquals("", stream.finish());
        TokenStreamDecoder unfinished = new TokenStreamDecoder(GPT2);
        assertEquals("", unfinished.push(ids[1]));
        assertEquals("\uFFFD", unfinished.finish());
    }

    @Test
    void byteLevelTableIsGpt2s() {
        assertEquals('Ġ', ByteLevel.charOf(' '));
        assertEquals('Ċ', ByteLevel.charOf('\n'));
        assertEquals('Ā', ByteLevel.charOf(0));
        assertEquals('!', ByteLevel.charOf('!'));
        assertEquals('ÿ', ByteLevel.charOf(0xFF));
        assertEquals('Ń', ByteLevel.charOf(0xAD));
        boolean[] seen = new boolean[512];
        for (int b = 0; b < 256; b++) {
            char c = ByteLevel.charOf(b);
            assertFalse(seen[c]);
            seen[c] = true;
            assertEquals(b, ByteLevel.byteOf(c));
        }
        byte[] all = new byte[256];
        for (int b = 0; b < 256; b++) {
            all[b] = (byte) b;
        }
        assertTrue(Arrays.equals(all, ByteLevel.decode(ByteLevel.encode(all))));
    }

    @Test
    void bosAndEosFollowTheSpec() {
        TokenizerSpec base = spec("gpt-2");
        Tokenizer withBosEos = Tokenizer.of(new TokenizerSpec(base.model(), base.pre(), base.tokens(), null, base.tokenTypes(),
                base.merges(), 1, 2, -1, -1, true, true, false, null));
        int[] ids = withBosEos.encode("the", true, false);
        assertEquals(1, ids[0]);
        assertEquals(2, ids[ids.length - 1]);
        assertEquals("the", withBosEos.decode(ids));
        assertEquals("the", withBosEos.detokenize(ids, true, true), "remove_special drops BOS and EOS");
        assertEquals(2, GPT2.encode("the", true, false).length, "add_bos false: no BOS");
    }
}
