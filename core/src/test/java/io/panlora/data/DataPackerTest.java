package io.panlora.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import org.junit.jupiter.api.Test;

class DataPackerTest {
    private static final int PAD = 0;
    private static final int X = Example.IGNORE;

    private static int[] range(int from, int count) {
        int[] ids = new int[count];
        for (int i = 0; i < count; i++) ids[i] = from + i;
        return ids;
    }

    /** An example with tokens from..from+length-1 and the given mask. */
    private static Example example(int from, boolean... mask) {
        return new Example(range(from, mask.length), mask);
    }

    @Test
    void streamWindowsOverlapByOneTokenAndPadTheLast() {
        Windows w = new Packer(4, false, PAD).stream(List.of(Example.allTrained(range(100, 10))));
        assertEquals(3, w.size());
        assertEquals(new Example.Shifted(new int[] {100, 101, 102, 103}, new int[] {101, 102, 103, 104}), w.window(0));
        assertEquals(new Example.Shifted(new int[] {104, 105, 106, 107}, new int[] {105, 106, 107, 108}), w.window(1));
        assertEquals(new Example.Shifted(new int[] {108, 109, PAD, PAD}, new int[] {109, X, X, X}), w.window(2));
        assertEquals(9, w.targetCount());
        assertEquals(List.of(4, 4, 1), List.of(w.targetCount(0), w.targetCount(1), w.targetCount(2)));
    }

    @Test
    void streamTrainsEveryTokenButTheFirstExactlyOnce() {
        for (int n = 2; n <= 40; n++) {
            for (int ctx = 1; ctx <= 9; ctx++) {
                Windows w = new Packer(ctx, false, PAD).stream(List.of(Example.allTrained(range(10, n))));
                assertEquals((n - 1 + ctx - 1) / ctx, w.size(), "n=" + n + " ctx=" + ctx);
                int[] seen = new int[n];
                for (int i = 0; i < w.size(); i++) {
                    for (int t : w.window(i).targets()) if (t != X) seen[t - 10]++;
                }
                int[] expected = new int[n];
                java.util.Arrays.fill(expected, 1);
                expected[0] = 0;
                assertArrayEquals(expected, seen, "n=" + n + " ctx=" + ctx);
            }
        }
        assertEquals(0, new Packer(4, false, PAD).stream(List.of(Example.allTrained(new int[] {1}))).size());
    }

    @Test
    void oneExamplePerWindowTruncatedAndPadded() {
        Example fits = example(10, false, false, true, true);               // 4 tokens
        Example tooLong = example(20, false, true, true, true, true, true, true); // 7 tokens, truncated to 5
        Example promptOnlyInWindow = example(30, false, false, false, false, false, true); // the only target is token 5
        Windows w = new Packer(4, false, 9).examples(List.of(fits, tooLong, promptOnlyInWindow));
        assertEquals(2, w.size());
        assertEquals(1, w.truncatedExamples());
        assertEquals(1, w.droppedExamples());
        assertEquals(new Example.Shifted(new int[] {10, 11, 12, 13}, new int[] {X, 12, 13, X}), w.window(0));
        assertEquals(new Example.Shifted(new int[] {20, 21, 22, 23}, new int[] {21, 22, 23, 24}), w.window(1));
        assertEquals(List.of(2, 4), List.of(w.targetCount(0), w.targetCount(1)));
    }

    @Test
    void packingPutsWholeExamplesTogetherAndNeverTrainsTheBoundary() {
        Example a = example(10, false, false, true, true);
        Example b = example(20, false, true, true, true);
        Example c = example(30, false, true, true);
        Windows packed = new Packer(8, true, PAD).examples(List.of(a, b, c));
        assertEquals(2, packed.size());
        assertEquals(new Example.Shifted(new int[] {10, 11, 12, 13, 20, 21, 22, 23}, new int[] {X, 12, 13, X, 21, 22, 23, X}), packed.window(0));
        assertEquals(new Example.Shifted(new int[] {30, 31, 32, PAD, PAD, PAD, PAD, PAD}, new int[] {31, 32, X, X, X, X, X, X}), packed.window(1));
        // A window holds ctx + 1 tokens: a, b and a 1-token remainder would fit 9.
        Windows exact = new Packer(7, true, PAD).examples(List.of(a, b));
        assertEquals(1, exact.size());
        assertEquals(new Example.Shifted(new int[] {10, 11, 12, 13, 20, 21, 22}, new int[] {X, 12, 13, X, 21, 22, 23}), exact.window(0));
        Windows unpacked = new Packer(8, false, PAD).examples(List.of(a, b, c));
        assertEquals(3, unpacked.size());
    }

    @Test
    void layoutChoosesTheWindowing() {
        Example e = Example.allTrained(range(5, 9));
        Packer packer = new Packer(4, false, PAD);
        assertEquals(2, packer.pack(TrainingData.of(java.nio.file.Path.of("t.txt"), TrainingData.Layout.TOKEN_STREAM, List.of(e))).size());
        assertEquals(1, packer.pack(TrainingData.of(java.nio.file.Path.of("t.jsonl"), TrainingData.Layout.EXAMPLES, List.of(e))).size());
    }

    @Test
    void rejectsBadSettings() {
        assertThrows(IllegalArgumentException.class, () -> new Packer(0, false, 0));
        assertThrows(IllegalArgumentException.class, () -> new Packer(4, false, -1));
        Windows w = new Packer(4, false, PAD).stream(List.of(Example.allTrained(range(100, 10))));
        assertThrows(IllegalArgumentException.class, () -> w.fill(0, new int[3], new int[4]));
    }
}
