package io.panlora.generate;

import io.panlora.model.KvCache;
import io.panlora.model.LlamaModel;
import io.panlora.tokenizer.TokenStreamDecoder;
import io.panlora.tokenizer.Tokenizer;
import java.io.PrintStream;

/**
 * Autoregressive generation with a KV cache: prompt, then sampled tokens until EOG, n tokens or a full context. Nothing is
 * printed but the pieces to the stream the caller passes; the timings come back in the {@link Result}.
 *
 * <p>Each call creates and closes its own {@link KvCache} on the calling thread. The model's attached adapters, if any,
 * take part. The sampler is stateful (its random stream and repetition history advance); the prompt's tokens are fed to
 * its history first.
 */
public final class Generator {
    private Generator() {}

    /**
     * What a generation did.
     *
     * @param text            the generated text (without the prompt)
     * @param promptTokens    tokens of the prompt (BOS included)
     * @param generatedTokens tokens sampled
     * @param seconds         wall time in seconds of the prompt and the sampled tokens, cache creation included
     */
    public record Result(String text, int promptTokens, int generatedTokens, double seconds) {
        /**
         * Sampled tokens per second over the whole run. {@link #seconds} includes the prompt's processing, so this
         * understates the decoding rate for a long prompt.
         *
         * @return generatedTokens / seconds, or NaN when no token was sampled
         */
        public double tokensPerSecond() {
            return generatedTokens == 0 ? Double.NaN : generatedTokens / seconds;
        }
    }

    /**
     * Generates up to nPredict tokens after prompt, streaming pieces to out (may be null); returns the generated text.
     *
     * @param m        the model
     * @param tok      the model's tokenizer
     * @param prompt   the prompt, encoded with the vocabulary's special tokens (BOS, and EOS, when the vocabulary adds
     *                 them) and control-token text taken literally
     * @param nPredict the most tokens to sample; 0 or less samples none
     * @param nCtx     the KV cache's capacity in tokens: prompt and generated tokens together are at most this many
     * @param sampler  picks each token (and records the prompt and the tokens it picks)
     * @param out      receives each decoded piece as soon as it is complete text, or null
     * @return the generated text, without the prompt and without the end-of-generation token
     * @throws IllegalArgumentException if the prompt encodes to no tokens, or to nCtx tokens or more
     * @throws io.panlora.bindings.PanloraException if the engine fails (for example {@code nCtx} out of range, or out of
     *                                             memory for the cache)
     */
    public static String generate(LlamaModel m, Tokenizer tok, String prompt, int nPredict, int nCtx, Sampler sampler, PrintStream out) {
        return run(m, tok, prompt, nPredict, nCtx, sampler, out).text();
    }

    /**
     * As {@link #generate}, with the token counts and the time taken. Generation stops at the first end-of-generation token
     * ({@link Tokenizer#isEog}; not part of the text or the count), after {@code nPredict} tokens, or when the context is
     * full.
     *
     * @param m        the model
     * @param tok      the model's tokenizer
     * @param prompt   the prompt, encoded with the vocabulary's special tokens and control-token text taken literally
     * @param nPredict the most tokens to sample; 0 or less samples none
     * @param nCtx     the KV cache's capacity in tokens: prompt and generated tokens together are at most this many
     * @param sampler  picks each token
     * @param out      receives each decoded piece, or null
     * @return the generated text, the prompt and generated token counts, and the wall time
     * @throws IllegalArgumentException if the prompt encodes to no tokens, or to nCtx tokens or more
     * @throws io.panlora.bindings.PanloraException if the engine fails
     */
    public static Result run(LlamaModel m, Tokenizer tok, String prompt, int nPredict, int nCtx, Sampler sampler, PrintStream out) {
        return run(m, tok, prompt, nPredict, nCtx, sampler, out == null ? null : (java.util.function.Consumer<String>) out::print);
    }

    /**
     * As {@link #run(LlamaModel, Tokenizer, String, int, int, Sampler, PrintStream)}, handing each decoded piece (whole
     * UTF-8 characters; possibly empty while a character's bytes are incomplete) to a consumer instead of a stream.
     *
     * @param m        the model
     * @param tok      the model's tokenizer
     * @param prompt   the prompt
     * @param nPredict the most tokens to sample
     * @param nCtx     the KV cache's capacity in tokens
     * @param sampler  picks each token
     * @param onPiece  called on this thread with each decoded piece, or null
     * @return the generated text, the prompt and generated token counts, and the wall time
     * @throws IllegalArgumentException if the prompt encodes to no tokens, or to nCtx tokens or more
     */
    public static Result run(LlamaModel m, Tokenizer tok, String prompt, int nPredict, int nCtx, Sampler sampler,
                             java.util.function.Consumer<String> onPiece) {
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
                if (onPiece != null && !piece.isEmpty()) onPiece.accept(piece);
                produced++;
                if (ids.length + i + 1 >= nCtx) break;
                logits = cache.decode(next);
            }
            String rest = stream.finish();
            gen.append(rest);
            if (onPiece != null && !rest.isEmpty()) onPiece.accept(rest);
        }
        return new Result(gen.toString(), ids.length, produced, (System.nanoTime() - t0) / 1e9);
    }
}
