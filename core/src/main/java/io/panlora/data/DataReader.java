package io.panlora.data;

import io.panlora.tokenizer.Tokenizer;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CoderResult;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * Reads a training file into {@link Example}s. The whole file is read (and so validated) before
 * anything is returned, so a bad line fails the run before training starts.
 *
 * <p>A file whose name ends in {@code .jsonl} holds one JSON object per line (blank lines are
 * skipped), each in one of these forms, checked in this order (extra fields are ignored):
 * <ul>
 *   <li>{@code {"messages": [{"role": "system"|"user"|"assistant", "content": "..."}, ...]}}: rendered
 *       with a {@link ChatTemplate}; trained on assistant content and end-of-turn markers;</li>
 *   <li>{@code {"instruction": ..., "input": ... (optional, may be "" or null), "output": ...}}: the
 *       standard Alpaca prompt; trained on the output and EOS;</li>
 *   <li>{@code {"prompt": ..., "completion": ...}}: trained on the completion and EOS;</li>
 *   <li>{@code {"text": ...}}: every token trained.</li>
 * </ul>
 * Any other file is plain UTF-8 text, tokenized whole (BOS first, control-token text not parsed)
 * with every token trained, as one {@link TrainingData.Layout#TOKEN_STREAM} example.
 *
 * <p>JSONL details: lines end at {@code '\n'} (a trailing {@code '\r'} is dropped); a UTF-8 byte order
 * mark at the start of the file is ignored; each line must be valid UTF-8 and strict JSON (see
 * {@link JsonParser}); the fields named above must be strings, except {@code "input"}, which may also be
 * absent or null (both meaning {@code ""}). A record that yields no target tokens (e.g. an empty
 * completion with a tokenizer without EOS) is a bad line. How the records become tokens is set by
 * {@link ReadOptions} and described at {@link ExampleEncoder}.
 *
 * <p>The methods are static and keep no state; they are safe to call from several threads if the
 * tokenizer is.
 */
public final class DataReader {

    private DataReader() {}

    /**
     * Whether {@link #read} treats the file as JSONL. Only the name counts; the file need not exist.
     *
     * @param file a path; not null
     * @return true if the file name ends in {@code ".jsonl"}, in any case; false otherwise (also for a path
     *         without a file name, such as a root)
     */
    public static boolean isJsonl(Path file) {
        Path name = file.getFileName();
        return name != null && name.toString().toLowerCase(Locale.ROOT).endsWith(".jsonl");
    }

    /**
     * Reads and tokenizes a whole training file: {@link #readJsonl} if {@link #isJsonl} says so, else
     * {@link #readText}.
     *
     * @param file      the training file; not null
     * @param tokenizer the model's tokenizer
     * @param options   how to read JSONL records (ignored for plain text)
     * @return the examples, in file order, with the bad-line counts when bad lines are skipped
     * @throws java.nio.file.NoSuchFileException if the file does not exist
     * @throws DataFormatException on malformed content ("file:line: problem"), or if nothing usable remains
     * @throws IOException if the path is a directory or the file cannot be read
     * @throws IllegalArgumentException if chat records need a template and the model's is not recognized
     */
    public static TrainingData read(Path file, Tokenizer tokenizer, ReadOptions options) throws IOException {
        if (Files.isDirectory(file)) throw new IOException(file + ": is a directory, not a data file");
        if (!Files.exists(file)) throw new java.nio.file.NoSuchFileException(file.toString(), null, "no such data file");
        return isJsonl(file) ? readJsonl(file, tokenizer, options) : readText(file, tokenizer);
    }

    /**
     * Reads a plain text file as one token stream, whatever its name: the whole file is decoded as strict
     * UTF-8 (a leading byte order mark is dropped) and tokenized with the tokenizer's BOS/EOS handling
     * ({@code addSpecial = true}) and control-token text taken literally; every token but the first is
     * trained.
     *
     * @param file      the text file; not null
     * @param tokenizer the model's tokenizer
     * @return a {@link TrainingData.Layout#TOKEN_STREAM} with one example
     * @throws DataFormatException if the file is not valid UTF-8 (naming the line of the first bad byte), is
     *                             empty, or has fewer than two tokens
     * @throws IOException if the file cannot be read
     */
    public static TrainingData readText(Path file, Tokenizer tokenizer) throws IOException {
        byte[] bytes = Files.readAllBytes(file);
        String text = decodeStrict(file, bytes);
        if (text.startsWith("\uFEFF")) text = text.substring(1); // a byte order mark is not content
        if (text.isEmpty()) throw new DataFormatException(file, 0, "the file is empty");
        Example example = new ExampleEncoder(tokenizer, false).text(text);
        if (example.targetCount() == 0) {
            throw new DataFormatException(file, 0, "too short to train on: " + example.length() + " token(s)");
        }
        return TrainingData.of(file, TrainingData.Layout.TOKEN_STREAM, List.of(example));
    }

    /**
     * Reads a JSONL file, one example per non-blank line, whatever its name (see the class comment for
     * the record forms). With {@link ReadOptions#skipBadLines()}, malformed lines are counted and the first
     * {@link ReadOptions#reportedBadLines()} of their messages kept; otherwise the first one fails the read.
     * The chat template is resolved once, at the first {@code "messages"} record.
     *
     * @param file      the JSONL file; not null
     * @param tokenizer the model's tokenizer; its chat template is used when the options name none
     * @param options   how to read and encode records; not null
     * @return a {@link TrainingData.Layout#EXAMPLES} with one example per good line, in file order
     * @throws DataFormatException on the first malformed line ("file:line: problem") unless bad lines are
     *                             skipped, or if no usable example remains
     * @throws IOException if the file cannot be read
     * @throws IllegalArgumentException if chat records need a template and the model's is not recognized
     *                                  (not treated as a bad line)
     */
    public static TrainingData readJsonl(Path file, Tokenizer tokenizer, ReadOptions options) throws IOException {
        ExampleEncoder encoder = new ExampleEncoder(tokenizer, options.parseSpecial(), options.segmentTokenization());
        ChatTemplate[] template = {options.chatTemplate()}; // resolved on the first chat record
        List<Example> examples = new ArrayList<>();
        List<String> reports = new ArrayList<>();
        int badLines = 0;
        long lineNumber = 0;
        try (Utf8Lines lines = new Utf8Lines(Files.newInputStream(file))) {
            while (lines.next()) {
                lineNumber++;
                try {
                    String line = lines.decode();
                    if (lineNumber == 1 && line.startsWith("\uFEFF")) line = line.substring(1);
                    if (line.isBlank()) continue;
                    examples.add(parseRecord(line, encoder, template, tokenizer));
                } catch (LineError e) {
                    DataFormatException error = new DataFormatException(file, lineNumber, e.getMessage());
                    if (!options.skipBadLines()) throw error;
                    badLines++;
                    if (reports.size() < options.reportedBadLines()) reports.add(error.getMessage());
                }
            }
        }
        if (examples.isEmpty()) {
            String why = badLines == 0 ? "no examples (the file has no non-blank lines)"
                    : "no usable examples: all " + badLines + " non-blank lines are bad, e.g. " + reports.getFirst();
            throw new DataFormatException(file, 0, why);
        }
        return new TrainingData(file, TrainingData.Layout.EXAMPLES, examples, badLines, reports);
    }

    /** Parses and encodes one non-blank JSONL line. */
    static Example parseRecord(String line, ExampleEncoder encoder, ChatTemplate[] template, Tokenizer tokenizer) throws LineError {
        JsonValue value;
        try {
            value = JsonParser.parse(line);
        } catch (JsonParser.SyntaxError e) {
            throw new LineError(e.getMessage());
        }
        if (!(value instanceof JsonValue.Obj record)) {
            throw new LineError("expected a JSON object, got " + article(value.typeName()));
        }
        Example example;
        String kind;
        if (record.has("messages")) {
            List<ChatMessage> messages = messages(record.get("messages"));
            if (template[0] == null) template[0] = ChatTemplate.resolve(null, tokenizer.chatTemplate());
            try {
                example = encoder.chat(messages, template[0]);
            } catch (IllegalArgumentException e) {
                throw new LineError("messages cannot be rendered with the " + template[0].id() + " template: " + e.getMessage());
            }
            kind = "chat";
        } else if (record.has("instruction") && record.has("output")) {
            example = encoder.alpaca(string(record, "instruction"), optionalString(record, "input"), string(record, "output"));
            kind = "instruction/output";
        } else if (record.has("prompt") && record.has("completion")) {
            example = encoder.promptCompletion(string(record, "prompt"), string(record, "completion"));
            kind = "prompt/completion";
        } else if (record.has("text")) {
            example = encoder.text(string(record, "text"));
            kind = "text";
        } else if (record.has("instruction") || record.has("output")) {
            throw new LineError("object has \"" + (record.has("instruction") ? "instruction\" but no \"output" : "output\" but no \"instruction") + "\"");
        } else if (record.has("prompt") || record.has("completion")) {
            throw new LineError("object has \"" + (record.has("prompt") ? "prompt\" but no \"completion" : "completion\" but no \"prompt") + "\"");
        } else {
            throw new LineError("object has none of the fields text, prompt/completion, instruction/output, messages");
        }
        if (example.targetCount() == 0) {
            throw new LineError("the " + kind + " record has nothing to train on (no target tokens)");
        }
        return example;
    }

    private static List<ChatMessage> messages(JsonValue value) throws LineError {
        if (!(value instanceof JsonValue.Arr(List<JsonValue> items))) {
            throw new LineError("field \"messages\" must be an array, got " + article(value.typeName()));
        }
        if (items.isEmpty()) throw new LineError("field \"messages\" is empty");
        List<ChatMessage> messages = new ArrayList<>(items.size());
        boolean hasAssistant = false;
        for (int i = 0; i < items.size(); i++) {
            String where = "messages[" + i + "]";
            if (!(items.get(i) instanceof JsonValue.Obj message)) {
                throw new LineError(where + " must be an object, got " + article(items.get(i).typeName()));
            }
            String roleName = string(message, "role", where + ".role");
            ChatMessage.Role role = ChatMessage.Role.fromWireName(roleName).orElseThrow(() -> new LineError(
                    where + ".role must be \"system\", \"user\" or \"assistant\", got \"" + roleName + "\""));
            messages.add(new ChatMessage(role, string(message, "content", where + ".content")));
            hasAssistant |= role == ChatMessage.Role.ASSISTANT;
        }
        if (!hasAssistant) throw new LineError("field \"messages\" has no assistant message (nothing to train on)");
        return messages;
    }

    private static String string(JsonValue.Obj record, String field) throws LineError {
        return string(record, field, "field \"" + field + "\"");
    }

    private static String string(JsonValue.Obj record, String field, String what) throws LineError {
        JsonValue value = record.get(field);
        if (value == null) throw new LineError(what + " is missing");
        if (value instanceof JsonValue.Str(String s)) return s;
        throw new LineError(what + " must be a string, got " + article(value.typeName()));
    }

    /** A string field that may be absent or null (both meaning ""). */
    private static String optionalString(JsonValue.Obj record, String field) throws LineError {
        JsonValue value = record.get(field);
        if (value == null || value instanceof JsonValue.Null) return "";
        return string(record, field);
    }

    private static String article(String typeName) {
        return switch (typeName) {
            case "array", "object" -> "an " + typeName;
            case "null" -> "null";
            default -> "a " + typeName;
        };
    }

    /** Decodes UTF-8, failing with the line of the first invalid byte. */
    private static String decodeStrict(Path file, byte[] bytes) throws DataFormatException {
        CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes);
        CharBuffer out = CharBuffer.allocate(bytes.length); // UTF-8 never yields more chars than bytes
        CoderResult result = decoder.decode(in, out, true);
        if (!result.isError()) result = decoder.flush(out);
        if (result.isError()) {
            int offset = in.position();
            long line = 1;
            for (int i = 0; i < offset; i++) if (bytes[i] == '\n') line++;
            throw new DataFormatException(file, line, "invalid UTF-8 at byte offset " + offset);
        }
        out.flip();
        return out.toString();
    }

    /** A problem with one line, before the file and line number are attached. */
    static final class LineError extends Exception {
        LineError(String message) {
            super(message, null, false, false); // control flow for bad lines: no stack trace needed
        }
    }

    /** Splits a byte stream into lines on '\n' (a trailing '\r' is dropped), decoding each strictly. */
    private static final class Utf8Lines implements AutoCloseable {
        private final InputStream in;
        private final byte[] buffer = new byte[1 << 16];
        private int position;
        private int limit;
        private byte[] line = new byte[1024];
        private int lineLength;
        private final CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);

        Utf8Lines(InputStream in) {
            this.in = new BufferedInputStream(in, 1 << 16);
        }

        /** Advances to the next line; false at the end of the input. */
        boolean next() throws IOException {
            lineLength = 0;
            boolean sawBytes = false;
            while (true) {
                if (position == limit) {
                    limit = in.read(buffer);
                    position = 0;
                    if (limit <= 0) {
                        limit = 0;
                        return sawBytes;
                    }
                }
                sawBytes = true;
                int start = position;
                while (position < limit && buffer[position] != '\n') position++;
                append(start, position - start);
                if (position < limit) {
                    position++; // the '\n'
                    return true;
                }
            }
        }

        private void append(int start, int count) {
            if (lineLength + count > line.length) line = Arrays.copyOf(line, Math.max(line.length * 2, lineLength + count));
            System.arraycopy(buffer, start, line, lineLength, count);
            lineLength += count;
        }

        /** The current line as text. */
        String decode() throws LineError {
            int length = lineLength;
            if (length > 0 && line[length - 1] == '\r') length--;
            try {
                return decoder.decode(ByteBuffer.wrap(line, 0, length)).toString();
            } catch (CharacterCodingException e) {
                throw new LineError("invalid UTF-8");
            }
        }

        @Override
        public void close() throws IOException {
            in.close();
        }
    }
}
