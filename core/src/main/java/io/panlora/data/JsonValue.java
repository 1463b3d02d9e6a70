package io.panlora.data;

import java.math.BigDecimal;
import java.util.List;
import java.util.Map;

/**
 * A parsed JSON value (see {@link JsonParser}): one of the six record types below, so a
 * {@code switch} over them is exhaustive. All are immutable.
 */
public sealed interface JsonValue {
    /**
     * Writes a string as a JSON string literal: quotes and backslashes escaped, newline, return and tab as their
     * two-character escapes, every other control character as a Unicode escape of four hex digits; {@link JsonParser} reads
     * it back as the same string.
     *
     * @param s the string
     * @return the literal, with its quotes
     */
    static String quote(String s) {
        StringBuilder b = new StringBuilder(s.length() + 2).append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> b.append("\\\"");
                case '\\' -> b.append("\\\\");
                case '\n' -> b.append("\\n");
                case '\r' -> b.append("\\r");
                case '\t' -> b.append("\\t");
                default -> {
                    if (c < 0x20) b.append(String.format("\\u%04x", (int) c)); // JSON allows no raw control characters
                    else b.append(c);
                }
            }
        }
        return b.append('"').toString();
    }


    /**
     * A JSON string.
     *
     * @param value the decoded text (escapes resolved)
     */
    record Str(String value) implements JsonValue {}

    /**
     * A JSON number, kept as its source text so no precision is lost.
     *
     * @param text the number exactly as written, e.g. {@code "-1.5e3"}
     */
    record Num(String text) implements JsonValue {
        /**
         * The value as a double.
         *
         * @return the nearest double; infinite if the number is beyond the double range
         * @throws NumberFormatException if the text is not a number (only possible for hand-made instances)
         */
        public double doubleValue() {
            return Double.parseDouble(text);
        }

        /**
         * The value as a long, failing if it is not an integer in range. {@code 1.0} and {@code 1e2} count as
         * integers.
         *
         * @return the exact value
         * @throws ArithmeticException if the number has a non-zero fractional part or is outside the long range
         */
        public long longValueExact() {
            return new BigDecimal(text).longValueExact();
        }
    }

    /**
     * JSON {@code true} or {@code false}.
     *
     * @param value the boolean
     */
    record Bool(boolean value) implements JsonValue {}

    /** JSON {@code null}. */
    record Null() implements JsonValue {}

    /**
     * A JSON array (unmodifiable).
     *
     * @param items the elements in order
     */
    record Arr(List<JsonValue> items) implements JsonValue {
        /**
         * Copies the items into an unmodifiable list.
         *
         * @throws NullPointerException if the list or any item is null (use {@link Null} for JSON null)
         */
        public Arr {
            items = List.copyOf(items);
        }
    }

    /**
     * A JSON object (unmodifiable, in source order).
     *
     * @param fields the members by key, in source order
     */
    record Obj(Map<String, JsonValue> fields) implements JsonValue {
        /**
         * Copies the fields into an unmodifiable map that keeps the given iteration order.
         *
         * @throws NullPointerException if the map is null
         */
        public Obj {
            fields = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(fields));
        }

        /**
         * A member's value.
         *
         * @param name the key
         * @return the value, or Java null if the key is absent (a JSON null is a {@link Null})
         */
        public JsonValue get(String name) {
            return fields.get(name);
        }

        /**
         * Whether the object has a member with this key.
         *
         * @param name the key
         * @return true if present, even if its value is JSON null
         */
        public boolean has(String name) {
            return fields.containsKey(name);
        }
    }

    /**
     * The JSON type name, for error messages.
     *
     * @return {@code "string"}, {@code "number"}, {@code "boolean"}, {@code "null"}, {@code "array"} or
     *         {@code "object"}
     */
    default String typeName() {
        return switch (this) {
            case Str _ -> "string";
            case Num _ -> "number";
            case Bool _ -> "boolean";
            case Null _ -> "null";
            case Arr _ -> "array";
            case Obj _ -> "object";
        };
    }
}
