package io.panlora.gguf;

import java.util.Optional;

/** The type tags of GGUF metadata values, with their on-disk ids (never renumbered by the spec). */
public enum GgufValueType {
    /** Unsigned 8-bit integer, 1 byte. */
    UINT8(0, 1),
    /** Signed 8-bit integer, 1 byte. */
    INT8(1, 1),
    /** Unsigned 16-bit integer, 2 bytes, little-endian. */
    UINT16(2, 2),
    /** Signed 16-bit integer, 2 bytes, little-endian. */
    INT16(3, 2),
    /**
     * Unsigned 32-bit integer, 4 bytes, little-endian; the usual type of counts such as {@code
     * general.alignment}.
     */
    UINT32(4, 4),
    /** Signed 32-bit integer, 4 bytes, little-endian. */
    INT32(5, 4),
    /** 32-bit IEEE 754 float, 4 bytes, little-endian. */
    FLOAT32(6, 4),
    /** Boolean, 1 byte that must be 0 (false) or 1 (true). */
    BOOL(7, 1),
    /**
     * UTF-8 string: a little-endian uint64 byte length followed by that many bytes, no terminator.
     */
    STRING(8, -1),
    /**
     * Array: a uint32 element type, a uint64 element count, then the elements back to back; all
     * elements share one type (arrays of arrays are allowed).
     */
    ARRAY(9, -1),
    /** Unsigned 64-bit integer, 8 bytes, little-endian. */
    UINT64(10, 8),
    /** Signed 64-bit integer, 8 bytes, little-endian. */
    INT64(11, 8),
    /** 64-bit IEEE 754 double, 8 bytes, little-endian. */
    FLOAT64(12, 8);

    private static final GgufValueType[] BY_ID = new GgufValueType[13];

    static {
        for (GgufValueType t : values()) {
            BY_ID[t.id] = t;
        }
    }

    private final int id;
    private final int fixedSize;

    GgufValueType(int id, int fixedSize) {
        this.id = id;
        this.fixedSize = fixedSize;
    }

    /**
     * The id written in the file, as a little-endian uint32 before each value (and before an array's
     * elements).
     *
     * @return the id, 0 to 12
     */
    public int id() {
        return id;
    }

    /**
     * Bytes one value takes on disk.
     *
     * @return 1, 2, 4 or 8 for the scalar types, or -1 for {@link #STRING} and {@link #ARRAY}, whose
     *         size depends on their content
     */
    public int fixedSize() {
        return fixedSize;
    }

    /**
     * Whether this is an integer type.
     *
     * @return true for the eight integer types (signed and unsigned, 8 to 64 bits), false for the
     *         float, BOOL, STRING and ARRAY types
     */
    public boolean isInteger() {
        return switch (this) {
            case UINT8, INT8, UINT16, INT16, UINT32, INT32, UINT64, INT64 -> true;
            default -> false;
        };
    }

    /**
     * Whether this is an unsigned integer type.
     *
     * @return true for UINT8, UINT16, UINT32 and UINT64, false for every other type
     */
    public boolean isUnsigned() {
        return this == UINT8 || this == UINT16 || this == UINT32 || this == UINT64;
    }

    /**
     * The type with this on-disk id.
     *
     * @param id an id as read from a file (a uint32 widened to {@code long}); any value
     * @return the type, or empty when the id is not one the spec defines
     */
    public static Optional<GgufValueType> byId(long id) {
        return id >= 0 && id < BY_ID.length ? Optional.of(BY_ID[(int) id]) : Optional.empty();
    }
}
