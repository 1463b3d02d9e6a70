package io.panlora.cli;

import io.panlora.model.LlamaModel;
import io.panlora.model.Perplexity;
import io.panlora.model.TokenizerLoader;
import io.panlora.tokenizer.Tokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code panlora perplexity}: mean NLL and perplexity of a text file, window by window. */
@Command(name = "perplexity", mixinStandardHelpOptions = true,
        description = "Perplexity of a text file: the text is cut into windows of ctx tokens (BOS first), every next-token prediction scored.")
final class PerplexityCommand implements Callable<Integer> {
    @Option(names = {"-m", "--model"}, required = true, description = "GGUF model file")
    Path model;

    @Option(names = {"-f", "--file"}, required = true, description = "text file (UTF-8)")
    Path file;

    @Option(names = {"-c", "--ctx-size"}, defaultValue = "512", description = "window size in tokens, BOS included (default: ${DEFAULT-VALUE})")
    int ctx;

    @Option(names = "--chunks", defaultValue = "-1", description = "score at most this many windows (-1 = all)")
    int chunks;

    @Option(names = {"-b", "--batch"}, defaultValue = "4", description = "windows per engine call (default: ${DEFAULT-VALUE})")
    int batch;

    @Option(names = "--second-half", description = "score only the second half of each window, as llama.cpp's llama-perplexity does")
    boolean secondHalf;

    @Mixin
    CommonOptions common;

    @Mixin
    WeightsOption weights;

    @Mixin
    AdapterOptions adapters;

    @Override
    public Integer call() throws Exception {
        Check.inputFile("-m", model);
        Check.inputFile("--file", file);
        Check.range("--ctx-size", ctx, 2, Check.MAX_CTX);
        if (chunks != -1) Check.range("--chunks", chunks, 1, Integer.MAX_VALUE);
        Check.range("--batch", batch, 1, 1 << 20);
        adapters.checkArguments();
        common.apply();
        var where = common.load(weights.placement());
        common.checkTensors(model);
        MemoryPlan.forInference(model, where, batch, -ctx, file).check(common.maxMemory());
        String text = Files.readString(file);
        try (LlamaModel m = LlamaModel.load(model, where); var lora = adapters.apply(m)) {
            Tokenizer tok = TokenizerLoader.fromGguf(m.gguf().orElseThrow());
            int c = Math.min(ctx, (int) m.config().nCtxTrain());
            long t0 = System.nanoTime();
            Perplexity.Result r = Perplexity.evaluate(m, tok, text, c, chunks, batch, secondHalf ? c / 2 : 0,
                    (done, total, running) -> System.err.printf("\r[%d/%d] ppl so far %.4f", done, total, Math.exp(running)));
            System.err.println();
            double secs = (System.nanoTime() - t0) / 1e9;
            System.out.printf("file: %s%nwindows: %d x %d tokens, %d predictions scored%nmean NLL: %.4f nats/token%nperplexity: %.4f%n",
                    file, r.windows(), c, r.predictions(), r.meanNll(), Math.exp(r.meanNll()));
            System.err.printf("panlora: %.1f tokens/s%n", r.predictions() / secs);
        }
        return 0;
    }
}
