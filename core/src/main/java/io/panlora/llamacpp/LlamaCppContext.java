package io.panlora.llamacpp;

import io.panlora.bindings.llama.llama_batch;
import io.panlora.bindings.llama.llama_context_params;
import io.panlora.bindings.llama.llama_h;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntPredicate;

/**
 * A llama.cpp context: a KV cache of {@code nCtx} positions for one sequence, the adapters applied to it with their scales,
 * and a token batch. {@link #logits} evaluates a whole sequence from an empty cache; {@link #generate} decodes a prompt and
 * samples. Adapters can be swapped between requests without reloading the model.
 *
 * <p>Made by {@link LlamaCppModel#newContext}. Flash attention is off (the plain attention, as panlora computes it) and
 * each sequence has its own cells. A context holds native memory (cache, compute buffers, batch) until
 * {@linkplain #close closed}, by the caller or by closing its model. Not thread-safe: one call at a time.
 */
public final class LlamaCppContext implements AutoCloseable {
    /**
     * How a context is made: its KV cache size, batch size, threads, cache type and the number of sequences it holds.
     *
     * @param nCtx      positions of the KV cache
     * @param nBatch    tokens per llama_decode call
     * @param threads   CPU threads (0: all cores)
     * @param f32Cache  keys and values cached in F32 (llama.cpp's default is F16)
     * @param nSeq      sequences {@link #nll} may evaluate together in one llama_decode (they share the nCtx positions)
     */
    public record Options(int nCtx, int nBatch, int threads, boolean f32Cache, int nSeq) {
        /**
         * Checks the values.
         *
         * @param nCtx     positions of the KV cache, at least 1
         * @param nBatch   tokens per llama_decode call, at least 1
         * @param threads  CPU threads, 0 (all cores) or more
         * @param f32Cache keys and values cached in F32 rather than F16
         * @param nSeq     sequences evaluated together, 1..256
         * @throws IllegalArgumentException if a value is out of range
         */
        public Options {
            if (nCtx < 1) throw new IllegalArgumentException("nCtx " + nCtx + " must be at least 1");
            if (nBatch < 1) throw new IllegalArgumentException("nBatch " + nBatch + " must be at least 1");
            if (threads < 0) throw new IllegalArgumentException("threads " + threads + " must be 0 (all) or more");
            if (nSeq < 1 || nSeq > 256) throw new IllegalArgumentException("nSeq " + nSeq + " must be in 1..256");
        }

        /**
         * One sequence at a time (nSeq 1).
         *
         * @param nCtx     positions of the KV cache, at least 1
         * @param nBatch   tokens per llama_decode call, at least 1
         * @param threads  CPU threads, 0 (all cores) or more
         * @param f32Cache keys and values cached in F32 rather than F16
         * @throws IllegalArgumentException if a value is out of range
         */
        public Options(int nCtx, int nBatch, int threads, boolean f32Cache) {
            this(nCtx, nBatch, threads, f32Cache, 1);
        }

        /**
         * A context of n positions, batches of up to 512 tokens, all cores, F32 cache, one sequence.
         *
         * @param n positions of the KV cache, at least 1
         * @return the options
         * @throws IllegalArgumentException if n is less than 1
         */
        public static Options of(int n) {
            return new Options(n, Math.min(n, 512), 0, true);
        }

        /**
         * For scoring windows of n tokens as llama-perplexity does: up to 2048 / n windows (at least 1) per llama_decode, the
         * cache holding all of them.
         *
         * @param n        tokens per window, 1..2048 for more than one window at a time (longer windows get one each)
         * @param threads  CPU threads, 0 (all cores) or more
         * @param f32Cache keys and values cached in F32 rather than F16
         * @return options with nSeq = min(64, max(1, 2048 / n)) and nCtx = nBatch = n·nSeq
         * @throws IllegalArgumentException if n is less than 1 or threads is negative
         */
        public static Options forWindows(int n, int threads, boolean f32Cache) {
            int seqs = Math.max(1, Math.min(64, 2048 / n));
            return new Options(n * seqs, n * seqs, threads, f32Cache, seqs);
        }
    }

    /**
     * An adapter and its user scale (llama.cpp multiplies it with the file's alpha / rank).
     *
     * @param adapter an adapter loaded by the context's model
     * @param scale   the user scale, finite (1 as {@code --lora}; 0 switches the adapter off; negative values subtract it)
     */
    public record Scaled(LlamaCppAdapter adapter, float scale) {}

    private static final int GGML_TYPE_F32 = 0, GGML_TYPE_F16 = 1; // ggml_type

    private final LlamaCppModel model;
    private final Options options;
    private final Arena arena = Arena.ofShared();
    private MemorySegment ctx;
    private final MemorySegment batch;
    private final List<Scaled> applied = new ArrayList<>();
    private int nPast;

    LlamaCppContext(LlamaCppModel model, Options options) {
        this.model = model;
        this.options = options;
        int threads = options.threads() > 0 ? options.threads() : Runtime.getRuntime().availableProcessors();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = llama_h.llama_context_default_params(a);
            llama_context_params.n_ctx(p, options.nCtx());
            llama_context_params.n_batch(p, options.nBatch());
            llama_context_params.n_ubatch(p, options.nBatch());
            llama_context_params.n_seq_max(p, options.nSeq());
            llama_context_params.kv_unified(p, false); // each sequence its own nCtx / nSeq cells: attention over its own only
            llama_context_params.n_threads(p, threads);
            llama_context_params.n_threads_batch(p, threads);
            llama_context_params.flash_attn_type(p, 0); // disabled: the plain attention, as panlora computes it
            int kv = options.f32Cache() ? GGML_TYPE_F32 : GGML_TYPE_F16;
            llama_context_params.type_k(p, kv);
            llama_context_params.type_v(p, kv);
            llama_context_params.no_perf(p, true);
            LlamaCpp.clearLog();
            ctx = llama_h.llama_init_from_model(model.handle(), p);
            if (ctx.equals(MemorySegment.NULL)) throw LlamaCpp.failure(model.path() + ": cannot create a context of " + options.nCtx() + " positions");
        }
        batch = llama_h.llama_batch_init(arena, options.nBatch(), 0, options.nSeq());
    }

    /**
     * The options the context was made with.
     *
     * @return the options as given to {@link LlamaCppModel#newContext}
     */
    public Options options() {
        return options;
    }

    /**
     * Positions of the cache (llama.cpp may round the requested size up).
     *
     * @return llama.cpp's {@code llama_n_ctx}: the positions {@link #logits} and {@link #generate} may fill
     * @throws IllegalStateException if the context is closed
     */
    public int nCtx() {
        return llama_h.llama_n_ctx(handle());
    }

    MemorySegment handle() {
        if (ctx == null) throw new IllegalStateException("the llama.cpp context is closed");
        return ctx;
    }

    /**
     * Applies exactly these adapters with these scales (none: the base model); the cache is cleared. Adapters applied
     * before and not listed are removed; their effects add up as llama.cpp applies them (Σ scale·alpha/r·B A per linear).
     *
     * @param adapters the adapters with their user scales, in any order; an empty list runs the base model
     * @throws IllegalArgumentException if an adapter was loaded for another model or a scale is not finite
     * @throws IllegalStateException    if the context or an adapter is closed
     * @throws LlamaCppException        if llama.cpp refuses the adapters (nothing is changed then)
     */
    public void setAdapters(List<Scaled> adapters) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment hs = a.allocate(ValueLayout.ADDRESS, Math.max(1, adapters.size()));
            MemorySegment ss = a.allocate(ValueLayout.JAVA_FLOAT, Math.max(1, adapters.size()));
            for (int i = 0; i < adapters.size(); i++) {
                Scaled s = adapters.get(i);
                if (s.adapter().model() != model) throw new IllegalArgumentException(s.adapter() + " was loaded for another model");
                if (!Float.isFinite(s.scale())) throw new IllegalArgumentException(s.adapter() + ": scale " + s.scale() + " is not finite");
                hs.setAtIndex(ValueLayout.ADDRESS, i, s.adapter().handle());
                ss.setAtIndex(ValueLayout.JAVA_FLOAT, i, s.scale());
            }
            LlamaCpp.clearLog();
            int rc = llama_h.llama_set_adapters_lora(handle(), adapters.isEmpty() ? MemorySegment.NULL : hs, adapters.size(),
                    adapters.isEmpty() ? MemorySegment.NULL : ss);
            if (rc != 0) throw LlamaCpp.failure("setting " + adapters.size() + " adapters failed (" + rc + ")");
        }
        applied.clear();
        applied.addAll(adapters);
        clearCache();
    }

    /**
     * The adapters applied now.
     *
     * @return an immutable copy of the list last given to {@link #setAdapters} (less adapters closed since); empty when the
     *         context runs the base model
     */
    public List<Scaled> adapters() {
        return List.copyOf(applied);
    }

    void dropAdapter(LlamaCppAdapter a) {
        if (ctx == null || applied.stream().noneMatch(s -> s.adapter() == a)) return;
        List<Scaled> rest = new ArrayList<>(applied);
        rest.removeIf(s -> s.adapter() == a);
        setAdapters(rest);
    }

    /**
     * Empties the KV cache: the next decode starts at position 0. {@link #logits}, {@link #nll} and {@link #generate} do
     * this themselves.
     *
     * @throws IllegalStateException if the context is closed
     */
    public void clearCache() {
        llama_h.llama_memory_clear(llama_h.llama_get_memory(handle()), true);
        nPast = 0;
    }

    /** Decodes tokens at the next positions; with wantAll the logits of every token are kept, else only the last one's. */
    private void decode(int[] tokens, int from, int n, boolean wantAll) {
        if (nPast + n > nCtx())
            throw new IllegalArgumentException(nPast + n + " positions exceed the context of " + nCtx());
        llama_batch.n_tokens(batch, n);
        for (int i = 0; i < n; i++) put(i, tokens[from + i], nPast + i, 0, wantAll || i == n - 1);
        LlamaCpp.clearLog();
        int rc = llama_h.llama_decode(handle(), batch);
        if (rc != 0) throw LlamaCpp.failure("llama_decode of " + n + " tokens at position " + nPast + " failed (" + rc + ")");
        nPast += n;
    }

    /**
     * Times llama_decode as llama-bench does: the prompt from an empty cache in batches of {@link Options#nBatch()} (logits
     * of its last token only), then {@code genTokens} single-token decodes continuing it (token i of the prompt fed back,
     * no sampling), each followed by llama_synchronize. The cache is left empty.
     *
     * @param prompt    the prompt's token ids, at least one, in 0..nVocab−1
     * @param genTokens single-token decodes after the prompt, 0 or more; prompt and generated tokens must fit the cache
     * @return {prompt seconds, generation seconds}
     * @throws IllegalArgumentException if the prompt is empty, holds an id outside the vocabulary or does not fit the cache
     * @throws IllegalStateException    if the context is closed
     * @throws LlamaCppException        if llama_decode fails
     */
    public double[] time(int[] prompt, int genTokens) {
        if (prompt.length == 0) throw new IllegalArgumentException("the prompt is empty");
        if (genTokens < 0) throw new IllegalArgumentException("genTokens must be >= 0, got " + genTokens);
        for (int t : prompt) model.checkToken(t);
        if ((long) prompt.length + genTokens > nCtx())
            throw new IllegalArgumentException(prompt.length + " + " + genTokens + " tokens exceed the context of " + nCtx());
        clearCache();
        long t0 = System.nanoTime();
        for (int from = 0; from < prompt.length; from += options.nBatch())
            decode(prompt, from, Math.min(options.nBatch(), prompt.length - from), false);
        llama_h.llama_synchronize(handle());
        long t1 = System.nanoTime();
        int[] one = new int[1];
        for (int i = 0; i < genTokens; i++) {
            one[0] = prompt[i % prompt.length];
            decode(one, 0, 1, false);
            llama_h.llama_synchronize(handle());
        }
        long t2 = System.nanoTime();
        clearCache();
        return new double[] {(t1 - t0) / 1e9, (t2 - t1) / 1e9};
    }

    /**
     * Logits of every position of a sequence evaluated from an empty cache: row t (nVocab floats) predicts the token after
     * tokens[t]. Returns tokens.length × nVocab floats.
     *
     * @param tokens the sequence, token ids in 0..nVocab−1; no BOS is added (include it when the model wants one); at most
     *               {@link #nCtx()} tokens; decoded in batches of {@link Options#nBatch()}
     * @return tokens.length·nVocab floats, row-major; empty for an empty sequence
     * @throws IllegalArgumentException if a token id is outside the vocabulary or the sequence is longer than the cache
     * @throws IllegalStateException    if the context is closed
     * @throws LlamaCppException        if llama_decode fails
     */
    public float[] logits(int[] tokens) {
        for (int t : tokens) model.checkToken(t);
        int nv = model.nVocab();
        clearCache();
        float[] all = new float[Math.multiplyExact(tokens.length, nv)];
        for (int from = 0; from < tokens.length; from += options.nBatch()) {
            int n = Math.min(options.nBatch(), tokens.length - from);
            decode(tokens, from, n, true);
            for (int i = 0; i < n; i++) {
                MemorySegment row = llama_h.llama_get_logits_ith(handle(), i);
                if (row.equals(MemorySegment.NULL)) throw LlamaCpp.failure("no logits for position " + (from + i));
                MemorySegment.copy(row.reinterpret(4L * nv), ValueLayout.JAVA_FLOAT, 0, all, (from + i) * nv, nv);
            }
        }
        return all;
    }

    /**
     * Per-position NLL of a batch of sequences ({@link io.panlora.model.Perplexity.BatchScorer}): each sequence evaluated from
     * an empty cache, nll[b * len + t] = −log p(targets[b][t] | tokens[b][..t]) for targets ≥ 0, else 0.
     * Up to {@link Options#nSeq()} whole sequences go into one llama_decode when they fit the batch and the cache; longer
     * ones are evaluated one at a time through {@link #logits}. The cache is left empty.
     *
     * @param tokens  the sequences, at least one, all of the same length len, token ids in 0..nVocab−1
     * @param targets for each sequence the token each position should predict (usually tokens shifted left by one), or a
     *                negative value for positions not scored; the same shape as tokens
     * @return tokens.length·len values in nats, sequence by sequence
     * @throws IllegalArgumentException if the sequences differ in length, a token or target id is outside the vocabulary,
     *                                  or a sequence is longer than the cache
     * @throws IllegalStateException    if the context is closed
     * @throws LlamaCppException        if llama_decode fails
     */
    public float[] nll(int[][] tokens, int[][] targets) {
        if (tokens.length == 0 || tokens[0].length == 0) throw new IllegalArgumentException("no tokens: give at least one sequence of one token");
        if (targets.length != tokens.length) throw new IllegalArgumentException("one target row per sequence: " + tokens.length + " sequences, "
                + targets.length + " target rows");
        int len = tokens[0].length, nv = model.nVocab();
        for (int b = 0; b < tokens.length; b++) {
            if (tokens[b].length != len || targets[b].length != len) throw new IllegalArgumentException("all sequences must have the same length");
            for (int t = 0; t < len; t++) {
                model.checkToken(tokens[b][t]);
                if (targets[b][t] >= 0) model.checkToken(targets[b][t]);
            }
        }
        float[] out = new float[tokens.length * len];
        // as many whole sequences per llama_decode as the batch, the cache and nSeq allow
        int group = Math.max(1, Math.min(options.nSeq(), Math.min(options.nBatch(), nCtx()) / Math.max(1, len)));
        for (int g = 0; g < tokens.length; g += group) {
            int ng = Math.min(group, tokens.length - g);
            if (ng == 1 || len > options.nBatch()) { // one at a time (also for sequences longer than a batch)
                for (int b = g; b < g + ng; b++) score(logits(tokens[b]), 0, targets[b], out, b * len, nv);
                continue;
            }
            clearCache();
            fill(tokens, g, ng, len);
            LlamaCpp.clearLog();
            int rc = llama_h.llama_decode(handle(), batch);
            if (rc != 0) throw LlamaCpp.failure("llama_decode of " + ng + " sequences of " + len + " tokens failed (" + rc + ")");
            float[] row = new float[nv];
            for (int b = 0; b < ng; b++)
                for (int t = 0; t < len; t++) {
                    if (targets[g + b][t] < 0) continue;
                    MemorySegment r = llama_h.llama_get_logits_ith(handle(), b * len + t);
                    if (r.equals(MemorySegment.NULL)) throw LlamaCpp.failure("no logits for sequence " + b + " position " + t);
                    MemorySegment.copy(r.reinterpret(4L * nv), ValueLayout.JAVA_FLOAT, 0, row, 0, nv);
                    out[(g + b) * len + t] = (float) Parity.nll(row, 0, nv, targets[g + b][t]);
                }
            clearCache();
        }
        return out;
    }

    private static void score(float[] logits, int off, int[] targets, float[] out, int at, int nv) {
        for (int t = 0; t < targets.length; t++)
            if (targets[t] >= 0) out[at + t] = (float) Parity.nll(logits, off + t * nv, nv, targets[t]);
    }

    /** Entry i of the batch: token at position pos of sequence seq, its logits kept or not. */
    private void put(int i, int token, int pos, int seq, boolean logits) {
        long n = options.nBatch();
        llama_batch.token(batch).reinterpret(4 * n).setAtIndex(ValueLayout.JAVA_INT, i, token);
        llama_batch.pos(batch).reinterpret(4 * n).setAtIndex(ValueLayout.JAVA_INT, i, pos);
        llama_batch.n_seq_id(batch).reinterpret(4 * n).setAtIndex(ValueLayout.JAVA_INT, i, 1);
        llama_batch.seq_id(batch).reinterpret(ValueLayout.ADDRESS.byteSize() * n).getAtIndex(ValueLayout.ADDRESS, i)
                .reinterpret(4L * options.nSeq()).set(ValueLayout.JAVA_INT, 0, seq);
        llama_batch.logits(batch).reinterpret(n).set(ValueLayout.JAVA_BYTE, i, (byte) (logits ? 1 : 0));
    }

    /** Fills the batch with ng whole sequences (sequence b gets seq_id b, positions 0..len-1), every logit wanted. */
    private void fill(int[][] tokens, int g, int ng, int len) {
        int n = ng * len;
        llama_batch.n_tokens(batch, n);
        for (int b = 0; b < ng; b++)
            for (int t = 0; t < len; t++) put(b * len + t, tokens[g + b][t], t, b, true);
    }

    /**
     * Decodes the prompt from an empty cache and samples up to maxTokens tokens with the sampler, stopping early at an
     * end-of-generation token or when onToken returns false. Returns the generated ids (the stopping EOG token excluded).
     * Generation also stops when the cache is full. The sampler is reset and fed the prompt first, so its repetition
     * penalty sees the prompt.
     *
     * @param prompt    the prompt's token ids, at least one, in 0..nVocab−1, BOS included when the model wants one
     *                  ({@link LlamaCppModel#tokenize} with addSpecial); at most {@link #nCtx()} tokens
     * @param maxTokens the most tokens to generate, 0 or more
     * @param sampler   the sampler to draw with
     * @param onToken   called with each generated token as it comes (to stream it); returning false stops after that
     *                  token; null for none
     * @return the generated token ids, at most maxTokens
     * @throws IllegalArgumentException if the prompt is empty, holds an id outside the vocabulary or does not fit the cache
     * @throws IllegalStateException    if the context or the sampler is closed
     * @throws LlamaCppException        if llama_decode fails
     */
    public int[] generate(int[] prompt, int maxTokens, LlamaCppSampler sampler, IntPredicate onToken) {
        if (prompt.length == 0) throw new IllegalArgumentException("the prompt is empty");
        for (int t : prompt) model.checkToken(t);
        clearCache();
        sampler.reset();
        for (int t : prompt) sampler.accept(t);
        for (int from = 0; from < prompt.length; from += options.nBatch())
            decode(prompt, from, Math.min(options.nBatch(), prompt.length - from), false);
        int[] out = new int[maxTokens];
        int n = 0;
        int[] one = new int[1];
        while (n < maxTokens && nPast < nCtx()) {
            int t = sampler.sample(this);
            if (model.isEog(t)) break;
            out[n++] = t;
            if (onToken != null && !onToken.test(t)) break;
            if (n == maxTokens || nPast >= nCtx()) break;
            one[0] = t;
            decode(one, 0, 1, false);
        }
        return java.util.Arrays.copyOf(out, n);
    }

    /** Frees the context's cache, compute buffers and batch. Idempotent; the context must not be used afterwards. */
    @Override
    public void close() {
        if (ctx == null) return;
        llama_h.llama_batch_free(batch);
        llama_h.llama_free(ctx);
        ctx = null;
        arena.close();
        model.contexts.remove(this);
    }
}
