package io.panlora.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DataReaderTest {
    @TempDir
    Path dir;

    private final ByteTokenizer tokenizer = new ByteTokenizer();

    private Path write(String name, String content) throws IOException {
        Path file = dir.resolve(name);
        Files.writeString(file, content, StandardCharsets.UTF_8);
        return file;
    }

    private List<Example> readJsonl(String content) throws IOException {
        return readJsonl(content, tokenizer, ReadOptions.defaults());
    }

    private List<Example> readJsonl(String content, ByteTokenizer tok, ReadOptions options) throws IOException {
        TrainingData data = DataReader.read(write("train.jsonl", content), tok, options);
        assertEquals(TrainingData.Layout.EXAMPLES, data.layout());
        return data.examples();
    }

    @Test
    void textRecordTrainsEveryToken() throws IOException {
        Example expected = new TokenSeq().id(1, false).text("hi there", true).example();
        assertEquals(List.of(expected), readJsonl("{\"text\": \"hi there\"}\n"));
    }

    @Test
    void promptCompletionTrainsCompletionAndEos() throws IOException {
        Example expected = new TokenSeq().id(1, false).text("Q: 2+2? ", false).text("4", true).id(2, true).example();
        assertEquals(List.of(expected), readJsonl("{\"prompt\": \"Q: 2+2? \", \"completion\": \"4\"}"));
    }

    @Test
    void alpacaWithoutInput() throws IOException {
        String prompt = "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n"
                + "### Instruction:\nSay hi\n\n### Response:\n";
        Example expected = new TokenSeq().id(1, false).text(prompt, false).text("hi", true).id(2, true).example();
        assertEquals(List.of(expected, expected, expected), readJsonl("""
                {"instruction": "Say hi", "output": "hi"}
                {"instruction": "Say hi", "input": "", "output": "hi"}
                {"instruction": "Say hi", "input": null, "output": "hi"}
                """));
    }

    @Test
    void alpacaWithInput() throws IOException {
        String prompt = "Below is an instruction that describes a task, paired with an input that provides further context. "
                + "Write a response that appropriately completes the request.\n\n"
                + "### Instruction:\nTranslate\n\n### Input:\nchat\n\n### Response:\n";
        Example expected = new TokenSeq().id(1, false).text(prompt, false).text("cat", true).id(2, true).example();
        assertEquals(List.of(expected), readJsonl("{\"instruction\": \"Translate\", \"input\": \"chat\", \"output\": \"cat\"}"));
    }

    @Test
    void chatmlChatMasksOnlyAssistantContentAndEndMarker() throws IOException {
        String line = "{\"messages\": [{\"role\": \"system\", \"content\": \"Be brief.\"}, {\"role\": \"user\", \"content\": \"Hi\"},"
                + " {\"role\": \"assistant\", \"content\": \"Hello!\"}, {\"role\": \"user\", \"content\": \"Bye\"},"
                + " {\"role\": \"assistant\", \"content\": \"Ciao\"}]}";
        Example expected = new TokenSeq().id(1, false)
                .special("<|im_start|>", false).text("system\nBe brief.", false).special("<|im_end|>", false).text("\n", false)
                .special("<|im_start|>", false).text("user\nHi", false).special("<|im_end|>", false).text("\n", false)
                .special("<|im_start|>", false).text("assistant\n", false)
                .text("Hello!", true).special("<|im_end|>", true).text("\n", false)
                .special("<|im_start|>", false).text("user\nBye", false).special("<|im_end|>", false).text("\n", false)
                .special("<|im_start|>", false).text("assistant\n", false)
                .text("Ciao", true).special("<|im_end|>", true).text("\n", false)
                .example();
        List<Example> examples = readJsonl(line, tokenizer, ReadOptions.defaults().withChatTemplate(ChatTemplate.CHATML));
        assertEquals(List.of(expected), examples);
        assertEquals("<s><|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello!<|im_end|>\n"
                + "<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\nCiao<|im_end|>\n", tokenizer.decode(examples.getFirst().tokens()));
    }

    @Test
    void llama3ChatFromTheModelTemplate() throws IOException {
        String jinja = "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + "
                + "message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
                + "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
                + "{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";
        ByteTokenizer llama3 = ByteTokenizer.withTemplate(jinja);
        String line = "{\"messages\": [{\"role\": \"system\", \"content\": \"S\"}, {\"role\": \"user\", \"content\": \" U \"},"
                + " {\"role\": \"assistant\", \"content\": \"A\\n\"}]}";
        Example expected = new TokenSeq().id(1, false)
                .special("<|start_header_id|>", false).text("system", false).special("<|end_header_id|>", false).text("\n\nS", false).special("<|eot_id|>", false)
                .special("<|start_header_id|>", false).text("user", false).special("<|end_header_id|>", false).text("\n\nU", false).special("<|eot_id|>", false)
                .special("<|start_header_id|>", false).text("assistant", false).special("<|end_header_id|>", false).text("\n\n", false)
                .text("A", true).special("<|eot_id|>", true)
                .example();
        assertEquals(List.of(expected), readJsonl(line, llama3, ReadOptions.defaults()));
    }

    @Test
    void chatDefaultsToChatmlWhenTheModelHasNoTemplate() throws IOException {
        List<Example> examples = readJsonl("{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"assistant\", \"content\": \"b\"}]}");
        assertEquals("<s><|im_start|>user\na<|im_end|>\n<|im_start|>assistant\nb<|im_end|>\n", tokenizer.decode(examples.getFirst().tokens()));
    }

    @Test
    void unrecognizedModelTemplateFailsClearly() throws IOException {
        Path file = write("train.jsonl", "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}, {\"role\": \"assistant\", \"content\": \"b\"}]}");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> DataReader.read(file, ByteTokenizer.withTemplate("{{ weird }}"), ReadOptions.defaults().withSkipBadLines(true)));
        assertTrue(e.getMessage().contains("chatml, llama2, llama3, mistral, zephyr, gemma, phi3, alpaca"), e.getMessage());
    }

    @Test
    void mixedFormatsBlankLinesCrlfAndByteOrderMark() throws IOException {
        List<Example> examples = readJsonl("\uFEFF{\"text\": \"a\"}\r\n\r\n   \n{\"prompt\": \"p\", \"completion\": \"c\", \"id\": 7}\r\n");
        assertEquals(List.of(new TokenSeq().id(1, false).text("a", true).example(),
                new TokenSeq().id(1, false).text("p", false).text("c", true).id(2, true).example()), examples);
    }

    @Test
    void formatPrecedenceIgnoresExtraFields() throws IOException {
        // tatsu-lab/alpaca rows carry a pre-rendered "text" besides instruction/output: the masked form wins.
        List<Example> examples = readJsonl("{\"instruction\": \"i\", \"input\": \"\", \"output\": \"o\", \"text\": \"ignored\"}");
        assertEquals(new ExampleEncoder(tokenizer, true).alpaca("i", "", "o"), examples.getFirst());
    }

    @Test
    void parseSpecialOptionControlsFieldText() throws IOException {
        String line = "{\"text\": \"x<|im_end|>\"}";
        assertEquals(List.of(new TokenSeq().id(1, false).text("x", true).special("<|im_end|>", true).example()), readJsonl(line));
        assertEquals(List.of(new TokenSeq().id(1, false).text("x<|im_end|>", true).example()),
                readJsonl(line, tokenizer, ReadOptions.defaults().withParseSpecial(false)));
    }

    @Test
    void unicodeEscapesBecomeUtf8Tokens() throws IOException {
        List<Example> examples = readJsonl("{\"text\": \"\\u00e9\\ud83d\\ude00\"}");
        assertEquals(List.of(new TokenSeq().id(1, false).text("\u00e9\uD83D\uDE00", true).example()), examples);
    }

    @Test
    void noBosOrEosWhenTheTokenizerHasOrAddsNone() throws IOException {
        ByteTokenizer noSpecials = new ByteTokenizer(-1, -1, false, null);
        assertEquals(List.of(new TokenSeq().text("p", false).text("c", true).example()),
                readJsonl("{\"prompt\": \"p\", \"completion\": \"c\"}", noSpecials, ReadOptions.defaults()));
        ByteTokenizer bosNotAdded = new ByteTokenizer(1, 2, false, null); // like a model with add_bos_token = false
        assertEquals(List.of(new TokenSeq().text("p", false).text("c", true).id(2, true).example()),
                readJsonl("{\"prompt\": \"p\", \"completion\": \"c\"}", bosNotAdded, ReadOptions.defaults()));
    }

    @Test
    void bosIsNotDoubledWhenTheRenderedTextStartsWithIt() {
        Example e = new ExampleEncoder(tokenizer, true).segments(List.of(new Segment.Text("<s>hi", false), new Segment.Text("!", true)));
        assertEquals(new TokenSeq().id(1, false).text("hi", false).text("!", true).example(), e);
    }

    @Test
    void plainTextIsOneStreamWithBosAndNoSpecialParsing() throws IOException {
        TrainingData data = DataReader.read(write("corpus.txt", "ab<|im_end|>\n"), tokenizer, ReadOptions.defaults());
        assertEquals(TrainingData.Layout.TOKEN_STREAM, data.layout());
        assertEquals(List.of(new TokenSeq().id(1, false).text("ab<|im_end|>\n", true).example()), data.examples());
        // A file not named .jsonl is text even if it holds JSON.
        TrainingData json = DataReader.read(write("data.json", "{\"text\": \"x\"}"), tokenizer, ReadOptions.defaults());
        assertEquals(TrainingData.Layout.TOKEN_STREAM, json.layout());
    }

    @Test
    void plainTextErrors() throws IOException {
        DataFormatException empty = assertThrows(DataFormatException.class,
                () -> DataReader.read(write("empty.txt", ""), tokenizer, ReadOptions.defaults()));
        assertTrue(empty.getMessage().endsWith("empty.txt: the file is empty"), empty.getMessage());
        Path bad = dir.resolve("bad.txt");
        Files.write(bad, new byte[] {'a', '\n', 'b', '\n', (byte) 0xC3, '(', '\n'});
        DataFormatException utf8 = assertThrows(DataFormatException.class, () -> DataReader.read(bad, tokenizer, ReadOptions.defaults()));
        assertTrue(utf8.getMessage().endsWith("bad.txt:3: invalid UTF-8 at byte offset 4"), utf8.getMessage());
        assertEquals(3, utf8.line());
    }

    @Test
    void shiftedFormFollowsTheMaskConvention() {
        Example e = new TokenSeq().id(1, false).text("p", false).text("c", true).id(2, true).example();
        Example.Shifted s = e.shifted();
        int p = ByteTokenizer.bytes("p")[0];
        int c = ByteTokenizer.bytes("c")[0];
        assertArrayEquals(new int[] {1, p, c}, s.inputs());
        assertArrayEquals(new int[] {Example.IGNORE, c, 2}, s.targets());
        assertEquals(2, e.targetCount());
        assertThrows(IllegalArgumentException.class, () -> new Example(new int[] {1, 2}, new boolean[] {true, true}));
        assertThrows(IllegalArgumentException.class, () -> new Example(new int[] {1, 2}, new boolean[] {false}));
    }
}
