package io.panlora.tokenizer;

/**
 * Text ↔ token ids for a GGUF vocabulary, behaving like llama.cpp's {@code llama_vocab}.
 *
 * <p>Build one with {@link #of(TokenizerSpec)}: {@code "llama"} gives SentencePiece (score-ordered merges with
 * byte fallback), {@code "gpt2"} gives byte-level BPE (ranked merges after a regex pre-tokenizer). Instances are
 * immutable and safe to share between threads.
 */
public interface Tokenizer {

    /** The tokenizer for a vocabulary. */
    static Tokenizer of(TokenizerSpec spec) {
        return switch (spec.model()) {
            case TokenizerSpec.MODEL_LLAMA -> new SpmTokenizer(spec);
            case TokenizerSpec.MODEL_GPT2 -> new BpeTokenizer(spec);
            default -> throw new IllegalArgumentException("unsupported tokenizer model '" + spec.model() + "'");
        };
    }

    /**
     * Token ids for text, like llama.cpp's {@code llama_tokenize}.
     *
     * @param addSpecial   add BOS (if the vocabulary's add_bos) and EOS (if add_eos)
     * @param parseSpecial recognise control and unknown-token text (e.g. {@code "<|im_start|>"}) in the input;
     *                     user-defined tokens are always recognised
     */
    int[] encode(String text, boolean addSpecial, boolean parseSpecial);

    /** {@code encode(text, true, false)}: BOS as the vocabulary asks, control-token text taken literally. */
    default int[] encode(String text) {
        return encode(text, true, false);
    }

    /**
     * Text for ids: pieces concatenated, control and unknown tokens rendered as nothing, and with an SPM space
     * prefix one leading space removed from the first piece that renders anything; so
     * {@code decode(encode(s, addSpecial, false)) == s} for any text the vocabulary can represent.
     * Unlike {@link #detokenize}, never rewrites spaces.
     */
    String decode(int[] ids);

    /**
     * Text for ids exactly as llama.cpp's {@code llama_detokenize(.., remove_special, unparse_special)}: removes
     * one leading space from the very first token when add_space_prefix (a leading BOS takes that turn), and for
     * most BPE pre-tokenizers applies llama.cpp's clean-up of spaces before {@code ? ! . ,} and contractions.
     */
    String detokenize(int[] ids, boolean removeSpecial, boolean unparseSpecial);

    /** The raw bytes a token stands for, control and unknown tokens as nothing (llama.cpp's token_to_piece, special=false). */
    default byte[] pieceBytes(int id) {
        return pieceBytes(id, false);
    }

    /** The raw bytes a token stands for; {@code renderSpecial} writes control and unknown tokens' text too. */
    byte[] pieceBytes(int id, boolean renderSpecial);

    /** The token's text as stored in the vocabulary (e.g. {@code "▁the"}, {@code "Ġthe"}, {@code "<0x0A>"}). */
    String tokenText(int id);

    /** The token's type (after llama.cpp's overrides: end-of-generation markers count as control). */
    TokenType tokenType(int id);

    /** The id of a token text, or -1. */
    int tokenId(String text);

    /** Number of tokens. */
    int vocabSize();

    /** Beginning-of-sequence id, or -1. */
    int bos();

    /** End-of-sequence id, or -1. */
    int eos();

    /** Unknown-token id, or -1. */
    int unk();

    /** Padding id, or -1. */
    int pad();

    /** Whether {@code encode(.., addSpecial=true, ..)} prepends BOS. */
    boolean addBos();

    /** Whether {@code encode(.., addSpecial=true, ..)} appends EOS. */
    boolean addEos();

    /** Whether generation should stop at this token (EOS, and end-of-turn tokens like {@code <|eot_id|>}, {@code <|im_end|>}). */
    boolean isEog(int id);

    /** The vocabulary this tokenizer was built from. */
    TokenizerSpec spec();

    /** The vocabulary's Jinja chat template (GGUF tokenizer.chat_template), or null. */
    default String chatTemplate() {
        return spec().chatTemplate();
    }
}
