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

    @Mixin
    EngineOption engine;

    @Override
    public Integer call() throws Exception {
        Check.inputFile("-m", model);
        Check.inputFile("--file", file);
        Check.range("--ctx-size", ctx, 2, Check.MAX_CTX);
        if (chunks != -1) Check.range("--chunks", chunks, 1, Integer.MAX_VALUE);
        Check.range("--batch", batch, 1, 1 << 20);
        adapters.checkArguments();
        boolean llama = engine.llamaCpp();
        common.apply();
        var where = common.load(weights.placement());
        common.checkTensors(model);
        MemoryPlan.forInference(model, where, batch, -ctx, file).check(common.maxMemory());
        String text = Files.readString(file);
        if (llama) return withLlamaCpp(where.device(), text);
        try (LlamaModel m = LlamaModel.load(model, where); var lora = adapters.apply(m)) {
            Tokenizer tok = TokenizerLoader.fromGguf(m.gguf().orElseThrow());
            int c = Math.min(ctx, (int) m.config().nCtxTrain());
            long t0 = System.nanoTime();
            Perplexity.Result r = secondHalf
                    ? Perplexity.secondHalf(tok.encode(text, true, false), tok.addBos() ? tok.bos() : -1, c, chunks, batch, m::nll, PROGRESS)
                    : Perplexity.evaluate(m, tok, text, c, chunks, batch, 0, PROGRESS);
            System.err.println();
            double secs = (System.nanoTime() - t0) / 1e9;
            print(r, c);
            System.err.printf("panlora: %.1f tokens/s%n", r.predictions() / secs);
        }
        return 0;
    }

    private static final Perplexity.Progress PROGRESS =
            (done, total, running) -> System.err.printf("\r[%d/%d] ppl so far %.4f", done, total, Math.exp(running));

    private void print(Perplexity.Result r, int c) {
        System.out.printf("file: %s%n%s: %d x %d tokens, %d predictions scored%nmean NLL: %.6f nats/token%nperplexity: %.6f%n",
                file, secondHalf ? "chunks (second half scored, as llama-perplexity)" : "windows", r.windows(), c, r.predictions(),
                r.meanNll(), Math.exp(r.meanNll()));
    }

    /** The same windows (or llama-perplexity's chunks) scored by llama.cpp, its tokenizer and its adapters at the same scales. */
    private int withLlamaCpp(io.panlora.model.Device device, String text) {
        EngineOption.announce();
        try (var lm = io.panlora.llamacpp.LlamaCppModel.load(model, EngineOption.loadOptions(device))) {
            int c = Math.min(ctx, lm.nCtxTrain());
            var scaled = lm.loadAdapters(adapters.all());
            try (var cx = lm.newContext(io.panlora.llamacpp.LlamaCppContext.Options.forWindows(c, common.threads == null ? 0 : common.threads, false))) {
                cx.setAdapters(scaled);
                long t0 = System.nanoTime();
                int bos = lm.bos();
                Perplexity.Result r = secondHalf
                        ? Perplexity.secondHalf(lm.tokenize(text, true, false), lm.addsBos() ? bos : -1, c, chunks, cx.options().nSeq(), cx::nll, PROGRESS)
                        : Perplexity.evaluate(lm.tokenize(text, false, false), bos, c, chunks, cx.options().nSeq(), 0, cx::nll, PROGRESS);
                System.err.println();
                print(r, c);
                System.err.printf("llama.cpp: %.1f tokens/s%n", r.predictions() / ((System.nanoTime() - t0) / 1e9));
            }
        }
        return 0;
    }
}
