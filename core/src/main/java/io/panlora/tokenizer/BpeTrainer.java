package io.panlora.tokenizer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.Set;

/**
 * Trains a byte-level BPE vocabulary ({@code tokenizer.ggml.model = "gpt2"}, pre-tokenizer {@code "gpt-2"}) from text.
 *
 * <p>Layout of the result: id 0 = {@value #BOS} (BOS, control), id 1 = {@value #EOS} (EOS, control), then any extra
 * special tokens (control), then the 256 byte tokens in byte order (GPT-2 byte-unicode form, normal), then one
 * token per merge in merge order. Training counts the words of the GPT-2 pre-tokenizer and repeatedly merges the
 * most frequent adjacent pair (ties: lowest left symbol id, then lowest right id), updating only the words that
 * contain the merged pair. It stops at the requested size; if the text runs out of pairs seen at least twice, the
 * rest of the vocabulary is filled with unused {@code <|reserved_N|>} tokens so the size is always as asked.
 * The result is a pure function of the text, the size and the specials.
 *
 * <p>The vocabulary has add_bos true, add_eos false, no unknown or padding token, no scores and no chat
 * template. All methods are static and thread-safe; training keeps the whole text's word counts in memory.
 */
public final class BpeTrainer {

    /** Text of the BOS token (id 0). */
    public static final String BOS = "<|begin_of_text|>";
    /** Text of the EOS token (id 1). */
    public static final String EOS = "<|end_of_text|>";
    /** The pre-tokenizer name written into trained vocabularies. */
    public static final String PRE = "gpt-2";

    private static final int BYTE_SYMBOLS = 256;
    private static final long MIN_PAIR_COUNT = 2;

    private BpeTrainer() {
    }

    /**
     * Trains a vocabulary of exactly {@code vocabSize} tokens (BOS, EOS, 256 bytes, merges) from text.
     *
     * @param text      the training text; not null (empty text gives only BOS, EOS, bytes and reserved tokens)
     * @param vocabSize the number of tokens, at least 258
     * @return a {@code "gpt2"} vocabulary with pre-tokenizer {@value #PRE}; pass it to {@link Tokenizer#of}
     * @throws IllegalArgumentException if {@code vocabSize} is below 258
     */
    public static TokenizerSpec train(String text, int vocabSize) {
        return train(text, vocabSize, List.of());
    }

    /**
     * Trains a vocabulary of exactly {@code vocabSize} tokens with extra control tokens after BOS and EOS.
     * The specials are not seen by training: their text in {@code text} is counted as ordinary words.
     *
     * @param text          the training text; not null
     * @param vocabSize     the number of tokens, at least {@code 2 + extraSpecials.size() + 256}
     * @param extraSpecials further control tokens (e.g. {@code "<|im_start|>"}), given ids 2, 3, ... in order;
     *                      not null
     * @return a {@code "gpt2"} vocabulary with pre-tokenizer {@value #PRE}
     * @throws IllegalArgumentException if {@code vocabSize} is too small, or a special is null, empty, a
     *                                  single byte character, or given twice (BOS and EOS included)
     */
    public static TokenizerSpec train(String text, int vocabSize, List<String> extraSpecials) {
        List<String> specials = specialTexts(extraSpecials);
        int minimum = specials.size() + BYTE_SYMBOLS;
        if (vocabSize < minimum) {
            throw new IllegalArgumentException("vocabulary size " + vocabSize + " is below the " + minimum
                    + " tokens of specials and bytes");
        }
        Training training = new Training(text);
        training.run(vocabSize - minimum);
        return build(specials, training.symbolTexts, training.merges, vocabSize);
    }

    /**
     * The 256 byte tokens after BOS, EOS and the extra specials, without merges: text costs one token per byte.
     *
     * @param extraSpecials further control tokens, given ids 2, 3, ... in order; not null
     * @return a {@code "gpt2"} vocabulary of {@code 2 + extraSpecials.size() + 256} tokens
     * @throws IllegalArgumentException if a special is null, empty, a single byte character, or given twice
     */
    public static TokenizerSpec byteVocabulary(List<String> extraSpecials) {
        List<String> specials = specialTexts(extraSpecials);
        List<String> symbols = new ArrayList<>(BYTE_SYMBOLS);
        for (int b = 0; b < BYTE_SYMBOLS; b++) {
            symbols.add(String.valueOf(ByteLevel.charOf(b)));
        }
        return build(specials, symbols, List.of(), specials.size() + BYTE_SYMBOLS);
    }

    private static List<String> specialTexts(List<String> extraSpecials) {
        List<String> specials = new ArrayList<>();
        specials.add(BOS);
        specials.add(EOS);
        Set<String> seen = new HashSet<>(specials);
        for (String s : extraSpecials) {
            if (s == null || s.isEmpty()) {
                throw new IllegalArgumentException("empty special token");
            }
            if (s.length() == 1 && ByteLevel.byteOf(s.charAt(0)) >= 0) {
                throw new IllegalArgumentException("special token '" + s + "' collides with a byte token");
            }
            if (!seen.add(s)) {
                throw new IllegalArgumentException("special token '" + s + "' given twice");
            }
            specials.add(s);
        }
        return specials;
    }

    private static TokenizerSpec build(List<String> specials, List<String> symbolTexts, List<String> merges, int vocabSize) {
        List<String> tokens = new ArrayList<>(vocabSize);
        int[] types = new int[vocabSize];
        for (String s : specials) {
            types[tokens.size()] = TokenType.CONTROL.ggufValue();
            tokens.add(s);
        }
        Set<String> taken = new HashSet<>(tokens);
        for (String s : symbolTexts) {
            types[tokens.size()] = TokenType.NORMAL.ggufValue();
            tokens.add(s);
            taken.add(s);
        }
        for (int k = 0; tokens.size() < vocabSize; k++) {
            String reserved = "<|reserved_" + k + "|>";
            if (taken.add(reserved)) {
                types[tokens.size()] = TokenType.UNUSED.ggufValue();
                tokens.add(reserved);
            }
        }
        return new TokenizerSpec(TokenizerSpec.MODEL_GPT2, PRE, tokens, null, types, merges,
                0, 1, -1, -1, true, false, false, null);
    }

    /** The state of one training run: words as symbol sequences, pair counts, and where each pair occurs. */
    private static final class Training {
        /** Symbol texts in byte-unicode form: 0..255 are the bytes, then one per new merged text. */
        final List<String> symbolTexts = new ArrayList<>();
        final Map<String, Integer> symbolOfText = new HashMap<>();
        final List<String> merges = new ArrayList<>();

        int[][] words;
        int[] wordLength;
        long[] wordCount;

        final PairTable pairs = new PairTable();
        final PriorityQueue<Candidate> heap = new PriorityQueue<>(this::byPriority);

        /** A pair's count at the time it was queued; outdated when the count has changed since. */
        private record Candidate(long count, int pair) {
        }

        private int byPriority(Candidate x, Candidate y) {
            int c = Long.compare(y.count, x.count);
            if (c != 0) {
                return c;
            }
            c = Integer.compare(pairs.left(x.pair), pairs.left(y.pair));
            return c != 0 ? c : Integer.compare(pairs.right(x.pair), pairs.right(y.pair));
        }

        Training(String text) {
            for (int b = 0; b < BYTE_SYMBOLS; b++) {
                String s = String.valueOf(ByteLevel.charOf(b));
                symbolTexts.add(s);
                symbolOfText.put(s, b);
            }
            Map<String, long[]> counts = new HashMap<>();
            int start = 0;
            for (int end : PreTokenizer.forName(PRE).splitBounds(text)) {
                counts.computeIfAbsent(text.substring(start, end), k -> new long[1])[0]++;
                start = end;
            }
            // sorted so that the internal layout (not only the result) is independent of hash order
            List<String> unique = new ArrayList<>(counts.keySet());
            unique.sort(null);
            words = new int[unique.size()][];
            wordLength = new int[unique.size()];
            wordCount = new long[unique.size()];
            for (int w = 0; w < unique.size(); w++) {
                byte[] bytes = unique.get(w).getBytes(java.nio.charset.StandardCharsets.UTF_8);
                int[] symbols = new int[bytes.length];
                for (int i = 0; i < bytes.length; i++) {
                    symbols[i] = bytes[i] & 0xFF;
                }
                words[w] = symbols;
                wordLength[w] = symbols.length;
                wordCount[w] = counts.get(unique.get(w))[0];
                for (int i = 0; i + 1 < symbols.length; i++) {
                    int p = pairs.indexOf(symbols[i], symbols[i + 1]);
                    pairs.addCount(p, wordCount[w]);
                    pairs.addWord(p, w);
                }
            }
            for (int p = 0; p < pairs.size(); p++) {
                heap.add(new Candidate(pairs.count(p), p));
            }
        }

        /** Performs merges until {@code newTokens} new token texts exist or no pair occurs twice. */
        void run(int newTokens) {
            int[] seenInMerge = new int[words.length];
            int mergeNumber = 0;
            int created = 0;
            while (created < newTokens) {
                Candidate best = heap.poll();
                if (best == null) {
                    break;
                }
                if (best.count != pairs.count(best.pair)) {
                    continue; // outdated entry
                }
                if (best.count < MIN_PAIR_COUNT) {
                    break;
                }
                int a = pairs.left(best.pair);
                int b = pairs.right(best.pair);
                String text = symbolTexts.get(a) + symbolTexts.get(b);
                merges.add(symbolTexts.get(a) + " " + symbolTexts.get(b));
                Integer existing = symbolOfText.get(text);
                int merged;
                if (existing != null) {
                    merged = existing; // another merge order already made this text
                } else {
                    merged = symbolTexts.size();
                    symbolTexts.add(text);
                    symbolOfText.put(text, merged);
                    created++;
                }
                mergeNumber++;
                applyMerge(best.pair, a, b, merged, seenInMerge, mergeNumber);
            }
        }

        private final IntList touched = new IntList(1024);

        private void applyMerge(int pair, int a, int b, int merged, int[] seenInMerge, int mergeNumber) {
            IntList occurrences = pairs.words(pair);
            touched.clear();
            int[] rewritten = new int[16];
            for (int k = 0; k < occurrences.size(); k++) {
                int w = occurrences.get(k);
                if (seenInMerge[w] == mergeNumber) {
                    continue;
                }
                seenInMerge[w] = mergeNumber;
                int[] symbols = words[w];
                int length = wordLength[w];
                if (!containsPair(symbols, length, a, b)) {
                    continue; // the word lost this pair to an earlier merge
                }
                long count = wordCount[w];
                for (int i = 0; i + 1 < length; i++) {
                    addDelta(pairs.indexOf(symbols[i], symbols[i + 1]), -count);
                }
                if (rewritten.length < length) {
                    rewritten = new int[length];
                }
                int n = 0;
                for (int i = 0; i < length; ) {
                    if (i + 1 < length && symbols[i] == a && symbols[i + 1] == b) {
                        rewritten[n++] = merged;
                        i += 2;
                    } else {
                        rewritten[n++] = symbols[i++];
                    }
                }
                System.arraycopy(rewritten, 0, symbols, 0, n);
                wordLength[w] = n;
                for (int i = 0; i + 1 < n; i++) {
                    int p = pairs.indexOf(symbols[i], symbols[i + 1]);
                    addDelta(p, count);
                    if (symbols[i] == merged || symbols[i + 1] == merged) {
                        pairs.addWord(p, w);
                    }
                }
            }
            for (int k = 0; k < touched.size(); k++) {
                int p = touched.get(k);
                long delta = pairs.takeDelta(p);
                if (delta != 0) {
                    pairs.addCount(p, delta);
                    if (pairs.count(p) > 0) {
                        heap.add(new Candidate(pairs.count(p), p));
                    }
                }
            }
            pairs.releaseWords(pair);
        }

        private void addDelta(int p, long delta) {
            if (pairs.addDelta(p, delta)) {
                touched.add(p);
            }
        }

        private static boolean containsPair(int[] symbols, int length, int a, int b) {
            for (int i = 0; i + 1 < length; i++) {
                if (symbols[i] == a && symbols[i + 1] == b) {
                    return true;
                }
            }
            return false;
        }
    }

    /** Adjacent symbol pairs: an open-addressing index from (left, right) to a dense pair number with its data. */
    private static final class PairTable {
        private long[] keys = new long[1 << 16];
        private int[] slots = new int[1 << 16];
        private int used;

        private int[] left = new int[1024];
        private int[] right = new int[1024];
        private long[] count = new long[1024];
        private long[] delta = new long[1024];
        private boolean[] deltaPending = new boolean[1024];
        private IntList[] words = new IntList[1024];
        private int size;

        PairTable() {
            Arrays.fill(slots, -1);
        }

        int size() {
            return size;
        }

        int left(int p) {
            return left[p];
        }

        int right(int p) {
            return right[p];
        }

        long count(int p) {
            return count[p];
        }

        void addCount(int p, long c) {
            count[p] += c;
        }

        /** Adds to the pending delta; true when the pair was not pending yet. */
        boolean addDelta(int p, long d) {
            delta[p] += d;
            if (deltaPending[p]) {
                return false;
            }
            deltaPending[p] = true;
            return true;
        }

        long takeDelta(int p) {
            long d = delta[p];
            delta[p] = 0;
            deltaPending[p] = false;
            return d;
        }

        IntList words(int p) {
            return words[p] == null ? new IntList(1) : words[p];
        }

        void addWord(int p, int w) {
            IntList list = words[p];
            if (list == null) {
                list = words[p] = new IntList(2);
            }
            if (list.size() == 0 || list.get(list.size() - 1) != w) {
                list.add(w);
            }
        }

        void releaseWords(int p) {
            words[p] = null;
        }

        /** The pair number of (a, b), created on first sight. */
        int indexOf(int a, int b) {
            long key = ((long) a << 32) | (b & 0xFFFFFFFFL);
            int mask = slots.length - 1;
            int h = Long.hashCode(key * 0x9E3779B97F4A7C15L) & mask;
            while (slots[h] >= 0) {
                if (keys[h] == key) {
                    return slots[h];
                }
                h = (h + 1) & mask;
            }
            int p = size++;
            if (p == left.length) {
                int n = p * 2;
                left = Arrays.copyOf(left, n);
                right = Arrays.copyOf(right, n);
                count = Arrays.copyOf(count, n);
                delta = Arrays.copyOf(delta, n);
                deltaPending = Arrays.copyOf(deltaPending, n);
                words = Arrays.copyOf(words, n);
            }
            left[p] = a;
            right[p] = b;
            keys[h] = key;
            slots[h] = p;
            if (++used * 2 > slots.length) {
                grow();
            }
            return p;
        }

        private void grow() {
            long[] oldKeys = keys;
            int[] oldSlots = slots;
            keys = new long[oldKeys.length * 2];
            slots = new int[oldSlots.length * 2];
            Arrays.fill(slots, -1);
            int mask = slots.length - 1;
            for (int i = 0; i < oldSlots.length; i++) {
                if (oldSlots[i] >= 0) {
                    int h = Long.hashCode(oldKeys[i] * 0x9E3779B97F4A7C15L) & mask;
                    while (slots[h] >= 0) {
                        h = (h + 1) & mask;
                    }
                    keys[h] = oldKeys[i];
                    slots[h] = oldSlots[i];
                }
            }
        }
    }
}
