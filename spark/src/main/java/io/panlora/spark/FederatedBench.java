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
 * trains from fresh run directories under {@code OUTPUT/bench}, several times, interleaved; the medians are compared. Static
 * methods only.
 */
public final class FederatedBench {
    private FederatedBench() {}

    /**
     * The two timings.
     *
     * @param sparkSeconds      median wall time of the K tasks on Spark (job start to results on the driver)
     * @param sequentialSeconds median wall time of the K trainings in sequence
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
     * @param reps  repetitions of each side, at least 1 (interleaved: sequential, Spark, sequential, …; the medians count)
     * @param out   where the report goes
     * @return the timings
     * @throws IOException if a run directory cannot be made or cleared
     */
    public static Timing run(SparkSession spark, FederatedJob.Config c, int reps, PrintStream out) throws IOException {
        if (reps < 1) throw new IllegalArgumentException("--bench-reps must be at least 1, got " + reps);
        int k = c.shards().size();
        int sparkThreads = SparkJobs.threadsPerTask(spark.sparkContext(), k, c.threads());
        int seqThreads = c.threads() > 0 ? c.threads() : Runtime.getRuntime().availableProcessors();
        Path dir = c.outDir().toAbsolutePath().resolve("bench");
        out.printf("benchmark: %d shards of %s, %s, %d steps of %d x %d tokens each; %d repetitions, interleaved, medians%n", k,
                c.base().getFileName(), c.settings().label(), c.settings().steps(), c.settings().batch(), c.settings().ctx(), reps);
        out.printf("machine: %s, %d cores, %s, JDK %s; load average %s before%n", cpuModel(), Runtime.getRuntime().availableProcessors(),
                memory(), Runtime.version(), load());
        double[] sparkSeconds = new double[reps], seqSeconds = new double[reps];
        for (int rep = 0; rep < reps; rep++) { // sequential first: it does not get a JVM the Spark run has warmed
            TaskRunner.deleteTree(dir);
            long t1 = System.nanoTime();
            for (TrainTask t : tasks(c, dir.resolve("sequential"), seqThreads)) TaskRunner.run(t, null, 0, c.device(), null);
            seqSeconds[rep] = (System.nanoTime() - t1) / 1e9;
            long t0 = System.nanoTime();
            SparkJobs.train(spark, tasks(c, dir.resolve("spark"), sparkThreads), null);
            sparkSeconds[rep] = (System.nanoTime() - t0) / 1e9;
            out.printf(Locale.ROOT, "rep %d: sequential %.2f s, spark %.2f s; load average %s%n", rep + 1, seqSeconds[rep], sparkSeconds[rep],
                    load());
        }
        Timing timing = new Timing(median(sparkSeconds), median(seqSeconds), sparkThreads, seqThreads);
        out.printf(Locale.ROOT, "sequential (one JVM, %d thread%s per training): %.2f s%n", seqThreads, seqThreads == 1 ? "" : "s",
                timing.sequentialSeconds());
        out.printf(Locale.ROOT, "spark (%s, %d thread%s per task): %.2f s%n", spark.sparkContext().master(), sparkThreads,
                sparkThreads == 1 ? "" : "s", timing.sparkSeconds());
        out.printf(Locale.ROOT, "sequential / spark: %.2fx%n", timing.speedup());
        return timing;
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        java.util.Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
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
