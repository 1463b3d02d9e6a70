package io.panlora.spark;

import io.panlora.gguf.GgmlType;
import io.panlora.merge.AdapterMerge;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import org.apache.spark.sql.SparkSession;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code panlora distributed train}: federated training over K shards, merged, for one or more rounds (see {@link FederatedJob}). */
@Command(name = "train", mixinStandardHelpOptions = true,
        description = "Trains one adapter per shard of the data (one Spark task each), merges them, optionally for several rounds "
                + "(each starting from the last merge), evaluates and exports the merge.")
final class DistributedTrain implements Callable<Integer> {
    /** Where the shards come from: one file cut into K, or K named files. */
    static final class Source {
        @Option(names = "--data", description = "training data (plain text or JSONL), cut into --shards shards")
        Path data;

        @Option(names = "--dataset", description = "a dataset that is one shard (repeat for K shards)")
        List<Path> datasets;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    Source source;

    @Option(names = {"-k", "--shards"}, defaultValue = "2", description = "shards of --data (default: ${DEFAULT-VALUE})")
    int shards;

    @Option(names = "--split", defaultValue = "contiguous", description = "how --data is cut: contiguous (shard i takes the i-th part) "
            + "or interleaved (record j to shard j mod K) (default: ${DEFAULT-VALUE})")
    String split;

    @Option(names = "--val-fraction", defaultValue = "0.1", description = "share of each shard kept for validation (default: ${DEFAULT-VALUE})")
    double valFraction;

    @Option(names = "--rounds", defaultValue = "1", description = "merge rounds; round r+1 starts from round r's merge (default: ${DEFAULT-VALUE})")
    int rounds;

    @Option(names = "--merge", defaultValue = "linear", description = "linear (FedAvg of the factors), ties, dare or svd (default: ${DEFAULT-VALUE})")
    String merge;

    @Option(names = "--merge-rank", description = "rank of a ties, dare or svd merge; 0: the sum of the shard ranks (default: --rank)")
    Integer mergeRank;

    @Option(names = "--density", defaultValue = "0.5", description = "ties' and dare's density (default: ${DEFAULT-VALUE})")
    double density;

    @Option(names = "--weighting", defaultValue = "size", description = "size (each shard by its training windows) or uniform (default: ${DEFAULT-VALUE})")
    String weighting;

    @Option(names = {"-r", "--rank"}, defaultValue = "8", description = "LoRA rank (default: ${DEFAULT-VALUE})")
    int rank;

    @Option(names = "--lr", defaultValue = "2e-4", description = "peak learning rate (default: ${DEFAULT-VALUE})")
    float lr;

    @Option(names = {"-s", "--seed"}, defaultValue = "42", description = "seed of the shared init, the data order and the variant (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--variant", defaultValue = "copra", description = "training strategy: copra (recommended: linearly mode-connected adapters), lora, cola, cora, lorasc (default: ${DEFAULT-VALUE})")
    String variant;

    @Option(names = "--bench", description = "time round 1's K trainings as Spark tasks (default master local[2]) against the same trainings one after another in this JVM; nothing is merged")
    boolean bench;

    @Option(names = "--bench-reps", defaultValue = "3", description = "with --bench: repetitions of each side (default: ${DEFAULT-VALUE})")
    int benchReps;

    @Option(names = "--inject-failure", hidden = true, paramLabel = "SHARD:STEP", description = "fault-tolerance test: the first attempt of shard SHARD fails after its checkpoint of step STEP")
    String injectFailure;

    @Mixin
    JobOptions job;

    @Override
    public Integer call() throws Exception {
        FederatedJob.Config c = config();
        String master = job.master != null ? job.master : bench ? "local[2]" : null;
        SparkSession spark = SparkJobs.session(master, job.conf);
        try {
            if (bench) FederatedBench.run(spark, c, benchReps, System.out);
            else FederatedJob.run(spark, c, System.out);
        } finally {
            spark.stop();
        }
        return 0;
    }

    /** The job from the options, every value checked (the data is read and cut here, before Spark starts). */
    FederatedJob.Config config() throws java.io.IOException {
        GgmlType type = job.check();
        RunSettings settings = job.settings(rank, lr, variant, seed);
        AdapterMerge.Method m = FederatedMerge.parse(merge);
        if (!weighting.equals("size") && !weighting.equals("uniform"))
            throw new IllegalArgumentException("--weighting must be size or uniform, got " + weighting);
        if (rounds < 1) throw new IllegalArgumentException("--rounds must be at least 1, got " + rounds);
        int failTask = -1, failStep = 0;
        if (injectFailure != null) {
            String[] p = injectFailure.split(":");
            failTask = Integer.parseInt(p[0]);
            failStep = Integer.parseInt(p[1]);
        }
        List<Shard> parts;
        if (source.data != null) {
            JobOptions.input("--data", source.data);
            parts = Sharding.split(source.data, shards, Sharding.Mode.parse(split), valFraction);
        } else {
            for (Path d : source.datasets) JobOptions.input("--dataset", d);
            parts = Sharding.named(source.datasets, valFraction);
        }
        return new FederatedJob.Config(job.model, parts, settings, rounds, m, mergeRank != null ? mergeRank : rank, density,
                weighting.equals("uniform"), job.out, job.checkpoints(), job.device, job.threads, job.saveEvery, type, failTask, failStep);
    }
}
