package io.panlora.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class DataSplitTest {
    private static final ByteTokenizer TOKENIZER = new ByteTokenizer();
    private static final Packer PACKER = new Packer(16, false, 0);

    /** n prompt/completion examples whose texts name their index. */
    private static TrainingData records(int n) {
        ExampleEncoder encoder = new ExampleEncoder(TOKENIZER, true);
        List<Example> examples = new ArrayList<>();
        for (int i = 0; i < n; i++) examples.add(encoder.promptCompletion("q" + i + ":", "a" + i));
        return TrainingData.of(Path.of("train.jsonl"), TrainingData.Layout.EXAMPLES, examples);
    }

    /** The decoded inputs of each window. */
    private static List<String> texts(Windows w) {
        List<String> texts = new ArrayList<>();
        for (int i = 0; i < w.size(); i++) texts.add(TOKENIZER.decode(w.window(i).inputs()).replace("\0", "").replace("</s>", ""));
        return texts;
    }

    @Test
    void heldOutCounts() {
        assertEquals(5, Dataset.heldOut(100, 0.05));
        assertEquals(1, Dataset.heldOut(10, 0.01)); // at least one
        assertEquals(2, Dataset.heldOut(3, 0.9));   // at least one left to train
        assertEquals(0, Dataset.heldOut(1, 0.5));
        assertEquals(0, Dataset.heldOut(100, 0));
        assertEquals(0.05, Dataset.DEFAULT_VALIDATION_FRACTION);
    }

    @Test
    void fractionSplitOfExamplesIsSeededDisjointAndKeepsFileOrder() {
        TrainingData data = records(100);
        Dataset a = Dataset.of(data, null, PACKER, 0.05, 7);
        Dataset again = Dataset.of(data, null, PACKER, 0.05, 7);
        Dataset other = Dataset.of(data, null, PACKER, 0.05, 8);
        assertEquals(95, a.train().size());
        assertEquals(5, a.validation().size());
        assertEquals(texts(a.validation()), texts(again.validation()));
        assertEquals(a.train().fingerprint(), again.train().fingerprint());
        assertNotEquals(texts(a.validation()), texts(other.validation()));
        assertNotEquals(a.train().fingerprint(), other.train().fingerprint());

        Set<String> all = new HashSet<>(texts(a.train()));
        all.addAll(texts(a.validation()));
        assertEquals(100, all.size());
        List<Integer> validationIndices = texts(a.validation()).stream()
                .map(t -> Integer.parseInt(t.substring(t.indexOf('q') + 1, t.indexOf(':')))).toList();
        List<Integer> sorted = new ArrayList<>(validationIndices);
        sorted.sort(null);
        assertEquals(sorted, validationIndices);
    }

    @Test
    void fractionSplitOfAStreamTakesTheLastWindows() {
        int[] tokens = new int[20 * 16 + 1];
        for (int i = 0; i < tokens.length; i++) tokens[i] = 3 + i % 200;
        TrainingData text = TrainingData.of(Path.of("corpus.txt"), TrainingData.Layout.TOKEN_STREAM, List.of(Example.allTrained(tokens)));
        Windows all = PACKER.pack(text);
        Dataset d = Dataset.of(text, null, PACKER, 0.1, 123);
        assertEquals(18, d.train().size());
        assertEquals(2, d.validation().size());
        assertEquals(all.window(0), d.train().window(0));
        assertEquals(all.window(17), d.train().window(17));
        assertEquals(all.window(18), d.validation().window(0));
        assertEquals(all.window(19), d.validation().window(1));
        assertEquals(Dataset.of(text, null, PACKER, 0.1, 999).validation().fingerprint(), d.validation().fingerprint());
    }

    @Test
    void separateValidationFileIsUsedWhole() {
        TrainingData train = records(10);
        TrainingData validation = records(3);
        Dataset d = Dataset.of(train, validation, PACKER, 0.05, 1);
        assertEquals(10, d.train().size());
        assertEquals(3, d.validation().size());
        assertEquals(texts(PACKER.pack(validation)), texts(d.validation()));
    }

    @Test
    void validationBatchesAreOnePassInOrder() {
        Dataset d = Dataset.of(records(10), records(5), PACKER, 0, 1);
        List<Batch> batches = new ArrayList<>();
        d.validationBatches(2).forEach(batches::add);
        assertEquals(3, batches.size());
        assertEquals(List.of(2, 2, 1), batches.stream().map(Batch::rows).toList());
        List<String> seen = new ArrayList<>();
        for (Batch b : batches) for (int r = 0; r < b.rows(); r++) seen.add(TOKENIZER.decode(b.inputs()[r]).replace("\0", "").replace("</s>", ""));
        assertEquals(texts(d.validation()), seen);
        assertFalse(Dataset.of(records(10), null, PACKER, 0, 1).validationBatches(2).iterator().hasNext());
    }

    @Test
    void trainingBatchesComeFromTheTrainSplit() {
        Dataset d = Dataset.of(records(20), null, PACKER, 0.25, 5);
        BatchIterator it = d.batches(4, 5, true);
        assertEquals(4, it.batchesPerEpoch());
        Set<String> trainTexts = new HashSet<>(texts(d.train()));
        for (int k = 0; k < 4; k++) {
            Batch b = it.next();
            for (int r = 0; r < b.rows(); r++) {
                assertTrue(trainTexts.contains(TOKENIZER.decode(b.inputs()[r]).replace("\0", "").replace("</s>", "")));
            }
        }
    }

    @Test
    void loadReadsBothFilesAndKeepsTheirReports(@org.junit.jupiter.api.io.TempDir Path dir) throws java.io.IOException {
        Path train = dir.resolve("train.jsonl");
        Path validation = dir.resolve("valid.jsonl");
        java.nio.file.Files.writeString(train, "{\"text\": \"abc\"}\nnot json\n{\"prompt\": \"p\", \"completion\": \"c\"}\n");
        java.nio.file.Files.writeString(validation, "{\"text\": \"xyz\"}\n");
        Packer packer = new Packer(8, false, Packer.padIdFor(TOKENIZER));
        assertEquals(ByteTokenizer.EOS, packer.padId());
        Dataset d = Dataset.load(train, validation, TOKENIZER, ReadOptions.defaults().withSkipBadLines(true), packer, 0.5, 3);
        assertEquals(2, d.train().size());
        assertEquals(1, d.validation().size());
        assertEquals(1, d.trainData().badLines());
        assertEquals(List.of(train + ":2: expected a value but found 'n' at column 1"), d.trainData().badLineReports());
        assertEquals(validation, d.validationData().source());
        assertThrows(DataFormatException.class, () -> Dataset.load(train, null, TOKENIZER, ReadOptions.defaults(), packer, 0.5, 3));
    }

    @Test
    void rejectsBadFractionsAndEmptyTraining() {
        assertThrows(IllegalArgumentException.class, () -> Dataset.of(records(4), null, PACKER, 1.0, 1));
        assertThrows(IllegalArgumentException.class, () -> Dataset.of(records(4), null, PACKER, Double.NaN, 1));
        ExampleEncoder encoder = new ExampleEncoder(TOKENIZER, true);
        TrainingData longPrompts = TrainingData.of(Path.of("long.jsonl"), TrainingData.Layout.EXAMPLES,
                List.of(encoder.promptCompletion("x".repeat(40), "y")));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Dataset.of(longPrompts, null, PACKER, 0, 1));
        assertEquals("long.jsonl: no training windows (1 examples have no target within the first 17 tokens)", e.getMessage());
    }
}
