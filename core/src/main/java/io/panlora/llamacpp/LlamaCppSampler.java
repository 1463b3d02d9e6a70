package io.panlora.llamacpp;

import io.panlora.bindings.llama.llama_h;
import io.panlora.bindings.llama.llama_sampler_chain_params;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * llama.cpp's sampler chain with the settings of panlora's own sampler: repetition penalty over the last n tokens, top-k,
 * top-p, min-p, temperature, then a seeded draw; temperature 0 is greedy.
 */
public final class LlamaCppSampler implements AutoCloseable {
    private MemorySegment chain;

    /**
     * @param nVocab        the model's vocabulary size
     * @param temperature   0 = greedy
     * @param seed          the draw's seed (a non-negative 32-bit value)
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

    /** Greedy decoding. */
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

    @Override
    public void close() {
        if (chain == null) return;
        llama_h.llama_sampler_free(chain);
        chain = null;
    }
}
