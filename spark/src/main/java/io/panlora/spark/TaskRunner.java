package io.panlora.spark;

import io.panlora.gguf.GgmlType;
import io.panlora.model.Device;
import io.panlora.model.LlamaModel;
import io.panlora.model.WeightPlacement;
import io.panlora.train.LoraRun;
import io.panlora.train.TrainListener;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Locale;
import java.util.stream.Stream;
import org.apache.spark.TaskContext;
import org.apache.spark.resource.ResourceInformation;

/**
 * Runs one {@link TrainTask} in the calling JVM with the native engine: the executor's side of a job (and the sequential
 * reference of the benchmark). The shard is written to a private temporary directory; the run directory is the task's
 * {@link TrainTask#runDir()}: when it holds a checkpoint (left by a failed attempt, or by an earlier run of the job), the
 * run resumes from it instead of starting over. The adapter comes back as GGUF bytes. Static methods only.
 */
public final class TaskRunner {
    private TaskRunner() {}

    /** The file a run directory's checkpoint is written to ({@link LoraRun}'s {@code checkpoint.gguf}). */
    static final String CHECKPOINT = "checkpoint.gguf";

    /** Thrown by a task's first attempt right after the checkpoint named by {@link TrainTask#failAfterCheckpoint()}. */
    public static final class InjectedFailure extends RuntimeException {
        private static final long serialVersionUID = 1L;

        InjectedFailure(String msg) {
            super(msg);
        }
    }

    /**
     * Runs the task inside a Spark task: the attempt number and any GPU come from Spark's {@link TaskContext}.
     *
     * @param task the task
     * @param init the adapter the training starts from (GGUF bytes; a merged adapter of the previous round), or null for the
     *             variant's own init
     * @return the result
     * @throws UncheckedIOException if a file cannot be read or written
     */
    public static TaskResult runInSpark(TrainTask task, byte[] init) {
        TaskContext tc = TaskContext.get();
        int attempt = tc == null ? 0 : tc.attemptNumber();
        String device = task.device();
        if (tc != null && device.equals("auto")) { // a GPU Spark's scheduler assigned to this task (spark.task.resource.gpu.amount)
            ResourceInformation gpu = tc.resourcesJMap().get("gpu");
            if (gpu != null && gpu.addresses().length > 0) device = "cuda:" + gpu.addresses()[0];
        }
        return run(task, init, attempt, device, System.out);
    }

    /**
     * Runs the task.
     *
     * @param task    the task
     * @param init    GGUF bytes of the adapter to start from, or null
     * @param attempt the attempt number (the injected failure hits attempt 0 only)
     * @param device  the device, as {@link Device#parse} reads it
     * @param log     where the task's start and end lines go, or null
     * @return the result
     * @throws UncheckedIOException if a file cannot be read or written
     * @throws InjectedFailure      on attempt 0 of a task with {@link TrainTask#failAfterCheckpoint()} set, after that checkpoint
     */
    public static TaskResult run(TrainTask task, byte[] init, int attempt, String device, PrintStream log) {
        long t0 = System.nanoTime();
        Path tmp = null;
        try {
            tmp = Files.createTempDirectory("panlora-task-");
            Path train = task.shard().writeTrain(tmp), val = task.shard().writeValidation(tmp);
            Path runDir = Path.of(task.runDir());
            boolean resume = Files.isRegularFile(runDir.resolve(CHECKPOINT));
            Path initFile = init == null ? null : Files.write(tmp.resolve("init.gguf"), init);
            LlamaModel.LoadOptions load = new LlamaModel.LoadOptions(Device.parse(device).checkUsable(), WeightPlacement.AUTO, task.threads());
            int[] firstStep = {-1};
            TrainListener listener = new TrainListener() {
                @Override
                public void stepped(int step, int totalSteps, double loss, double lr, double gradNorm, double tokensPerSecond) {
                    if (firstStep[0] < 0) firstStep[0] = step;
                }

                @Override
                public void checkpointed(int step, Path file) {
                    if (attempt == 0 && step == task.failAfterCheckpoint())
                        throw new InjectedFailure(task.name() + ": injected failure after the checkpoint of step " + step + " (attempt 0)");
                }
            };
            if (log != null)
                log.printf("%s: %s on %s, %d thread%s, attempt %d%s%n", task.name(), task.settings().label(), load.device(), task.threads(),
                        task.threads() == 1 ? "" : "s", attempt, resume ? ", resuming from " + runDir.resolve(CHECKPOINT) : "");
            LoraRun.Options o = new LoraRun.Options(Path.of(task.base()), train, val, 0, task.settings().config(task.checkpointEvery()), 0,
                    null, GgmlType.F32, runDir, resume, null, task.settings().strategy(), load, null, listener, initFile);
            LoraRun.Summary s = LoraRun.run(o);
            var r = s.result();
            int resumedFrom = firstStep[0] < 0 ? r.steps() : firstStep[0] - 1;
            double seconds = (System.nanoTime() - t0) / 1e9;
            if (log != null)
                log.printf(Locale.ROOT, "%s: %d steps%s, train loss %.4f, validation loss %.4f, %.1f s%n", task.name(), r.steps(),
                        resumedFrom > 0 ? " (resumed at " + resumedFrom + ")" : "", r.lastLoss(), r.valAfter(), seconds);
            return new TaskResult(task.index(), task.name(), Files.readAllBytes(s.adapter()), r.steps(), resumedFrom, attempt,
                    s.trainWindows(), s.validationWindows(), r.valBefore(), r.valAfter(), r.firstLoss(), r.lastLoss(), seconds, host());
        } catch (IOException e) {
            throw new UncheckedIOException(task.name() + ": " + e.getMessage(), e);
        } finally {
            if (tmp != null) deleteTree(tmp);
        }
    }

    private static String host() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            return "?";
        }
    }

    static void deleteTree(Path dir) {
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException ignored) {
            // a temporary directory left behind is harmless
        }
    }
}
