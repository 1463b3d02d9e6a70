package io.panlora.tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * Turns a stream of generated token ids into text as it comes, holding back the bytes of a UTF-8 character
 * that is split across tokens (byte-fallback and byte-level vocabularies split emoji and CJK that way).
 *
 * <p>Pieces are written as {@link Tokenizer#pieceBytes(int, boolean)} gives them: unlike
 * {@link Tokenizer#decode}, a SentencePiece space prefix is not stripped from the first piece. A decoder
 * keeps state between calls and is not thread-safe; use one per generated sequence (or call
 * {@link #finish()} between sequences).
 */
public final class TokenStreamDecoder {
    private final Tokenizer tokenizer;
    private final boolean renderSpecial;
    private final ByteArrayOutputStream pending = new ByteArrayOutputStream();

    /**
     * A decoder that renders control and unknown tokens as nothing.
     *
     * @param tokenizer the tokenizer the ids belong to; not null (not checked until {@link #push})
     */
    public TokenStreamDecoder(Tokenizer tokenizer) {
        this(tokenizer, false);
    }

    /**
     * A decoder; {@code renderSpecial} writes control tokens' text too.
     *
     * @param tokenizer     the tokenizer the ids belong to; not null (not checked until {@link #push})
     * @param renderSpecial whether control and unknown tokens appear as their text (e.g. {@code "<|im_end|>"})
     */
    public TokenStreamDecoder(Tokenizer tokenizer, boolean renderSpecial) {
        this.tokenizer = tokenizer;
        this.renderSpecial = renderSpecial;
    }

    /**
     * Adds a token and returns the text that is now complete (possibly empty). Bytes that may still become
     * a UTF-8 character with the next token are held back; malformed bytes that cannot are returned as U+FFFD.
     *
     * @param id a token id
     * @return the newly completed text, possibly empty
     * @throws IllegalArgumentException if the id is outside the vocabulary
     */
    public String push(int id) {
        pending.writeBytes(tokenizer.pieceBytes(id, renderSpecial));
        byte[] bytes = pending.toByteArray();
        int complete = completePrefixLength(bytes);
        pending.reset();
        pending.write(bytes, complete, bytes.length - complete);
        return new String(bytes, 0, complete, StandardCharsets.UTF_8);
    }

    /**
     * Returns what is left (an unfinished character becomes U+FFFD) and empties the decoder, which can
     * then be used for a new sequence.
     *
     * @return the held-back text, usually empty
     */
    public String finish() {
        String rest = pending.toString(StandardCharsets.UTF_8);
        pending.reset();
        return rest;
    }

    /** Length of the longest prefix that does not end inside a UTF-8 sequence which could still be completed. */
    static int completePrefixLength(byte[] b) {
        int n = b.length;
        // look back at most 3 bytes for the lead byte of a possibly unfinished sequence
        for (int back = 1; back <= Math.min(3, n); back++) {
            int c = b[n - back] & 0xFF;
            if (c < 0x80) {
                return n; // ASCII: everything before and including it is complete
            }
            if (c >= 0xC0) {
                int need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
                return back < need ? n - back : n;
            }
            // continuation byte: keep looking for its lead
        }
        return n;
    }
}
