package io.panlora.llamacpp;

import io.panlora.bindings.llama.llama_h;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Optional;

/** A LoRA adapter loaded by llama.cpp for one model; applied to contexts with a scale ({@link LlamaCppContext#setAdapters}). */
public final class LlamaCppAdapter implements AutoCloseable {
    private final LlamaCppModel model;
    private final Path path;
    private MemorySegment handle;

    LlamaCppAdapter(LlamaCppModel model, Path path, MemorySegment handle) {
        this.model = model;
        this.path = path;
        this.handle = handle;
    }

    public Path path() {
        return path;
    }

    public LlamaCppModel model() {
        return model;
    }

    MemorySegment handle() {
        if (handle == null) throw new IllegalStateException(path + ": the llama.cpp adapter is closed");
        return handle;
    }

    /** A metadata value of the adapter file as text (e.g. adapter.lora.alpha), if present. */
    public Optional<String> meta(String key) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(512);
            int n = llama_h.llama_adapter_meta_val_str(handle(), a.allocateFrom(key), buf, 512);
            if (n < 0) return Optional.empty();
            return Optional.of(new String(buf.asSlice(0, Math.min(n, 511)).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8));
        }
    }

    @Override
    public void close() {
        if (handle == null) return;
        for (LlamaCppContext c : java.util.List.copyOf(model.contexts)) c.dropAdapter(this);
        llama_h.llama_adapter_lora_free(handle);
        handle = null;
        model.forget(this);
    }

    @Override
    public String toString() {
        return path.toString();
    }
}
