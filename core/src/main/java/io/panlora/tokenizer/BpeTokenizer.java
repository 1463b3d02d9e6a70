package io.panlora.tokenizer;

import java.util.HashMap;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Byte-level BPE tokenizer ({@code tokenizer.ggml.model = "gpt2"}) as llama.cpp runs it.
 *
 * <p>The text is split into words by the {@link PreTokenizer} named in {@code tokenizer.ggml.pre}; each word's
 * UTF-8 bytes are written in GPT-2's byte-unicode form and merged pairwise by merge rank (lowest first, leftmost
 * on ties). With {@code ignore_merges} (Llama 3) a word that is itself a token is taken whole. A merged piece
 * missing from the vocabulary falls back to one token per byte.
 */
final class BpeTokenizer extends VocabTokenizer {

    private static final int WORD_CACHE_LIMIT = 1 << 16;

    private final PreTokenizer preTokenizer;
    /** Merge rank by {@code left + '\0' + right} (byte-unicode texts never contain U+0000). */
    private final Map<String, Integer> mergeRank;
    /** Token ids of recently seen words; words repeat a lot in natural text. */
    private final Map<String, int[]> wordCache = new ConcurrentHashMap<>();

    BpeTokenizer(TokenizerSpec spec) {
        this(spec, supported(PreTokenizer.forName(spec.pre())));
    }

    /** Refuses a pre-tokenizer name this class does not model: its ids would silently differ from llama.cpp's. */
    private static PreTokenizer supported(PreTokenizer p) {
        if (!p.recognized())
            throw new IllegalArgumentException("pre-tokenizer '" + p.name() + "' (tokenizer.ggml.pre) is not supported: its word "
                    + "splitting is not modelled, so token ids would differ from llama.cpp's (supported: " + String.join(", ", PreTokenizer.supportedNames()) + ")");
        return p;
    }

    private BpeTokenizer(TokenizerSpec spec, PreTokenizer preTokenizer) {
        super(spec, true, preTokenizer.cleanSpaces());
        this.preTokenizer = preTokenizer;
        mergeRank = new HashMap<>(spec.merges().size() * 2);
        for (int rank = 0; rank < spec.merges().size(); rank++) {
            String merge = spec.merges().get(rank);
            int space = merge.indexOf(' ', 1); // as llama.cpp: the first space after the first character
            if (space < 0) {
                continue;
            }
            mergeRank.putIfAbsent(merge.substring(0, space) + '\0' + merge.substring(space + 1), rank);
        }
    }

    /** The pre-tokenizer in use. */
    PreTokenizer preTokenizer() {
        return preTokenizer;
    }

    @Override
    public int[] encode(String text, boolean addSpecial, boolean parseSpecial) {
        IntList out = new IntList(text.length() / 3 + 4);
        if (addSpecial && spec.addBos() && spec.bosId() >= 0) {
            out.add(spec.bosId());
        }
        for (Fragment f : partition(text, parseSpecial)) {
            if (!f.isText()) {
                out.add(f.token());
                continue;
            }
            String raw = text.substring(f.start(), f.end());
            int start = 0;
            for (int end : preTokenizer.splitBounds(raw)) {
                out.addAll(encodeWord(raw.substring(start, end)));
                start = end;
            }
        }
        if (addSpecial && spec.addEos() && spec.eosId() >= 0) {
            out.add(spec.eosId());
        }
        return out.toArray();
    }

    private int[] encodeWord(String word) {
        int[] cached = wordCache.get(word);
        if (cached == null) {
            cached = mergeWord(ByteLevel.encode(word));
            if (wordCache.size() >= WORD_CACHE_LIMIT) {
                wordCache.clear();
            }
            wordCache.put(word, cached);
        }
        return cached;
    }

    /** A candidate merge of symbols {@code left} and {@code right}, {@code length} chars long in total. */
    private record Bigram(int left, int right, int rank, int length) {
    }

    // lowest rank first, then leftmost
    private static int byPriority(Bigram a, Bigram b) {
        int c = Integer.compare(a.rank, b.rank);
        return c != 0 ? c : Integer.compare(a.left, b.left);
    }

    /** BPE over one word in byte-unicode form (every char is one byte). */
    private int[] mergeWord(String word) {
        IntList out = new IntList(4);
        if (preTokenizer.ignoreMerges()) {
            Integer whole = idOfText.get(word);
            if (whole != null) {
                out.add(whole);
                return out.toArray();
            }
        }
        int count = word.length();
        int[] start = new int[count];
        int[] length = new int[count];
        int[] prev = new int[count];
        int[] next = new int[count];
        for (int i = 0; i < count; i++) {
            start[i] = i;
            length[i] = 1;
            prev[i] = i - 1;
            next[i] = i + 1 < count ? i + 1 : -1;
        }
        PriorityQueue<Bigram> queue = new PriorityQueue<>(Math.max(1, count), BpeTokenizer::byPriority);
        for (int i = 1; i < count; i++) {
            offer(queue, word, start, length, i - 1, i);
        }
        while (!queue.isEmpty()) {
            Bigram b = queue.poll();
            int l = b.left;
            int r = b.right;
            if (length[l] == 0 || length[r] == 0 || length[l] + length[r] != b.length) {
                continue; // outdated
            }
            length[l] += length[r];
            length[r] = 0;
            next[l] = next[r];
            if (next[r] >= 0) {
                prev[next[r]] = l;
            }
            offer(queue, word, start, length, prev[l], l);
            offer(queue, word, start, length, l, next[l]);
        }
        for (int i = 0; i != -1 && count > 0; i = next[i]) {
            String piece = word.substring(start[i], start[i] + length[i]);
            Integer id = idOfText.get(piece);
            if (id != null) {
                out.add(id);
                continue;
            }
            // llama.cpp looks up each UTF-8 byte of the piece and drops what it does not find;
            // here each byte's own character is looked up, then unk.
            for (int k = 0; k < piece.length(); k++) {
                Integer byteId = idOfText.get(String.valueOf(piece.charAt(k)));
                if (byteId != null) {
                    out.add(byteId);
                } else if (spec.unkId() >= 0) {
                    out.add(spec.unkId());
                }
            }
        }
        return out.toArray();
    }

    private void offer(PriorityQueue<Bigram> queue, String word, int[] start, int[] length, int left, int right) {
        if (left < 0 || right < 0) {
            return;
        }
        String l = word.substring(start[left], start[left] + length[left]);
        String r = word.substring(start[right], start[right] + length[right]);
        Integer rank = mergeRank.get(l + '\0' + r);
        if (rank != null) {
            queue.add(new Bigram(left, right, rank, length[left] + length[right]));
        }
    }
}
