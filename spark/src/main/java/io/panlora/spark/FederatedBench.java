package io.panlora.spark;

import java.io.IOException;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.apache.spark.sql.SparkSession;

/**
 * {@code distributed train --bench}: the wall time of round 1's K shard trainings as Spark tasks against the same K trainings
 * one after another in this JVM (each then with every core), with the configuration, the machine and its load. Each side
 * trains from fresh run directories under {@code OUTPUT/bench}. Static methods only.
 */
public final class FederatedBench {
    private FederatedBench() {}

    /**
     * The two timings.
     *
     * @param sparkSeconds      wall time of the K tasks on Spark (job start to results on the driver)
     * @param sequentialSeconds wall time of the K trainings in sequence
     * @param sparkThreads      threads per Spark task
     * @param sequentialThreads threads of each sequential training
     */
    public record Timing(double sparkSeconds, double sequentialSeconds, int sparkThreads, int sequentialThreads) {
        /**
         * How many times faster the Spark run was.
         *
         * @return sequential / Spark wall time
         */
        public double speedup() {
            return sequentialSeconds / sparkSeconds;
        }
    }

    /**
     * Runs and prints the benchmark.
     *
     * @param spark the session (its master decides the parallelism)
     * @param c     the job; its round 1 is timed, its checkpoint directory is not used
     * @param out   where the report goes
     * @return the timings
     * @throws IOException if a run directory cannot be made or cleared
     */
    public static Timing run(SparkSession spark, FederatedJob.Config c, PrintStream out) throws IOException {
        int k = c.shards().size();
        int sparkThreads = SparkJobs.threadsPerTask(spark.sparkContext(), k, c.threads());
        int seqThreads = c.threads() > 0 ? c.threads() : Runtime.getRuntime().availableProcessors();
        Path dir = c.outDir().toAbsolutePath().resolve("bench");
        out.printf("benchmark: %d shards of %s, %s, %d steps of %d x %d tokens each%n", k, c.base().getFileName(), c.settings().label(),
                c.settings().steps(), c.settings().batch(), c.settings().ctx());
        out.printf("machine: %s, %d cores, %s; load average %s before%n", cpuModel(), Runtime.getRuntime().availableProcessors(), memory(), load());
        TaskRunner.deleteTree(dir);
        long t0 = System.nanoTime();
        SparkJobs.train(spark, tasks(c, dir.resolve("spark"), sparkThreads), null);
        double sparkSeconds = (System.nanoTime() - t0) / 1e9;
        out.printf(Locale.ROOT, "spark (%s, %d thread%s per task): %.2f s; load average %s%n", spark.sparkContext().master(), sparkThreads,
                sparkThreads == 1 ? "" : "s", sparkSeconds, load());
        long t1 = System.nanoTime();
        for (TrainTask t : tasks(c, dir.resolve("sequential"), seqThreads)) TaskRunner.run(t, null, 0, c.device(), null);
        double seqSeconds = (System.nanoTime() - t1) / 1e9;
        out.printf(Locale.ROOT, "sequential (one JVM, %d thread%s each): %.2f s; load average %s%n", seqThreads, seqThreads == 1 ? "" : "s",
                seqSeconds, load());
        Timing timing = new Timing(sparkSeconds, seqSeconds, sparkThreads, seqThreads);
        out.printf(Locale.ROOT, "sequential / spark: %.2fx%n", timing.speedup());
        return timing;
    }

    private static List<TrainTask> tasks(FederatedJob.Config c, Path dir, int threads) {
        List<TrainTask> out = new ArrayList<>();
        for (int i = 0; i < c.shards().size(); i++) {
            Shard s = c.shards().get(i);
            out.add(new TrainTask(i, s.name(), c.base().toAbsolutePath().toString(), s, c.settings(), dir.resolve(s.name()).toString(),
                    c.device(), threads, c.checkpointEvery(), 0));
        }
        return out;
    }

    private static String cpuModel() {
        try {
            for (String l : Files.readAllLines(Path.of("/proc/cpuinfo")))
                if (l.startsWith("model name")) return l.substring(l.indexOf(':') + 1).strip();
        } catch (IOException | RuntimeException ignored) {
            // not Linux: the JVM's view below
        }
        return System.getProperty("os.arch");
    }

    private static String memory() {
        var os = ManagementFactory.getOperatingSystemMXBean();
        if (os instanceof com.sun.management.OperatingSystemMXBean s)
            return String.format(Locale.ROOT, "%.0f GiB", s.getTotalMemorySize() / (double) (1L << 30));
        return "? GiB";
    }

    private static String load() {
        try {
            String[] f = Files.readString(Path.of("/proc/loadavg")).split(" ");
            return f[0] + " " + f[1] + " " + f[2];
        } catch (IOException | RuntimeException e) {
            return String.format(Locale.ROOT, "%.2f", ManagementFactory.getOperatingSystemMXBean().getSystemLoadAverage());
        }
    }
}
