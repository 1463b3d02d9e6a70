package io.panlora.cli;

import io.panlora.generate.Generator;
import io.panlora.generate.Sampler;
import io.panlora.model.LlamaModel;
import io.panlora.model.TokenizerLoader;
import io.panlora.tokenizer.Tokenizer;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code panlora generate}: text completion from a prompt, like llama.cpp's llama-cli/llama-simple. */
@Command(name = "generate", mixinStandardHelpOptions = true, description = "Generate text from a prompt.")
final class GenerateCommand implements Callable<Integer> {
    @Option(names = {"-m", "--model"}, required = true, description = "GGUF model file")
    Path model;

    @Option(names = {"-p", "--prompt"}, defaultValue = "", description = "prompt text (default: empty, BOS only)")
    String prompt;

    @Option(names = {"-n", "--n-predict"}, defaultValue = "128", description = "tokens to generate (default: ${DEFAULT-VALUE})")
    int nPredict;

    @Option(names = {"-c", "--ctx-size"}, defaultValue = "0", description = "context size (default: the model's, at most 4096)")
    int ctx;

    @Option(names = "--temp", defaultValue = "0.8", description = "temperature, 0 = greedy (default: ${DEFAULT-VALUE})")
    float temp;

    @Option(names = "--top-k", defaultValue = "40", description = "top-k, 0 = off (default: ${DEFAULT-VALUE})")
    int topK;

    @Option(names = "--top-p", defaultValue = "0.95", description = "top-p, 1 = off (default: ${DEFAULT-VALUE})")
    float topP;

    @Option(names = "--min-p", defaultValue = "0.05", description = "min-p, 0 = off (default: ${DEFAULT-VALUE})")
    float minP;

    @Option(names = "--repeat-penalty", defaultValue = "1.0", description = "repetition penalty, 1 = off (default: ${DEFAULT-VALUE})")
    float repeatPenalty;

    @Option(names = "--repeat-last-n", defaultValue = "64", description = "tokens the penalty looks back over (default: ${DEFAULT-VALUE})")
    int repeatLastN;

    @Option(names = {"-s", "--seed"}, defaultValue = "-1", description = "RNG seed, -1 = random (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--no-display-prompt", description = "do not print the prompt before the generated text")
    boolean noDisplayPrompt;

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
        Check.range("--n-predict", nPredict, 0, Check.MAX_CTX);
        Check.range("--ctx-size", ctx, 0, Check.MAX_CTX);
        if (ctx == 1) throw Check.bad("--ctx-size", ctx, "must be 0 (the model's) or at least 2");
        Check.nonNegative("--temp", temp);
        Check.range("--top-k", topK, 0, Integer.MAX_VALUE);
        Check.range("--top-p", topP, 0, 1);
        Check.range("--min-p", minP, 0, 1);
        Check.positive("--repeat-penalty", repeatPenalty);
        Check.range("--repeat-last-n", repeatLastN, 0, Check.MAX_CTX);
        adapters.checkArguments();
        boolean llama = engine.llamaCpp();
        common.apply();
        var where = common.load(weights.placement());
        common.checkTensors(model);
        MemoryPlan.forInference(model, where, 0, ctx > 0 ? ctx : -4096, null).check(common.maxMemory());
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        if (llama) return generateWithLlamaCpp(where.device(), out);
        try (LlamaModel m = LlamaModel.load(model, where); var lora = adapters.apply(m)) {
            Tokenizer tok = TokenizerLoader.fromGguf(m.gguf().orElseThrow());
            int nCtx = ctx > 0 ? ctx : (int) Math.min(m.config().nCtxTrain(), 4096);
            long s = seed >= 0 ? seed : System.nanoTime();
            if (!noDisplayPrompt) out.print(prompt);
            Generator.Result g = Generator.run(m, tok, prompt, nPredict, nCtx, new Sampler(temp, topK, topP, minP, repeatPenalty, repeatLastN, s), out);
            if (g.generatedTokens() > 0)
                System.err.printf("%npanlora: %d tokens in %.2f s (%.1f tokens/s, prompt %d tokens)%n", g.generatedTokens(), g.seconds(),
                        g.tokensPerSecond(), g.promptTokens());
            out.println();
            System.err.printf("panlora: generated %d chars (seed %d)%n", g.text().length(), s);
        }
        return 0;
    }

    /** The same through llama.cpp: its tokenizer, its adapters at the same scales, its sampler chain with the same settings. */
    private int generateWithLlamaCpp(io.panlora.model.Device device, PrintStream out) {
        EngineOption.announce();
        try (var lm = io.panlora.llamacpp.LlamaCppModel.load(model, EngineOption.loadOptions(device))) {
            int nCtx = ctx > 0 ? ctx : Math.min(lm.nCtxTrain(), 4096);
            var scaled = lm.loadAdapters(adapters.all());
            long s = seed >= 0 ? seed : System.nanoTime() & 0x7fffffffL;
            int[] ids = lm.tokenize(prompt, true, false);
            if (ids.length == 0) throw new IllegalArgumentException("the prompt gives no tokens and the model adds no BOS");
            if (ids.length >= nCtx) throw new IllegalArgumentException("the prompt has " + ids.length + " tokens, more than the context of " + nCtx);
            try (var c = lm.newContext(new io.panlora.llamacpp.LlamaCppContext.Options(nCtx, Math.min(nCtx, 512),
                    common.threads == null ? 0 : common.threads, false));
                 var sampler = new io.panlora.llamacpp.LlamaCppSampler(lm.nVocab(), temp, topK, topP, minP, repeatPenalty, repeatLastN, s)) {
                c.setAdapters(scaled);
                if (!noDisplayPrompt) out.print(prompt);
                int[] gen = c.generate(ids, nPredict, sampler, t -> {
                    out.writeBytes(lm.pieceBytes(t, false));
                    out.flush();
                    return true;
                });
                out.println();
                System.err.printf("panlora: llama.cpp generated %d tokens (seed %d)%n", gen.length, s);
            }
        }
        return 0;
    }
}
