package io.panlora.llamacpp;

import io.panlora.bindings.llama.llama_h;
import io.panlora.bindings.llama.llama_sampler_chain_params;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * llama.cpp's sampler chain with the settings of panlora's own sampler: repetition penalty over the last n tokens, top-k,
 * top-p, min-p, temperature, then a seeded draw; temperature 0 is greedy.
 *
 * <p>Used by {@link LlamaCppContext#generate}. It is not tied to a model, so closing a model does not close it: it holds
 * native memory until {@linkplain #close closed}. Not thread-safe.
 */
public final class LlamaCppSampler implements AutoCloseable {
    private MemorySegment chain;

    /**
     * Builds the chain. Stages that would do nothing are left out: the penalty when repeatPenalty is 1 or repeatLastN 0;
     * top-k when topK ≤ 0, top-p when topP ≥ 1, min-p when minP ≤ 0; with temperature 0 only the penalty and a greedy
     * pick remain. Initialises llama.cpp if needed ({@link LlamaCpp#init}).
     *
     * @param nVocab        the model's vocabulary size
     * @param temperature   0 = greedy; otherwise the softmax temperature, finite and &gt; 0
     * @param topK          keep the k most likely tokens; 0 or less keeps all
     * @param topP          keep the smallest set of tokens whose probabilities add up to topP; 1 or more keeps all
     * @param minP          drop tokens less likely than minP times the most likely one; 0 or less keeps all
     * @param repeatPenalty the penalty on the logits of tokens among the last repeatLastN, finite and &gt; 0; 1 = none
     * @param repeatLastN   how many recent tokens (prompt included) the penalty looks at; 0 = none, −1 = the whole context
     * @param seed          the draw's seed (a non-negative 32-bit value; higher bits are ignored)
     * @throws IllegalArgumentException if temperature or repeatPenalty is out of range
     * @throws LlamaCppException        if llama.cpp is not built
     */
    public LlamaCppSampler(int nVocab, float temperature, int topK, float topP, float minP, float repeatPenalty, int repeatLastN, long seed) {
        if (!(temperature >= 0) || Float.isInfinite(temperature)) throw new IllegalArgumentException("temperature " + temperature + " must be finite and >= 0");
        if (!(repeatPenalty > 0) || Float.isInfinite(repeatPenalty)) throw new IllegalArgumentException("repeat penalty " + repeatPenalty + " must be finite and > 0");
        LlamaCpp.init();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = llama_h.llama_sampler_chain_default_params(a);
            llama_sampler_chain_params.no_perf(p, true);
            chain = llama_h.llama_sampler_chain_init(p);
        }
        if (repeatPenalty != 1f && repeatLastN != 0)
            llama_h.llama_sampler_chain_add(chain, llama_h.llama_sampler_init_penalties(nVocab, repeatLastN, repeatPenalty, 0f, 0f));
        if (temperature == 0) {
            llama_h.llama_sampler_chain_add(chain, llama_h.llama_sampler_init_greedy());
        } else {
            if (topK > 0) llama_h.llama_sampler_chain_add(chain, llama_h.llama_sampler_init_top_k(topK));
            if (topP < 1) llama_h.llama_sampler_chain_add(chain, llama_h.llama_sampler_init_top_p(topP, 1));
            if (minP > 0) llama_h.llama_sampler_chain_add(chain, llama_h.llama_sampler_init_min_p(minP, 1));
            llama_h.llama_sampler_chain_add(chain, llama_h.llama_sampler_init_temp(temperature));
            llama_h.llama_sampler_chain_add(chain, llama_h.llama_sampler_init_dist((int) (seed & 0x7fffffffL)));
        }
    }

    /**
     * Greedy decoding: always the most likely token, no penalty.
     *
     * @param nVocab the model's vocabulary size
     * @return a new sampler, to be closed by the caller
     * @throws LlamaCppException if llama.cpp is not built
     */
    public static LlamaCppSampler greedy(int nVocab) {
        return new LlamaCppSampler(nVocab, 0f, 0, 1f, 0f, 1f, 0, 0);
    }

    private MemorySegment handle() {
        if (chain == null) throw new IllegalStateException("the llama.cpp sampler is closed");
        return chain;
    }

    void reset() {
        llama_h.llama_sampler_reset(handle());
    }

    void accept(int token) {
        llama_h.llama_sampler_accept(handle(), token);
    }

    /** Samples from the last logits of the context (and accepts the token). */
    int sample(LlamaCppContext ctx) {
        return llama_h.llama_sampler_sample(handle(), ctx.handle(), -1);
    }

    /** Frees the sampler chain. Idempotent; the sampler must not be used afterwards. */
    @Override
    public void close() {
        if (chain == null) return;
        llama_h.llama_sampler_free(chain);
        chain = null;
    }
}
