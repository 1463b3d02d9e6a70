package io.panlora.gguf;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SequencedMap;

/**
 * A GGUF file (version 2 or 3, little-endian) opened by memory-mapping it. The header is parsed and
 * validated when the file is opened; tensor data stays in the mapping and is handed out as
 * zero-copy, read-only {@link MemorySegment} slices that stay valid until {@link #close()}.
 *
 * <p>Layout: the magic {@code "GGUF"}, the version (uint32), the tensor count and metadata key count
 * (uint64 each), the metadata key/value pairs, the tensor infos, then padding up to a multiple of the
 * alignment where the data section starts. Every tensor's offset is relative to that start and a
 * multiple of the alignment. Opening checks that every count and length fits the file, keys and
 * tensor names are unique, shapes and types are valid, and every tensor's data lies inside the file
 * without overlapping another's.
 *
 * <p>Typed getters ({@link #getString(String)}, {@link #getInt(String)}, ...) throw a
 * {@link GgufException} naming the file and key when the key is absent or holds another type; the
 * overloads with a fallback return it only when the key is absent.
 *
 * <p>Thread-safe: the mapping belongs to a shared arena and the parsed header is immutable. Closing
 * while another thread reads tensor data makes that read fail, not crash the JVM.
 */
public final class GgufFile implements AutoCloseable {

    private final Path path;
    private final Arena arena;
    private final MemorySegment mapping;
    private final int version;
    private final SequencedMap<String, GgufValue> metadata;
    private final List<GgufTensorInfo> tensors;
    private final Map<String, GgufTensorInfo> tensorsByName;
    private final long alignment;
    private final long dataOffset;

    private GgufFile(Path path, Arena arena, MemorySegment mapping, GgufHeaderParser.Header header) {
        this.path = path;
        this.arena = arena;
        this.mapping = mapping;
        this.version = header.version();
        this.metadata = Collections.unmodifiableSequencedMap(new LinkedHashMap<>(header.metadata()));
        this.tensors = header.tensors();
        Map<String, GgufTensorInfo> byName = new LinkedHashMap<>();
        for (GgufTensorInfo t : tensors) {
            byName.put(t.name(), t);
        }
        this.tensorsByName = Collections.unmodifiableMap(byName);
        this.alignment = header.alignment();
        this.dataOffset = header.dataOffset();
    }

    /**
     * Maps {@code path} read-only and parses its header. The mapping (off-heap, not counted against
     * the Java heap) is held until {@link #close()}; the caller owns the returned file and must close it.
     *
     * @param path the file to open
     * @return the opened file
     * @throws IOException   if the file cannot be opened or mapped
     * @throws GgufException if it is not a valid GGUF file; the message names the file and the problem
     */
    public static GgufFile open(Path path) throws IOException {
        String source = path.toString();
        if (Files.isDirectory(path)) {
            throw new IOException(source + ": is a directory, not a GGUF file");
        }
        Arena arena = Arena.ofShared();
        try {
            MemorySegment mapping;
            try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
                long size = channel.size();
                // A zero-length mapping is not portable; an empty segment reports "empty file" below.
                mapping = size == 0 ? MemorySegment.ofArray(new byte[0])
                        : channel.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            } catch (IOException e) {
                if (e instanceof FileSystemException) {
                    throw e; // already names the file (no such file, access denied)
                }
                throw new IOException(source + ": cannot map the file: " + e.getMessage(), e);
            }
            GgufFile file = new GgufFile(path, arena, mapping, GgufHeaderParser.parse(mapping, source));
            arena = null; // owned by the file from here on
            return file;
        } finally {
            if (arena != null) {
                arena.close();
            }
        }
    }

    /**
     * The path this file was opened from.
     *
     * @return the path as given to {@link #open(Path)} (not made absolute)
     */
    public Path path() {
        return path;
    }

    /**
     * The GGUF version in the header.
     *
     * @return 2 or 3 (their layouts are the same)
     */
    public int version() {
        return version;
    }

    /**
     * Size of the file in bytes, as mapped when it was opened.
     *
     * @return the file size in bytes
     */
    public long fileSize() {
        return mapping.byteSize();
    }

    /**
     * Alignment of tensor data: the data section starts at a multiple of it and every tensor offset is
     * a multiple of it.
     *
     * @return {@code general.alignment} when present (a power of two from 1 to 2^30), else 32
     */
    public long alignment() {
        return alignment;
    }

    /**
     * Absolute file offset of the data section; tensor offsets are relative to it.
     *
     * @return the end of the header rounded up to a multiple of {@link #alignment()}, in bytes
     */
    public long dataOffset() {
        return dataOffset;
    }

    /**
     * All metadata key/value pairs.
     *
     * @return an unmodifiable map in file order, including {@code general.alignment} when present
     */
    public SequencedMap<String, GgufValue> metadata() {
        return metadata;
    }

    /**
     * All tensor infos.
     *
     * @return an unmodifiable list in the order of the header (not necessarily the order of the data)
     */
    public List<GgufTensorInfo> tensors() {
        return tensors;
    }

    /**
     * The tensor named {@code name}.
     *
     * @param name the exact tensor name, e.g. {@code blk.0.attn_q.weight}
     * @return its info
     * @throws GgufException naming the file and tensor when there is no such tensor
     */
    public GgufTensorInfo tensor(String name) {
        GgufTensorInfo info = tensorsByName.get(name);
        if (info == null) {
            throw new GgufException(path + ": no tensor named '" + name + "'");
        }
        return info;
    }

    /**
     * The tensor named {@code name}, without throwing.
     *
     * @param name the exact tensor name
     * @return its info, or empty when the file has no such tensor
     */
    public Optional<GgufTensorInfo> findTensor(String name) {
        return Optional.ofNullable(tensorsByName.get(name));
    }

    /**
     * Whether the file has a tensor of this name.
     *
     * @param name the exact tensor name
     * @return true when a tensor named {@code name} exists
     */
    public boolean hasTensor(String name) {
        return tensorsByName.containsKey(name);
    }

    /**
     * The bytes of a tensor of this file: a zero-copy, read-only slice of the mapping, valid until
     * this file is closed. Its address is a multiple of {@link #alignment()} as long as the alignment
     * does not exceed the page size (the mapping itself starts on a page boundary). The bytes are
     * little-endian in the type's on-disk block layout.
     *
     * @param info one of this file's tensor infos (or an equal one)
     * @return a read-only segment of exactly {@code info.nbytes()} bytes
     * @throws IllegalArgumentException if {@code info} does not equal this file's info of that name
     * @throws IllegalStateException    (when the segment is used) if the file has been closed
     */
    public MemorySegment tensorData(GgufTensorInfo info) {
        GgufTensorInfo own = tensorsByName.get(info.name());
        if (!info.equals(own)) {
            throw new IllegalArgumentException(path + ": tensor info " + info + " does not belong to this file");
        }
        return mapping.asSlice(dataOffset + own.offset(), own.nbytes());
    }

    /**
     * The bytes of the tensor named {@code name}; see {@link #tensorData(GgufTensorInfo)}.
     *
     * @param name the exact tensor name
     * @return a zero-copy, read-only segment of the tensor's bytes, valid until {@link #close()}
     * @throws GgufException when there is no such tensor
     */
    public MemorySegment tensorData(String name) {
        return tensorData(tensor(name));
    }

    /**
     * Unmaps the file; segments from {@link #tensorData} must not be used afterwards (access throws
     * {@link IllegalStateException}). The parsed header ({@link #metadata()}, {@link #tensors()})
     * stays readable. Calling it a second time throws {@link IllegalStateException}.
     */
    @Override
    public void close() {
        arena.close();
    }

    // ---- metadata lookup -------------------------------------------------------------------

    /**
     * Whether a metadata key is present.
     *
     * @param key the metadata key, e.g. {@code general.architecture}
     * @return true when {@code key} is present, whatever its type
     */
    public boolean has(String key) {
        return metadata.containsKey(key);
    }

    /**
     * The value of a metadata key, without throwing.
     *
     * @param key the metadata key
     * @return the value, or empty when the key is absent
     */
    public Optional<GgufValue> find(String key) {
        return Optional.ofNullable(metadata.get(key));
    }

    /**
     * The value of a metadata key, of whatever type.
     *
     * @param key the metadata key
     * @return the value
     * @throws GgufException naming the file and key when the key is absent
     */
    public GgufValue get(String key) {
        GgufValue value = metadata.get(key);
        if (value == null) {
            throw new GgufException(path + ": missing metadata key '" + key + "'");
        }
        return value;
    }

    /**
     * A STRING value.
     *
     * @param key the metadata key
     * @return the string, decoded from UTF-8 (malformed bytes replaced by U+FFFD)
     * @throws GgufException when the key is absent or not a STRING
     */
    public String getString(String key) {
        if (get(key) instanceof GgufValue.StringValue(String s)) {
            return s;
        }
        throw wrongType(key, "a STRING");
    }

    /**
     * A STRING value, or {@code fallback} when absent.
     *
     * @param key      the metadata key
     * @param fallback returned when the key is absent; may be null
     * @return the string, or {@code fallback}
     * @throws GgufException when the key is present but not a STRING
     */
    public String getString(String key, String fallback) {
        return has(key) ? getString(key) : fallback;
    }

    /**
     * An integer of any integer type as a long; a UINT64 above {@link Long#MAX_VALUE} throws rather
     * than turning negative. Floats are not converted.
     *
     * @param key the metadata key
     * @return the value (unsigned types give their non-negative value)
     * @throws GgufException when the key is absent, not an integer, or a UINT64 above
     *                       {@link Long#MAX_VALUE}
     */
    public long getLong(String key) {
        if (get(key) instanceof GgufValue.IntValue(GgufValueType type, long v)) {
            if (type == GgufValueType.UINT64 && v < 0) {
                throw new GgufException(path + ": metadata '" + key + "' = " + Long.toUnsignedString(v)
                        + " does not fit in a signed 64-bit integer");
            }
            return v;
        }
        throw wrongType(key, "an integer");
    }

    /**
     * An integer as a long, or {@code fallback} when absent; see {@link #getLong(String)}.
     *
     * @param key      the metadata key
     * @param fallback returned when the key is absent
     * @return the value, or {@code fallback}
     * @throws GgufException when the key is present but not an integer that fits a long
     */
    public long getLong(String key, long fallback) {
        return has(key) ? getLong(key) : fallback;
    }

    /**
     * An integer of any integer type that fits in an int (a UINT32 above {@link Integer#MAX_VALUE}
     * throws rather than turning negative).
     *
     * @param key the metadata key
     * @return the value
     * @throws GgufException when the key is absent, not an integer, or outside the int range
     */
    public int getInt(String key) {
        long v = getLong(key);
        if (v < Integer.MIN_VALUE || v > Integer.MAX_VALUE) {
            throw new GgufException(path + ": metadata '" + key + "' = " + v + " does not fit in a 32-bit integer");
        }
        return (int) v;
    }

    /**
     * An integer that fits in an int, or {@code fallback} when absent; see {@link #getInt(String)}.
     *
     * @param key      the metadata key
     * @param fallback returned when the key is absent
     * @return the value, or {@code fallback}
     * @throws GgufException when the key is present but not an integer in the int range
     */
    public int getInt(String key, int fallback) {
        return has(key) ? getInt(key) : fallback;
    }

    /**
     * A FLOAT32 or FLOAT64 value (or an integer), as a double. Integers beyond 2^53 are rounded to
     * the nearest double; a UINT64 is read as unsigned.
     *
     * @param key the metadata key
     * @return the value
     * @throws GgufException when the key is absent or not a number (BOOL, STRING and arrays are not)
     */
    public double getDouble(String key) {
        return switch (get(key)) {
            case GgufValue.Float32Value(float f) -> f;
            case GgufValue.Float64Value(double d) -> d;
            case GgufValue.IntValue(GgufValueType type, long v) ->
                    type == GgufValueType.UINT64 && v < 0 ? Double.parseDouble(Long.toUnsignedString(v)) : v;
            default -> throw wrongType(key, "a number");
        };
    }

    /**
     * A number as a double, or {@code fallback} when absent; see {@link #getDouble(String)}.
     *
     * @param key      the metadata key
     * @param fallback returned when the key is absent
     * @return the value, or {@code fallback}
     * @throws GgufException when the key is present but not a number
     */
    public double getDouble(String key, double fallback) {
        return has(key) ? getDouble(key) : fallback;
    }

    /**
     * A FLOAT32 or FLOAT64 value (or an integer), as a float. A FLOAT32 comes back bit for bit; other
     * numbers are rounded to the nearest float.
     *
     * @param key the metadata key
     * @return the value
     * @throws GgufException when the key is absent or not a number
     */
    public float getFloat(String key) {
        if (get(key) instanceof GgufValue.Float32Value(float f)) {
            return f; // no detour through double, so the exact bits come back
        }
        return (float) getDouble(key);
    }

    /**
     * A number as a float, or {@code fallback} when absent; see {@link #getFloat(String)}.
     *
     * @param key      the metadata key
     * @param fallback returned when the key is absent
     * @return the value, or {@code fallback}
     * @throws GgufException when the key is present but not a number
     */
    public float getFloat(String key, float fallback) {
        return has(key) ? getFloat(key) : fallback;
    }

    /**
     * A BOOL value. Integers are not converted.
     *
     * @param key the metadata key
     * @return the value
     * @throws GgufException when the key is absent or not a BOOL
     */
    public boolean getBool(String key) {
        if (get(key) instanceof GgufValue.BoolValue(boolean b)) {
            return b;
        }
        throw wrongType(key, "a BOOL");
    }

    /**
     * A BOOL value, or {@code fallback} when absent.
     *
     * @param key      the metadata key
     * @param fallback returned when the key is absent
     * @return the value, or {@code fallback}
     * @throws GgufException when the key is present but not a BOOL
     */
    public boolean getBool(String key, boolean fallback) {
        return has(key) ? getBool(key) : fallback;
    }

    /**
     * An array of STRING, such as a tokenizer vocabulary ({@code tokenizer.ggml.tokens}).
     *
     * @param key the metadata key
     * @return an unmodifiable list of the elements, in file order (not copied on each call)
     * @throws GgufException when the key is absent or not an array of STRING
     */
    public List<String> getStringArray(String key) {
        if (get(key) instanceof GgufValue.StringArray(List<String> values)) {
            return values;
        }
        throw wrongType(key, "an array of STRING");
    }

    /**
     * An array of any integer type, every element range-checked into an int.
     *
     * @param key the metadata key
     * @return a fresh array of the elements
     * @throws GgufException when the key is absent, not an array of integers, or an element is
     *                       outside the int range (the message names its index)
     */
    public int[] getIntArray(String key) {
        long[] values = getLongArray(key);
        int[] out = new int[values.length];
        for (int i = 0; i < values.length; i++) {
            if (values[i] < Integer.MIN_VALUE || values[i] > Integer.MAX_VALUE) {
                throw new GgufException(path + ": metadata '" + key + "' element #" + i + " = " + values[i]
                        + " does not fit in a 32-bit integer");
            }
            out[i] = (int) values[i];
        }
        return out;
    }

    /**
     * An array of any integer type as longs.
     *
     * @param key the metadata key
     * @return a fresh array of the elements (unsigned types give their non-negative values)
     * @throws GgufException when the key is absent, not an array of integers, or a UINT64 element
     *                       is above {@link Long#MAX_VALUE}
     */
    public long[] getLongArray(String key) {
        if (get(key) instanceof GgufValue.IntArray array) {
            long[] values = array.values();
            if (array.elementType() == GgufValueType.UINT64) {
                for (int i = 0; i < values.length; i++) {
                    if (values[i] < 0) {
                        throw new GgufException(path + ": metadata '" + key + "' element #" + i + " = "
                                + Long.toUnsignedString(values[i]) + " does not fit in a signed 64-bit integer");
                    }
                }
            }
            return values;
        }
        throw wrongType(key, "an array of integers");
    }

    /**
     * An array of FLOAT32; FLOAT64 and integer arrays are converted, rounding to the nearest float.
     *
     * @param key the metadata key
     * @return a fresh array of the elements
     * @throws GgufException when the key is absent, not an array of numbers, or a UINT64 array
     *                       element is above {@link Long#MAX_VALUE}
     */
    public float[] getFloatArray(String key) {
        return switch (get(key)) {
            case GgufValue.Float32Array a -> a.values();
            case GgufValue.Float64Array a -> {
                double[] d = a.values();
                float[] out = new float[d.length];
                for (int i = 0; i < d.length; i++) {
                    out[i] = (float) d[i];
                }
                yield out;
            }
            case GgufValue.IntArray a -> {
                long[] values = getLongArray(key);
                float[] out = new float[values.length];
                for (int i = 0; i < values.length; i++) {
                    out[i] = values[i];
                }
                yield out;
            }
            default -> throw wrongType(key, "an array of numbers");
        };
    }

    /**
     * An array of BOOL.
     *
     * @param key the metadata key
     * @return a fresh array of the elements
     * @throws GgufException when the key is absent or not an array of BOOL
     */
    public boolean[] getBoolArray(String key) {
        if (get(key) instanceof GgufValue.BoolArray a) {
            return a.values();
        }
        throw wrongType(key, "an array of BOOL");
    }

    private GgufException wrongType(String key, String expected) {
        GgufValue value = metadata.get(key);
        String actual = value instanceof GgufValue.ArrayValue a ? "an array of " + a.elementType() : value.type().toString();
        return new GgufException(path + ": metadata '" + key + "' is " + actual + ", expected " + expected);
    }

    @Override
    public String toString() {
        return "GgufFile[" + path + ", v" + version + ", " + metadata.size() + " keys, " + tensors.size() + " tensors]";
    }
}
