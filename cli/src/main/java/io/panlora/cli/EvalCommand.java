package io.panlora.cli;

import io.panlora.data.ChatTemplate;
import io.panlora.data.ReadOptions;
import io.panlora.model.LlamaModel;
import io.panlora.model.TokenizerLoader;
import io.panlora.tokenizer.Tokenizer;
import io.panlora.train.DatasetBatches;
import io.panlora.train.Trainer;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code panlora eval}: the loss a model (with adapters) gets on training-format data, counting trained tokens only. */
@Command(name = "eval", mixinStandardHelpOptions = true,
        description = "Mean NLL and perplexity on text or JSONL data, over the tokens training would count (answers only for instruction data).")
final class EvalCommand implements Callable<Integer> {
    @Option(names = {"-m", "--model"}, required = true, description = "GGUF model file")
    Path model;

    @Option(names = "--data", required = true, description = "text or JSONL data, in any format train accepts")
    Path data;

    @Option(names = {"-c", "--ctx"}, defaultValue = "256", description = "tokens per window (default: ${DEFAULT-VALUE})")
    int ctx;

    @Option(names = {"-b", "--batch"}, defaultValue = "4", description = "windows per engine call (default: ${DEFAULT-VALUE})")
    int batch;

    @Option(names = "--chat-template", description = "chat template for {messages} data (default: the model's)")
    String chatTemplate;

    @Option(names = "--skip-bad-lines", description = "skip malformed JSONL lines instead of refusing the file")
    boolean skipBad;

    @Mixin
    CommonOptions common;

    @Mixin
    WeightsOption weights;

    @Mixin
    AdapterOptions adapters;

    @Override
    public Integer call() throws Exception {
        Check.inputFile("-m", model);
        Check.inputFile("--data", data);
        Check.range("--ctx", ctx, 2, Check.MAX_CTX);
        Check.range("--batch", batch, 1, 1 << 20);
        if (chatTemplate != null) ChatTemplate.named(chatTemplate);
        adapters.checkArguments();
        common.apply();
        var where = common.load(weights.placement());
        common.checkTensors(model);
        MemoryPlan.forInference(model, where, batch, ctx, data).check(common.maxMemory());
        try (LlamaModel m = LlamaModel.load(model, where); var lora = adapters.apply(m)) {
            Tokenizer tok = TokenizerLoader.fromGguf(m.gguf().orElseThrow());
            ReadOptions ro = ReadOptions.defaults().withSkipBadLines(skipBad);
            if (chatTemplate != null) ro = ro.withChatTemplate(ChatTemplate.named(chatTemplate));
            long t0 = System.nanoTime();
            var batches = DatasetBatches.evaluationSet(data, tok, ro, ctx, batch, 0);
            double nll = Trainer.evaluate(m, batches);
            long targets = batches.stream().mapToLong(b -> b.targetCount()).sum();
            System.out.printf("data: %s, %d windows of %d tokens, %d scored tokens%nmean NLL: %.4f nats/token%nperplexity: %.4f%n",
                    data, batches.stream().flatMap(b -> java.util.Arrays.stream(b.targets()))
                            .filter(row -> java.util.Arrays.stream(row).anyMatch(x -> x >= 0)).count(), ctx, targets, nll, Math.exp(nll));
            System.err.printf("panlora: %.1f s%n", (System.nanoTime() - t0) / 1e9);
        }
        return 0;
    }
}
