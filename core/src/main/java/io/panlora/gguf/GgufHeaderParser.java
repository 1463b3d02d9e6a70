package io.panlora.gguf;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Parses a GGUF header out of a mapped file. Every count, length and offset read from the file is
 * checked against the bytes that remain before it is used, so a corrupt or hostile file ends in a
 * {@link GgufException} and never in a huge allocation, an out-of-bounds access or a bad pointer
 * handed to native code.
 */
final class GgufHeaderParser {

    static final int MAGIC = 0x46554747; // "GGUF" read as a little-endian uint32
    static final long DEFAULT_ALIGNMENT = 32;
    static final String ALIGNMENT_KEY = "general.alignment";

    // Smallest possible encodings, used to reject counts that cannot fit in the remaining bytes
    // before any loop or allocation runs: a KV is key length (8) + type (4) + a 1-byte value; a
    // tensor info is name length (8) + n_dims (4) + one ne (8) + type (4) + offset (8).
    private static final long MIN_KV_BYTES = 8 + 4 + 1;
    private static final long MIN_TENSOR_INFO_BYTES = 8 + 4 + 8 + 4 + 8;
    // Arrays of arrays recurse; a crafted file must not be able to exhaust the stack.
    private static final int MAX_ARRAY_NESTING = 8;
    // Java arrays and strings are int-indexed; stay below the VM's practical limit.
    private static final long MAX_JAVA_ELEMENTS = Integer.MAX_VALUE - 16;

    private static final ValueLayout.OfByte U8 = ValueLayout.JAVA_BYTE;
    private static final ValueLayout.OfShort LE_I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt LE_I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong LE_I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat LE_F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble LE_F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** What the header says: everything {@link GgufFile} needs besides the mapping. */
    record Header(int version, Map<String, GgufValue> metadata, List<GgufTensorInfo> tensors,
                  long alignment, long dataOffset) {
    }

    private final MemorySegment file;
    private final String source;
    private final long size;
    private long pos;

    private GgufHeaderParser(MemorySegment file, String source) {
        this.file = file;
        this.source = source;
        this.size = file.byteSize();
    }

    /** Parses and validates the header of {@code file}; {@code source} names the file in messages. */
    static Header parse(MemorySegment file, String source) {
        return new GgufHeaderParser(file, source).parse();
    }

    private Header parse() {
        if (size == 0) {
            throw fail("empty file (0 bytes), not a GGUF file");
        }
        if (size < 4) {
            throw fail("not a GGUF file (only " + size + " bytes, too short to hold the magic)");
        }
        int magic = file.get(LE_I32, 0);
        if (magic != MAGIC) {
            throw fail(String.format("not a GGUF file (magic 0x%08x %s, expected 0x%08x \"GGUF\")",
                    magic, quoteBytes(0, 4), MAGIC));
        }
        pos = 4;
        int version = readI32("the version");
        if (version != 2 && version != 3) {
            if (Integer.reverseBytes(version) == 2 || Integer.reverseBytes(version) == 3) {
                throw fail("big-endian GGUF (version " + Integer.reverseBytes(version)
                        + " written big-endian) is not supported; only little-endian files are read");
            }
            throw fail("unsupported GGUF version " + Integer.toUnsignedString(version)
                    + " (versions 2 and 3 are supported)");
        }
        long tensorCount = readU64("the tensor count");
        long kvCount = readU64("the metadata key count");
        long remaining = size - pos;
        if (kvCount < 0 || kvCount > remaining / MIN_KV_BYTES) {
            throw fail("metadata key count " + Long.toUnsignedString(kvCount) + " cannot fit in the "
                    + remaining + " bytes after the header start (each entry takes at least "
                    + MIN_KV_BYTES + " bytes)");
        }
        long remainingForTensors = remaining - kvCount * MIN_KV_BYTES;
        if (tensorCount < 0 || tensorCount > remainingForTensors / MIN_TENSOR_INFO_BYTES) {
            throw fail("tensor count " + Long.toUnsignedString(tensorCount) + " cannot fit in the "
                    + remaining + " bytes after the header start (each tensor info takes at least "
                    + MIN_TENSOR_INFO_BYTES + " bytes)");
        }

        Map<String, GgufValue> metadata = new LinkedHashMap<>();
        Map<String, Long> keyIndex = new HashMap<>();
        for (long i = 0; i < kvCount; i++) {
            String key = readString("the key of metadata entry #" + i);
            Long earlier = keyIndex.putIfAbsent(key, i);
            if (earlier != null) {
                throw fail("duplicate metadata key '" + key + "' (entries #" + earlier + " and #" + i + ")");
            }
            GgufValueType type = readValueType("metadata '" + key + "'");
            metadata.put(key, readValue(type, "metadata '" + key + "'", 0));
        }

        long alignment = alignmentOf(metadata);

        List<GgufTensorInfo> tensors = new ArrayList<>((int) Math.min(tensorCount, 1 << 16));
        Map<String, Long> nameIndex = new HashMap<>();
        for (long i = 0; i < tensorCount; i++) {
            String name = readString("the name of tensor #" + i);
            Long earlier = nameIndex.putIfAbsent(name, i);
            if (earlier != null) {
                throw fail("duplicate tensor name '" + name + "' (tensors #" + earlier + " and #" + i + ")");
            }
            tensors.add(readTensorInfo(name, alignment));
        }

        // The data section starts at the first multiple of the alignment after the header.
        long dataOffset = alignUp(pos, alignment);
        checkTensorData(tensors, dataOffset, alignment);
        return new Header(version, metadata, List.copyOf(tensors), alignment, dataOffset);
    }

    private GgufTensorInfo readTensorInfo(String name, long alignment) {
        String what = "tensor '" + name + "'";
        long nDims = Integer.toUnsignedLong(readI32("the n_dims of " + what));
        if (nDims < 1 || nDims > GgufTensorInfo.MAX_DIMS) {
            throw fail(what + " has n_dims " + nDims + " (must be 1 to " + GgufTensorInfo.MAX_DIMS + ")");
        }
        long[] ne = new long[(int) nDims];
        for (int d = 0; d < nDims; d++) {
            ne[d] = readU64("ne[" + d + "] of " + what);
            if (ne[d] == 0) {
                throw fail(what + " has ne[" + d + "] = 0 (every dimension must be at least 1)");
            }
            if (ne[d] < 0) {
                throw fail(what + " has ne[" + d + "] = " + Long.toUnsignedString(ne[d])
                        + " (negative as int64; every dimension must be 1 to 2^63-1)");
            }
        }
        long typeId = Integer.toUnsignedLong(readI32("the type of " + what));
        GgmlType type = GgmlType.byId(typeId).orElseThrow(() ->
                fail(what + " has unknown ggml type id " + typeId));
        long elements = 1;
        for (long n : ne) {
            try {
                elements = Math.multiplyExact(elements, n);
            } catch (ArithmeticException e) {
                throw fail(what + " shape " + GgufTensorInfo.shapeString(ne)
                        + " has more elements than fit in a 64-bit count");
            }
        }
        if (ne[0] % type.blockSize() != 0) {
            throw fail(what + " has ne[0] = " + ne[0] + ", not a multiple of " + type
                    + "'s block size " + type.blockSize());
        }
        long nbytes;
        try {
            nbytes = type.tensorBytes(ne);
        } catch (ArithmeticException e) {
            throw fail(what + " " + type + " " + GgufTensorInfo.shapeString(ne)
                    + " takes more bytes than fit in a 64-bit size");
        }
        long offset = readU64("the data offset of " + what);
        if (offset < 0) {
            throw fail(what + " has data offset " + Long.toUnsignedString(offset)
                    + ", past any possible end of the file (" + size + " bytes)");
        }
        if (offset % alignment != 0) {
            throw fail(what + " data offset " + offset + " is not a multiple of the alignment " + alignment);
        }
        return new GgufTensorInfo(name, ne, type, offset, nbytes);
    }

    private void checkTensorData(List<GgufTensorInfo> tensors, long dataOffset, long alignment) {
        long available = Math.max(0, size - dataOffset);
        for (GgufTensorInfo t : tensors) {
            if (t.offset() > available || t.nbytes() > available - t.offset()) {
                throw fail("tensor '" + t.name() + "' data [offset " + t.offset() + ", " + t.nbytes()
                        + " bytes] runs past the end of the file (" + size + " bytes; data section starts at "
                        + dataOffset + ")");
            }
        }
        List<GgufTensorInfo> byOffset = new ArrayList<>(tensors);
        byOffset.sort(Comparator.comparingLong(GgufTensorInfo::offset));
        for (int i = 1; i < byOffset.size(); i++) {
            GgufTensorInfo prev = byOffset.get(i - 1);
            GgufTensorInfo next = byOffset.get(i);
            if (next.offset() < prev.offset() + prev.nbytes()) {
                throw fail("tensors '" + prev.name() + "' [offset " + prev.offset() + ", " + prev.nbytes()
                        + " bytes] and '" + next.name() + "' [offset " + next.offset() + ", " + next.nbytes()
                        + " bytes] overlap");
            }
        }
    }

    private long alignmentOf(Map<String, GgufValue> metadata) {
        GgufValue value = metadata.get(ALIGNMENT_KEY);
        if (value == null) {
            return DEFAULT_ALIGNMENT;
        }
        if (!(value instanceof GgufValue.IntValue(GgufValueType type, long alignment))) {
            throw fail(ALIGNMENT_KEY + " is " + value.type() + ", must be an integer (UINT32)");
        }
        if (!isValidAlignment(alignment)) {
            throw fail(ALIGNMENT_KEY + " is " + GgufValue.formatInteger(type, alignment)
                    + ", must be a power of two from 1 to 2^30");
        }
        return alignment;
    }

    static boolean isValidAlignment(long alignment) {
        return alignment > 0 && alignment <= (1L << 30) && Long.bitCount(alignment) == 1;
    }

    static long alignUp(long position, long alignment) {
        return (position + alignment - 1) / alignment * alignment;
    }

    private GgufValueType readValueType(String what) {
        long id = Integer.toUnsignedLong(readI32("the value type of " + what));
        return GgufValueType.byId(id).orElseThrow(() -> fail(what + " has unknown value type " + id));
    }

    private GgufValue readValue(GgufValueType type, String what, int depth) {
        return switch (type) {
            case UINT8 -> new GgufValue.IntValue(type, Byte.toUnsignedLong(readI8(what)));
            case INT8 -> new GgufValue.IntValue(type, readI8(what));
            case UINT16 -> new GgufValue.IntValue(type, Short.toUnsignedLong(readI16(what)));
            case INT16 -> new GgufValue.IntValue(type, readI16(what));
            case UINT32 -> new GgufValue.IntValue(type, Integer.toUnsignedLong(readI32(what)));
            case INT32 -> new GgufValue.IntValue(type, readI32(what));
            case UINT64, INT64 -> new GgufValue.IntValue(type, readU64(what));
            case FLOAT32 -> {
                need(4, what);
                float f = file.get(LE_F32, pos);
                pos += 4;
                yield new GgufValue.Float32Value(f);
            }
            case FLOAT64 -> {
                need(8, what);
                double d = file.get(LE_F64, pos);
                pos += 8;
                yield new GgufValue.Float64Value(d);
            }
            case BOOL -> new GgufValue.BoolValue(readBool(what));
            case STRING -> new GgufValue.StringValue(readString(what));
            case ARRAY -> readArray(what, depth);
        };
    }

    private GgufValue.ArrayValue readArray(String what, int depth) {
        if (depth >= MAX_ARRAY_NESTING) {
            throw fail(what + " nests arrays more than " + MAX_ARRAY_NESTING + " deep");
        }
        GgufValueType elementType = readValueType("the elements of " + what);
        long count = readU64("the element count of " + what);
        long minElementBytes = switch (elementType) {
            case STRING -> 8; // the length prefix
            case ARRAY -> 4 + 8; // element type and count
            default -> elementType.fixedSize();
        };
        long remaining = size - pos;
        if (count < 0 || count > remaining / minElementBytes) {
            throw fail(what + " claims " + Long.toUnsignedString(count) + " " + elementType
                    + " elements (at least " + minElementBytes + " bytes each) but only " + remaining
                    + " bytes remain in the file");
        }
        if (count > MAX_JAVA_ELEMENTS) {
            throw fail(what + " has " + count + " elements, more than this reader can hold");
        }
        int n = (int) count;
        return switch (elementType) {
            case UINT8, INT8 -> {
                byte[] raw = new byte[n];
                MemorySegment.copy(file, U8, pos, raw, 0, n);
                long[] values = new long[n];
                for (int i = 0; i < n; i++) {
                    values[i] = elementType == GgufValueType.UINT8 ? Byte.toUnsignedLong(raw[i]) : raw[i];
                }
                pos += n;
                yield new GgufValue.IntArray(elementType, values);
            }
            case UINT16, INT16 -> {
                short[] raw = new short[n];
                MemorySegment.copy(file, LE_I16, pos, raw, 0, n);
                long[] values = new long[n];
                for (int i = 0; i < n; i++) {
                    values[i] = elementType == GgufValueType.UINT16 ? Short.toUnsignedLong(raw[i]) : raw[i];
                }
                pos += 2L * n;
                yield new GgufValue.IntArray(elementType, values);
            }
            case UINT32, INT32 -> {
                int[] raw = new int[n];
                MemorySegment.copy(file, LE_I32, pos, raw, 0, n);
                long[] values = new long[n];
                for (int i = 0; i < n; i++) {
                    values[i] = elementType == GgufValueType.UINT32 ? Integer.toUnsignedLong(raw[i]) : raw[i];
                }
                pos += 4L * n;
                yield new GgufValue.IntArray(elementType, values);
            }
            case UINT64, INT64 -> {
                long[] values = new long[n];
                MemorySegment.copy(file, LE_I64, pos, values, 0, n);
                pos += 8L * n;
                yield new GgufValue.IntArray(elementType, values);
            }
            case FLOAT32 -> {
                float[] values = new float[n];
                MemorySegment.copy(file, LE_F32, pos, values, 0, n);
                pos += 4L * n;
                yield new GgufValue.Float32Array(values);
            }
            case FLOAT64 -> {
                double[] values = new double[n];
                MemorySegment.copy(file, LE_F64, pos, values, 0, n);
                pos += 8L * n;
                yield new GgufValue.Float64Array(values);
            }
            case BOOL -> {
                boolean[] values = new boolean[n];
                for (int i = 0; i < n; i++) {
                    values[i] = readBool("element #" + i + " of " + what);
                }
                yield new GgufValue.BoolArray(values);
            }
            case STRING -> {
                List<String> values = new ArrayList<>(n);
                for (int i = 0; i < n; i++) {
                    values.add(readString("element #" + i + " of " + what));
                }
                yield new GgufValue.StringArray(values);
            }
            case ARRAY -> {
                List<GgufValue.ArrayValue> values = new ArrayList<>(n);
                for (int i = 0; i < n; i++) {
                    values.add(readArray("element #" + i + " of " + what, depth + 1));
                }
                yield new GgufValue.NestedArray(values);
            }
        };
    }

    private boolean readBool(String what) {
        byte b = readI8(what);
        if (b != 0 && b != 1) {
            throw fail(what + " is a BOOL with byte value " + Byte.toUnsignedInt(b) + " at offset "
                    + (pos - 1) + " (must be 0 or 1)");
        }
        return b == 1;
    }

    private String readString(String what) {
        long start = pos;
        long length = readU64("the length of " + what);
        long remaining = size - pos;
        if (length < 0 || length > remaining) {
            throw fail("truncated or corrupt: " + what + " at offset " + start + " claims "
                    + Long.toUnsignedString(length) + " bytes but only " + remaining
                    + " bytes remain in the file");
        }
        if (length > MAX_JAVA_ELEMENTS) {
            throw fail(what + " at offset " + start + " is " + length + " bytes long, more than this reader can hold");
        }
        byte[] bytes = new byte[(int) length];
        MemorySegment.copy(file, U8, pos, bytes, 0, bytes.length);
        pos += length;
        // Malformed UTF-8 is replaced rather than rejected: some converted vocabularies contain it,
        // and refusing such files would be worse than not round-tripping those few bytes exactly.
        return new String(bytes, StandardCharsets.UTF_8);
    }

    private byte readI8(String what) {
        need(1, what);
        return file.get(U8, pos++);
    }

    private short readI16(String what) {
        need(2, what);
        short v = file.get(LE_I16, pos);
        pos += 2;
        return v;
    }

    private int readI32(String what) {
        need(4, what);
        int v = file.get(LE_I32, pos);
        pos += 4;
        return v;
    }

    private long readU64(String what) {
        need(8, what);
        long v = file.get(LE_I64, pos);
        pos += 8;
        return v;
    }

    private void need(long bytes, String what) {
        if (bytes > size - pos) {
            throw fail("truncated: " + what + " at offset " + pos + " needs " + bytes
                    + " bytes but the file ends after " + (size - pos) + " (file is " + size + " bytes)");
        }
    }

    private String quoteBytes(long from, int count) {
        StringBuilder sb = new StringBuilder("\"");
        for (int i = 0; i < count; i++) {
            int b = Byte.toUnsignedInt(file.get(U8, from + i));
            if (b >= 0x20 && b < 0x7f && b != '"' && b != '\\') {
                sb.append((char) b);
            } else {
                sb.append(String.format("\\x%02x", b));
            }
        }
        return sb.append('"').toString();
    }

    private GgufException fail(String problem) {
        return new GgufException(source + ": " + problem);
    }
}
