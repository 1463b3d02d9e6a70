package io.panlora.generate;

import io.panlora.model.KvCache;
import io.panlora.model.LlamaModel;
import io.panlora.tokenizer.TokenStreamDecoder;
import io.panlora.tokenizer.Tokenizer;
import java.io.PrintStream;

/**
 * Autoregressive generation with a KV cache: prompt, then sampled tokens until EOG, n tokens or a full context. Nothing is
 * printed but the pieces to the stream the caller passes; the timings come back in the {@link Result}.
 */
public final class Generator {
    private Generator() {}

    /**
     * What a generation did.
     *
     * @param text            the generated text (without the prompt)
     * @param promptTokens    tokens of the prompt (BOS included)
     * @param generatedTokens tokens sampled
     * @param seconds         wall time of the prompt and the sampled tokens
     */
    public record Result(String text, int promptTokens, int generatedTokens, double seconds) {
        /** Sampled tokens per second (NaN when none were). */
        public double tokensPerSecond() {
            return generatedTokens == 0 ? Double.NaN : generatedTokens / seconds;
        }
    }

    /** Generates up to nPredict tokens after prompt, streaming pieces to out (may be null); returns the generated text. */
    public static String generate(LlamaModel m, Tokenizer tok, String prompt, int nPredict, int nCtx, Sampler sampler, PrintStream out) {
        return run(m, tok, prompt, nPredict, nCtx, sampler, out).text();
    }

    /** As {@link #generate}, with the token counts and the time taken. */
    public static Result run(LlamaModel m, Tokenizer tok, String prompt, int nPredict, int nCtx, Sampler sampler, PrintStream out) {
        int[] ids = tok.encode(prompt, true, false);
        if (ids.length == 0) throw new IllegalArgumentException("the prompt encodes to no tokens and the model has no BOS token");
        if (ids.length >= nCtx) throw new IllegalArgumentException("the prompt has " + ids.length + " tokens; the context holds " + nCtx);
        TokenStreamDecoder stream = new TokenStreamDecoder(tok);
        StringBuilder gen = new StringBuilder();
        long t0 = System.nanoTime();
        int produced = 0;
        try (KvCache cache = m.newKvCache(nCtx)) {
            for (int id : ids) sampler.accept(id);
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
            String rest = stream.finish();
            gen.append(rest);
            if (out != null) out.print(rest);
        }
        return new Result(gen.toString(), ids.length, produced, (System.nanoTime() - t0) / 1e9);
    }
}
