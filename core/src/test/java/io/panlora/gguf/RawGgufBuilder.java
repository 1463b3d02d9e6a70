package io.panlora.gguf;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** Writes GGUF bytes field by field, so tests can build files that are wrong in exactly one place. */
final class RawGgufBuilder {
    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    /** Magic, version and both counts, as the header starts. */
    static RawGgufBuilder header(int version, long tensorCount, long kvCount) {
        return new RawGgufBuilder().bytes("GGUF".getBytes(StandardCharsets.US_ASCII))
                .u32(version).u64(tensorCount).u64(kvCount);
    }

    RawGgufBuilder u8(int v) {
        out.write(v);
        return this;
    }

    RawGgufBuilder u32(long v) {
        for (int i = 0; i < 4; i++) {
            out.write((int) (v >>> (8 * i)));
        }
        return this;
    }

    RawGgufBuilder u64(long v) {
        for (int i = 0; i < 8; i++) {
            out.write((int) (v >>> (8 * i)));
        }
        return this;
    }

    RawGgufBuilder bytes(byte[] b) {
        out.writeBytes(b);
        return this;
    }

    /** A GGUF string: uint64 length, then UTF-8 bytes. */
    RawGgufBuilder str(String s) {
        byte[] utf8 = s.getBytes(StandardCharsets.UTF_8);
        return u64(utf8.length).bytes(utf8);
    }

    /** A UINT32 metadata entry. */
    RawGgufBuilder kvU32(String key, long value) {
        return str(key).u32(GgufValueType.UINT32.id()).u32(value);
    }

    /** A STRING metadata entry. */
    RawGgufBuilder kvString(String key, String value) {
        return str(key).u32(GgufValueType.STRING.id()).str(value);
    }

    /** A tensor info entry. */
    RawGgufBuilder tensorInfo(String name, long[] ne, int typeId, long offset) {
        str(name).u32(ne.length);
        for (long n : ne) {
            u64(n);
        }
        return u32(typeId).u64(offset);
    }

    /** Zero bytes up to the next multiple of {@code alignment}. */
    RawGgufBuilder padTo(int alignment) {
        while (out.size() % alignment != 0) {
            out.write(0);
        }
        return this;
    }

    /** {@code n} bytes of value {@code fill}. */
    RawGgufBuilder fill(int n, int fill) {
        for (int i = 0; i < n; i++) {
            out.write(fill);
        }
        return this;
    }

    int size() {
        return out.size();
    }

    byte[] build() {
        return out.toByteArray();
    }

    Path writeTo(Path path) throws IOException {
        return Files.write(path, build());
    }
}
