package io.panlora.data;

import io.panlora.tokenizer.TokenType;
import io.panlora.tokenizer.Tokenizer;
import io.panlora.tokenizer.TokenizerSpec;

/** The parts of {@link Tokenizer} the data tests' toy tokenizers do not need. */
abstract class StubTokenizer implements Tokenizer {
    @Override
    public String detokenize(int[] ids, boolean removeSpecial, boolean unparseSpecial) {
        return decode(ids);
    }

    @Override
    public byte[] pieceBytes(int id, boolean renderSpecial) {
        return decode(new int[] {id}).getBytes(java.nio.charset.StandardCharsets.UTF_8);
    }

    @Override
    public String tokenText(int id) {
        return decode(new int[] {id});
    }

    @Override
    public TokenType tokenType(int id) {
        return TokenType.NORMAL;
    }

    @Override
    public int tokenId(String text) {
        return -1;
    }

    @Override
    public int unk() {
        return -1;
    }

    @Override
    public int pad() {
        return -1;
    }

    @Override
    public boolean addBos() {
        return encode("a", true, false).length > encode("a", false, false).length;
    }

    @Override
    public boolean addEos() {
        return false;
    }

    @Override
    public TokenizerSpec spec() {
        throw new UnsupportedOperationException("toy tokenizer");
    }
}
