package io.panlora.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.panlora.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class DataSegmentTokenizationTest {

    /**
     * Like {@link ByteTokenizer}, plus what real tokenizers do at boundaries: optional
     * SentencePiece-style dummy prefix (a space before raw text at the start or after a control
     * token) and merges of multi-byte strings into one token.
     */
    static final class MergingTokenizer extends StubTokenizer {
        static final Map<String, Integer> MERGES = Map.of("  ", 600, "\nH", 601);
        private final boolean dummyPrefix;

        MergingTokenizer(boolean dummyPrefix) {
            this.dummyPrefix = dummyPrefix;
        }

        @Override
        public int[] encode(String text, boolean addSpecial, boolean parseSpecial) {
            List<Integer> ids = new ArrayList<>();
            if (addSpecial) ids.add(ByteTokenizer.BOS);
            boolean afterSpecial = true;
            StringBuilder raw = new StringBuilder();
            int i = 0;
            while (i <= text.length()) {
                int special = -1;
                int length = 0;
                if (i < text.length() && parseSpecial && text.startsWith("</s>", i)) {
                    special = ByteTokenizer.EOS;
                    length = 4;
                }
                if (special >= 0 || i == text.length()) {
                    if (!raw.isEmpty()) rawTokens((dummyPrefix && afterSpecial ? " " : "") + raw, ids);
                    raw.setLength(0);
                    if (special >= 0) ids.add(special);
                    afterSpecial = special >= 0;
                    if (i == text.length()) break;
                    i += length;
                } else {
                    raw.append(text.charAt(i++));
                }
            }
            return ids.stream().mapToInt(Integer::intValue).toArray();
        }

        private static void rawTokens(String raw, List<Integer> ids) {
            int i = 0;
            outer:
            while (i < raw.length()) {
                for (Map.Entry<String, Integer> merge : MERGES.entrySet()) {
                    if (raw.startsWith(merge.getKey(), i)) {
                        ids.add(merge.getValue());
                        i += merge.getKey().length();
                        continue outer;
                    }
                }
                for (int id : ByteTokenizer.bytes(raw.substring(i, i + 1))) ids.add(id);
                i++;
            }
        }

        @Override public String decode(int[] ids) { throw new UnsupportedOperationException(); }
        @Override public int bos() { return ByteTokenizer.BOS; }
        @Override public int eos() { return ByteTokenizer.EOS; }
        @Override public int vocabSize() { return 602; }
        @Override public boolean isEog(int id) { return id == ByteTokenizer.EOS; }
        @Override public String chatTemplate() { return null; }
    }

    private static final ExampleEncoder.SegmentTokenization JOINED = ExampleEncoder.SegmentTokenization.JOINED;
    private static final ExampleEncoder.SegmentTokenization PER_SEGMENT = ExampleEncoder.SegmentTokenization.PER_SEGMENT;

    private static Example encode(Tokenizer tokenizer, ExampleEncoder.SegmentTokenization mode, Segment... segments) {
        return new ExampleEncoder(tokenizer, true, mode).segments(List.of(segments));
    }

    private static int b(char c) {
        return ByteTokenizer.bytes(String.valueOf(c))[0];
    }

    @Test
    void joinedAvoidsTheDoubledDummyPrefixOfSentencePiece() {
        MergingTokenizer spm = new MergingTokenizer(true);
        List<Segment> llama2 = ChatTemplate.LLAMA2.render(List.of(ChatMessage.user("U"), ChatMessage.assistant("A")));
        Example joined = encode(spm, JOINED, llama2.toArray(Segment[]::new));
        // Exactly the tokens of the whole rendered text, as inference sees it.
        assertArrayEquals(spm.encode("[INST] U [/INST] A </s>", true, true), joined.tokens());
        int prompt = " [INST] U [/INST]".length() + 1; // BOS and the prompt's bytes (with the dummy space)
        for (int i = 0; i < joined.length(); i++) assertEquals(i >= prompt, joined.lossMask()[i], "token " + i);

        // Per segment, the answer gets its own dummy space: "  A" starts with the merged two-space token.
        Example perSegment = encode(spm, PER_SEGMENT, llama2.toArray(Segment[]::new));
        assertEquals(600, perSegment.tokens()[prompt]);
        assertEquals(joined.length(), perSegment.length());
    }

    @Test
    void aTokenSpanningABoundaryIsTrainedIfEitherSideIs() {
        MergingTokenizer bpe = new MergingTokenizer(false);
        Example promptFirst = encode(bpe, JOINED, new Segment.Text("a\n", false), new Segment.Text("Hb", true));
        assertEquals(new TokenSeq().id(1, false).id(b('a'), false).id(601, true).id(b('b'), true).example(), promptFirst);
        Example answerFirst = encode(bpe, JOINED, new Segment.Text("a\n", true), new Segment.Text("Hb", false));
        assertEquals(new TokenSeq().id(1, false).id(b('a'), true).id(601, true).id(b('b'), false).example(), answerFirst);
        Example perSegment = encode(bpe, PER_SEGMENT, new Segment.Text("a\n", false), new Segment.Text("Hb", true));
        assertEquals(new TokenSeq().id(1, false).id(b('a'), false).id(b('\n'), false).id(b('H'), true).id(b('b'), true).example(),
                perSegment);
    }

    @Test
    void endOfSequenceIsAHardBoundary() {
        MergingTokenizer bpe = new MergingTokenizer(false);
        Example e = encode(bpe, JOINED, new Segment.Text("q", false), new Segment.Text("x\n", true), new Segment.EndOfSequence(true),
                new Segment.Text("Hy", false));
        assertEquals(new TokenSeq().id(1, false).id(b('q'), false).id(b('x'), true).id(b('\n'), true).id(2, true)
                .id(b('H'), false).id(b('y'), false).example(), e);
    }

    @Test
    void bothModesAgreeWhenBoundariesAreClean() {
        ByteTokenizer tokenizer = new ByteTokenizer();
        for (ChatTemplate template : ChatTemplate.values()) {
            List<Segment> segments = template.render(List.of(ChatMessage.system("S"), ChatMessage.user("U"), ChatMessage.assistant("A"),
                    ChatMessage.user("V"), ChatMessage.assistant("B")));
            assertEquals(encode(tokenizer, PER_SEGMENT, segments.toArray(Segment[]::new)),
                    encode(tokenizer, JOINED, segments.toArray(Segment[]::new)), template.id());
        }
    }
}
