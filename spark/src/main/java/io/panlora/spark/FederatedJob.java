package io.panlora.spark;

import io.panlora.Panlora;
import io.panlora.gguf.GgmlType;
import io.panlora.merge.AdapterMerge;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import org.apache.spark.sql.SparkSession;

/**
 * Federated (sharded) training: each round trains one adapter per shard, one Spark task each, all from the same start (round
 * 1: the variant's own init, identical on every executor for the same seed; round r+1: the merged adapter of round r, which
 * makes the rounds FedAvg over LoRA with {@code linear}); the driver merges them ({@link FederatedMerge}), evaluates the base,
 * every shard adapter and the merge on each shard's validation part and on their union, and exports the last merge.
 *
 * <p>The output directory gets {@code data/} (each shard's training and validation files), {@code round-R/SHARD.gguf} (the
 * shard adapters, F32), {@code round-R/merged.gguf}, {@code adapter.gguf} (the final merge in the asked type) and
 * {@code results.json}; the checkpoint directory one run directory per round and shard.
 */
public final class FederatedJob {
    private FederatedJob() {}

    /**
     * A federated job.
     *
     * @param base                the base model, readable at this path on the driver and every executor
     * @param shards              the shards, at least one
     * @param settings            the hyperparameters of every shard's training
     * @param rounds              merge rounds, at least 1
     * @param merge               linear, ties, dare or svd
     * @param mergeRank           the merged rank for ties, dare and svd (must be the training rank when {@code rounds > 1});
     *                            0 for the sum of the shard ranks
     * @param density             ties' and dare's density, in (0, 1]
     * @param uniform             true to weight the shards equally instead of by size
     * @param outDir              the output directory
     * @param checkpointDir       the run directories of the tasks, on storage every executor can reach
     * @param device              the tasks' and the driver's device ({@code auto}, {@code cpu}, {@code cuda[:N]})
     * @param threads             CPU threads per task, or 0 to share the cores ({@link SparkJobs#threadsPerTask})
     * @param checkpointEvery     a checkpoint every this many steps of a task, at least 1
     * @param adapterType         the exported adapter's tensor type
     * @param failTask            for the fault-tolerance test: the task (shard index) whose first attempt of round 1 fails, or −1
     * @param failAfterCheckpoint the step after whose checkpoint it fails
     */
    public record Config(Path base, List<Shard> shards, RunSettings settings, int rounds, AdapterMerge.Method merge, int mergeRank,
                         double density, boolean uniform, Path outDir, Path checkpointDir, String device, int threads,
                         int checkpointEvery, GgmlType adapterType, int failTask, int failAfterCheckpoint) {
        /**
         * Checks the values that do not need the model.
         *
         * @throws IllegalArgumentException naming the bad value
         */
        public Config {
            if (shards.isEmpty()) throw new IllegalArgumentException("no shard to train on");
            if (rounds < 1) throw new IllegalArgumentException("--rounds must be at least 1, got " + rounds);
            if (!FederatedMerge.METHODS.contains(merge)) throw new IllegalArgumentException("unknown merge '" + merge + "' (linear, ties, dare, svd)");
            if (!(density > 0 && density <= 1)) throw new IllegalArgumentException("--density must be in (0, 1], got " + density);
            if (mergeRank < 0) throw new IllegalArgumentException("--merge-rank must be at least 0, got " + mergeRank);
            if (rounds > 1 && merge != AdapterMerge.Method.LINEAR && mergeRank != settings.rank())
                throw new IllegalArgumentException("--merge-rank must equal --rank (" + settings.rank() + ") with --rounds above 1: each round starts from the merge");
            Objects.requireNonNull(adapterType, "adapterType");
            if (!Files.isRegularFile(base)) throw new IllegalArgumentException("-m " + base + ": no such file");
        }
    }

    /**
     * One round.
     *
     * @param round    the round, from 1
     * @param tasks    the shard trainings' results, in shard order
     * @param shares   the shards' shares in the merge
     * @param adapters the shard adapters written by the driver
     * @param single   each shard adapter's validation losses
     * @param merged   the merged adapter
     * @param losses   its validation losses
     * @param seconds  the round's wall time (training, merge and evaluation)
     */
    public record Round(int round, List<TaskResult> tasks, double[] shares, List<Path> adapters, List<Validation.Losses> single,
                        Path merged, Validation.Losses losses, double seconds) {
        /**
         * The mean over the shard adapters of their loss on the union of the validation parts.
         *
         * @return the mean union loss of the single-shard adapters
         */
        public double meanSingleUnion() {
            return single.stream().mapToDouble(Validation.Losses::union).average().orElse(Double.NaN);
        }
    }

    /**
     * What a job produced.
     *
     * @param base    the base's validation losses
     * @param rounds  the rounds
     * @param adapter the exported adapter ({@code outDir/adapter.gguf})
     * @param results the results file ({@code outDir/results.json})
     */
    public record Report(Validation.Losses base, List<Round> rounds, Path adapter, Path results) {}

    /**
     * Runs the job.
     *
     * @param spark the session
     * @param c     the job
     * @param out   where the progress and the tables go
     * @return the report
     * @throws IOException if a file cannot be read or written
     */
    public static Report run(SparkSession spark, Config c, PrintStream out) throws IOException {
        Path outDir = c.outDir().toAbsolutePath(), ckpt = c.checkpointDir().toAbsolutePath();
        Path dataDir = Files.createDirectories(outDir.resolve("data"));
        List<Path> valFiles = new ArrayList<>();
        for (Shard s : c.shards()) {
            s.writeTrain(dataDir);
            valFiles.add(s.writeValidation(dataDir));
        }
        int threads = SparkJobs.threadsPerTask(spark.sparkContext(), c.shards().size(), c.threads());
        try (Panlora base = Panlora.base(c.base()).device(c.device()).load()) {
            Validation val = new Validation(base, valFiles, c.settings().ctx());
            out.printf("%d shards of %s; %d round%s, merge %s; %s; %d thread%s per task; master %s%n", c.shards().size(), c.base(), c.rounds(),
                    c.rounds() == 1 ? "" : "s", c.merge().name().toLowerCase(Locale.ROOT), c.settings().label(), threads, threads == 1 ? "" : "s",
                    spark.sparkContext().master());
            Validation.Losses baseLosses = val.of(null);
            if (val.any()) out.printf(Locale.ROOT, "base: validation loss %.4f on the union%n", baseLosses.union());
            List<Round> rounds = new ArrayList<>();
            byte[] init = null;
            for (int r = 1; r <= c.rounds(); r++) {
                long t0 = System.nanoTime();
                List<TrainTask> tasks = new ArrayList<>();
                for (int k = 0; k < c.shards().size(); k++) {
                    Shard s = c.shards().get(k);
                    tasks.add(new TrainTask(k, s.name(), c.base().toAbsolutePath().toString(), s, c.settings(),
                            ckpt.resolve("round-" + r).resolve(s.name()).toString(), c.device(), threads, c.checkpointEvery(),
                            r == 1 && k == c.failTask() ? c.failAfterCheckpoint() : 0));
                }
                List<TaskResult> results = SparkJobs.train(spark, tasks, init);
                Path roundDir = Files.createDirectories(outDir.resolve("round-" + r));
                List<Path> adapters = new ArrayList<>();
                int[] sizes = new int[results.size()];
                for (TaskResult t : results) {
                    adapters.add(Files.write(roundDir.resolve(t.name() + ".gguf"), t.adapter()));
                    sizes[t.index()] = t.trainWindows();
                }
                double[] shares = FederatedMerge.shares(sizes, c.uniform());
                Path merged = FederatedMerge.merge(base, adapters, shares, c.merge(), c.mergeRank(), c.density(), c.settings().seed(),
                        roundDir.resolve("merged.gguf"), GgmlType.F32);
                List<Validation.Losses> single = new ArrayList<>();
                for (Path a : adapters) single.add(val.of(a));
                Validation.Losses m = val.of(merged);
                Round round = new Round(r, results, shares, adapters, single, merged, m, (System.nanoTime() - t0) / 1e9);
                rounds.add(round);
                print(out, round, c.shards(), val.any());
                init = Files.readAllBytes(merged);
            }
            Path adapter = base.exportAdapter(base.adapter(rounds.getLast().merged()), c.adapterType(), outDir.resolve("adapter.gguf")).file();
            Path results = outDir.resolve("results.json");
            Files.writeString(results, Json.of(json(c, baseLosses, rounds, adapter, threads, spark.sparkContext().master())));
            out.printf("adapter: %s (%s)%nresults: %s%n", adapter, c.adapterType(), results);
            return new Report(baseLosses, rounds, adapter, results);
        }
    }

    private static void print(PrintStream out, Round r, List<Shard> shards, boolean withValidation) {
        out.printf(Locale.ROOT, "round %d (%.1f s):%n", r.round(), r.seconds());
        StringBuilder head = new StringBuilder(String.format("  %-14s %6s %6s %8s %8s %9s", "adapter", "steps", "share", "train", "seconds",
                "union"));
        for (Shard s : shards) head.append(String.format(" %12s", s.name()));
        out.println(head);
        for (TaskResult t : r.tasks()) {
            StringBuilder row = new StringBuilder(String.format(Locale.ROOT, "  %-14s %6s %6.3f %8.4f %8.1f %9s", t.name(),
                    t.resumedFrom() > 0 ? t.steps() + "*" : Integer.toString(t.steps()), r.shares()[t.index()], t.lastLoss(), t.seconds(),
                    loss(r.single().get(t.index()).union())));
            for (double v : r.single().get(t.index()).perShard()) row.append(String.format(" %12s", loss(v)));
            out.println(row);
        }
        StringBuilder row = new StringBuilder(String.format(Locale.ROOT, "  %-14s %6s %6s %8s %8s %9s", "merged", "", "", "", "",
                loss(r.losses().union())));
        for (double v : r.losses().perShard()) row.append(String.format(" %12s", loss(v)));
        out.println(row);
        for (TaskResult t : r.tasks())
            if (t.resumedFrom() > 0) out.printf("  * %s resumed at step %d (attempt %d)%n", t.name(), t.resumedFrom(), t.attempt());
        if (withValidation)
            out.printf(Locale.ROOT, "  merged %.4f vs mean of the shard adapters %.4f on the union of the validation parts%n", r.losses().union(),
                    r.meanSingleUnion());
    }

    private static String loss(double v) {
        return Double.isNaN(v) ? "-" : String.format(Locale.ROOT, "%.4f", v);
    }

    private static Map<String, Object> json(Config c, Validation.Losses base, List<Round> rounds, Path adapter, int threads, String master) {
        Map<String, Object> j = new LinkedHashMap<>();
        j.put("base", c.base().toString());
        j.put("master", master);
        j.put("threads_per_task", threads);
        j.put("settings", settings(c.settings()));
        j.put("merge", c.merge().name().toLowerCase(Locale.ROOT));
        j.put("merge_rank", c.mergeRank());
        j.put("density", c.density());
        j.put("weighting", c.uniform() ? "uniform" : "size");
        List<Object> shards = new ArrayList<>();
        for (Shard s : c.shards()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("name", s.name());
            m.put("units", s.units());
            m.put("train_bytes", s.train().length);
            m.put("validation_bytes", s.validation().length);
            shards.add(m);
        }
        j.put("shards", shards);
        j.put("base_validation", losses(base, c.shards()));
        List<Object> rs = new ArrayList<>();
        for (Round r : rounds) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("round", r.round());
            m.put("seconds", r.seconds());
            List<Object> ts = new ArrayList<>();
            for (TaskResult t : r.tasks()) {
                Map<String, Object> tm = new LinkedHashMap<>();
                tm.put("shard", t.name());
                tm.put("adapter", r.adapters().get(t.index()).toString());
                tm.put("share", r.shares()[t.index()]);
                tm.put("train_windows", t.trainWindows());
                tm.put("steps", t.steps());
                tm.put("resumed_from", t.resumedFrom());
                tm.put("attempt", t.attempt());
                tm.put("seconds", t.seconds());
                tm.put("host", t.host());
                tm.put("train_loss_first", t.firstLoss());
                tm.put("train_loss_last", t.lastLoss());
                tm.put("validation", losses(r.single().get(t.index()), c.shards()));
                ts.add(tm);
            }
            m.put("shards", ts);
            m.put("merged", r.merged().toString());
            m.put("merged_validation", losses(r.losses(), c.shards()));
            m.put("mean_single_union", r.meanSingleUnion());
            rs.add(m);
        }
        j.put("rounds", rs);
        j.put("adapter", adapter.toString());
        return j;
    }

    static Map<String, Object> settings(RunSettings s) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("variant", s.variant());
        m.put("variant_options", new LinkedHashMap<>(s.variantOptions()));
        m.put("rank", s.rank());
        m.put("alpha", s.alpha());
        m.put("targets", s.targets());
        m.put("lr", s.lr());
        m.put("steps", s.steps());
        m.put("batch", s.batch());
        m.put("ctx", s.ctx());
        m.put("seed", s.seed());
        return m;
    }

    private static Map<String, Object> losses(Validation.Losses l, List<Shard> shards) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("union", l.union());
        for (int i = 0; i < shards.size(); i++) m.put(shards.get(i).name(), l.perShard()[i]);
        return m;
    }
}
