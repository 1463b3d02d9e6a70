package io.panlora.tokenizer;

/**
 * Text ↔ token ids for a GGUF vocabulary, behaving like llama.cpp's {@code llama_vocab}.
 *
 * <p>Build one with {@link #of(TokenizerSpec)}: {@code "llama"} gives SentencePiece (score-ordered merges with
 * byte fallback), {@code "gpt2"} gives byte-level BPE (ranked merges after a regex pre-tokenizer). Instances are
 * immutable and safe to share between threads.
 *
 * <p>Token ids range from 0 to {@code vocabSize() - 1}; methods taking an id throw an
 * {@link IllegalArgumentException} for an id outside that range, except {@link #isEog}. Special ids
 * ({@link #bos()}, {@link #eos()}, {@link #unk()}, {@link #pad()}) are -1 when the vocabulary has none.
 */
public interface Tokenizer {

    /**
     * The tokenizer for a vocabulary. Building one indexes the whole vocabulary, so reuse it.
     *
     * @param spec the vocabulary, e.g. read from a GGUF file or made by {@link BpeTrainer}; not null
     * @return a SentencePiece tokenizer for {@code "llama"}, a byte-level BPE tokenizer for {@code "gpt2"}
     * @throws IllegalArgumentException if two tokens have the same text, or a {@code "gpt2"} vocabulary names a
     *                                  pre-tokenizer that is not modelled (see {@link PreTokenizer#recognized()})
     */
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
     * <p>Special-token text is split out of the input first (longest first); the remaining text is
     * tokenized by the vocabulary's model. Text the vocabulary cannot represent falls back to byte tokens,
     * then to the unknown token, or is dropped if there is none.
     *
     * @param text         the text; not null, may be empty
     * @param addSpecial   add BOS (if the vocabulary's add_bos) and EOS (if add_eos)
     * @param parseSpecial recognise control and unknown-token text (e.g. {@code "<|im_start|>"}) in the input;
     *                     user-defined tokens are always recognised
     * @return a new array of token ids (empty for empty text unless BOS or EOS is added)
     */
    int[] encode(String text, boolean addSpecial, boolean parseSpecial);

    /**
     * {@code encode(text, true, false)}: BOS as the vocabulary asks, control-token text taken literally.
     *
     * @param text the text; not null
     * @return a new array of token ids
     */
    default int[] encode(String text) {
        return encode(text, true, false);
    }

    /**
     * Text for ids: pieces concatenated, control and unknown tokens rendered as nothing, and with an SPM space
     * prefix one leading space removed from the first piece that renders anything; so
     * {@code decode(encode(s, addSpecial, false)) == s} for any text the vocabulary can represent.
     * Unlike {@link #detokenize}, never rewrites spaces.
     *
     * <p>Bytes that are not valid UTF-8 (e.g. half of a character split across byte tokens) become
     * U+FFFD; use {@link TokenStreamDecoder} for text that arrives token by token.
     *
     * @param ids token ids; not null
     * @return the text
     * @throws IllegalArgumentException if an id is outside the vocabulary
     */
    String decode(int[] ids);

    /**
     * Text for ids exactly as llama.cpp's {@code llama_detokenize(.., remove_special, unparse_special)}: removes
     * one leading space from the very first token when add_space_prefix (a leading BOS takes that turn), and for
     * most BPE pre-tokenizers applies llama.cpp's clean-up of spaces before {@code ? ! . ,} and contractions.
     *
     * @param ids            token ids; not null
     * @param removeSpecial  drop a leading BOS if the vocabulary adds BOS, and a trailing EOS if it adds EOS
     * @param unparseSpecial write control and unknown tokens' text (e.g. {@code "<|im_end|>"}) instead of
     *                       nothing
     * @return the text
     * @throws IllegalArgumentException if an id is outside the vocabulary
     */
    String detokenize(int[] ids, boolean removeSpecial, boolean unparseSpecial);

    /**
     * The raw bytes a token stands for, control and unknown tokens as nothing (llama.cpp's token_to_piece,
     * special=false). No leading space is stripped.
     *
     * @param id a token id
     * @return a new array: the piece's bytes (SPM {@code "▁"} as a space, byte tokens as their byte, BPE
     *         texts mapped back through {@link ByteLevel}); empty for control and unknown tokens and for
     *         unused or undefined ones
     * @throws IllegalArgumentException if the id is outside the vocabulary
     */
    default byte[] pieceBytes(int id) {
        return pieceBytes(id, false);
    }

    /**
     * The raw bytes a token stands for; {@code renderSpecial} writes control and unknown tokens' text too.
     *
     * @param id            a token id
     * @param renderSpecial whether control and unknown tokens render as their text (UTF-8) rather than nothing
     * @return a new array of the piece's bytes; possibly only part of a UTF-8 character
     * @throws IllegalArgumentException if the id is outside the vocabulary
     */
    byte[] pieceBytes(int id, boolean renderSpecial);

    /**
     * The token's text as stored in the vocabulary (e.g. {@code "▁the"}, {@code "Ġthe"}, {@code "<0x0A>"}).
     *
     * @param id a token id
     * @return the text exactly as in {@link TokenizerSpec#tokens()} (possibly empty)
     * @throws IllegalArgumentException if the id is outside the vocabulary
     */
    String tokenText(int id);

    /**
     * The token's type (after llama.cpp's overrides: end-of-generation markers count as control).
     *
     * @param id a token id
     * @return the type; {@link TokenType#NORMAL} for every token of a vocabulary without types, unless
     *         overridden
     * @throws IllegalArgumentException if the id is outside the vocabulary
     */
    TokenType tokenType(int id);

    /**
     * The id of a token text, matched exactly in the vocabulary's own form (e.g. {@code "▁the"} for
     * SentencePiece, {@code "Ġthe"} for byte-level BPE). An empty token text is stored as
     * {@code "[EMPTY_<id>]"}, as llama.cpp does.
     *
     * @param text a token text
     * @return the id, or -1 if no token has exactly this text
     */
    int tokenId(String text);

    /**
     * Number of tokens.
     *
     * @return the vocabulary size; valid ids are 0 to this minus 1
     */
    int vocabSize();

    /**
     * Beginning-of-sequence id.
     *
     * @return the BOS id, or -1 if the vocabulary has none
     */
    int bos();

    /**
     * End-of-sequence id.
     *
     * @return the EOS id, or -1 if the vocabulary has none
     */
    int eos();

    /**
     * Unknown-token id, used for text the vocabulary cannot represent otherwise.
     *
     * @return the unknown-token id, or -1 if the vocabulary has none
     */
    int unk();

    /**
     * Padding id, as declared by the vocabulary.
     *
     * @return the padding id, or -1 if the vocabulary declares none
     */
    int pad();

    /**
     * Whether {@code encode(.., addSpecial=true, ..)} prepends BOS (the vocabulary's add_bos).
     *
     * @return true if BOS is prepended (only when {@link #bos()} is not -1 does it have an effect)
     */
    boolean addBos();

    /**
     * Whether {@code encode(.., addSpecial=true, ..)} appends EOS (the vocabulary's add_eos).
     *
     * @return true if EOS is appended (only when {@link #eos()} is not -1 does it have an effect)
     */
    boolean addEos();

    /**
     * Whether generation should stop at this token (EOS, and end-of-turn tokens like {@code <|eot_id|>},
     * {@code <|im_end|>}).
     *
     * @param id any int
     * @return true for an end-of-generation token; false otherwise, including ids outside the vocabulary
     */
    boolean isEog(int id);

    /**
     * The vocabulary this tokenizer was built from.
     *
     * @return the spec given to {@link #of}
     */
    TokenizerSpec spec();

    /**
     * The vocabulary's Jinja chat template (GGUF tokenizer.chat_template); see
     * {@link io.panlora.data.ChatTemplate#detect} for the built-in format it corresponds to.
     *
     * @return the template text, or null if the vocabulary has none
     */
    default String chatTemplate() {
        return spec().chatTemplate();
    }
}
