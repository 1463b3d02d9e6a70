package io.panlora.spark;

import java.io.Serializable;
import java.util.Objects;

/**
 * One training as a Spark task: everything an executor needs, shipped with the task (the base model is read from its path,
 * which every executor must be able to read).
 *
 * @param index               the task's position in its job (shard or grid point), from 0
 * @param name                the shard's or grid point's name, for tables and file names
 * @param base                the base model's GGUF file, readable at this path on every executor
 * @param shard               the training and validation data
 * @param settings            the hyperparameters
 * @param runDir              the task's run directory on storage every executor can reach: its checkpoints go there, and a
 *                            retried attempt resumes from them
 * @param device              {@code auto} (a GPU Spark assigned to the task, else the first usable one, else the CPU),
 *                            {@code cpu}, {@code cuda} or {@code cuda:N}
 * @param threads             CPU threads of the task's engine, at least 1
 * @param checkpointEvery     a checkpoint every this many steps (and after the last), at least 1
 * @param failAfterCheckpoint for the fault-tolerance test: the first attempt of this task fails right after the checkpoint
 *                            of this step; 0 for never
 */
public record TrainTask(int index, String name, String base, Shard shard, RunSettings settings, String runDir, String device,
                        int threads, int checkpointEvery, int failAfterCheckpoint) implements Serializable {
    private static final long serialVersionUID = 1L;

    /**
     * Checks the values.
     *
     * @throws IllegalArgumentException if threads or checkpointEvery is below 1
     */
    public TrainTask {
        Objects.requireNonNull(shard, "shard");
        Objects.requireNonNull(settings, "settings");
        if (threads < 1) throw new IllegalArgumentException("--threads must be at least 1, got " + threads);
        if (checkpointEvery < 1) throw new IllegalArgumentException("--save-every must be at least 1, got " + checkpointEvery);
    }
}
