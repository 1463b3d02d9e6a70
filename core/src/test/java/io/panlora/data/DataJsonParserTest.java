package io.panlora.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class DataJsonParserTest {

    @Test
    void parsesNestedValues() throws Exception {
        JsonValue value = JsonParser.parse(" {\"a\": [1, -2.5e3, 0, true, false, null, {}], \"b\": {\"c\": []}, \"d\": \"x\"} ");
        JsonValue.Obj obj = assertInstanceOf(JsonValue.Obj.class, value);
        assertEquals(List.of("a", "b", "d"), List.copyOf(obj.fields().keySet()));
        JsonValue.Arr a = assertInstanceOf(JsonValue.Arr.class, obj.get("a"));
        assertEquals(List.of(new JsonValue.Num("1"), new JsonValue.Num("-2.5e3"), new JsonValue.Num("0"),
                new JsonValue.Bool(true), new JsonValue.Bool(false), new JsonValue.Null(), new JsonValue.Obj(Map.of())), a.items());
        assertEquals(-2500.0, ((JsonValue.Num) a.items().get(1)).doubleValue());
        assertEquals(1L, ((JsonValue.Num) a.items().get(0)).longValueExact());
        assertEquals(new JsonValue.Obj(Map.of("c", new JsonValue.Arr(List.of()))), obj.get("b"));
        assertEquals(new JsonValue.Str("x"), obj.get("d"));
    }

    @Test
    void decodesAllEscapes() throws Exception {
        String json = "\"q\\\" b\\\\ s\\/ \\b\\f\\n\\r\\t \\u00e9 \\u4E2D \\ud83d\\ude00 raw\u00e9\"";
        assertEquals(new JsonValue.Str("q\" b\\ s/ \b\f\n\r\t \u00e9 \u4e2d \uD83D\uDE00 raw\u00e9"), JsonParser.parse(json));
    }

    @Test
    void acceptsNumberForms() throws Exception {
        for (String n : List.of("0", "-0", "12", "1.25", "1e5", "1E+5", "1e-5", "-0.0e0")) {
            assertEquals(new JsonValue.Num(n), JsonParser.parse(n), n);
        }
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', quoteCharacter = '`', value = {
        "{\"a\":1 \"b\":2}          | expected ',' or '}' at column 8",
        "{\"a\":1,}                 | expected a string key at column 8",
        "[1,]                       | expected a value but found ']' at column 4",
        "[1 2]                      | expected ',' or ']' at column 4",
        "{\"a\" 1}                  | expected ':' at column 6",
        "{'a':1}                    | expected a string key at column 2",
        "{} x                       | unexpected 'x' after the JSON value at column 4",
        "01                         | leading zero in number at column 2",
        "-                          | expected a digit but the line ended at column 2",
        "1.                         | expected a digit after '.' but the line ended at column 3",
        "1e                         | expected a digit in the exponent but the line ended at column 3",
        "NaN                        | expected a value but found 'N' at column 1",
        "tru                        | expected a value but found 't' at column 1",
        "\"abc                      | unterminated string at column 1",
        "\"a\\x\"                   | invalid escape '\\x' at column 3",
        "\"\\u12G4\"                | invalid hex digit in \\u escape at column 6",
        "\"\\ud83d\"                | unpaired high surrogate \\uD83D at column 2",
        "\"\\ude00\"                | unpaired low surrogate \\uDE00 at column 2",
        "\"\\ud83d\\u0041\"         | high surrogate \\uD83D not followed by a low surrogate at column 2",
        "{\"a\":1,\"a\":2}          | duplicate key \"a\" at column 8",
        "{\"a\":                    | expected a value but the line ended at column 6",
        "``                         | expected a value but the line ended at column 1",
    })
    void reportsErrorsWithColumns(String json, String message) {
        JsonParser.SyntaxError e = assertThrows(JsonParser.SyntaxError.class, () -> JsonParser.parse(json));
        assertEquals(message, e.getMessage());
    }

    @Test
    void rejectsRawControlCharacters() {
        JsonParser.SyntaxError e = assertThrows(JsonParser.SyntaxError.class, () -> JsonParser.parse("\"a\tb\""));
        assertEquals("raw control character U+0009 in string (must be escaped) at column 3", e.getMessage());
        assertEquals(3, e.column());
    }

    @Test
    void limitsNesting() {
        String deep = "[".repeat(JsonParser.MAX_DEPTH + 1) + "]".repeat(JsonParser.MAX_DEPTH + 1);
        JsonParser.SyntaxError e = assertThrows(JsonParser.SyntaxError.class, () -> JsonParser.parse(deep));
        assertEquals("nesting deeper than 512", e.problem());
        String ok = "[".repeat(JsonParser.MAX_DEPTH) + "]".repeat(JsonParser.MAX_DEPTH);
        assertInstanceOf(JsonValue.Arr.class, assertDoesNotThrow(ok));
    }

    private static JsonValue assertDoesNotThrow(String json) {
        try {
            return JsonParser.parse(json);
        } catch (JsonParser.SyntaxError e) {
            throw new AssertionError(e);
        }
    }
}
