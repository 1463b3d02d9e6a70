package io.panlora.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.panlora.gguf.GgmlType;
import io.panlora.merge.AdapterMerge;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * K = 2 shards of TinyStories on stories260K with CopRA, as Spark tasks on local[2], merged by FedAvg over two rounds: the
 * merge is no worse on the union of the shards' validation parts than the mean of the single-shard adapters, training lowered
 * the loss below the base's, and round 2 starts from round 1's merge.
 */
class FederatedTrainingTest {
    @TempDir
    Path dir;

    @Test
    void twoShardsOfCopraMergedAreNoWorseThanTheMeanSingleShardAdapter() throws Exception {
        Path data = TestSpark.stories(dir, 120_000);
        var shards = Sharding.split(data, 2, Sharding.Mode.CONTIGUOUS, 0.1);
        var c = new FederatedJob.Config(TestSpark.base(), shards, TestSpark.copra(60, 42), 2, AdapterMerge.Method.LINEAR, 4, 0.5, false,
                dir.resolve("out"), dir.resolve("ckpt"), "cpu", 1, 10, GgmlType.F16, -1, 0);
        ByteArrayOutputStream log = new ByteArrayOutputStream();
        FederatedJob.Report r = FederatedJob.run(TestSpark.session(), c, new PrintStream(log, true, StandardCharsets.UTF_8));
        System.out.print(log.toString(StandardCharsets.UTF_8));

        FederatedJob.Round first = r.rounds().getFirst();
        for (var l : first.single()) assertTrue(l.union() < r.base().union() - 0.02, "each shard's training lowered the union loss");
        // the claim: the merge is at least as good as a single-shard adapter is on average, on the data of all shards
        assertTrue(first.losses().union() <= first.meanSingleUnion(),
                "merged " + first.losses().union() + " vs mean single-shard " + first.meanSingleUnion());
        // weights by shard size; both shards trained from scratch in round 1
        assertEquals(1, first.shares()[0] + first.shares()[1], 1e-12);
        for (TaskResult t : first.tasks()) assertEquals(0, t.resumedFrom());

        // round 2 started from round 1's merge: its tasks' first validation is the merge's loss on their shard
        FederatedJob.Round second = r.rounds().get(1);
        for (TaskResult t : second.tasks())
            assertEquals(first.losses().perShard()[t.index()], t.valBefore(), 2e-4, t.name() + " started from the merge");
        assertTrue(second.losses().union() < first.losses().union(), "a second round lowers the loss further");

        // the exported adapter loads as an ordinary adapter of the base; results.json names it
        assertTrue(Files.size(r.adapter()) > 0);
        try (var base = io.panlora.Panlora.base(TestSpark.base()).device("cpu").load()) {
            assertEquals(second.losses().union(), new Validation(base, java.util.List.of(dir.resolve("out/data/shard-0.val.txt"),
                    dir.resolve("out/data/shard-1.val.txt")), 64).of(r.adapter()).union(), 2e-3, "the F16 export of the last merge");
        }
        assertTrue(Files.readString(r.results()).contains("\"mean_single_union\""));
    }
}
