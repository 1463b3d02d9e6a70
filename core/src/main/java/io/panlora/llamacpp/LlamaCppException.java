package io.panlora.llamacpp;

/** A llama.cpp call failed; the message carries what llama.cpp logged about it. */
public final class LlamaCppException extends RuntimeException {
    public LlamaCppException(String message) {
        super(message);
    }
}
