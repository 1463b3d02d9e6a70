package io.panlora.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.panlora.gguf.GgmlType;
import io.panlora.merge.AdapterMerge;
import java.io.PrintStream;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A task killed mid-run is retried by Spark and resumes from its checkpoint: the first attempt of shard 1 fails right after
 * its checkpoint of step 20 (on local[2,2], which tries a failed task twice); the retry starts at step 20, not 0, and ends with
 * exactly the adapter an uninterrupted run of the same shard gives.
 */
class FaultToleranceTest {
    @TempDir
    Path dir;

    @Test
    void aTaskKilledMidRunIsRetriedAndResumesFromItsCheckpoint() throws Exception {
        var shards = Sharding.split(TestSpark.stories(dir, 60_000), 2, Sharding.Mode.CONTIGUOUS, 0.1);
        RunSettings s = TestSpark.copra(40, 7);
        var c = new FederatedJob.Config(TestSpark.base(), shards, s, 1, AdapterMerge.Method.LINEAR, 4, 0.5, false, dir.resolve("out"),
                dir.resolve("ckpt"), "cpu", 1, 10, GgmlType.F32, 1, 20);
        FederatedJob.Report r = FederatedJob.run(TestSpark.session(), c, new PrintStream(System.out, true));

        TaskResult hit = r.rounds().getFirst().tasks().get(1), other = r.rounds().getFirst().tasks().get(0);
        assertEquals(1, hit.attempt(), "Spark ran a second attempt of the failed task");
        assertEquals(20, hit.resumedFrom(), "the retry resumed from the checkpoint of step 20");
        assertEquals(40, hit.steps());
        assertEquals(0, other.attempt());
        assertEquals(0, other.resumedFrom());

        // the same shard trained without interruption, in this JVM: the resumed run's adapter is bit-identical
        TrainTask again = new TrainTask(1, "again", TestSpark.base().toString(), shards.get(1), s, dir.resolve("again").toString(), "cpu", 1,
                10, 0);
        TaskResult straight = TaskRunner.run(again, null, 0, "cpu", null);
        assertEquals(0, straight.resumedFrom());
        assertArrayEquals(straight.adapter(), hit.adapter(), "resumed and uninterrupted runs give the same adapter");
        assertTrue(r.rounds().getFirst().single().get(1).perShard()[1] < r.base().perShard()[1] - 0.02, "the resumed run trained");
    }
}
