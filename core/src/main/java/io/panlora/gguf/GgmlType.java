package io.panlora.gguf;

import java.util.Optional;

/**
 * ggml tensor element types with their on-disk ids and block layouts: {@code blockSize} elements are
 * stored in {@code typeSize} bytes. Ids are ggml's and never change; ids ggml retired (4, 5, 31-33,
 * 36-38) and ids newer than this table are unknown to us and rejected when a file is opened.
 */
public enum GgmlType {
    /** 32-bit IEEE 754 float, 4 bytes per element, little-endian. */
    F32(0, 1, 4),
    /** 16-bit IEEE 754 half-precision float, 2 bytes per element, little-endian. */
    F16(1, 1, 2),
    /**
     * 4-bit quantization: blocks of 32 elements in 18 bytes (an F16 scale and 32 packed 4-bit
     * values; 4.5 bits per weight).
     */
    Q4_0(2, 32, 18),
    /**
     * 4-bit quantization with an offset: blocks of 32 elements in 20 bytes (F16 scale and minimum,
     * 32 packed 4-bit values; 5 bits per weight).
     */
    Q4_1(3, 32, 20),
    /**
     * 5-bit quantization: blocks of 32 elements in 22 bytes (F16 scale, the 32 high bits, 32 packed
     * low nibbles; 5.5 bits per weight).
     */
    Q5_0(6, 32, 22),
    /** 5-bit quantization with an offset: blocks of 32 elements in 24 bytes (6 bits per weight). */
    Q5_1(7, 32, 24),
    /**
     * 8-bit quantization: blocks of 32 elements in 34 bytes (an F16 scale and 32 signed bytes; 8.5
     * bits per weight).
     */
    Q8_0(8, 32, 34),
    /**
     * 8-bit quantization with a stored block sum: blocks of 32 elements in 36 bytes; ggml uses it
     * mainly as the activation side of dot products; the engine neither quantizes to nor decodes
     * it.
     */
    Q8_1(9, 32, 36),
    /** 2-bit k-quant: super-blocks of 256 elements in 84 bytes (2.625 bits per weight). */
    Q2_K(10, 256, 84),
    /** 3-bit k-quant: super-blocks of 256 elements in 110 bytes (3.4375 bits per weight). */
    Q3_K(11, 256, 110),
    /** 4-bit k-quant: super-blocks of 256 elements in 144 bytes (4.5 bits per weight). */
    Q4_K(12, 256, 144),
    /** 5-bit k-quant: super-blocks of 256 elements in 176 bytes (5.5 bits per weight). */
    Q5_K(13, 256, 176),
    /** 6-bit k-quant: super-blocks of 256 elements in 210 bytes (6.5625 bits per weight). */
    Q6_K(14, 256, 210),
    /**
     * 8-bit k-quant: super-blocks of 256 elements in 292 bytes (F32 scale, 256 signed bytes, 16
     * INT16 partial sums); ggml uses it as the activation side of k-quant dot products; the engine
     * neither quantizes to nor decodes it.
     */
    Q8_K(15, 256, 292),
    // The IQ/TQ/MXFP4 types are listed so such files can be opened and inspected; the engine does
    // not compute with them.
    /**
     * 2-bit importance quantization (lattice codebook): 256 elements in 66 bytes (2.0625 bits per
     * weight). Inspect only: the engine does not compute with it.
     */
    IQ2_XXS(16, 256, 66),
    /**
     * 2-bit importance quantization: 256 elements in 74 bytes (2.3125 bits per weight). Inspect
     * only: the engine does not compute with it.
     */
    IQ2_XS(17, 256, 74),
    /**
     * 3-bit importance quantization: 256 elements in 98 bytes (3.0625 bits per weight). Inspect
     * only: the engine does not compute with it.
     */
    IQ3_XXS(18, 256, 98),
    /**
     * 1-bit importance quantization: 256 elements in 50 bytes (1.5625 bits per weight). Inspect
     * only: the engine does not compute with it.
     */
    IQ1_S(19, 256, 50),
    /**
     * 4-bit non-linear quantization: blocks of 32 elements in 18 bytes (4.5 bits per weight).
     * Inspect only: the engine does not compute with it.
     */
    IQ4_NL(20, 32, 18),
    /**
     * 3-bit importance quantization: 256 elements in 110 bytes (3.4375 bits per weight). Inspect
     * only: the engine does not compute with it.
     */
    IQ3_S(21, 256, 110),
    /**
     * 2-bit importance quantization: 256 elements in 82 bytes (2.5625 bits per weight). Inspect
     * only: the engine does not compute with it.
     */
    IQ2_S(22, 256, 82),
    /**
     * 4-bit non-linear importance quantization: 256 elements in 136 bytes (4.25 bits per weight).
     * Inspect only: the engine does not compute with it.
     */
    IQ4_XS(23, 256, 136),
    /**
     * Signed 8-bit integer, 1 byte per element. Inspect only: the engine does not compute with it.
     */
    I8(24, 1, 1),
    /**
     * Signed 16-bit integer, 2 bytes per element, little-endian. Inspect only: the engine does not
     * compute with it.
     */
    I16(25, 1, 2),
    /**
     * Signed 32-bit integer, 4 bytes per element, little-endian. Inspect only: the engine does not
     * compute with it.
     */
    I32(26, 1, 4),
    /**
     * Signed 64-bit integer, 8 bytes per element, little-endian. Inspect only: the engine does not
     * compute with it.
     */
    I64(27, 1, 8),
    /**
     * 64-bit IEEE 754 double, 8 bytes per element, little-endian. Inspect only: the engine does not
     * compute with it.
     */
    F64(28, 1, 8),
    /**
     * 1-bit importance quantization: 256 elements in 56 bytes (1.75 bits per weight). Inspect only:
     * the engine does not compute with it.
     */
    IQ1_M(29, 256, 56),
    /** bfloat16 (the top 16 bits of an F32), 2 bytes per element, little-endian. */
    BF16(30, 1, 2),
    /**
     * Ternary quantization (values -1, 0, 1): 256 elements in 54 bytes (1.6875 bits per weight).
     * Inspect only: the engine does not compute with it.
     */
    TQ1_0(34, 256, 54),
    /**
     * Ternary quantization in 2-bit codes: 256 elements in 66 bytes (2.0625 bits per weight).
     * Inspect only: the engine does not compute with it.
     */
    TQ2_0(35, 256, 66),
    /**
     * OCP microscaling FP4: blocks of 32 E2M1 values sharing one E8M0 scale byte, 17 bytes (4.25
     * bits per weight). Inspect only: the engine does not compute with it.
     */
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

    /**
     * The ggml type id written in GGUF tensor infos (a little-endian uint32 on disk).
     *
     * @return the id, 0 to 39
     */
    public int id() {
        return id;
    }

    /**
     * Elements per block: 1 for the plain types (F32, F16, BF16, the integers, F64), 32 for the
     * legacy quantizations, IQ4_NL and MXFP4, 256 for the k-quants and the other IQ and TQ types. A row's
     * contiguous dimension ({@code ne[0]}) must be a multiple of it.
     *
     * @return the number of elements one block holds, at least 1
     */
    public int blockSize() {
        return blockSize;
    }

    /**
     * Bytes per block, as stored on disk (for plain types, the element size).
     *
     * @return the byte size of one block
     */
    public int typeSize() {
        return typeSize;
    }

    /**
     * Whether this is a block-quantized type.
     *
     * @return true when the block size is above 1, false for the plain float and integer types
     */
    public boolean isQuantized() {
        return blockSize > 1;
    }

    /**
     * Bytes taken by a row of {@code n} elements: {@code n / blockSize() * typeSize()}.
     *
     * @param n number of elements, 0 or more, a multiple of {@link #blockSize()}
     * @return the byte size of the row
     * @throws IllegalArgumentException if {@code n} is negative or not a whole number of blocks
     * @throws ArithmeticException      if the size overflows a {@code long}
     */
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
     * Bytes taken by a tensor of shape {@code ne} (ggml order, {@code ne[0]} contiguous), stored
     * densely: {@link #rowBytes(long) rowBytes(ne[0])} times the product of the other dimensions.
     *
     * @param ne the shape, ggml order; at least one dimension, every dimension 1 or more, and
     *           {@code ne[0]} a multiple of {@link #blockSize()}; not modified
     * @return the byte size of the tensor data
     * @throws IllegalArgumentException if {@code ne} is empty, a dimension is not positive, or
     *                                  {@code ne[0]} is not a whole number of blocks
     * @throws ArithmeticException      if the size overflows a {@code long}
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

    /**
     * The type with this ggml id.
     *
     * @param id a ggml type id
     * @return the type
     * @throws IllegalArgumentException for ids not in this table (retired, negative or newer ids)
     * @see #byId(long)
     */
    public static GgmlType fromId(int id) {
        return byId(id).orElseThrow(() -> new IllegalArgumentException("unknown ggml type id " + id));
    }

    /**
     * The type with this ggml id, without throwing. Takes a {@code long} so an unsigned 32-bit id read
     * from a file can be passed as is.
     *
     * @param id a ggml type id; any value
     * @return the type, or empty for ids not in this table (retired, negative or newer ids)
     */
    public static Optional<GgmlType> byId(long id) {
        return id >= 0 && id < BY_ID.length ? Optional.ofNullable(BY_ID[(int) id]) : Optional.empty();
    }
}
