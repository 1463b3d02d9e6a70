package io.panlora.gguf;

import java.util.Optional;

/** The type tags of GGUF metadata values, with their on-disk ids (never renumbered by the spec). */
public enum GgufValueType {
    UINT8(0, 1),
    INT8(1, 1),
    UINT16(2, 2),
    INT16(3, 2),
    UINT32(4, 4),
    INT32(5, 4),
    FLOAT32(6, 4),
    BOOL(7, 1),
    STRING(8, -1),
    ARRAY(9, -1),
    UINT64(10, 8),
    INT64(11, 8),
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

    /** The id written in the file. */
    public int id() {
        return id;
    }

    /** Bytes one value takes on disk, or -1 for STRING and ARRAY whose size depends on content. */
    public int fixedSize() {
        return fixedSize;
    }

    /** True for the eight integer types (signed and unsigned, 8 to 64 bits). */
    public boolean isInteger() {
        return switch (this) {
            case UINT8, INT8, UINT16, INT16, UINT32, INT32, UINT64, INT64 -> true;
            default -> false;
        };
    }

    /** True for the unsigned integer types. */
    public boolean isUnsigned() {
        return this == UINT8 || this == UINT16 || this == UINT32 || this == UINT64;
    }

    /** The type with this on-disk id, or empty when the id is not one the spec defines. */
    public static Optional<GgufValueType> byId(long id) {
        return id >= 0 && id < BY_ID.length ? Optional.of(BY_ID[(int) id]) : Optional.empty();
    }
}
