package io.panlora.tensor;

import io.panlora.bindings.Native;
import io.panlora.bindings.gen.panlora_h;
import io.panlora.gguf.GgmlType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.foreign.ValueLayout;

/** Quantize and dequantize through the engine's codecs (ggml's block layouts). */
public final class Codec {
    static {
        Native.ensureLoaded();
    }

    private Codec() {}

    /** Encodes floats into a new segment of the given type, allocated from alloc. */
    public static MemorySegment quantize(GgmlType type, float[] values, SegmentAllocator alloc) {
        long bytes = type.rowBytes(values.length);
        MemorySegment dst = alloc.allocate(bytes, 64);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment src = a.allocateFrom(ValueLayout.JAVA_FLOAT, values);
            Native.check(panlora_h.pl_quantize(type.id(), src, values.length, dst, bytes), "quantize to " + type);
        }
        return dst;
    }

    /** Encodes floats already in native memory into dst. */
    public static void quantize(GgmlType type, MemorySegment src, long n, MemorySegment dst) {
        Native.check(panlora_h.pl_quantize(type.id(), src, n, dst, dst.byteSize()), "quantize to " + type);
    }

    /** Decodes n elements of a segment of the given type. */
    public static float[] dequantize(GgmlType type, MemorySegment src, long n) {
        if (n > Integer.MAX_VALUE - 16) throw new IllegalArgumentException("too many elements for a Java array: " + n);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment dst = a.allocate(ValueLayout.JAVA_FLOAT, n);
            Native.check(panlora_h.pl_dequantize(type.id(), src, src.byteSize(), dst, n), "dequantize " + type);
            return dst.toArray(ValueLayout.JAVA_FLOAT);
        }
    }

    /** Decodes n elements into dst (native F32 memory). */
    public static void dequantize(GgmlType type, MemorySegment src, long n, MemorySegment dst) {
        Native.check(panlora_h.pl_dequantize(type.id(), src, src.byteSize(), dst, n), "dequantize " + type);
    }
}
