package io.panlora.spark;

import java.util.List;
import java.util.Map;
import org.apache.spark.SparkContext;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.SparkSession;

/** What the jobs share: the session, the threads of a task, and running a list of training tasks. Static methods only. */
public final class SparkJobs {
    private SparkJobs() {}

    /**
     * The master used when none is given and spark-submit set none: every core of this machine, a failed task tried up
     * to 4 times in all (Spark's default {@code spark.task.maxFailures} on a cluster; a plain {@code local[*]} never retries).
     */
    public static final String DEFAULT_MASTER = "local[*,4]";

    /**
     * Starts (or joins) the Spark session of a job.
     *
     * @param master the master URL, or null for the one spark-submit set ({@code spark.master}), else {@link #DEFAULT_MASTER}
     * @param conf   further Spark settings ({@code --conf KEY=VALUE})
     * @return the session; stop it when the job is done
     */
    public static SparkSession session(String master, Map<String, String> conf) {
        SparkSession.Builder b = SparkSession.builder().appName("panlora distributed");
        String m = master != null ? master : System.getProperty("spark.master", DEFAULT_MASTER);
        b.master(m).config("spark.ui.showConsoleProgress", "false");
        for (var e : conf.entrySet()) b.config(e.getKey(), e.getValue());
        return b.getOrCreate();
    }

    /**
     * The CPU threads each task's engine uses.
     *
     * @param sc    the running context
     * @param tasks how many tasks the job runs at once at most
     * @param asked {@code --threads}: above 0 is taken as it is
     * @return {@code asked} if above 0; in local mode the machine's cores shared among the tasks that run at once; on a
     *         cluster {@code spark.task.cpus} (the cores Spark reserves for each task; default 1)
     */
    public static int threadsPerTask(SparkContext sc, int tasks, int asked) {
        if (asked > 0) return asked;
        if (sc.isLocal()) {
            int slots = Math.max(1, Math.min(sc.defaultParallelism(), tasks));
            return Math.max(1, Runtime.getRuntime().availableProcessors() / slots);
        }
        return Math.max(1, sc.getConf().getInt("spark.task.cpus", 1));
    }

    /**
     * Runs training tasks, one Spark task each, and collects their results in task order.
     *
     * @param spark the session
     * @param tasks the tasks
     * @param init  GGUF bytes of the adapter every task starts from (broadcast once to each executor), or null
     * @return the results, ordered by {@link TaskResult#index()}
     */
    public static List<TaskResult> train(SparkSession spark, List<TrainTask> tasks, byte[] init) {
        JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
        Broadcast<byte[]> shared = init == null ? null : jsc.broadcast(init);
        try {
            List<TaskResult> out = jsc.parallelize(tasks, tasks.size())
                    .map(t -> TaskRunner.runInSpark(t, shared == null ? null : shared.value())).collect();
            return out.stream().sorted(java.util.Comparator.comparingInt(TaskResult::index)).toList();
        } finally {
            if (shared != null) shared.destroy();
        }
    }

    /**
     * One line for a failed job: a task's failure, which Spark reports as a long text with the executor's stack trace, is cut
     * to the task's exception and message.
     *
     * @param t the exception
     * @return the message's first line after Spark's {@code most recent failure: … :} prefix, or the message's first line
     */
    public static String oneLine(Throwable t) {
        String m = t.getMessage() == null ? t.toString() : t.getMessage();
        int i = m.indexOf("most recent failure: ");
        if (i >= 0) {
            m = m.substring(i + "most recent failure: ".length());
            int colon = m.indexOf("): ");
            if (colon >= 0) m = m.substring(colon + 3);
            m = m.replaceFirst("^[a-zA-Z0-9_.$]+(Exception|Error|Failure): ", "");
        }
        int nl = m.indexOf('\n');
        return (nl >= 0 ? m.substring(0, nl) : m).strip();
    }
}
