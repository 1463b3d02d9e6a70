package io.panlora.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

class DataBatchTest {
    private static final int CTX = 3;

    /** Ten windows; window w's first input is 100 + 3w. */
    private static Windows tenWindows() {
        int[] tokens = new int[10 * CTX + 1];
        for (int i = 0; i < tokens.length; i++) tokens[i] = 100 + i;
        return new Packer(CTX, false, 0).stream(List.of(Example.allTrained(tokens)));
    }

    private static int windowOf(int[] inputs) {
        return (inputs[0] - 100) / CTX;
    }

    /** The windows of a batch's real rows. */
    private static List<Integer> windowsOf(Batch batch) {
        List<Integer> ids = new ArrayList<>();
        for (int r = 0; r < batch.rows(); r++) ids.add(windowOf(batch.inputs()[r]));
        return ids;
    }

    /** A comparable rendering of a batch. */
    private static String render(Batch b) {
        return Arrays.deepToString(b.inputs()) + Arrays.deepToString(b.targets()) + b.rows() + b.start() + b.endsEpoch() + b.targetTokens();
    }

    @Test
    void batchShapesAndEpochEnd() {
        BatchIterator it = new BatchIterator(tenWindows(), 4, 1, false);
        assertEquals(3, it.batchesPerEpoch());
        Batch first = it.next();
        assertEquals(4, first.batchSize());
        assertEquals(CTX, first.contextLength());
        assertEquals(4, first.rows());
        assertEquals(12, first.targetTokens());
        assertEquals(List.of(0, 1, 2, 3), windowsOf(first));
        assertArrayEquals(new int[] {100, 101, 102}, first.inputs()[0]);
        assertArrayEquals(new int[] {101, 102, 103}, first.targets()[0]);
        assertFalse(first.endsEpoch());
        it.next();
        Batch last = it.next();
        assertEquals(2, last.rows());
        assertEquals(List.of(8, 9), windowsOf(last));
        assertTrue(last.endsEpoch());
        assertEquals(new Position(0, 8), last.start());
        for (int r = 2; r < 4; r++) {
            assertArrayEquals(new int[] {0, 0, 0}, last.inputs()[r]);
            assertArrayEquals(new int[] {-1, -1, -1}, last.targets()[r]);
        }
        assertEquals(new Position(1, 0), it.position());
        assertEquals(List.of(0, 1, 2, 3), windowsOf(it.next()));
    }

    @Test
    void shuffledEpochsVisitEveryWindowOnceAndAreDeterministic() {
        BatchIterator a = new BatchIterator(tenWindows(), 4, 42, true);
        BatchIterator b = new BatchIterator(tenWindows(), 4, 42, true);
        List<List<Integer>> epochs = new ArrayList<>();
        for (int epoch = 0; epoch < 3; epoch++) {
            List<Integer> order = new ArrayList<>();
            for (int k = 0; k < a.batchesPerEpoch(); k++) {
                Batch x = a.next();
                assertEquals(render(x), render(b.next()));
                order.addAll(windowsOf(x));
            }
            List<Integer> sorted = new ArrayList<>(order);
            sorted.sort(null);
            assertEquals(List.of(0, 1, 2, 3, 4, 5, 6, 7, 8, 9), sorted);
            epochs.add(order);
        }
        assertNotEquals(epochs.get(0), epochs.get(1));
        assertNotEquals(epochs.get(1), epochs.get(2));
        BatchIterator other = new BatchIterator(tenWindows(), 4, 43, true);
        List<Integer> otherOrder = new ArrayList<>();
        for (int k = 0; k < 3; k++) otherOrder.addAll(windowsOf(other.next()));
        assertNotEquals(epochs.get(0), otherOrder);
    }

    @Test
    void permutationIsPinned() {
        // Fixed forever: checkpoints made on any JVM must resume to the same order.
        assertArrayEquals(PINNED_PERMUTATION, Shuffle.permutation(10, 42));
        assertEquals(0xE220A8397B1DCDAFL, new Shuffle.SplitMix64(0).nextLong()); // the published SplitMix64 reference value
        assertArrayEquals(new int[0], Shuffle.permutation(0, 1));
        assertArrayEquals(new int[] {0}, Shuffle.permutation(1, 1));
    }

    static final int[] PINNED_PERMUTATION = {3, 8, 4, 2, 9, 5, 7, 1, 0, 6};

    @Test
    void resumeFromASavedPositionGivesTheSameBatches() {
        BatchIterator original = new BatchIterator(tenWindows(), 4, 7, true);
        for (int k = 0; k < 5; k++) original.next(); // into the second epoch
        Position saved = Position.parse(original.position().toString());
        assertEquals(new Position(1, 8), saved);
        List<String> expected = new ArrayList<>();
        for (int k = 0; k < 6; k++) expected.add(render(original.next()));

        BatchIterator resumed = new BatchIterator(tenWindows(), 4, 7, true);
        resumed.next(); // state before seek must not matter
        resumed.seek(saved);
        List<String> actual = new ArrayList<>();
        for (int k = 0; k < 6; k++) actual.add(render(resumed.next()));
        assertEquals(expected, actual);
    }

    @Test
    void seekNormalizesAndValidates() {
        BatchIterator it = new BatchIterator(tenWindows(), 4, 7, true);
        it.seek(new Position(2, 10));
        assertEquals(new Position(3, 0), it.position());
        assertThrows(IllegalArgumentException.class, () -> it.seek(new Position(0, 11)));
        assertThrows(IllegalArgumentException.class, () -> new Position(-1, 0));
        assertThrows(IllegalArgumentException.class, () -> Position.parse("3"));
        assertThrows(IllegalArgumentException.class, () -> new BatchIterator(tenWindows(), 0, 1, true));
        Windows none = new Packer(4, false, 0).examples(List.of());
        assertThrows(IllegalArgumentException.class, () -> new BatchIterator(none, 2, 1, true));
    }
}
