package io.panlora.cli;

import io.panlora.gguf.GgmlType;
import io.panlora.gguf.GgufFile;
import io.panlora.gguf.GgufTensorInfo;
import io.panlora.tensor.Codec;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;

/** {@code --check-tensors}: every tensor of a GGUF file decoded and scanned for NaN and infinities. */
final class TensorCheck {
    private static final long CHUNK = 1 << 20; // elements decoded at a time

    private TensorCheck() {}

    static void requireFinite(Path model) throws IOException {
        try (GgufFile f = GgufFile.open(model); Arena arena = Arena.ofConfined()) {
            MemorySegment dst = arena.allocate(CHUNK * 4, 64);
            for (GgufTensorInfo t : f.tensors()) {
                GgmlType type = t.type();
                long n = t.nElements(), block = type.blockSize();
                long step = Math.max(block, CHUNK / block * block);
                MemorySegment data = f.tensorData(t);
                for (long i = 0; i < n; i += step) {
                    long m = Math.min(step, n - i);
                    long off = i / block * type.typeSize();
                    Codec.dequantize(type, data.asSlice(off, Math.min((m + block - 1) / block * type.typeSize(), data.byteSize() - off)), m, dst);
                    for (long j = 0; j < m; j++) {
                        float v = dst.getAtIndex(ValueLayout.JAVA_FLOAT, j);
                        if (!Float.isFinite(v))
                            throw new IllegalArgumentException(model + ": tensor '" + t.name() + "' holds " + v + " at element " + (i + j)
                                    + " (--check-tensors)");
                    }
                }
            }
        }
    }
}
