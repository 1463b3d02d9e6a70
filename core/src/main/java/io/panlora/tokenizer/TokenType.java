package io.panlora.tokenizer;

/** Token types as stored in GGUF's {@code tokenizer.ggml.token_type} array (llama.cpp's values). */
public enum TokenType {
    /** Type 0, or any value outside the known range; rendered as nothing, like llama.cpp. */
    UNDEFINED(0),
    /** Type 1: an ordinary vocabulary piece. */
    NORMAL(1),
    /** Type 2: the unknown token. */
    UNKNOWN(2),
    /** Type 3: a control token (BOS, EOS, chat markers); parsed from text only on request. */
    CONTROL(3),
    /** Type 4: a user-defined token; always split out of the input text before tokenizing. */
    USER_DEFINED(4),
    /** Type 5: a reserved, unused slot. */
    UNUSED(5),
    /** Type 6: a byte-fallback token such as {@code <0x0A>}. */
    BYTE(6);

    private final int ggufValue;

    TokenType(int ggufValue) {
        this.ggufValue = ggufValue;
    }

    /**
     * The integer stored in GGUF for this type.
     *
     * @return 0 to 6
     */
    public int ggufValue() {
        return ggufValue;
    }

    /**
     * The type for a GGUF integer; unknown values map to {@link #UNDEFINED}, as llama.cpp does.
     *
     * @param value an entry of {@code tokenizer.ggml.token_type}
     * @return the type; never null
     */
    public static TokenType fromGguf(int value) {
        return switch (value) {
            case 1 -> NORMAL;
            case 2 -> UNKNOWN;
            case 3 -> CONTROL;
            case 4 -> USER_DEFINED;
            case 5 -> UNUSED;
            case 6 -> BYTE;
            default -> UNDEFINED;
        };
    }

    /** Whether llama.cpp hides this type when detokenizing without "special" rendering. */
    boolean hiddenUnlessSpecial() {
        return this == CONTROL || this == UNKNOWN;
    }

    /** Whether llama.cpp keeps this type in its special-token cache (split out before tokenizing). */
    boolean splitOutOfText() {
        return this == CONTROL || this == USER_DEFINED || this == UNKNOWN;
    }
}
