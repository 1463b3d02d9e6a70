package io.panlora.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Word splits of the regex pre-tokenizers named by tokenizer.ggml.pre. */
class TokPreTokenizerTest {

    private static List<String> split(String pre, String text) {
        return PreTokenizer.forName(pre).split(text);
    }

    @Test
    void digitsAndContractions() {
        String text = "I'M 12345 don't";
        assertEquals(List.of("I", "'", "M", " 12345", " don", "'t"), split("gpt-2", text));
        assertEquals(List.of("I", "'M", " ", "123", "45", " don", "'t"), split("llama-bpe", text));
        assertEquals(List.of("I", "'M", " ", "1", "2", "3", "4", "5", " don", "'t"), split("qwen2", text));
        assertEquals(List.of("I", "'", "M", " ", "1", "2", "3", "4", "5", " don", "'t"), split("smollm", text));
    }

    @Test
    void defaultAppliesFourExpressionsInTurn() {
        assertEquals(List.of("Hello", ",", " world", "!!"), split(null, "Hello, world!!"));
        assertEquals(List.of("x", " ", "123", "45"), split("default", "x 12345"));
    }

    @Test
    void whitespaceRuns() {
        assertEquals(List.of("a", " ", " b", "\n", "\n", "c"), split("gpt-2", "a  b\n\nc"));
        assertEquals(List.of("a", " ", " b", "\n\n", "c"), split("llama3", "a  b\n\nc"));
        // Unicode spaces count as \s; Llama 3 lets any one non-letter, space included, lead a word
        assertEquals(List.of("x", "\u00a0", "\u3000", "y"), split("gpt-2", "x\u00a0\u3000y"));
        assertEquals(List.of("x", "\u00a0", "\u3000y"), split("llama3", "x\u00a0\u3000y"));
    }

    @Test
    void namesMapToFamilies() {
        assertEquals("llama3", PreTokenizer.forName("llama-bpe").family());
        assertTrue(PreTokenizer.forName("llama-bpe").ignoreMerges());
        assertTrue(PreTokenizer.forName("llama3").defaultAddBos());
        assertEquals("starcoder", PreTokenizer.forName("smollm").family());
        assertFalse(PreTokenizer.forName("qwen2").cleanSpaces());
        assertTrue(PreTokenizer.forName("gpt-2").cleanSpaces());
        assertEquals("default", PreTokenizer.forName(null).family());
        PreTokenizer unknown = PreTokenizer.forName("deepseek-llm");
        assertFalse(unknown.recognized());
        assertEquals("gpt-2", unknown.family());
    }

    @Test
    void wordsConcatenateToTheText() {
        Random random = new Random(3);
        String alphabet = "aZ9 '\n\r\t.,!?-_😀日é\u00a0\u0301١";
        for (String pre : List.of("default", "gpt-2", "llama3", "qwen2", "smollm", "falcon", "deepseek-coder", "bloom", "viking", "tekken")) {
            for (int n = 0; n < 200; n++) {
                StringBuilder sb = new StringBuilder();
                int len = random.nextInt(40);
                for (int i = 0; i < len; i++) {
                    sb.appendCodePoint(alphabet.codePointAt(alphabet.offsetByCodePoints(0, random.nextInt(alphabet.codePointCount(0, alphabet.length())))));
                }
                String text = sb.toString();
                List<String> words = PreTokenizer.forName(pre).split(text);
                assertEquals(text, String.join("", words), pre);
                assertTrue(words.stream().noneMatch(String::isEmpty), pre);
            }
        }
    }
}
