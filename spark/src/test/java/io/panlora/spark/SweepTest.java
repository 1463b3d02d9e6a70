package io.panlora.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.panlora.gguf.GgmlType;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A sweep of 4 runs (2 learning rates × 2 variants) on stories260K returns 4 result rows, one per grid point, each with its
 * adapter; the best row has the lowest validation loss and its adapter is exported.
 */
class SweepTest {
    @TempDir
    Path dir;

    @Test
    void aSweepOfFourRunsReturnsFourRows() throws Exception {
        Shard data = Sharding.whole(TestSpark.stories(dir, 40_000), null, 0.1);
        var c = new SweepJob.Config(TestSpark.base(), data, TestSpark.copra(20, 1), List.of(1e-3f, 4e-3f), List.of(4), List.of("lora", "copra"),
                List.of(5L), dir.resolve("out"), dir.resolve("ckpt"), "cpu", 1, 10, GgmlType.F16);
        SweepJob.Report r = SweepJob.run(TestSpark.session(), c, new PrintStream(System.out, true));

        List<Row> rows = r.results().collectAsList();
        assertEquals(4, rows.size());
        assertEquals(List.of("variant", "rank", "lr", "seed", "val_loss", "val_before", "train_loss", "steps", "seconds", "adapter"),
                List.of(r.results().columns()));
        Set<String> points = new HashSet<>();
        double lowest = Double.POSITIVE_INFINITY;
        for (Row row : rows) {
            points.add(row.getString(0) + "/" + row.getDouble(2));
            assertEquals(20, row.getInt(7));
            assertTrue(row.getDouble(4) < row.getDouble(5), "every run lowered its validation loss");
            assertTrue(Files.isRegularFile(Path.of(row.getString(9))));
            lowest = Math.min(lowest, row.getDouble(4));
        }
        assertEquals(Set.of("lora/0.001", "copra/0.001", "lora/0.004", "copra/0.004"), points.stream()
                .map(p -> p.replaceAll("/(0\\.00\\d)\\d*$", "/$1")).collect(java.util.stream.Collectors.toSet()));
        // every run saw the same validation windows: the base's loss before training is the same for all
        assertEquals(1, rows.stream().map(x -> x.getDouble(5)).distinct().count());
        assertEquals(lowest, r.best().getDouble(4));
        assertTrue(Files.size(r.adapter()) > 0);
        assertTrue(Files.readString(r.json()).contains("\"val_loss\""));
    }
}
