package io.panlora.llamacpp;

import io.panlora.bindings.llama.llama_h;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Optional;

/**
 * A LoRA adapter loaded by llama.cpp for one model; applied to contexts with a scale ({@link LlamaCppContext#setAdapters}).
 * Made by {@link LlamaCppModel#loadAdapter}. It holds native memory until {@linkplain #close closed}, by the caller or by
 * closing its model. Not thread-safe.
 */
public final class LlamaCppAdapter implements AutoCloseable {
    private final LlamaCppModel model;
    private final Path path;
    private MemorySegment handle;

    LlamaCppAdapter(LlamaCppModel model, Path path, MemorySegment handle) {
        this.model = model;
        this.path = path;
        this.handle = handle;
    }

    /**
     * The adapter file as given to {@link LlamaCppModel#loadAdapter}.
     *
     * @return the file's path
     */
    public Path path() {
        return path;
    }

    /**
     * The model the adapter was loaded for; it can only be applied to that model's contexts.
     *
     * @return the model that loaded it
     */
    public LlamaCppModel model() {
        return model;
    }

    MemorySegment handle() {
        if (handle == null) throw new IllegalStateException(path + ": the llama.cpp adapter is closed");
        return handle;
    }

    /**
     * A metadata value of the adapter file as text (e.g. adapter.lora.alpha), if present, as llama.cpp formats it
     * ({@code llama_adapter_meta_val_str}).
     *
     * @param key a GGUF metadata key, for example {@code adapter.lora.alpha} or {@code general.name}
     * @return the value as text (at most 511 bytes of it; longer values are cut), or empty when the file has no such key
     * @throws IllegalStateException if the adapter is closed
     */
    public Optional<String> meta(String key) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(512);
            int n = llama_h.llama_adapter_meta_val_str(handle(), a.allocateFrom(key), buf, 512);
            if (n < 0) return Optional.empty();
            return Optional.of(new String(buf.asSlice(0, Math.min(n, 511)).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8));
        }
    }

    /**
     * Removes the adapter from every context of its model that applies it (their KV caches are cleared), then frees it.
     * Idempotent.
     */
    @Override
    public void close() {
        if (handle == null) return;
        for (LlamaCppContext c : java.util.List.copyOf(model.contexts)) c.dropAdapter(this);
        llama_h.llama_adapter_lora_free(handle);
        handle = null;
        model.forget(this);
    }

    /**
     * The adapter file, for messages.
     *
     * @return the path as text
     */
    @Override
    public String toString() {
        return path.toString();
    }
}
