package io.panlora.data;

import java.util.ArrayList;
import java.util.List;

/** Builds expected token and mask sequences in tests. */
final class TokenSeq {
    private final List<Integer> tokens = new ArrayList<>();
    private final List<Boolean> mask = new ArrayList<>();

    /** Appends a token id. */
    TokenSeq id(int id, boolean trained) {
        tokens.add(id);
        mask.add(trained);
        return this;
    }

    /** Appends the byte ids of text. */
    TokenSeq text(String text, boolean trained) {
        for (int id : ByteTokenizer.bytes(text)) id(id, trained);
        return this;
    }

    /** Appends a special token. */
    TokenSeq special(String text, boolean trained) {
        return id(ByteTokenizer.special(text), trained);
    }

    Example example() {
        int[] t = tokens.stream().mapToInt(Integer::intValue).toArray();
        boolean[] m = new boolean[mask.size()];
        for (int i = 0; i < m.length; i++) m[i] = mask.get(i);
        return new Example(t, m);
    }
}
