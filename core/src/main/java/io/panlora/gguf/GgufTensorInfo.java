package io.panlora.gguf;

import java.util.Arrays;
import java.util.Objects;

/**
 * One tensor's entry in a GGUF header.
 *
 * @param name   the tensor name, e.g. {@code blk.0.attn_q.weight}
 * @param ne     the shape in ggml order: {@code ne[0]} is the contiguous dimension; 1 to 4 entries
 * @param type   the element type
 * @param offset byte offset of the data, relative to the start of the file's data section
 * @param nbytes byte size of the data, as the type's block layout dictates for this shape
 */
public record GgufTensorInfo(String name, long[] ne, GgmlType type, long offset, long nbytes) {

    /** ggml's limit on dimensions. */
    public static final int MAX_DIMS = 4;

    /** Checks the shape and that {@code nbytes} matches it; copies {@code ne}. */
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

    /** A copy of the shape (ggml order). */
    @Override
    public long[] ne() {
        return ne.clone();
    }

    /** Size of dimension {@code d} (ggml order); 1 for dimensions past {@link #nDims()}, as in ggml. */
    public long ne(int d) {
        return d < ne.length ? ne[d] : 1;
    }

    /** Number of dimensions stored in the file. */
    public int nDims() {
        return ne.length;
    }

    /** Total number of elements. */
    public long nElements() {
        long n = 1;
        for (long x : ne) {
            n *= x; // cannot overflow: the constructor computed the byte size with exact arithmetic
        }
        return n;
    }

    /** The shape as text, ggml order, e.g. {@code [64, 512]}. */
    public String shapeString() {
        return shapeString(ne);
    }

    /** The shape as text, ggml order, e.g. {@code [64, 512]}. */
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
