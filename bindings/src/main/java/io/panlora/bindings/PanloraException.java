package io.panlora.bindings;

/**
 * A failed native call: the engine's status code and its message (from {@code pl_last_error()}). Unchecked;
 * {@link #status()} tells the kind of failure.
 */
public class PanloraException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    /** The engine's status code, as passed to the constructor. */
    private final int status;

    /**
     * Creates an exception for a failed native call.
     *
     * @param status  the {@code pl_status} code the call returned (not 0)
     * @param message the full message; {@link Native#check} writes {@code "WHAT: LAST_ERROR [STATUS_NAME]"}
     */
    public PanloraException(int status, String message) {
        super(message);
        this.status = status;
    }

    /**
     * The engine's status code (see {@code enum pl_status} in panlora.h).
     *
     * @return 1 invalid argument, 2 out of memory, 3 unsupported, 4 state (the object is not ready), 5 numeric (NaN or
     *         infinity), 6 internal (a bug); see {@link #statusName(int)}
     */
    public int status() { return status; }

    /**
     * A printable name of a status code.
     *
     * @param status a {@code pl_status} code
     * @return {@code OK}, {@code INVALID_ARGUMENT}, {@code OUT_OF_MEMORY}, {@code UNSUPPORTED}, {@code STATE},
     *         {@code NUMERIC} or {@code INTERNAL} for 0 to 6, else {@code STATUS_} followed by the number
     */
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
