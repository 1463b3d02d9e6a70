package io.panlora.model;

import io.panlora.bindings.Native;
import io.panlora.bindings.gen.panlora_h;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** A key/value cache of one sequence for incremental decoding (generation). */
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

    /** Capacity in positions. */
    public int capacity() { return nCtx; }

    /** Positions held. */
    public long length() {
        MemorySegment n = arena.allocate(ValueLayout.JAVA_LONG);
        Native.check(panlora_h.pl_kv_cache_length(handle, n), "kv cache length");
        return n.get(ValueLayout.JAVA_LONG, 0);
    }

    /** Appends tokens and returns the logits after the last one. */
    public float[] decode(int... tokens) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment tok = a.allocateFrom(ValueLayout.JAVA_INT, tokens);
            Native.check(panlora_h.pl_model_decode(model.handle(), handle, tok, tokens.length, logits, logits.byteSize() / 4), "decode");
        }
        return logits.toArray(ValueLayout.JAVA_FLOAT);
    }

    /** Forgets every position. */
    public void clear() {
        Native.check(panlora_h.pl_kv_cache_clear(handle), "kv cache clear");
    }

    @Override
    public void close() {
        panlora_h.pl_kv_cache_free(handle);
        arena.close();
    }
}
