package io.panlora.cli;

import io.panlora.generate.Sampler;
import io.panlora.generate.TextStream;
import io.panlora.model.KvCache;
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

    @Option(names = {"-s", "--seed"}, defaultValue = "-1", description = "RNG seed, -1 = random (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--no-display-prompt", description = "do not print the prompt before the generated text")
    boolean noDisplayPrompt;

    @Mixin
    CommonOptions common;

    @Override
    public Integer call() {
        common.apply();
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        try (LlamaModel m = LlamaModel.load(model)) {
            Tokenizer tok = TokenizerLoader.fromGguf(m.gguf().orElseThrow());
            int nCtx = ctx > 0 ? ctx : (int) Math.min(m.config().nCtxTrain(), 4096);
            long s = seed >= 0 ? seed : System.nanoTime();
            String text = generate(m, tok, prompt, nPredict, nCtx, new Sampler(temp, topK, topP, s), out, !noDisplayPrompt);
            out.println();
            System.err.printf("panlora: generated %d chars (seed %d)%n", text.length(), s);
        }
        return 0;
    }

    /** Generates up to nPredict tokens after prompt, streaming pieces to out; returns the generated text. */
    static String generate(LlamaModel m, Tokenizer tok, String prompt, int nPredict, int nCtx, Sampler sampler,
                           PrintStream out, boolean echoPrompt) {
        int[] ids = tok.encode(prompt, true, false);
        if (ids.length == 0) throw new IllegalArgumentException("the prompt encodes to no tokens and the model has no BOS token");
        if (ids.length >= nCtx) throw new IllegalArgumentException("the prompt has " + ids.length + " tokens; the context holds " + nCtx);
        if (echoPrompt && out != null) out.print(prompt);
        TextStream stream = new TextStream(tok);
        StringBuilder gen = new StringBuilder();
        long t0 = System.nanoTime();
        int produced = 0;
        try (KvCache cache = m.newKvCache(nCtx)) {
            float[] logits = cache.decode(ids);
            for (int i = 0; i < nPredict && ids.length + i < nCtx; i++) {
                int next = sampler.sample(logits);
                if (tok.isEog(next)) break;
                String piece = stream.push(next);
                gen.append(piece);
                if (out != null) out.print(piece);
                produced++;
                if (ids.length + i + 1 >= nCtx) break;
                logits = cache.decode(next);
            }
            String rest = stream.flush();
            gen.append(rest);
            if (out != null) out.print(rest);
        }
        double secs = (System.nanoTime() - t0) / 1e9;
        if (out != null && produced > 0)
            System.err.printf("%npanlora: %d tokens in %.2f s (%.1f tokens/s, prompt %d tokens)%n", produced, secs, produced / secs, ids.length);
        return gen.toString();
    }
}
