package io.panlora.model;

import io.panlora.bindings.Native;
import io.panlora.bindings.gen.panlora_h;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A key/value cache of one sequence for incremental decoding (generation), created by {@link LlamaModel#newKvCache(int)}.
 * Each {@link #decode} call appends tokens at the next positions and returns the logits after the last one, so a prompt is
 * decoded once and each sampled token costs one position.
 *
 * <p>Owns native memory (the engine's cache, on the model's device, and an off-heap logits buffer of n_vocab floats):
 * {@link #close()} it, before closing the model. It is confined to the thread that created it: calls from another thread
 * throw {@link WrongThreadException}.
 */
public final class KvCache implements AutoCloseable {
    private final LlamaModel model;
    private final MemorySegment handle;
    private final int nCtx;
    private final Arena arena = Arena.ofConfined();
    private final MemorySegment logits;

    KvCache(LlamaModel model, int nCtx) {
        this.model = model;
        this.nCtx = nCtx;
        MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
        Native.check(panlora_h.pl_kv_cache_create(model.handle(), nCtx, out), "kv cache");
        this.handle = out.get(ValueLayout.ADDRESS, 0);
        this.logits = arena.allocate(ValueLayout.JAVA_FLOAT, model.config().nVocab());
    }

    /**
     * The capacity given at creation.
     *
     * @return the most positions (tokens) the cache can hold
     */
    public int capacity() { return nCtx; }

    /**
     * The positions held: tokens decoded since creation or the last {@link #clear()}.
     *
     * @return the number of positions, 0 ..{@link #capacity()}
     * @throws io.panlora.bindings.PanloraException if the engine call fails
     */
    public long length() {
        MemorySegment n = arena.allocate(ValueLayout.JAVA_LONG);
        Native.check(panlora_h.pl_kv_cache_length(handle, n), "kv cache length");
        return n.get(ValueLayout.JAVA_LONG, 0);
    }

    /**
     * Runs the model over {@code tokens} at the cache's next positions, appending their keys and values, and returns the
     * logits for the token that follows the last one. The model's attached adapters, if any, take part.
     *
     * @param tokens token ids to append (at least one, each in 0 .. n_vocab−1); they must fit the remaining capacity
     * @return a new array of n_vocab raw logits (unnormalised, before any softmax)
     * @throws io.panlora.bindings.PanloraException if a token id is out of range, the cache would overflow its capacity,
     *         or the engine fails
     * @throws IllegalStateException if the model is closed
     */
    public float[] decode(int... tokens) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment tok = a.allocateFrom(ValueLayout.JAVA_INT, tokens);
            Native.check(panlora_h.pl_model_decode(model.handle(), handle, tok, tokens.length, logits, logits.byteSize() / 4), "decode");
        }
        return logits.toArray(ValueLayout.JAVA_FLOAT);
    }

    /**
     * Forgets every position: the next {@link #decode} starts again at position 0. The memory stays allocated.
     *
     * @throws io.panlora.bindings.PanloraException if the engine call fails
     */
    public void clear() {
        Native.check(panlora_h.pl_kv_cache_clear(handle), "kv cache clear");
    }

    /** Frees the engine's cache and the logits buffer. Idempotent; the cache must not be used afterwards. */
    @Override
    public void close() {
        if (!arena.scope().isAlive()) return;
        panlora_h.pl_kv_cache_free(handle);
        arena.close();
    }
}
