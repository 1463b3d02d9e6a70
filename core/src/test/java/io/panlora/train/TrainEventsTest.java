package io.panlora.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.panlora.data.ReadOptions;
import io.panlora.gguf.GgmlType;
import io.panlora.testing.SharedData;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The events a run gives its listener (every step with loss, lr, gradient norm and tokens/s; every validation; checkpoints)
 * and cancellation: a run cancelled before step 4 of 9 stops there, checkpoints the 3 steps done, exports, and resumed to the
 * end gives the same adapter as an uninterrupted run.
 */
class TrainEventsTest {
    @TempDir
    Path dir;

    private Path stories() throws Exception {
        Path p = dir.resolve("stories.txt");
        if (!Files.exists(p)) Files.writeString(p, Files.readString(SharedData.require("tinystories-valid-sample.txt")).substring(0, 60_000));
        return p;
    }

    private LoraRun.Options run(Path out, boolean resume, TrainListener l) throws Exception {
        TrainConfig cfg = TrainConfig.builder().lora(4, 8f).targets("q,v").lr(2e-3f, LrSchedule.Kind.COSINE, 0, 0f).steps(9).batch(2, 64, 1)
                .seed(3).eval(3, 2).checkpointEvery(100).build();
        return new LoraRun.Options(SharedData.require("stories260K.gguf"), stories(), null, 0.1, cfg, 0, ReadOptions.defaults(), GgmlType.F32,
                out, resume, null).withListener(l);
    }

    record Step(int step, int steps, double loss, double lr, double norm, double tps) {}

    @Test
    void stepsValidationsCheckpointsAndCancellation() throws Exception {
        List<Step> steps = new ArrayList<>();
        List<int[]> validations = new ArrayList<>(), checkpoints = new ArrayList<>();
        TrainListener cancelAt3 = new TrainListener() {
            @Override
            public void stepped(int step, int total, double loss, double lr, double gradNorm, double tokensPerSecond) {
                steps.add(new Step(step, total, loss, lr, gradNorm, tokensPerSecond));
            }

            @Override
            public void validated(int step, double loss) {
                assertTrue(Double.isFinite(loss) && loss > 0, "validation loss " + loss);
                validations.add(new int[] {step});
            }

            @Override
            public void checkpointed(int step, Path file) {
                checkpoints.add(new int[] {step});
            }

            @Override
            public boolean cancelled() {
                return steps.size() == 3;
            }
        };
        Path a = dir.resolve("a");
        LoraRun.Summary s = LoraRun.run(run(a, false, cancelAt3));
        assertTrue(s.result().cancelled());
        assertEquals(3, s.result().steps());
        assertEquals(3, steps.size());
        for (int i = 0; i < 3; i++) {
            Step st = steps.get(i);
            assertEquals(i + 1, st.step());
            assertEquals(9, st.steps());
            assertTrue(Double.isFinite(st.loss()) && st.loss() > 0 && st.lr() > 0 && st.norm() > 0 && st.tps() > 0, st.toString());
        }
        assertEquals(1, validations.size(), "validation every 3 steps");
        assertEquals(3, validations.get(0)[0]);
        assertEquals(1, checkpoints.size(), "the cancelled run checkpoints the steps it did");
        assertEquals(3, checkpoints.get(0)[0]);
        assertTrue(Files.exists(s.adapter()), "a cancelled run still exports");

        // resumed to the end: the same adapter as a run never cancelled
        LoraRun.Summary resumed = LoraRun.run(run(a, true, TrainListener.NONE));
        assertFalse(resumed.result().cancelled());
        assertEquals(9, resumed.result().steps());
        LoraRun.Summary whole = LoraRun.run(run(dir.resolve("b"), false, TrainListener.NONE));
        assertArrayEquals(Files.readAllBytes(whole.adapter()), Files.readAllBytes(resumed.adapter()));
    }
}
