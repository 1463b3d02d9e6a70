package io.panlora.bindings;

/** A failed native call: the engine's status code and its message (from {@code pl_last_error()}). */
public class PanloraException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final int status;

    public PanloraException(int status, String message) {
        super(message);
        this.status = status;
    }

    /** The engine's status code (see {@code enum pl_status} in panlora.h). */
    public int status() { return status; }

    /** A printable name of a status code. */
    public static String statusName(int status) {
        return switch (status) {
            case 0 -> "OK";
            case 1 -> "INVALID_ARGUMENT";
            case 2 -> "OUT_OF_MEMORY";
            case 3 -> "UNSUPPORTED";
            case 4 -> "STATE";
            case 5 -> "NUMERIC";
            case 6 -> "INTERNAL";
            default -> "STATUS_" + status;
        };
    }
}
