package io.panlora.gguf;

import java.util.Optional;

/**
 * ggml tensor element types with their on-disk ids and block layouts: {@code blockSize} elements are
 * stored in {@code typeSize} bytes. Ids are ggml's and never change; ids ggml retired (4, 5, 31-33,
 * 36-38) and ids newer than this table are unknown to us and rejected when a file is opened.
 */
public enum GgmlType {
    F32(0, 1, 4),
    F16(1, 1, 2),
    Q4_0(2, 32, 18),
    Q4_1(3, 32, 20),
    Q5_0(6, 32, 22),
    Q5_1(7, 32, 24),
    Q8_0(8, 32, 34),
    Q8_1(9, 32, 36),
    Q2_K(10, 256, 84),
    Q3_K(11, 256, 110),
    Q4_K(12, 256, 144),
    Q5_K(13, 256, 176),
    Q6_K(14, 256, 210),
    Q8_K(15, 256, 292),
    // The IQ/TQ/MXFP4 types are listed so such files can be opened and inspected; the engine does
    // not compute with them.
    IQ2_XXS(16, 256, 66),
    IQ2_XS(17, 256, 74),
    IQ3_XXS(18, 256, 98),
    IQ1_S(19, 256, 50),
    IQ4_NL(20, 32, 18),
    IQ3_S(21, 256, 110),
    IQ2_S(22, 256, 82),
    IQ4_XS(23, 256, 136),
    I8(24, 1, 1),
    I16(25, 1, 2),
    I32(26, 1, 4),
    I64(27, 1, 8),
    F64(28, 1, 8),
    IQ1_M(29, 256, 56),
    BF16(30, 1, 2),
    TQ1_0(34, 256, 54),
    TQ2_0(35, 256, 66),
    MXFP4(39, 32, 17);

    private static final GgmlType[] BY_ID = new GgmlType[40];

    static {
        for (GgmlType t : values()) {
            BY_ID[t.id] = t;
        }
    }

    private final int id;
    private final int blockSize;
    private final int typeSize;

    GgmlType(int id, int blockSize, int typeSize) {
        this.id = id;
        this.blockSize = blockSize;
        this.typeSize = typeSize;
    }

    /** The ggml type id written in GGUF tensor infos. */
    public int id() {
        return id;
    }

    /** Elements per block (1 for plain types). */
    public int blockSize() {
        return blockSize;
    }

    /** Bytes per block. */
    public int typeSize() {
        return typeSize;
    }

    /** True for block-quantized types (block size above 1). */
    public boolean isQuantized() {
        return blockSize > 1;
    }

    /** Bytes taken by a row of {@code n} elements; throws if {@code n} is negative or not a whole number of blocks. */
    public long rowBytes(long n) {
        if (n < 0) {
            throw new IllegalArgumentException(name() + ": negative element count " + n);
        }
        if (n % blockSize != 0) {
            throw new IllegalArgumentException(
                    name() + ": " + n + " elements is not a multiple of the block size " + blockSize);
        }
        return Math.multiplyExact(n / blockSize, (long) typeSize);
    }

    /**
     * Bytes taken by a tensor of shape {@code ne} (ggml order, ne[0] contiguous); throws if ne[0] is
     * not a whole number of blocks, a dimension is not positive, or the size overflows a long.
     */
    public long tensorBytes(long[] ne) {
        if (ne.length == 0) {
            throw new IllegalArgumentException("a tensor needs at least one dimension");
        }
        long rows = 1;
        for (int d = 0; d < ne.length; d++) {
            if (ne[d] <= 0) {
                throw new IllegalArgumentException("dimension " + d + " is " + ne[d] + ", must be positive");
            }
            if (d > 0) {
                rows = Math.multiplyExact(rows, ne[d]);
            }
        }
        return Math.multiplyExact(rowBytes(ne[0]), rows);
    }

    /** The type with this id; throws {@link IllegalArgumentException} for ids we do not know. */
    public static GgmlType fromId(int id) {
        return byId(id).orElseThrow(() -> new IllegalArgumentException("unknown ggml type id " + id));
    }

    /** The type with this id, or empty for ids we do not know. */
    public static Optional<GgmlType> byId(long id) {
        return id >= 0 && id < BY_ID.length ? Optional.ofNullable(BY_ID[(int) id]) : Optional.empty();
    }
}
