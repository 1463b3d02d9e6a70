package io.panlora.tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * GPT-2's reversible byte-to-character mapping used by byte-level BPE vocabularies.
 *
 * <p>Printable bytes {@code '!'..'~'}, {@code 0xA1..0xAC} and {@code 0xAE..0xFF} stand for themselves;
 * the other 68 bytes map, in byte order, to U+0100, U+0101, ... (so a space becomes {@code 'Ġ'} U+0120
 * and a newline {@code 'Ċ'} U+010A). Byte-level BPE token texts (and merges) are written in these
 * characters. All methods are pure and thread-safe.
 */
public final class ByteLevel {
    private static final char[] BYTE_TO_CHAR = new char[256];
    private static final int[] CHAR_TO_BYTE = new int[512];

    static {
        java.util.Arrays.fill(CHAR_TO_BYTE, -1);
        int next = 256;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            char c = printable ? (char) b : (char) next++;
            BYTE_TO_CHAR[b] = c;
            CHAR_TO_BYTE[c] = b;
        }
    }

    private ByteLevel() {
    }

    /**
     * The character that stands for byte {@code b} (0..255).
     *
     * @param b the byte; only the low 8 bits are used, so a signed {@code byte} works too
     * @return the mapped character, in U+0021..U+0143
     */
    public static char charOf(int b) {
        return BYTE_TO_CHAR[b & 0xFF];
    }

    /**
     * The byte a character stands for, or -1 when it is not one of the 256 mapped characters.
     *
     * @param codePoint a Unicode code point (any int)
     * @return the byte, 0..255, or -1
     */
    public static int byteOf(int codePoint) {
        return codePoint >= 0 && codePoint < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[codePoint] : -1;
    }

    /**
     * Maps every byte to its character: the vocabulary form of raw bytes.
     *
     * @param bytes the bytes; not null
     * @return a string with one character per byte
     */
    public static String encode(byte[] bytes) {
        char[] out = new char[bytes.length];
        for (int i = 0; i < bytes.length; i++) {
            out[i] = BYTE_TO_CHAR[bytes[i] & 0xFF];
        }
        return new String(out);
    }

    /**
     * Maps text's UTF-8 bytes to their characters, e.g. {@code " the"} to {@code "Ġthe"}.
     *
     * @param text the text; not null (unpaired surrogates are encoded as {@code '?'})
     * @return a string with one character per UTF-8 byte of the text
     */
    public static String encode(String text) {
        return encode(text.getBytes(StandardCharsets.UTF_8));
    }

    /**
     * Maps characters back to bytes; a character outside the mapping contributes its own UTF-8 bytes
     * (llama.cpp writes an {@code [UNK_BYTE_0x..]} marker instead).
     *
     * @param text text in the byte-level form, e.g. a token's text; not null
     * @return the bytes; the inverse of {@link #encode(byte[])}
     */
    public static byte[] decode(String text) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(text.length());
        for (int i = 0; i < text.length(); ) {
            int cp = text.codePointAt(i);
            int n = Character.charCount(cp);
            int b = byteOf(cp);
            if (b >= 0) {
                out.write(b);
            } else {
                out.writeBytes(text.substring(i, i + n).getBytes(StandardCharsets.UTF_8));
            }
            i += n;
        }
        return out.toByteArray();
    }
}
