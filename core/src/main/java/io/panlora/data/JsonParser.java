package io.panlora.data;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small strict JSON (RFC 8259) parser for one document held in a string, such as one JSONL line.
 *
 * <p>Strict means: no comments, no trailing commas, no single quotes, no NaN/Infinity, no leading
 * zeros, no raw control characters inside strings, no unpaired surrogates in {@code \\u} escapes,
 * no duplicate object keys, and nothing but whitespace after the value. Errors carry a 1-based
 * column (in UTF-16 code units of the input), so callers can point at the offending character.
 *
 * <p>Objects keep their keys in source order; numbers are kept as their source text
 * ({@link JsonValue.Num}). Whitespace is JSON's: space, tab, {@code '\n'} and {@code '\r'}. Stateless
 * from the caller's view and thread-safe.
 */
public final class JsonParser {

    /**
     * The deepest nesting of arrays and objects accepted; deeper input is a {@link SyntaxError}, so hostile
     * input cannot overflow the stack.
     */
    public static final int MAX_DEPTH = 512;

    /**
     * A syntax error at a 1-based column of the input. The message is {@code "<problem> at column <n>"};
     * it carries no line, since the parser sees one string (callers reading JSONL add the line).
     */
    public static final class SyntaxError extends Exception {
        /** The 1-based column (UTF-16 code units) of the offending character. */
        private final int column;
        /** The description of the problem, without the column. */
        private final String problem;

        SyntaxError(String problem, int column) {
            super(problem + " at column " + column);
            this.problem = problem;
            this.column = column;
        }

        /**
         * Where the error is.
         *
         * @return the 1-based column, in UTF-16 code units, of the offending character (input length + 1
         *         for "unexpected end"; the opening quote for an unterminated string)
         */
        public int column() {
            return column;
        }

        /**
         * What is wrong.
         *
         * @return the problem without the column, e.g. "expected ',' or '}'"
         */
        public String problem() {
            return problem;
        }
    }

    private final String text;
    private int pos;

    private JsonParser(String text) {
        this.text = text;
    }

    /**
     * Parses one complete JSON document; anything but whitespace after it is an error.
     *
     * @param text the document, e.g. one JSONL line (a byte order mark is not skipped); not null
     * @return the value: an object, array, string, number, boolean or null
     * @throws SyntaxError if the text is empty or blank, is not strict JSON, nests deeper than
     *                     {@link #MAX_DEPTH}, repeats an object key, or has more than whitespace after the value
     */
    public static JsonValue parse(String text) throws SyntaxError {
        JsonParser parser = new JsonParser(text);
        parser.skipWhitespace();
        JsonValue value = parser.parseValue(0);
        parser.skipWhitespace();
        if (parser.pos < text.length()) {
            throw parser.error("unexpected " + parser.describeCurrent() + " after the JSON value");
        }
        return value;
    }

    private JsonValue parseValue(int depth) throws SyntaxError {
        if (pos >= text.length()) throw error("expected a value but the line ended");
        char c = text.charAt(pos);
        return switch (c) {
            case '{' -> parseObject(depth + 1);
            case '[' -> parseArray(depth + 1);
            case '"' -> new JsonValue.Str(parseString());
            case 't' -> literal("true", new JsonValue.Bool(true));
            case 'f' -> literal("false", new JsonValue.Bool(false));
            case 'n' -> literal("null", new JsonValue.Null());
            default -> {
                if (c == '-' || (c >= '0' && c <= '9')) yield parseNumber();
                throw error("expected a value but found " + describeCurrent());
            }
        };
    }

    private JsonValue.Obj parseObject(int depth) throws SyntaxError {
        if (depth > MAX_DEPTH) throw error("nesting deeper than " + MAX_DEPTH);
        pos++; // '{'
        Map<String, JsonValue> fields = new LinkedHashMap<>();
        skipWhitespace();
        if (peek() == '}') {
            pos++;
            return new JsonValue.Obj(fields);
        }
        while (true) {
            skipWhitespace();
            if (peek() != '"') throw error("expected a string key");
            int keyColumn = pos;
            String key = parseString();
            skipWhitespace();
            if (peek() != ':') throw error("expected ':'");
            pos++;
            skipWhitespace();
            JsonValue value = parseValue(depth);
            if (fields.putIfAbsent(key, value) != null) {
                throw new SyntaxError("duplicate key \"" + abbreviate(key) + "\"", keyColumn + 1);
            }
            skipWhitespace();
            char c = peek();
            if (c == ',') {
                pos++;
            } else if (c == '}') {
                pos++;
                return new JsonValue.Obj(fields);
            } else {
                throw error("expected ',' or '}'");
            }
        }
    }

    private JsonValue.Arr parseArray(int depth) throws SyntaxError {
        if (depth > MAX_DEPTH) throw error("nesting deeper than " + MAX_DEPTH);
        pos++; // '['
        List<JsonValue> items = new ArrayList<>();
        skipWhitespace();
        if (peek() == ']') {
            pos++;
            return new JsonValue.Arr(items);
        }
        while (true) {
            skipWhitespace();
            items.add(parseValue(depth));
            skipWhitespace();
            char c = peek();
            if (c == ',') {
                pos++;
            } else if (c == ']') {
                pos++;
                return new JsonValue.Arr(items);
            } else {
                throw error("expected ',' or ']'");
            }
        }
    }

    private String parseString() throws SyntaxError {
        int start = pos;
        pos++; // opening quote
        StringBuilder out = null; // only allocated once an escape is seen
        int runStart = pos;
        while (true) {
            if (pos >= text.length()) {
                throw new SyntaxError("unterminated string", start + 1);
            }
            char c = text.charAt(pos);
            if (c == '"') {
                String result = out == null ? text.substring(runStart, pos) : out.append(text, runStart, pos).toString();
                pos++;
                return result;
            }
            if (c < 0x20) throw error("raw control character U+%04X in string (must be escaped)".formatted((int) c));
            if (c != '\\') {
                pos++;
                continue;
            }
            if (out == null) out = new StringBuilder();
            out.append(text, runStart, pos);
            pos++; // backslash
            if (pos >= text.length()) throw new SyntaxError("unterminated string", start + 1);
            char e = text.charAt(pos);
            switch (e) {
                case '"' -> out.append('"');
                case '\\' -> out.append('\\');
                case '/' -> out.append('/');
                case 'b' -> out.append('\b');
                case 'f' -> out.append('\f');
                case 'n' -> out.append('\n');
                case 'r' -> out.append('\r');
                case 't' -> out.append('\t');
                case 'u' -> {
                    int escapeStart = pos - 1;
                    char unit = readHex4();
                    if (Character.isHighSurrogate(unit)) {
                        // A high surrogate is only meaningful followed by an escaped low surrogate.
                        if (pos + 1 < text.length() && text.charAt(pos + 1) == '\\'
                                && pos + 2 < text.length() && text.charAt(pos + 2) == 'u') {
                            pos += 2;
                            char low = readHex4();
                            if (!Character.isLowSurrogate(low)) {
                                throw new SyntaxError("high surrogate \\u%04X not followed by a low surrogate".formatted((int) unit), escapeStart + 1);
                            }
                            out.append(unit).append(low);
                        } else {
                            throw new SyntaxError("unpaired high surrogate \\u%04X".formatted((int) unit), escapeStart + 1);
                        }
                    } else if (Character.isLowSurrogate(unit)) {
                        throw new SyntaxError("unpaired low surrogate \\u%04X".formatted((int) unit), escapeStart + 1);
                    } else {
                        out.append(unit);
                    }
                }
                default -> throw new SyntaxError("invalid escape '\\" + printable(e) + "'", pos);
            }
            pos++;
            runStart = pos;
        }
    }

    /** Reads the 4 hex digits after "\\u" (pos is on the 'u'); leaves pos on the last digit. */
    private char readHex4() throws SyntaxError {
        int value = 0;
        for (int i = 1; i <= 4; i++) {
            int at = pos + i;
            if (at >= text.length()) throw new SyntaxError("unterminated \\u escape", pos);
            int digit = hexDigit(text.charAt(at));
            if (digit < 0) throw new SyntaxError("invalid hex digit in \\u escape", at + 1);
            value = value * 16 + digit;
        }
        pos += 4;
        return (char) value;
    }

    private JsonValue.Num parseNumber() throws SyntaxError {
        int start = pos;
        if (peek() == '-') pos++;
        if (peek() == '0') {
            pos++;
            if (isDigit(peek())) throw error("leading zero in number");
        } else if (isDigit(peek())) {
            while (isDigit(peek())) pos++;
        } else {
            throw error("expected a digit");
        }
        if (peek() == '.') {
            pos++;
            if (!isDigit(peek())) throw error("expected a digit after '.'");
            while (isDigit(peek())) pos++;
        }
        if (peek() == 'e' || peek() == 'E') {
            pos++;
            if (peek() == '+' || peek() == '-') pos++;
            if (!isDigit(peek())) throw error("expected a digit in the exponent");
            while (isDigit(peek())) pos++;
        }
        return new JsonValue.Num(text.substring(start, pos));
    }

    private JsonValue literal(String word, JsonValue value) throws SyntaxError {
        if (!text.startsWith(word, pos)) throw error("expected a value but found " + describeCurrent());
        pos += word.length();
        return value;
    }

    private void skipWhitespace() {
        while (pos < text.length()) {
            char c = text.charAt(pos);
            if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return;
            pos++;
        }
    }

    /** The current character, or U+0000 at the end (never a legal character at a decision point). */
    private char peek() {
        return pos < text.length() ? text.charAt(pos) : '\0';
    }

    /** ASCII hex digits only (Character.digit would also accept other scripts' digits). */
    private static int hexDigit(char c) {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    }

    private static boolean isDigit(char c) {
        return c >= '0' && c <= '9';
    }

    private SyntaxError error(String problem) {
        if (pos >= text.length() && !problem.contains("ended")) problem = problem + " but the line ended";
        return new SyntaxError(problem, pos + 1);
    }

    private String describeCurrent() {
        if (pos >= text.length()) return "the end of the line";
        return "'" + printable(text.charAt(pos)) + "'";
    }

    private static String printable(char c) {
        return c < 0x20 || c == 0x7f ? "\\u%04X".formatted((int) c) : String.valueOf(c);
    }

    private static String abbreviate(String s) {
        return s.length() <= 40 ? s : s.substring(0, 37) + "...";
    }
}
