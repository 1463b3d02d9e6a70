package io.panlora.cli;

import io.panlora.demo.Demo;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code panlora demo}: the main job — pretrain (cached), LoRA fine-tune, export Q8_0, compare. */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Pretrain a small LLaMA on the JDK's manuals (cached), LoRA-fine-tune it on the JDK's legal notices, export a Q8_0 adapter.")
final class DemoCommand implements Callable<Integer> {
    @Option(names = "--cache", description = "cache for corpora and the base model (default: models/cache)")
    Path cache;

    @Option(names = {"-o", "--output"}, defaultValue = "runs/demo", description = "run directory (default: ${DEFAULT-VALUE})")
    Path out;

    @Option(names = "--base-steps", defaultValue = "600", description = "pretraining steps of the base (default: ${DEFAULT-VALUE})")
    int baseSteps;

    @Option(names = "--lora-steps", defaultValue = "150", description = "LoRA steps (default: ${DEFAULT-VALUE})")
    int loraSteps;

    @Option(names = "--rebuild-base", description = "pretrain the base again even if cached")
    boolean rebuild;

    @Mixin
    CommonOptions common;

    @Override
    public Integer call() throws Exception {
        Check.range("--base-steps", baseSteps, 0, Integer.MAX_VALUE);
        Check.range("--lora-steps", loraSteps, 1, Integer.MAX_VALUE);
        Check.outputDirectory("-o", out);
        if (cache != null) Check.outputDirectory("--cache", cache);
        common.apply();
        String home = System.getProperty("panlora.home", ".");
        Path c = cache != null ? cache : Path.of(home, "models", "cache");
        long t0 = System.nanoTime();
        Demo.run(new Demo.Options(c, out, baseSteps, loraSteps, rebuild, System.out, io.panlora.model.LlamaModel.LoadOptions.on(common.device())));
        System.out.printf("%ndemo finished in %.0f s%n", (System.nanoTime() - t0) / 1e9);
        return 0;
    }
}
