package io.panlora.llamacpp;

/**
 * A llama.cpp call failed; the message carries what llama.cpp logged about it. Also thrown when llama.cpp is not built
 * ({@link LlamaCpp#init}) or a model or adapter file does not exist. Unchecked.
 */
public final class LlamaCppException extends RuntimeException {
    /**
     * Creates the exception.
     *
     * @param message what failed, usually followed by the warnings and errors llama.cpp logged about it
     */
    public LlamaCppException(String message) {
        super(message);
    }
}
