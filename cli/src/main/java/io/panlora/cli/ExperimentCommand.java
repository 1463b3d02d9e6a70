package io.panlora.cli;

import io.panlora.experiment.ExperimentCatalog;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code panlora experiment NAME}: one seed paper's claim tested with the paired-seed protocol of io.panlora.experiment. */
@Command(name = "experiment", mixinStandardHelpOptions = true,
        description = {"Tests a seed paper's claim on the pretrained stories260K base: fixed train/validation/test splits of Tiny Shakespeare, "
                + "each arm's learning rate chosen on validation (one seed), then N paired seeds per arm on test; mean ± SD, 95%% CIs of the "
                + "paired differences, and whether each claim held at this scale. Writes results.json, results.md and figures (SVG and PNG).",
                "Experiments: cola (Chain of LoRA vs LoRA r and LoRA M·r, chain-length ablation, seconds per step), "
                        + "cora (CoRA modes 1 and 2 × shared/principal/minor vs LoRA r and r/2, random frozen B as control), "
                        + "lorasc (LoRASC, its α/γ ablations and LoRA r and 3r in an over-fitting regime: validation curves, test, Grimm and "
                        + "self-instruct losses, stability over the learning-rate grid), "
                        + "copra-prune (CopRA vs LoRA: every other layer's adapters pruned, the k lowest-Shapley layers with exact Shapley values, "
                        + "50%% magnitude pruning), "
                        + "copra-merge (CopRA vs LoRA: three adapters from one init on Shakespeare, Grimm and TinyStories; interpolation barriers, 1:1:1 and 1:2 merges)."})
final class ExperimentCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "NAME", description = "cola | cora | lorasc | copra-prune | copra-merge")
    String name;

    @Option(names = "--seeds", defaultValue = "5", description = "paired test seeds per arm (default: ${DEFAULT-VALUE})")
    int seeds;

    @Option(names = "--quick", description = "small corpus, few steps, fewer arms: a smoke test of the whole pipeline, not evidence")
    boolean quick;

    @Option(names = {"-o", "--out"}, description = "output directory (default: runs/experiment-NAME)")
    Path out;

    @Option(names = {"-m", "--model"}, description = "base model (default: stories260K.gguf of the shared data directory)")
    Path model;

    @Option(names = "--data-dir", description = "directory with tinyshakespeare.txt, grimm-pg2591.txt, tinystories-valid-sample.txt and "
            + "selfinstruct-user-oriented.jsonl "
            + "(default: $PANLORA_SHARED_DATA, else ../shared/data beside the checkout)")
    Path dataDir;

    @Mixin
    CommonOptions common;

    @Override
    public Integer call() throws Exception {
        if (!ExperimentCatalog.NAMES.contains(name))
            throw new IllegalArgumentException("unknown experiment '" + name + "' (" + String.join(", ", ExperimentCatalog.NAMES) + ")");
        Check.range("--seeds", seeds, 1, 1000);
        Path data = dataDir;
        if (data == null) {
            String env = System.getenv("PANLORA_SHARED_DATA");
            data = env != null && !env.isBlank() ? Path.of(env) : io.panlora.demo.JdkCorpora.sharedData();
        }
        if (data == null || !Files.isDirectory(data))
            throw new IllegalArgumentException("give --data-dir DIR (the shared data directory was not found" + (data == null ? "" : ": " + data) + ")");
        Path m = model != null ? model : data.resolve("stories260K.gguf");
        Check.inputFile("-m", m);
        for (String f : switch (name) {
            case "cora" -> new String[] {"tinyshakespeare.txt", "grimm-pg2591.txt", "tinystories-valid-sample.txt"};
            case "lorasc" -> new String[] {"tinyshakespeare.txt", "grimm-pg2591.txt", "selfinstruct-user-oriented.jsonl"};
            case "copra-merge" -> new String[] {"tinyshakespeare.txt", "grimm-pg2591.txt", "tinystories-valid-sample.txt"};
            default -> new String[] {"tinyshakespeare.txt"};
        })
            Check.inputFile("--data-dir", data.resolve(f));
        Path o = out != null ? out : Path.of("runs", "experiment-" + name);
        common.apply();
        ExperimentCatalog.run(name, new ExperimentCatalog.Options(m, data, seeds, quick, o, common.load(null)), System.out);
        return 0;
    }
}
