package io.panlora.llamacpp;

import io.panlora.gguf.GgufFile;
import io.panlora.model.TokenizerLoader;
import io.panlora.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * What storing adapters in a smaller type costs when llama.cpp runs them: the mean NLL of one window through llama.cpp with
 * the adapters as given and with their F16 versions (the same window as {@link Parity}: panlora's token ids of the text, BOS
 * as the vocabulary asks, at most the model's training context), in one llama.cpp model and context.
 */
public final class QuantizationCost {
    private QuantizationCost() {}

    /**
     * The two NLLs of one window.
     *
     * @param window predictions + 1 (tokens evaluated)
     * @param nll    llama.cpp's mean NLL with the adapters as given, nats/token
     * @param f16Nll the same with the F16 versions
     */
    public record Result(int window, double nll, double f16Nll) {
        /**
         * What the smaller type costs.
         *
         * @return nll − f16Nll, nats/token: positive when the smaller type is worse
         */
        public double cost() {
            return nll - f16Nll;
        }
    }

    /**
     * Measures both NLLs. The text is tokenized with panlora's tokenizer read from the base (BOS as the vocabulary asks);
     * the window is its first min(window, token count, training context) tokens. llama.cpp runs on the CPU with an F32
     * cache; both adapter lists are loaded into the one model, applied in turn, and closed with it before returning.
     *
     * @param base     the base model's GGUF file
     * @param adapters the adapters with their scales
     * @param f16      their F16 versions, in the same order (the scales are taken from adapters)
     * @param text     the text to evaluate
     * @param window   at most this many tokens are evaluated, at least 2
     * @param threads  llama.cpp's threads (0: all cores)
     * @return both mean NLLs and the window's length
     * @throws IOException                   if the base model cannot be read
     * @throws IllegalArgumentException      if the lists differ in length, window is less than 2 or the text gives fewer
     *                                       than 2 tokens
     * @throws LlamaCppException             if llama.cpp is not built or fails to load a model or adapter or to evaluate
     * @throws io.panlora.gguf.GgufException if the base is not a valid GGUF file or has no tokenizer panlora can read
     */
    public static Result measure(Path base, List<Parity.Adapter> adapters, List<Path> f16, String text, int window, int threads)
            throws IOException {
        if (adapters.size() != f16.size())
            throw new IllegalArgumentException(adapters.size() + " adapters but " + f16.size() + " F16 versions");
        if (window < 2) throw new IllegalArgumentException("the window must hold at least 2 tokens, got " + window);
        int[] ours;
        try (GgufFile g = GgufFile.open(base)) {
            Tokenizer tok = TokenizerLoader.fromGguf(g);
            ours = tok.encode(text, true, false);
        }
        try (LlamaCppModel lm = LlamaCppModel.load(base)) {
            int n = Math.min(Math.min(window, ours.length), lm.nCtxTrain() > 0 ? lm.nCtxTrain() : Integer.MAX_VALUE);
            if (n < 2) throw new IllegalArgumentException("the text gives " + ours.length + " tokens: at least 2 are needed");
            int[] ids = Arrays.copyOf(ours, n);
            int nv = lm.nVocab();
            try (LlamaCppContext ctx = lm.newContext(new LlamaCppContext.Options(n, Math.min(n, 512), threads, true))) {
                List<Parity.Adapter> halfFiles = new ArrayList<>();
                for (int i = 0; i < adapters.size(); i++) halfFiles.add(new Parity.Adapter(f16.get(i), adapters.get(i).scale()));
                List<LlamaCppContext.Scaled> given = lm.loadAdapters(adapters), half = lm.loadAdapters(halfFiles);
                ctx.setAdapters(given);
                double q = Parity.meanNll(ctx.logits(ids), ids, nv);
                ctx.setAdapters(half);
                double h = Parity.meanNll(ctx.logits(ids), ids, nv);
                return new Result(n, q, h);
            }
        }
    }
}
