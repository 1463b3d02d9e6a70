package io.panlora.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** The llama2.c tokenizer file of the shared test data (tok512.bin, the vocabulary of stories260K). */
class TokLlama2cTest {

    private static Tokenizer tok512() throws IOException {
        Path file = TokenizerTestData.sharedFile("tok512.bin");
        io.panlora.testing.SharedData.present(file != null, "shared test data tok512.bin not present");
        return Tokenizer.of(Llama2cTokenizerFile.read(file));
    }

    @Test
    void readsTheVocabularyAsLlamaCppStoresIt() throws IOException {
        Tokenizer t = tok512();
        assertEquals(512, t.vocabSize());
        assertEquals("<unk>", t.tokenText(0));
        assertEquals("<s>", t.tokenText(1));
        assertEquals("</s>", t.tokenText(2));
        assertEquals("<0x00>", t.tokenText(3));
        assertEquals("<0xFF>", t.tokenText(258));
        assertEquals("▁t", t.tokenText(259));
        assertEquals(TokenType.UNKNOWN, t.tokenType(0));
        assertEquals(TokenType.CONTROL, t.tokenType(1));
        assertEquals(TokenType.BYTE, t.tokenType(10));
        assertEquals(TokenType.NORMAL, t.tokenType(259));
    }

    @Test
    void onceUponATime() throws IOException {
        Tokenizer t = tok512();
        int[] ids = t.encode("Once upon a time", true, false);
        System.out.println("tok512 \"Once upon a time\" -> " + Arrays.toString(Arrays.copyOf(ids, Math.min(20, ids.length))));
        assertArrayEquals(new int[] {1, 403, 407, 261, 378}, ids, "ids llama.cpp gives (with BOS)");
        assertEquals("Once upon a time", t.decode(ids));
    }

    @Test
    void roundTripsTinyStories() throws IOException {
        Tokenizer t = tok512();
        Path stories = TokenizerTestData.sharedFile("tinystories-valid-sample.txt");
        io.panlora.testing.SharedData.present(stories != null, "shared test data tinystories-valid-sample.txt not present");
        String text = Files.readString(stories);
        String start = text.substring(0, Math.min(text.length(), 200_000));
        long t0 = System.nanoTime();
        int[] ids = t.encode(start, true, false);
        System.out.printf("tok512: %d chars -> %d tokens in %.0f ms%n", start.length(), ids.length, (System.nanoTime() - t0) / 1e6);
        assertEquals(start, t.decode(ids));
        for (String line : start.split("\n", 200)) {
            assertEquals(line, t.decode(t.encode(line, true, false)));
        }
    }

    @Test
    void rejectsTruncatedFiles() {
        byte[] bad = {7, 0, 0, 0, 0, 0, 0, 0, 100, 0, 0, 0, 'a'};
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Llama2cTokenizerFile.parse(bad, "bad.bin"));
        assertEquals("bad.bin: token 0 claims 100 bytes, 1 left", e.getMessage());
    }
}
