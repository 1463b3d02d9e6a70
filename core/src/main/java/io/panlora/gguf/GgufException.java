package io.panlora.gguf;

/**
 * A GGUF file (or a file about to be written) is malformed or does not contain what was asked for.
 *
 * <p>Unchecked on purpose: the same exception reports a corrupt header from {@link GgufFile#open}
 * and a missing or mistyped key from the typed getters, and callers of the getters should not have
 * to wrap every lookup. Operating-system failures (file not found, permission denied, disk full)
 * stay {@link java.io.IOException}s. Every message starts with the file it is about.
 */
public final class GgufException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /**
     * Creates an exception whose message already names the file and the problem.
     *
     * @param message the full message, starting with the file it is about (e.g.
     *                {@code "model.gguf: truncated: ..."})
     */
    public GgufException(String message) {
        super(message);
    }

    /**
     * Creates an exception whose message already names the file and the problem, with a cause.
     *
     * @param message the full message, starting with the file it is about
     * @param cause   the underlying failure, or null when there is none
     */
    public GgufException(String message, Throwable cause) {
        super(message, cause);
    }
}
