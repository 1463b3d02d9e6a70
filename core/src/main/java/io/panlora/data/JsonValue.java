package io.panlora.data;

import java.math.BigDecimal;
import java.util.List;
import java.util.Map;

/** A parsed JSON value (see {@link JsonParser}). */
public sealed interface JsonValue {

    /** A JSON string. */
    record Str(String value) implements JsonValue {}

    /** A JSON number, kept as its source text so no precision is lost. */
    record Num(String text) implements JsonValue {
        /** The value as a double. */
        public double doubleValue() {
            return Double.parseDouble(text);
        }

        /** The value as a long, failing if it is not an integer in range. */
        public long longValueExact() {
            return new BigDecimal(text).longValueExact();
        }
    }

    /** JSON {@code true} or {@code false}. */
    record Bool(boolean value) implements JsonValue {}

    /** JSON {@code null}. */
    record Null() implements JsonValue {}

    /** A JSON array (unmodifiable). */
    record Arr(List<JsonValue> items) implements JsonValue {
        public Arr {
            items = List.copyOf(items);
        }
    }

    /** A JSON object (unmodifiable, in source order). */
    record Obj(Map<String, JsonValue> fields) implements JsonValue {
        public Obj {
            fields = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(fields));
        }

        /** The field's value, or null if absent. */
        public JsonValue get(String name) {
            return fields.get(name);
        }

        /** Whether the field is present (even if its value is null). */
        public boolean has(String name) {
            return fields.containsKey(name);
        }
    }

    /** The JSON type name used in error messages: string, number, boolean, null, array, object. */
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
