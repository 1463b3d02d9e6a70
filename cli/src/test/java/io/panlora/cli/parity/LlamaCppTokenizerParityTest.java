package io.panlora.cli.parity;

import io.panlora.llamacpp.*;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.panlora.gguf.GgufException;
import io.panlora.gguf.GgufFile;
import io.panlora.model.TokenizerLoader;
import io.panlora.testing.SharedData;
import io.panlora.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * panlora's tokenizers give llama.cpp's token ids: every vocabulary of llama.cpp's own tokenizer tests (the build's vocab/:
 * models/ggml-vocab-*.gguf with their .inp strings and .out ids) that panlora accepts, on its .inp strings (with and without
 * special-token parsing, and against the .out ids), on the .inp strings of all the other vocabularies, and on 300 KB of real
 * text (Shakespeare and TinyStories); plus stories260K's SentencePiece and a byte-level BPE tokenizer trained by
 * {@code panlora init}. A vocabulary panlora does not model (tokenizer model or pre-tokenizer) must be refused with a message
 * naming the file and what is unsupported, never tokenized differently.
 */
class LlamaCppTokenizerParityTest {
    /** The .inp/.out separator of llama.cpp's tests (tests/test-tokenizer-0). */
    static final String SEPARATOR = "\n__ggml_vocab_test__\n";

    /** Vocabularies of the build that panlora tokenizes: llama (SentencePiece) and gpt2 (byte-level BPE) with a modelled pre-tokenizer. */
    static final Set<String> SUPPORTED = Set.of("aquila", "baichuan", "command-r", "deepseek-coder", "falcon", "gpt-2", "gpt-neox",
            "llama-bpe", "llama-spm", "mpt", "phi-3", "qwen2", "refact", "starcoder");

    /** Vocabularies panlora refuses, and what its message names. */
    static final Map<String, String> REFUSED = Map.of(
            "bert-bge", "tokenizer model 'bert' is not supported",
            "gemma-4", "tokenizer model 'gemma4' is not supported",
            "nomic-bert-moe", "tokenizer model 't5' is not supported",
            "deepseek-llm", "pre-tokenizer 'deepseek-llm' (tokenizer.ggml.pre) is not supported",
            "qwen35", "pre-tokenizer 'qwen35' (tokenizer.ggml.pre) is not supported");

    @TempDir
    static Path dir;
    static Path vocabDir;
    static String realText;
    static List<String> allStrings;
    static final Map<String, String> figures = new TreeMap<>();

    @BeforeAll
    static void setUp() throws IOException {
        LlamaCppTesting.requireLlamaCpp();
        vocabDir = LlamaCppTesting.buildDir().resolve("vocab");
        SharedData.present(Files.isRegularFile(vocabDir.resolve("ggml-vocab-llama-spm.gguf")),
                vocabDir + " holds no tokenizer test vocabularies (native/llama.cpp/build.sh adds them)");
        String shakespeare = Files.readString(SharedData.require("tinyshakespeare.txt"));
        String stories = Files.readString(SharedData.require("tinystories-valid-sample.txt"));
        realText = shakespeare.substring(0, 150_000) + stories.substring(0, 150_000);
        Set<String> all = new LinkedHashSet<>();
        for (Path inp : vocabs("*.gguf.inp")) all.addAll(strings(inp));
        allStrings = List.copyOf(all);
    }

    @AfterAll
    static void print() {
        figures.forEach((k, v) -> System.out.println("tokenizer parity " + k + ": " + v));
    }

    static List<Path> vocabs(String glob) throws IOException {
        List<Path> out = new ArrayList<>();
        try (var ds = Files.newDirectoryStream(vocabDir, glob)) {
            ds.forEach(out::add);
        }
        out.sort(null);
        return out;
    }

    /** The test strings of an .inp file (most files end with a separator, gemma-4's does not). */
    static List<String> strings(Path inp) throws IOException {
        String text = Files.readString(inp);
        if (text.endsWith(SEPARATOR)) text = text.substring(0, text.length() - SEPARATOR.length());
        return List.of(text.split(SEPARATOR, -1));
    }

    /** The expected ids of an .out file: one line per test string. */
    static List<int[]> expected(Path out) throws IOException {
        List<int[]> ids = new ArrayList<>();
        for (String line : Files.readAllLines(out)) {
            String s = line.strip();
            ids.add(s.isEmpty() ? new int[0] : Arrays.stream(s.split(" +")).mapToInt(Integer::parseInt).toArray());
        }
        return ids;
    }

    static String name(Path gguf) {
        String f = gguf.getFileName().toString();
        return f.substring("ggml-vocab-".length(), f.length() - ".gguf".length());
    }

    @Test
    void everyVocabularyOfTheBuildIsKnownToThisTest() throws IOException {
        Set<String> found = new TreeSet<>();
        for (Path p : vocabs("ggml-vocab-*.gguf")) found.add(name(p));
        Set<String> known = new TreeSet<>(SUPPORTED);
        known.addAll(REFUSED.keySet());
        assertEquals(known, found, "the build's vocabularies changed: sort each new one into SUPPORTED or REFUSED");
    }

    @TestFactory
    Stream<DynamicTest> supportedVocabulariesGiveLlamaCppsIds() throws IOException {
        List<DynamicTest> tests = new ArrayList<>();
        for (Path p : vocabs("ggml-vocab-*.gguf"))
            if (SUPPORTED.contains(name(p))) tests.add(DynamicTest.dynamicTest(name(p), () -> compare(name(p), p, true)));
        assertEquals(SUPPORTED.size(), tests.size());
        return tests.stream();
    }

    @TestFactory
    Stream<DynamicTest> unsupportedVocabulariesAreRefused() throws IOException {
        List<DynamicTest> tests = new ArrayList<>();
        for (Path p : vocabs("ggml-vocab-*.gguf"))
            if (REFUSED.containsKey(name(p))) tests.add(DynamicTest.dynamicTest(name(p), () -> refused(p, REFUSED.get(name(p)))));
        assertEquals(REFUSED.size(), tests.size());
        return tests.stream();
    }

    /** stories260K's SentencePiece (512 tokens, byte fallback) on the same strings and text. */
    @Test
    void stories260KTokenizer() throws IOException {
        compare("stories260K", LlamaCppTesting.stories(), false);
    }

    /** A byte-level BPE tokenizer that panlora trains and writes ({@code init --tokenizer-from}, tokenizer.ggml.pre = gpt-2). */
    @Test
    void tokenizerWrittenByPanloraInit() throws IOException {
        Path text = dir.resolve("train.txt");
        Files.writeString(text, realText.substring(0, 60_000));
        Path model = dir.resolve("init-bpe.gguf");
        LlamaCppTesting.cli("init", "-o", model.toString(), "--tokenizer-from", text.toString(), "--vocab", "800", "--layers", "1").ok();
        compare("panlora init BPE 800", model, false);
    }

    /**
     * panlora's ids equal llama.cpp's (vocab-only load) on the strings (own .inp with and without parse_special, against .out;
     * every other .inp string) and on the real text with BOS/EOS as the vocabulary asks; llama.cpp's detokenization of the
     * real text's ids equals panlora's.
     */
    static void compare(String name, Path gguf, boolean vocabOnly) throws IOException {
        Tokenizer tok;
        try (GgufFile f = GgufFile.open(gguf)) {
            tok = TokenizerLoader.fromGguf(f);
        }
        try (LlamaCppModel lm = LlamaCppModel.load(gguf, vocabOnly ? LlamaCppModel.Options.vocabularyOnly() : LlamaCppModel.Options.cpu())) {
            assertEquals(tok.vocabSize(), lm.nVocab(), name + ": vocabulary size");
            int strings = 0, stringTokens = 0, outChecked = 0;
            Path inp = Path.of(gguf + ".inp");
            if (Files.exists(inp)) {
                List<String> own = strings(inp);
                List<int[]> exp = expected(Path.of(gguf + ".out"));
                assertEquals(own.size(), exp.size(), name + ": .inp strings and .out lines");
                for (int i = 0; i < own.size(); i++) {
                    String s = own.get(i);
                    int[] ours = tok.encode(s, false, false);
                    assertArrayEquals(exp.get(i), ours, () -> name + " .out: " + show(s));
                    outChecked++;
                }
            }
            for (String s : allStrings)
                for (boolean special : new boolean[] {false, true}) {
                    int[] ours = tok.encode(s, false, special), theirs = lm.tokenize(s, false, special);
                    assertArrayEquals(theirs, ours, () -> name + " parse_special=" + special + ": " + show(s));
                    strings++;
                    stringTokens += ours.length;
                }
            int[] ours = tok.encode(realText, true, false), theirs = lm.tokenize(realText, true, false);
            assertEquals(-1, Arrays.mismatch(ours, theirs), () -> name + ": real text ids differ from index " + Arrays.mismatch(ours, theirs)
                    + " (panlora " + ours.length + " tokens, llama.cpp " + theirs.length + ")");
            String back = tok.detokenize(ours, false, false);
            assertEquals(lm.detokenize(theirs, false, false), back, name + ": detokenized real text");
            figures.put(name, String.format(Locale.ROOT, "%d string tokenizations (%d tokens) equal, %d .out lines equal, real text %d bytes -> %d tokens equal",
                    strings, stringTokens, outChecked, realText.getBytes(java.nio.charset.StandardCharsets.UTF_8).length, ours.length));
        }
    }

    /** panlora refuses the vocabulary naming the file and what is unsupported; llama.cpp itself reads it. */
    static void refused(Path gguf, String what) throws IOException {
        try (GgufFile f = GgufFile.open(gguf)) {
            GgufException e = assertThrows(GgufException.class, () -> TokenizerLoader.fromGguf(f));
            assertTrue(e.getMessage().startsWith(gguf.toString() + ": "), e.getMessage());
            assertTrue(e.getMessage().contains(what), e.getMessage());
            figures.put(name(gguf), "refused: " + e.getMessage().substring(gguf.toString().length() + 2));
        }
        try (LlamaCppModel lm = LlamaCppModel.load(gguf, LlamaCppModel.Options.vocabularyOnly())) {
            assertTrue(lm.tokenize("Hello world", false, false).length > 0, "llama.cpp tokenizes with " + gguf);
        }
    }

    static String show(String s) {
        return "[" + s.replace("\n", "\\n").replace("\t", "\\t") + "]";
    }

    /** inspect says why the tokenizer is not run instead of failing. */
    @Test
    void inspectSaysWhyATokenizerIsNotRun() {
        Path p = vocabDir.resolve("ggml-vocab-deepseek-llm.gguf");
        var r = LlamaCppTesting.cli("inspect", p.toString()).ok();
        assertTrue(r.out().contains("not one panlora runs") && r.out().contains("pre-tokenizer 'deepseek-llm'"), r.out());
    }
}
