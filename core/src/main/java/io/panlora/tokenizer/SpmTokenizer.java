package io.panlora.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.PriorityQueue;

/**
 * SentencePiece-style tokenizer ({@code tokenizer.ggml.model = "llama"}) as llama.cpp runs it.
 *
 * <p>Spaces become U+2581, a space is prefixed to each text fragment that starts the input or follows a special
 * token (when add_space_prefix), then characters are merged pairwise: always the adjacent pair whose
 * concatenation is a vocabulary token with the highest score, the leftmost on ties. Pieces that never become
 * tokens fall back to byte tokens {@code <0xHH>}, then to a one-character token, then to unk.
 */
final class SpmTokenizer extends VocabTokenizer {

    private static final char SPACE_MARK = '\u2581';

    /** Token for each byte value under byte fallback; -1 where none exists. */
    private final int[] byteTokens = new int[256];

    SpmTokenizer(TokenizerSpec spec) {
        super(spec, false, false);
        for (int b = 0; b < 256; b++) {
            int id = tokenId(String.format("<0x%02X>", b));
            if (id < 0 && b < 0x80) {
                id = tokenId(String.valueOf((char) b));
            }
            byteTokens[b] = id >= 0 ? id : spec.unkId();
        }
    }

    @Override
    public int[] encode(String text, boolean addSpecial, boolean parseSpecial) {
        IntList out = new IntList(text.length() / 3 + 4);
        if (addSpecial && spec.addBos() && spec.bosId() >= 0) {
            out.add(spec.bosId());
        }
        boolean previousWasSpecial = true;
        for (Fragment f : partition(text, parseSpecial)) {
            if (f.isText()) {
                String raw = text.substring(f.start(), f.end());
                String prefixed = spec.addSpacePrefix() && previousWasSpecial ? " " + raw : raw;
                encodeEscaped(prefixed.replace(' ', SPACE_MARK), out);
                previousWasSpecial = false;
            } else {
                out.add(f.token());
                previousWasSpecial = true;
            }
        }
        if (addSpecial && spec.addEos() && spec.eosId() >= 0) {
            out.add(spec.eosId());
        }
        return out.toArray();
    }

    /** A candidate merge of symbols {@code left} and {@code right}, {@code length} chars long in total. */
    private record Bigram(int left, int right, float score, int length) {
    }

    // highest score first, then leftmost
    private static int byPriority(Bigram a, Bigram b) {
        if (a.score > b.score) {
            return -1;
        }
        if (a.score < b.score) {
            return 1;
        }
        return Integer.compare(a.left, b.left);
    }

    /** Merges one fragment (spaces already escaped) into tokens. */
    private void encodeEscaped(String text, IntList out) {
        int count = text.codePointCount(0, text.length());
        if (count == 0) {
            return;
        }
        int[] start = new int[count];
        int[] length = new int[count];
        int[] prev = new int[count];
        int[] next = new int[count];
        for (int i = 0, offset = 0; i < count; i++) {
            int n = Character.charCount(text.codePointAt(offset));
            start[i] = offset;
            length[i] = n;
            prev[i] = i - 1;
            next[i] = i + 1 < count ? i + 1 : -1;
            offset += n;
        }
        PriorityQueue<Bigram> queue = new PriorityQueue<>(Math.max(1, count), SpmTokenizer::byPriority);
        for (int i = 1; i < count; i++) {
            offer(queue, text, start, length, i - 1, i);
        }
        while (!queue.isEmpty()) {
            Bigram b = queue.poll();
            int l = b.left;
            int r = b.right;
            if (length[l] == 0 || length[r] == 0 || length[l] + length[r] != b.length) {
                continue; // one side changed since this pair was queued
            }
            length[l] += length[r];
            length[r] = 0;
            next[l] = next[r];
            if (next[r] >= 0) {
                prev[next[r]] = l;
            }
            offer(queue, text, start, length, prev[l], l);
            offer(queue, text, start, length, l, next[l]);
        }
        for (int i = 0; i != -1; i = next[i]) {
            String piece = text.substring(start[i], start[i] + length[i]);
            Integer id = idOfText.get(piece);
            if (id != null) {
                out.add(id);
                continue;
            }
            for (byte b : piece.getBytes(StandardCharsets.UTF_8)) {
                int fallback = byteTokens[b & 0xFF];
                if (fallback >= 0) {
                    out.add(fallback);
                }
            }
        }
    }

    private void offer(PriorityQueue<Bigram> queue, String text, int[] start, int[] length, int left, int right) {
        if (left < 0 || right < 0) {
            return;
        }
        int len = length[left] + length[right];
        Integer id = idOfText.get(text.substring(start[left], start[left] + len));
        if (id != null) {
            queue.add(new Bigram(left, right, scores[id], len));
        }
    }
}
