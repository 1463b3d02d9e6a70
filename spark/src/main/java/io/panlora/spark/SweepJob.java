package io.panlora.spark;

import static org.apache.spark.sql.functions.col;

import io.panlora.Panlora;
import io.panlora.gguf.GgmlType;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * A hyperparameter sweep: every combination of learning rate, rank, variant and seed trains once, one Spark task each, on
 * the same data and validation windows; the results are a Spark DataFrame (one row per run), printed as a table sorted by
 * validation loss and written to {@code results.json}; each run's adapter is written to {@code runs/LABEL.gguf} and the best
 * one (lowest validation loss) exported as {@code adapter.gguf}.
 */
public final class SweepJob {
    private SweepJob() {}

    /** The DataFrame's columns: the grid values, then what the run gave. */
    public static final StructType SCHEMA = new StructType()
            .add("variant", DataTypes.StringType, false)
            .add("rank", DataTypes.IntegerType, false)
            .add("lr", DataTypes.DoubleType, false)
            .add("seed", DataTypes.LongType, false)
            .add("val_loss", DataTypes.DoubleType, false)
            .add("val_before", DataTypes.DoubleType, false)
            .add("train_loss", DataTypes.DoubleType, false)
            .add("steps", DataTypes.IntegerType, false)
            .add("seconds", DataTypes.DoubleType, false)
            .add("adapter", DataTypes.StringType, false);

    /**
     * A sweep.
     *
     * @param base            the base model, readable at this path on the driver and every executor
     * @param data            the training data and its validation part
     * @param settings        what every run shares (its learning rate, rank, variant and seed are replaced by the grid's)
     * @param lrs             the learning rates, at least one
     * @param ranks           the ranks, at least one (alpha keeps its ratio to the rank)
     * @param variants        the variants' names, at least one
     * @param seeds           the seeds, at least one
     * @param outDir          the output directory
     * @param checkpointDir   the run directories of the tasks, on storage every executor can reach
     * @param device          the tasks' device
     * @param threads         CPU threads per task, or 0 to share the cores
     * @param checkpointEvery a checkpoint every this many steps of a run, at least 1
     * @param adapterType     the tensor type of the exported best adapter
     */
    public record Config(Path base, Shard data, RunSettings settings, List<Float> lrs, List<Integer> ranks, List<String> variants,
                         List<Long> seeds, Path outDir, Path checkpointDir, String device, int threads, int checkpointEvery,
                         GgmlType adapterType) {
        /**
         * Checks the grid (every point's settings are checked when made) and the base's path.
         *
         * @throws IllegalArgumentException naming the bad value
         */
        public Config {
            lrs = List.copyOf(new java.util.LinkedHashSet<>(lrs)); // a value twice would be one run directory for two tasks
            ranks = List.copyOf(new java.util.LinkedHashSet<>(ranks));
            variants = List.copyOf(new java.util.LinkedHashSet<>(variants));
            seeds = List.copyOf(new java.util.LinkedHashSet<>(seeds));
            if (lrs.isEmpty() || ranks.isEmpty() || variants.isEmpty() || seeds.isEmpty())
                throw new IllegalArgumentException("every grid list (--lr, --rank, --variant, --seed) needs at least one value");
            if (!data.hasValidation()) throw new IllegalArgumentException("a sweep needs validation data (--val, or --val-fraction above 0)");
            if (!Files.isRegularFile(base)) throw new IllegalArgumentException("-m " + base + ": no such file");
            grid(settings, lrs, ranks, variants, seeds);
        }

        /**
         * The grid's points, variant-major then rank, learning rate and seed.
         *
         * @return one settings per run
         */
        public List<RunSettings> points() {
            return grid(settings, lrs, ranks, variants, seeds);
        }

        private static List<RunSettings> grid(RunSettings s, List<Float> lrs, List<Integer> ranks, List<String> variants, List<Long> seeds) {
            List<RunSettings> out = new ArrayList<>();
            for (String v : variants)
                for (int r : ranks)
                    for (float lr : lrs)
                        for (long seed : seeds) out.add(s.with(lr, r, v, seed));
            return out;
        }
    }

    /**
     * What a sweep produced.
     *
     * @param results the DataFrame, one row per run in grid order
     * @param best    the best run's row
     * @param adapter the best adapter, exported ({@code outDir/adapter.gguf})
     * @param json    the results file ({@code outDir/results.json})
     */
    public record Report(Dataset<Row> results, Row best, Path adapter, Path json) {}

    /**
     * Runs the sweep.
     *
     * @param spark the session
     * @param c     the sweep
     * @param out   where the progress and the table go
     * @return the report
     * @throws IOException if a file cannot be read or written
     */
    public static Report run(SparkSession spark, Config c, PrintStream out) throws IOException {
        Path outDir = c.outDir().toAbsolutePath(), ckpt = c.checkpointDir().toAbsolutePath();
        List<RunSettings> points = c.points();
        int threads = SparkJobs.threadsPerTask(spark.sparkContext(), points.size(), c.threads());
        out.printf("sweep of %d runs on %s; %d thread%s per task; master %s%n", points.size(), c.base(), threads, threads == 1 ? "" : "s",
                spark.sparkContext().master());
        List<TrainTask> tasks = new ArrayList<>();
        for (int i = 0; i < points.size(); i++) {
            RunSettings s = points.get(i);
            tasks.add(new TrainTask(i, s.label(), c.base().toAbsolutePath().toString(), c.data(), s, ckpt.resolve(s.label()).toString(),
                    c.device(), threads, c.checkpointEvery(), 0));
        }
        List<TaskResult> results = SparkJobs.train(spark, tasks, null);
        Path runs = Files.createDirectories(outDir.resolve("runs"));
        List<Row> rows = new ArrayList<>();
        for (TaskResult t : results) {
            RunSettings s = points.get(t.index());
            Path a = Files.write(runs.resolve(t.name() + ".gguf"), t.adapter());
            rows.add(RowFactory.create(s.variant(), s.rank(), (double) s.lr(), s.seed(), t.valAfter(), t.valBefore(), t.lastLoss(), t.steps(),
                    t.seconds(), a.toString()));
        }
        Dataset<Row> df = spark.createDataFrame(rows, SCHEMA);
        List<Row> sorted = df.orderBy(col("val_loss").asc(), col("seconds").asc()).collectAsList();
        Row best = sorted.getFirst();
        print(out, sorted);
        Path adapter;
        try (Panlora base = Panlora.base(c.base()).device("cpu").load()) {
            adapter = base.exportAdapter(base.adapter(Path.of(best.getString(9))), c.adapterType(), outDir.resolve("adapter.gguf")).file();
        }
        Path json = outDir.resolve("results.json");
        Files.writeString(json, Json.of(json(c, sorted, best, adapter, threads, spark.sparkContext().master())));
        out.printf(Locale.ROOT, "best: %s, validation loss %.4f%nadapter: %s (%s)%nresults: %s%n", Path.of(best.getString(9)).getFileName(),
                best.getDouble(4), adapter, c.adapterType(), json);
        return new Report(df, best, adapter, json);
    }

    private static void print(PrintStream out, List<Row> rows) {
        out.printf("  %-8s %5s %10s %6s %9s %9s %9s %6s %8s  %s%n", "variant", "rank", "lr", "seed", "val_loss", "val_before", "train", "steps",
                "seconds", "adapter");
        for (Row r : rows)
            out.printf(Locale.ROOT, "  %-8s %5d %10s %6d %9.4f %9.4f %9.4f %6d %8.1f  %s%n", r.getString(0), r.getInt(1),
                    Float.toString((float) r.getDouble(2)), r.getLong(3), r.getDouble(4), r.getDouble(5), r.getDouble(6), r.getInt(7),
                    r.getDouble(8), Path.of(r.getString(9)).getFileName());
    }

    private static Map<String, Object> json(Config c, List<Row> sorted, Row best, Path adapter, int threads, String master) {
        Map<String, Object> j = new LinkedHashMap<>();
        j.put("base", c.base().toString());
        j.put("master", master);
        j.put("threads_per_task", threads);
        j.put("settings", FederatedJob.settings(c.settings()));
        Map<String, Object> grid = new LinkedHashMap<>();
        grid.put("lr", c.lrs());
        grid.put("rank", c.ranks());
        grid.put("variant", c.variants());
        grid.put("seed", c.seeds());
        j.put("grid", grid);
        List<Object> runs = new ArrayList<>();
        for (Row r : sorted) {
            Map<String, Object> m = new LinkedHashMap<>();
            for (int i = 0; i < SCHEMA.fields().length; i++) m.put(SCHEMA.fields()[i].name(), r.get(i));
            runs.add(m);
        }
        j.put("runs", runs);
        j.put("best", best.getString(9));
        j.put("adapter", adapter.toString());
        return j;
    }
}
