package io.panlora.gguf;

import java.util.Arrays;
import java.util.Objects;

/**
 * One tensor's entry in a GGUF header. On disk an entry is the name (a GGUF string), {@code n_dims}
 * (uint32), {@code n_dims} uint64 dimensions, the ggml type id (uint32) and the data offset (uint64),
 * all little-endian; the byte size is not stored but follows from the type and shape.
 *
 * <p>Immutable: the shape is copied in and out. Equality compares the shape by content.
 *
 * @param name   the tensor name, e.g. {@code blk.0.attn_q.weight}
 * @param ne     the shape in ggml order: {@code ne[0]} is the contiguous dimension; 1 to 4 entries
 * @param type   the element type
 * @param offset byte offset of the data, relative to the start of the file's data section; 0 or
 *               more (files read by {@link GgufFile} also have it a multiple of the alignment)
 * @param nbytes byte size of the data, as the type's block layout dictates for this shape
 *               ({@link GgmlType#tensorBytes(long[])})
 */
public record GgufTensorInfo(String name, long[] ne, GgmlType type, long offset, long nbytes) {

    /** ggml's limit on dimensions. */
    public static final int MAX_DIMS = 4;

    /**
     * Checks the shape and that {@code nbytes} matches it; copies {@code ne}.
     *
     * @throws NullPointerException     if {@code name}, {@code ne} or {@code type} is null
     * @throws IllegalArgumentException if {@code ne} has fewer than 1 or more than {@link #MAX_DIMS}
     *                                  entries, a dimension is not positive, {@code ne[0]} is not a
     *                                  multiple of the type's block size, {@code nbytes} differs from
     *                                  the size the shape takes, or {@code offset} is negative
     * @throws ArithmeticException      if the shape's byte size overflows a {@code long}
     */
    public GgufTensorInfo {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(type, "type");
        ne = ne.clone();
        if (ne.length < 1 || ne.length > MAX_DIMS) {
            throw new IllegalArgumentException("tensor '" + name + "' has " + ne.length + " dimensions, must be 1 to " + MAX_DIMS);
        }
        long expected = type.tensorBytes(ne);
        if (nbytes != expected) {
            throw new IllegalArgumentException("tensor '" + name + "' " + type + " " + shapeString(ne)
                    + " takes " + expected + " bytes, not " + nbytes);
        }
        if (offset < 0) {
            throw new IllegalArgumentException("tensor '" + name + "' has negative offset " + offset);
        }
    }

    /**
     * The shape, ggml order ({@code ne[0]} contiguous).
     *
     * @return a fresh copy of the shape, 1 to {@link #MAX_DIMS} entries; changing it does not change
     *         this info
     */
    @Override
    public long[] ne() {
        return ne.clone();
    }

    /**
     * Size of one dimension, without copying the shape.
     *
     * @param d dimension index, ggml order (0 is the contiguous one); 0 or more
     * @return the size of dimension {@code d}; 1 for dimensions past {@link #nDims()}, as in ggml
     * @throws ArrayIndexOutOfBoundsException if {@code d} is negative
     */
    public long ne(int d) {
        return d < ne.length ? ne[d] : 1;
    }

    /**
     * Number of dimensions stored in the file (trailing dimensions of size 1 count when stored).
     *
     * @return 1 to {@link #MAX_DIMS}
     */
    public int nDims() {
        return ne.length;
    }

    /**
     * Total number of elements, the product of the dimensions.
     *
     * @return the element count, at least 1
     */
    public long nElements() {
        long n = 1;
        for (long x : ne) {
            n *= x; // cannot overflow: the constructor computed the byte size with exact arithmetic
        }
        return n;
    }

    /**
     * The shape as text, ggml order.
     *
     * @return the dimensions in brackets, e.g. {@code [64, 512]}
     */
    public String shapeString() {
        return shapeString(ne);
    }

    /**
     * A shape as text, in the order given; no checks, so it also formats invalid shapes for error
     * messages.
     *
     * @param ne the dimensions; not modified
     * @return the dimensions in brackets, e.g. {@code [64, 512]}; {@code []} for an empty array
     */
    public static String shapeString(long[] ne) {
        StringBuilder sb = new StringBuilder("[");
        for (int d = 0; d < ne.length; d++) {
            if (d > 0) {
                sb.append(", ");
            }
            sb.append(ne[d]);
        }
        return sb.append(']').toString();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof GgufTensorInfo other
                && name.equals(other.name)
                && Arrays.equals(ne, other.ne)
                && type == other.type
                && offset == other.offset
                && nbytes == other.nbytes;
    }

    @Override
    public int hashCode() {
        return Objects.hash(name, Arrays.hashCode(ne), type, offset, nbytes);
    }

    @Override
    public String toString() {
        return name + " " + type + " " + shapeString() + " @" + offset + " (" + nbytes + " bytes)";
    }
}
