package io.panlora.spark;

import io.panlora.gguf.GgmlType;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code panlora distributed sweep}: a grid over learning rate, rank, variant and seed (see {@link SweepJob}). */
@Command(name = "sweep", mixinStandardHelpOptions = true,
        description = "Trains every combination of the comma lists --lr, --rank, --variant and --seed (one Spark task each) on the same "
                + "data, tabulates the validation losses (a Spark DataFrame, results.json) and exports the best adapter.")
final class DistributedSweep implements Callable<Integer> {
    @Option(names = "--data", required = true, description = "training data (plain text or JSONL), sent to every task")
    Path data;

    @Option(names = "--val", description = "validation data of the same format (default: the tail of --data, --val-fraction)")
    Path val;

    @Option(names = "--val-fraction", defaultValue = "0.1", description = "share of --data kept for validation without --val (default: ${DEFAULT-VALUE})")
    double valFraction;

    @Option(names = "--lr", split = ",", defaultValue = "2e-4", description = "learning rates (default: ${DEFAULT-VALUE})")
    List<Float> lrs;

    @Option(names = {"-r", "--rank"}, split = ",", defaultValue = "8", description = "ranks (default: ${DEFAULT-VALUE})")
    List<Integer> ranks;

    @Option(names = "--variant", split = ",", defaultValue = "lora", description = "variants: lora, copra, cola, cora, lorasc (default: ${DEFAULT-VALUE})")
    List<String> variants;

    @Option(names = {"-s", "--seed"}, split = ",", defaultValue = "42", description = "seeds (default: ${DEFAULT-VALUE})")
    List<Long> seeds;

    @Mixin
    JobOptions job;

    @Override
    public Integer call() throws Exception {
        SweepJob.Config c = config();
        SparkSession spark = SparkJobs.session(job.master, job.conf);
        try {
            SweepJob.run(spark, c, System.out);
        } finally {
            spark.stop();
        }
        return 0;
    }

    /** The sweep from the options, every value and grid point checked (the data is read here, before Spark starts). */
    SweepJob.Config config() throws java.io.IOException {
        GgmlType type = job.check();
        JobOptions.input("--data", data);
        JobOptions.input("--val", val);
        RunSettings first = job.settings(ranks.getFirst(), lrs.getFirst(), variants.getFirst(), seeds.getFirst());
        return new SweepJob.Config(job.model, Sharding.whole(data, val, valFraction), first, lrs, ranks, variants, seeds, job.out,
                job.checkpoints(), job.device, job.threads, job.saveEvery, type);
    }
}
