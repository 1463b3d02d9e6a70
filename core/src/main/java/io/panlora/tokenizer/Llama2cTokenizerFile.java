package io.panlora.tokenizer;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * Reads a llama2.c tokenizer file ({@code tokenizer.bin}, {@code tok512.bin}): int32 max token length, then per
 * token float32 score, int32 byte length and the UTF-8 bytes, all little-endian.
 *
 * <p>llama2.c's exporter wrote SentencePiece's U+2581 as a plain space and BOS/EOS as {@code "\n<s>\n"} /
 * {@code "\n</s>\n"}; this reader undoes both, so the result equals the vocabulary llama.cpp's converter stores in
 * GGUF: types unknown (id 0), control (ids 1, 2), byte ({@code <0xHH>}) and normal, BOS 1, EOS 2, UNK 0,
 * add_bos true, add_space_prefix true.
 *
 * <p>Malformed content is reported as an {@link IllegalArgumentException} naming the source, not as an
 * {@link IOException}.
 */
public final class Llama2cTokenizerFile {

    private static final Pattern BYTE_TOKEN = Pattern.compile("<0x[0-9A-F]{2}>");

    private Llama2cTokenizerFile() {
    }

    /**
     * Reads the file at {@code path}.
     *
     * @param path the {@code tokenizer.bin} file; not null
     * @return a {@code "llama"} (SentencePiece) vocabulary; pass it to {@link Tokenizer#of}
     * @throws IOException if the file cannot be read
     * @throws IllegalArgumentException if the content is not a llama2.c tokenizer (see {@link #parse})
     */
    public static TokenizerSpec read(Path path) throws IOException {
        return parse(Files.readAllBytes(path), path.toString());
    }

    /**
     * Parses the bytes of such a file; {@code source} names it in error messages.
     *
     * @param data   the whole file; not null
     * @param source a name for the data (e.g. the path), used in error messages
     * @return a {@code "llama"} (SentencePiece) vocabulary with scores and token types
     * @throws IllegalArgumentException if the data is shorter than the header, an entry is truncated or claims
     *                                  a negative or too large length, or there are fewer than 3 tokens
     */
    public static TokenizerSpec parse(byte[] data, String source) {
        ByteBuffer in = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
        if (in.remaining() < 4) {
            throw new IllegalArgumentException(source + ": too short for a llama2.c tokenizer header");
        }
        in.getInt(); // max token length: not needed
        List<String> tokens = new ArrayList<>();
        List<Float> scores = new ArrayList<>();
        while (in.hasRemaining()) {
            int id = tokens.size();
            if (in.remaining() < 8) {
                throw new IllegalArgumentException(source + ": truncated entry for token " + id);
            }
            float score = in.getFloat();
            int length = in.getInt();
            if (length < 0 || length > in.remaining()) {
                throw new IllegalArgumentException(source + ": token " + id + " claims " + length + " bytes, "
                        + in.remaining() + " left");
            }
            byte[] bytes = new byte[length];
            in.get(bytes);
            String text = new String(bytes, StandardCharsets.UTF_8);
            if (id == 1 && text.equals("\n<s>\n")) {
                text = "<s>";
            } else if (id == 2 && text.equals("\n</s>\n")) {
                text = "</s>";
            } else {
                text = text.replace(' ', '\u2581');
            }
            tokens.add(text);
            scores.add(score);
        }
        if (tokens.size() < 3) {
            throw new IllegalArgumentException(source + ": only " + tokens.size() + " tokens");
        }
        float[] scoreArray = new float[tokens.size()];
        int[] types = new int[tokens.size()];
        for (int id = 0; id < tokens.size(); id++) {
            scoreArray[id] = scores.get(id);
            TokenType type;
            if (id == 0) {
                type = TokenType.UNKNOWN;
            } else if (id <= 2) {
                type = TokenType.CONTROL;
            } else if (BYTE_TOKEN.matcher(tokens.get(id)).matches()) {
                type = TokenType.BYTE;
            } else {
                type = TokenType.NORMAL;
            }
            types[id] = type.ggufValue();
        }
        return new TokenizerSpec(TokenizerSpec.MODEL_LLAMA, null, tokens, scoreArray, types, null,
                1, 2, 0, -1, true, false, true, null);
    }
}
