package io.panlora.tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What SentencePiece and BPE tokenizers share: the vocabulary, llama.cpp's type overrides and end-of-generation
 * set, splitting special-token text out of the input, and rendering tokens back to bytes.
 */
abstract sealed class VocabTokenizer implements Tokenizer permits SpmTokenizer, BpeTokenizer {

    /** Texts llama.cpp treats as end of generation (and forces to control type). */
    private static final Set<String> END_OF_GENERATION_TEXTS = Set.of(
            "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>",
            "_<EOT>", "<｜end▁of▁sentence｜>", "<end_of_utterance>", "<|return|>", "<|call|>",
            // not in llama.cpp's list (there it ends generation only when it is the EOS id, as in Llama 3 base)
            "<|end_of_text|>",
            // fill-in-the-middle pad / repo / file separator: llama.cpp ends generation on these too
            "<|fim_pad|>", "<fim-pad>", "<PAD>", "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>",
            "<|file_sep|>");

    /** Fill-in-the-middle markers llama.cpp forces to control type (without ending generation). */
    private static final Set<String> FIM_CONTROL_TEXTS = Set.of(
            "<|fim_prefix|>", "<fim-prefix>", "<｜fim▁begin｜>", "<PRE>",
            "<|fim_suffix|>", "<fim-suffix>", "<｜fim▁hole｜>", "<SUF>",
            "<|fim_middle|>", "<fim-middle>", "<｜fim▁end｜>", "<MID>");

    private static final byte[] NOTHING = new byte[0];

    final TokenizerSpec spec;
    final String[] texts;
    final TokenType[] types;
    final float[] scores;
    final Map<String, Integer> idOfText;
    /** Control, user-defined and unknown tokens, longest text first: the order llama.cpp splits them out. */
    private final int[] specialsLongestFirst;
    private final BitSet endOfGeneration = new BitSet();
    /** Each token's bytes with special rendering on (llama.cpp's token-to-piece cache). */
    private final byte[][] pieces;
    final boolean cleanSpaces;

    VocabTokenizer(TokenizerSpec spec, boolean byteLevel, boolean cleanSpaces) {
        this.spec = spec;
        this.cleanSpaces = cleanSpaces;
        int n = spec.size();
        texts = new String[n];
        types = new TokenType[n];
        scores = new float[n];
        idOfText = new HashMap<>(n * 2);
        for (int id = 0; id < n; id++) {
            String text = spec.tokens().get(id);
            if (text.isEmpty()) {
                text = "[EMPTY_" + id + "]"; // what llama.cpp stores for an empty token text
            }
            texts[id] = text;
            types[id] = spec.tokenTypes() == null ? TokenType.NORMAL : TokenType.fromGguf(spec.tokenTypes()[id]);
            scores[id] = spec.scores() == null ? 0f : spec.scores()[id];
            Integer previous = idOfText.put(text, id);
            if (previous != null) {
                throw new IllegalArgumentException("tokenizer tokens " + previous + " and " + id + " have the same text '" + text + "'");
            }
        }
        for (int id = 0; id < n; id++) {
            if (END_OF_GENERATION_TEXTS.contains(texts[id])) {
                endOfGeneration.set(id);
                types[id] = TokenType.CONTROL;
            } else if (FIM_CONTROL_TEXTS.contains(texts[id])) {
                types[id] = TokenType.CONTROL;
            }
        }
        if (spec.eosId() >= 0) {
            endOfGeneration.set(spec.eosId());
        }
        List<Integer> specials = new ArrayList<>();
        for (int id = 0; id < n; id++) {
            if (types[id].splitOutOfText()) {
                specials.add(id);
            }
        }
        // llama.cpp sorts by length only (unstable); ties here go to the lower id.
        specials.sort(Comparator.comparingInt((Integer id) -> -texts[id].length()).thenComparingInt(id -> id));
        specialsLongestFirst = specials.stream().mapToInt(Integer::intValue).toArray();
        pieces = new byte[n][];
        for (int id = 0; id < n; id++) {
            pieces[id] = byteLevel ? renderByteLevel(id) : renderSentencePiece(id);
        }
    }

    private byte[] renderSentencePiece(int id) {
        String text = texts[id];
        return switch (types[id]) {
            case CONTROL, UNKNOWN, USER_DEFINED -> text.getBytes(StandardCharsets.UTF_8);
            case NORMAL -> text.replace('\u2581', ' ').getBytes(StandardCharsets.UTF_8);
            case BYTE -> new byte[] {(byte) parseByteToken(text)};
            case UNUSED, UNDEFINED -> NOTHING;
        };
    }

    private byte[] renderByteLevel(int id) {
        String text = texts[id];
        return switch (types[id]) {
            case CONTROL, UNKNOWN, USER_DEFINED -> text.getBytes(StandardCharsets.UTF_8);
            case NORMAL -> ByteLevel.decode(text);
            case BYTE, UNUSED, UNDEFINED -> NOTHING;
        };
    }

    /** The byte of a {@code <0xHH>} token; like llama.cpp's strtol, 0 where the hex digits are missing. */
    static int parseByteToken(String text) {
        if (text.length() >= 5) {
            try {
                return Integer.parseInt(text.substring(3, 5), 16) & 0xFF;
            } catch (NumberFormatException e) {
                return 0;
            }
        }
        return 0;
    }

    /** A piece of input: raw text {@code [start, end)} or, when {@code token >= 0}, a special token. */
    record Fragment(int start, int end, int token) {
        boolean isText() {
            return token < 0;
        }
    }

    /** Splits special-token text out of the input, longest special first, as llama.cpp's tokenizer_st_partition. */
    final List<Fragment> partition(String text, boolean parseSpecial) {
        List<Fragment> fragments = new ArrayList<>();
        if (text.isEmpty()) {
            return fragments;
        }
        fragments.add(new Fragment(0, text.length(), -1));
        for (int id : specialsLongestFirst) {
            if (!parseSpecial && types[id].hiddenUnlessSpecial()) {
                continue;
            }
            String special = texts[id];
            if (text.indexOf(special) < 0) {
                continue;
            }
            List<Fragment> next = new ArrayList<>(fragments.size() + 4);
            for (Fragment f : fragments) {
                if (!f.isText()) {
                    next.add(f);
                    continue;
                }
                int pos = f.start();
                while (true) {
                    int match = text.indexOf(special, pos);
                    if (match < 0 || match + special.length() > f.end()) {
                        break;
                    }
                    if (match > pos) {
                        next.add(new Fragment(pos, match, -1));
                    }
                    next.add(new Fragment(match, match + special.length(), id));
                    pos = match + special.length();
                }
                if (pos < f.end()) {
                    next.add(new Fragment(pos, f.end(), -1));
                }
            }
            fragments = next;
        }
        return fragments;
    }

    final void checkId(int id) {
        if (id < 0 || id >= texts.length) {
            throw new IllegalArgumentException("token id " + id + " outside the vocabulary of " + texts.length + " tokens");
        }
    }

    @Override
    public byte[] pieceBytes(int id, boolean renderSpecial) {
        checkId(id);
        if (!renderSpecial && types[id].hiddenUnlessSpecial()) {
            return NOTHING;
        }
        return pieces[id].clone();
    }

    private byte[] pieceView(int id, boolean renderSpecial) {
        checkId(id);
        return !renderSpecial && types[id].hiddenUnlessSpecial() ? NOTHING : pieces[id];
    }

    @Override
    public String decode(int[] ids) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(ids.length * 4);
        boolean stripLeadingSpace = spec.addSpacePrefix();
        for (int id : ids) {
            byte[] piece = pieceView(id, false);
            if (piece.length == 0) {
                continue;
            }
            int from = stripLeadingSpace && piece[0] == ' ' ? 1 : 0;
            stripLeadingSpace = false;
            out.write(piece, from, piece.length - from);
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    @Override
    public String detokenize(int[] ids, boolean removeSpecial, boolean unparseSpecial) {
        int first = 0;
        int last = ids.length;
        boolean removeSpace = spec.addSpacePrefix();
        if (removeSpecial && spec.addBos() && last > first && ids[first] == spec.bosId()) {
            removeSpace = false;
            first++;
        }
        if (removeSpecial && spec.addEos() && last > first && ids[last - 1] == spec.eosId()) {
            last--;
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream(ids.length * 4);
        for (int i = first; i < last; i++) {
            byte[] piece = pieceView(ids[i], unparseSpecial);
            int from = removeSpace && piece.length > 0 && piece[0] == ' ' ? 1 : 0;
            removeSpace = false;
            out.write(piece, from, piece.length - from);
        }
        byte[] bytes = out.toByteArray();
        if (cleanSpaces) {
            bytes = cleanUpSpaces(bytes);
        }
        return new String(bytes, StandardCharsets.UTF_8);
    }

    /**
     * llama.cpp's {@code clean_spaces} passes: drop a space before {@code ? ! . ,}; turn {@code " ' "} into
     * {@code "'"}; drop a space before {@code 's 'm 're 've}.
     */
    static byte[] cleanUpSpaces(byte[] text) {
        // pass 1: " ?", " !", " .", " ,"
        byte[] a = new byte[text.length];
        int n = 0;
        for (int i = 0; i < text.length; i++) {
            byte x = text[i];
            boolean punct = i + 1 < text.length
                    && (text[i + 1] == '?' || text[i + 1] == '!' || text[i + 1] == '.' || text[i + 1] == ',');
            if (x == ' ' && punct) {
                continue;
            }
            a[n++] = x;
        }
        // pass 2: a single apostrophe between spaces loses both spaces; a space consumed this way no longer counts as one
        byte[] t = Arrays.copyOf(a, n);
        byte[] b = new byte[n];
        int m = n > 0 ? 1 : 0;
        if (n > 0) {
            b[0] = t[0];
        }
        for (int i = 1; i < n; i++) {
            byte x = t[i];
            if (x == '\'' && i + 1 < n && t[i - 1] == ' ' && t[i + 1] == ' ') {
                m--;
                t[++i] = 0;
            }
            b[m++] = x;
        }
        // pass 3: contractions " 's", " 'm", " 're", " 've" lose their space
        byte[] c = new byte[m];
        int k = m > 0 ? 1 : 0;
        if (m > 0) {
            c[0] = b[0];
        }
        for (int i = 1; i < m; i++) {
            byte x = b[i];
            if (b[i - 1] == ' ' && x == '\'' && i + 1 < m) {
                byte x1 = b[i + 1];
                if (x1 == 's' || x1 == 'm') {
                    k--;
                } else if (x1 != 't' && x1 != 'd' && i + 2 < m) {
                    byte x2 = b[i + 2];
                    if ((x1 == 'r' || x1 == 'v') && x2 == 'e') {
                        k--;
                    }
                }
            }
            c[k++] = x;
        }
        return Arrays.copyOf(c, k);
    }

    @Override
    public String tokenText(int id) {
        checkId(id);
        return spec.tokens().get(id);
    }

    @Override
    public TokenType tokenType(int id) {
        checkId(id);
        return types[id];
    }

    @Override
    public int tokenId(String text) {
        Integer id = idOfText.get(text);
        return id == null ? -1 : id;
    }

    @Override
    public int vocabSize() {
        return texts.length;
    }

    @Override
    public int bos() {
        return spec.bosId();
    }

    @Override
    public int eos() {
        return spec.eosId();
    }

    @Override
    public int unk() {
        return spec.unkId();
    }

    @Override
    public int pad() {
        return spec.padId();
    }

    @Override
    public boolean addBos() {
        return spec.addBos();
    }

    @Override
    public boolean addEos() {
        return spec.addEos();
    }

    @Override
    public boolean isEog(int id) {
        return id >= 0 && endOfGeneration.get(id);
    }

    @Override
    public TokenizerSpec spec() {
        return spec;
    }
}
