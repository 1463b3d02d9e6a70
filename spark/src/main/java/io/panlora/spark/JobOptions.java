package io.panlora.spark;

import io.panlora.gguf.GgmlType;
import io.panlora.lora.AdapterGguf;
import io.panlora.model.Device;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import picocli.CommandLine.Option;

/** The options {@code distributed train} and {@code distributed sweep} share: where, how, and the fixed hyperparameters. */
final class JobOptions {
    @Option(names = {"-m", "--model"}, required = true, description = "base GGUF model, at this path on the driver and on every executor")
    Path model;

    @Option(names = {"-o", "--output"}, required = true, description = "output directory (adapters, results.json; on the driver)")
    Path out;

    @Option(names = "--checkpoint-dir", description = "the tasks' run directories with their checkpoints, on storage every executor reaches "
            + "(a retried task resumes from there); default: OUTPUT/checkpoints")
    Path checkpointDir;

    @Option(names = "--master", description = "Spark master URL (default: spark-submit's, else " + SparkJobs.DEFAULT_MASTER + ")")
    String master;

    @Option(names = "--conf", paramLabel = "KEY=VALUE", description = "a Spark setting (repeatable)")
    Map<String, String> conf = new LinkedHashMap<>();

    @Option(names = "--device", defaultValue = "auto", description = "auto (a GPU Spark assigned to the task, else the first usable one, else the CPU), cpu, cuda, cuda:N (default: ${DEFAULT-VALUE})")
    String device;

    @Option(names = {"-t", "--threads"}, defaultValue = "0", description = "CPU threads per task; 0: local mode shares the machine's cores among the tasks running at once, a cluster uses spark.task.cpus (default: ${DEFAULT-VALUE})")
    int threads;

    @Option(names = "--alpha", defaultValue = "16", description = "LoRA alpha, the same for every run: scale = alpha/rank (default: ${DEFAULT-VALUE})")
    float alpha;

    @Option(names = "--targets", defaultValue = "q,k,v,o", description = "target linears: q,k,v,o,gate,up,down | attn | ffn | all (default: ${DEFAULT-VALUE})")
    String targets;

    @Option(names = "--steps", defaultValue = "100", description = "optimizer steps of each task (default: ${DEFAULT-VALUE})")
    int steps;

    @Option(names = {"-b", "--batch"}, defaultValue = "4", description = "sequences per step (default: ${DEFAULT-VALUE})")
    int batch;

    @Option(names = {"-c", "--ctx"}, defaultValue = "256", description = "tokens per sequence (default: ${DEFAULT-VALUE})")
    int ctx;

    @Option(names = "--variant-option", paramLabel = "NAME=VALUE", description = "an option of the variant, named as panlora train's flag without dashes, e.g. copra-p0=0.2 (repeatable)")
    Map<String, String> variantOptions = new LinkedHashMap<>();

    @Option(names = "--save-every", defaultValue = "50", description = "a checkpoint every N steps of a task (default: ${DEFAULT-VALUE})")
    int saveEvery;

    @Option(names = "--adapter-type", defaultValue = "F16", description = "the exported adapter's type: F32, F16, BF16, Q8_0, … (default: ${DEFAULT-VALUE})")
    String adapterType;

    /** The checkpoint directory: as given, or OUTPUT/checkpoints. */
    Path checkpoints() {
        return checkpointDir != null ? checkpointDir : out.resolve("checkpoints");
    }

    /** The settings of a run at a rank, learning rate, variant and seed. */
    RunSettings settings(int rank, float lr, String variant, long seed) {
        return new RunSettings(rank, alpha, targets, lr, steps, batch, ctx, seed, variant, variantOptions);
    }

    /** Checks what can be checked before Spark starts; returns the adapter type. */
    GgmlType check() {
        if (!Files.isRegularFile(model)) throw new IllegalArgumentException("-m " + model + ": no such file");
        if (Files.exists(out) && !Files.isDirectory(out)) throw new IllegalArgumentException("-o " + out + ": exists and is not a directory");
        if (saveEvery < 1) throw new IllegalArgumentException("--save-every must be at least 1, got " + saveEvery);
        if (threads < 0) throw new IllegalArgumentException("--threads must be at least 0, got " + threads);
        if (!(alpha > 0) || !Float.isFinite(alpha)) throw new IllegalArgumentException("--alpha must be above 0, got " + alpha);
        if (!device.equals("auto")) Device.parse(device);
        GgmlType t;
        try {
            t = GgmlType.valueOf(adapterType.trim().toUpperCase(java.util.Locale.ROOT));
        } catch (IllegalArgumentException e) {
            t = null;
        }
        if (t == null || !AdapterGguf.supported(t))
            throw new IllegalArgumentException("--adapter-type must be one of " + String.join(", ", AdapterGguf.typeNames()) + ", got " + adapterType);
        return t;
    }

    /** An input file that must exist. */
    static Path input(String flag, Path p) {
        if (p != null && !Files.isRegularFile(p)) throw new IllegalArgumentException(flag + " " + p + ": no such file");
        return p;
    }
}
