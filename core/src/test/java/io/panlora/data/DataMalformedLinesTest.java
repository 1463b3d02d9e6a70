package io.panlora.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class DataMalformedLinesTest {
    @TempDir
    Path dir;

    private final ByteTokenizer tokenizer = new ByteTokenizer();

    private static final String GOOD = "{\"text\": \"ok\"}";

    private Path write(String content) throws IOException {
        Path file = dir.resolve("train.jsonl");
        Files.writeString(file, content);
        return file;
    }

    /** The message for a file whose line 2 is {@code badLine} (lines 1 and 3 are good). */
    private String errorFor(String badLine) throws IOException {
        Path file = write(GOOD + "\n" + badLine + "\n" + GOOD + "\n");
        DataFormatException e = assertThrows(DataFormatException.class, () -> DataReader.read(file, tokenizer, ReadOptions.defaults()));
        assertEquals(2, e.line());
        assertEquals(file, e.file());
        String prefix = file + ":2: ";
        assertTrue(e.getMessage().startsWith(prefix), e.getMessage());
        return e.getMessage().substring(prefix.length());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', quoteCharacter = '`', value = {
        // bad JSON
        "{\"text\": \"a\" \"b\"}                        | expected ',' or '}' at column 14",
        "{\"text\": \"a\",}                             | expected a string key at column 14",
        "{\"text\": \"a\"                               | expected ',' or '}' but the line ended at column 13",
        // trailing garbage
        "{\"text\": \"a\"} x                            | unexpected 'x' after the JSON value at column 15",
        "{\"text\": \"a\"}{}                            | unexpected '{' after the JSON value at column 14",
        // non-object lines
        "[{\"text\": \"a\"}]                            | expected a JSON object, got an array",
        "\"text\"                                       | expected a JSON object, got a string",
        "null                                           | expected a JSON object, got null",
        // missing fields
        "{\"txt\": \"a\"}                               | object has none of the fields text, prompt/completion, instruction/output, messages",
        "{}                                             | object has none of the fields text, prompt/completion, instruction/output, messages",
        "{\"prompt\": \"a\"}                            | object has \"prompt\" but no \"completion\"",
        "{\"completion\": \"a\"}                        | object has \"completion\" but no \"prompt\"",
        "{\"instruction\": \"a\", \"input\": \"b\"}     | object has \"instruction\" but no \"output\"",
        // wrong field types
        "{\"text\": 5}                                  | field \"text\" must be a string, got a number",
        "{\"text\": null}                               | field \"text\" must be a string, got null",
        "{\"prompt\": \"a\", \"completion\": [\"b\"]}   | field \"completion\" must be a string, got an array",
        "{\"instruction\": \"a\", \"input\": 1, \"output\": \"b\"} | field \"input\" must be a string, got a number",
        "{\"messages\": \"hi\"}                         | field \"messages\" must be an array, got a string",
        "{\"messages\": []}                             | field \"messages\" is empty",
        "{\"messages\": [\"hi\"]}                       | messages[0] must be an object, got a string",
        "{\"messages\": [{\"role\": \"user\"}]}         | messages[0].content is missing",
        "{\"messages\": [{\"role\": \"tool\", \"content\": \"x\"}]} | messages[0].role must be \"system\", \"user\" or \"assistant\", got \"tool\"",
        "{\"messages\": [{\"role\": \"user\", \"content\": true}]} | messages[0].content must be a string, got a boolean",
        "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}]} | field \"messages\" has no assistant message (nothing to train on)",
        // nothing to train on
        "{\"text\": \"\"}                               | the text record has nothing to train on (no target tokens)",
    })
    void badLineNamesFileAndLine(String line, String problem) throws IOException {
        assertEquals(problem, errorFor(line.strip()));
    }

    @Test
    void invalidUtf8Line() throws IOException {
        Path file = dir.resolve("train.jsonl");
        byte[] good = (GOOD + "\n").getBytes();
        byte[] bad = {'{', '"', 't', 'e', 'x', 't', '"', ':', '"', (byte) 0xFF, '"', '}', '\n'};
        byte[] all = new byte[good.length + bad.length];
        System.arraycopy(good, 0, all, 0, good.length);
        System.arraycopy(bad, 0, all, good.length, bad.length);
        Files.write(file, all);
        DataFormatException e = assertThrows(DataFormatException.class, () -> DataReader.read(file, tokenizer, ReadOptions.defaults()));
        assertEquals(file + ":2: invalid UTF-8", e.getMessage());
    }

    @Test
    void templateThatCannotExpressTheConversation() throws IOException {
        // Gemma merges the system text into the next user turn; there is none here.
        String line = "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"assistant\", \"content\": \"b\"}, {\"role\": \"system\", \"content\": \"s\"}]}";
        Path file = write(line + "\n");
        DataFormatException e = assertThrows(DataFormatException.class,
                () -> DataReader.read(file, tokenizer, ReadOptions.defaults().withChatTemplate(ChatTemplate.GEMMA)));
        assertEquals(file + ":1: messages cannot be rendered with the gemma template: "
                + "a system message must be followed by a user message in this chat format", e.getMessage());
    }

    @Test
    void strictReadingStopsAtTheFirstBadLine() throws IOException {
        Path file = write(GOOD + "\n{\n" + GOOD + "\n[]\n");
        DataFormatException e = assertThrows(DataFormatException.class, () -> DataReader.read(file, tokenizer, ReadOptions.defaults()));
        assertEquals(file + ":2: expected a string key but the line ended at column 2", e.getMessage());
    }

    @Test
    void skipBadLinesCountsAndReportsTheFirstFew() throws IOException {
        Path file = write(String.join("\n", "{", GOOD, "[]", "", "{\"text\": 1}", "{\"prompt\": \"p\", \"completion\": \"c\"}", "x", "{}") + "\n");
        ReadOptions options = ReadOptions.defaults().withSkipBadLines(true).withReportedBadLines(2);
        TrainingData data = DataReader.read(file, tokenizer, options);
        assertEquals(5, data.badLines());
        assertEquals(List.of(file + ":1: expected a string key but the line ended at column 2",
                file + ":3: expected a JSON object, got an array"), data.badLineReports());
        ExampleEncoder encoder = new ExampleEncoder(tokenizer, true);
        assertEquals(List.of(encoder.text("ok"), encoder.promptCompletion("p", "c")), data.examples());
    }

    @Test
    void emptyOrAllBadFilesFail() throws IOException {
        Path blank = write("\n  \n");
        DataFormatException none = assertThrows(DataFormatException.class,
                () -> DataReader.read(blank, tokenizer, ReadOptions.defaults().withSkipBadLines(true)));
        assertEquals(blank + ": no examples (the file has no non-blank lines)", none.getMessage());
        Path bad = write("[]\n{}\n");
        DataFormatException allBad = assertThrows(DataFormatException.class,
                () -> DataReader.read(bad, tokenizer, ReadOptions.defaults().withSkipBadLines(true)));
        assertEquals(bad + ": no usable examples: all 2 non-blank lines are bad, e.g. " + bad + ":1: expected a JSON object, got an array",
                allBad.getMessage());
    }
}
