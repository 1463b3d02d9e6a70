package io.panlora.gguf;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.SequencedMap;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Builds a GGUF file (version 3 unless told otherwise) from ordered metadata and tensors, and writes
 * it atomically: everything goes to a temporary file beside the destination, which is fsynced and
 * then renamed over the destination. On any failure the temporary file is deleted and the
 * destination is left as it was (absent, or its previous content).
 *
 * <p>Tensor bytes are not buffered: each tensor's source is asked for its bytes only when the
 * writer reaches it, and they are streamed to the file in chunks. Tensors are laid out in the order
 * they were added, each at the next multiple of the alignment, as llama.cpp and gguf-py do, so
 * rewriting a file they produced reproduces it byte for byte.
 *
 * <p>Layout written: magic, version, tensor count, key count, the metadata in insertion order, the
 * tensor infos, zero padding up to the alignment, then the tensor data, every tensor zero-padded to
 * the alignment, the last one included. All numbers are little-endian.
 *
 * <p>Not thread-safe: build and write a writer from one thread. The writer holds references to the
 * tensor data it was given (not copies), so that data must stay unchanged and, for segments of a
 * {@link GgufFile}, that file open until {@link #write(Path)} returns. A writer can be written more
 * than once.
 */
public final class GgufWriter {

    /** Alignment used when the metadata has no {@code general.alignment}: 32 bytes, as in ggml. */
    public static final long DEFAULT_ALIGNMENT = GgufHeaderParser.DEFAULT_ALIGNMENT;

    // Large enough for throughput, small enough that a copy never holds much memory.
    private static final int CHUNK_BYTES = 8 << 20;

    /**
     * Produces a tensor's bytes on demand, streaming them to a sink in as many pieces as it likes. It
     * is called once per {@link GgufWriter#write(Path)}, on the writing thread, when the writer reaches
     * the tensor, so a source can compute or read its data then (for example quantize it) without the
     * whole file being held in memory.
     */
    @FunctionalInterface
    public interface TensorSource {
        /**
         * Writes exactly the tensor's byte size to {@code sink}, in the type's on-disk block layout
         * (little-endian).
         *
         * @param sink where the bytes go; valid only during this call
         * @throws IOException if producing the bytes fails, or the sink's file write fails; the write
         *                     is abandoned and the destination left as it was
         */
        void writeTo(TensorSink sink) throws IOException;
    }

    /**
     * Receives a tensor's bytes; checks that no more than the tensor's size arrives. Writing more
     * throws {@link GgufException}; writing fewer is detected after the source returns and also throws
     * {@link GgufException}.
     */
    public interface TensorSink {
        /**
         * Appends the bytes of {@code bytes} (its whole length, as laid out in memory). The bytes are
         * copied out before this returns, so the segment may be reused afterwards.
         *
         * @param bytes the next bytes of the tensor
         * @throws IOException   if writing to the file fails
         * @throws GgufException if this would take the tensor past its byte size
         */
        void write(MemorySegment bytes) throws IOException;

        /**
         * Appends {@code bytes}.
         *
         * @param bytes the next bytes of the tensor, all of the array
         * @throws IOException   if writing to the file fails
         * @throws GgufException if this would take the tensor past its byte size
         */
        default void write(byte[] bytes) throws IOException {
            write(MemorySegment.ofArray(bytes));
        }

        /**
         * Appends the bytes between {@code bytes}' position and limit (the position is not moved). The
         * buffer's byte order does not matter: its bytes are copied as they lie.
         *
         * @param bytes the next bytes of the tensor
         * @throws IOException   if writing to the file fails
         * @throws GgufException if this would take the tensor past its byte size
         */
        default void write(ByteBuffer bytes) throws IOException {
            write(MemorySegment.ofBuffer(bytes));
        }
    }

    private record PendingTensor(String name, long[] ne, GgmlType type, long nbytes, TensorSource source) {
    }

    private final SequencedMap<String, GgufValue> metadata = new LinkedHashMap<>();
    private final List<PendingTensor> tensors = new ArrayList<>();
    private final Set<String> tensorNames = new HashSet<>();
    private int version = 3;

    /** An empty writer: no metadata, no tensors, version 3. */
    public GgufWriter() {
    }

    /**
     * A writer holding {@code source}'s version, metadata (including {@code general.alignment}, so
     * the layout is kept) and tensors in file order, to be edited and written elsewhere. Tensor bytes
     * are streamed straight from {@code source}'s mapping when written, without an intermediate copy;
     * {@code source} must stay open until then.
     *
     * @param source an open file
     * @return a new writer
     */
    public static GgufWriter copyOf(GgufFile source) {
        GgufWriter writer = new GgufWriter();
        writer.version(source.version());
        writer.putAll(source.metadata());
        for (GgufTensorInfo info : source.tensors()) {
            writer.copyTensor(source, info);
        }
        return writer;
    }

    /**
     * Sets the version written in the header: 3 (default) or 2, whose layout is the same.
     *
     * @param version 2 or 3
     * @return this writer
     * @throws IllegalArgumentException for any other version
     */
    public GgufWriter version(int version) {
        if (version != 2 && version != 3) {
            throw new IllegalArgumentException("can write GGUF versions 2 and 3, not " + version);
        }
        this.version = version;
        return this;
    }

    /**
     * Sets {@code key}; a key already present keeps its position and takes the new value. A new key
     * goes after all present ones. An invalid {@code general.alignment} is accepted here and reported
     * by {@link #alignment()} and {@link #write(Path)}.
     *
     * @param key   the metadata key, e.g. {@code general.name}
     * @param value its value
     * @return this writer
     * @throws NullPointerException if {@code key} or {@code value} is null
     */
    public GgufWriter put(String key, GgufValue value) {
        Objects.requireNonNull(key, "key");
        Objects.requireNonNull(value, "value");
        metadata.put(key, value);
        return this;
    }

    /**
     * Sets every entry of {@code values}, in its iteration order, as {@link #put} does.
     *
     * @param values the entries to set
     * @return this writer
     * @throws NullPointerException if a key or value is null (the entries before it are already set)
     */
    public GgufWriter putAll(Map<String, ? extends GgufValue> values) {
        values.forEach(this::put);
        return this;
    }

    /**
     * Sets {@code key} to a STRING value, as {@link #put} does.
     *
     * @param key   the metadata key
     * @param value the text; not null
     * @return this writer
     * @throws NullPointerException if {@code key} or {@code value} is null
     */
    public GgufWriter putString(String key, String value) {
        return put(key, GgufValue.string(value));
    }

    /**
     * Sets {@code key} to a UINT32 value, as {@link #put} does.
     *
     * @param key   the metadata key
     * @param value the value, 0 to 2^32-1
     * @return this writer
     * @throws IllegalArgumentException if {@code value} is out of that range
     */
    public GgufWriter putUint32(String key, long value) {
        return put(key, GgufValue.uint32(value));
    }

    /**
     * Sets {@code key} to an INT32 value, as {@link #put} does.
     *
     * @param key   the metadata key
     * @param value the value
     * @return this writer
     */
    public GgufWriter putInt32(String key, int value) {
        return put(key, GgufValue.int32(value));
    }

    /**
     * Sets {@code key} to a FLOAT32 value, as {@link #put} does.
     *
     * @param key   the metadata key
     * @param value the value
     * @return this writer
     */
    public GgufWriter putFloat32(String key, float value) {
        return put(key, GgufValue.float32(value));
    }

    /**
     * Sets {@code key} to a BOOL value, as {@link #put} does.
     *
     * @param key   the metadata key
     * @param value the value
     * @return this writer
     */
    public GgufWriter putBool(String key, boolean value) {
        return put(key, GgufValue.bool(value));
    }

    /**
     * Removes {@code key} if present; nothing happens otherwise.
     *
     * @param key the metadata key
     * @return this writer
     */
    public GgufWriter remove(String key) {
        metadata.remove(key);
        return this;
    }

    /**
     * The metadata as it will be written.
     *
     * @return an unmodifiable live view in write order; it reflects later changes to this writer
     */
    public Map<String, GgufValue> metadata() {
        return Collections.unmodifiableSequencedMap(metadata);
    }

    /**
     * Sets {@code general.alignment} (a UINT32 power of two) for the tensor data: the data section
     * and every tensor start at a multiple of it.
     *
     * @param alignment a power of two from 1 to 2^30 bytes
     * @return this writer
     * @throws IllegalArgumentException if {@code alignment} is not such a power of two
     */
    public GgufWriter alignment(long alignment) {
        if (!GgufHeaderParser.isValidAlignment(alignment)) {
            throw new IllegalArgumentException("alignment " + alignment + " is not a power of two from 1 to 2^30");
        }
        return put(GgufHeaderParser.ALIGNMENT_KEY, GgufValue.uint32(alignment));
    }

    /**
     * The alignment that will be used.
     *
     * @return {@code general.alignment} if set, else {@link #DEFAULT_ALIGNMENT} (32)
     * @throws GgufException if {@code general.alignment} was set (through {@link #put}) to something
     *                       other than an integer power of two from 1 to 2^30
     */
    public long alignment() {
        GgufValue value = metadata.get(GgufHeaderParser.ALIGNMENT_KEY);
        if (value == null) {
            return DEFAULT_ALIGNMENT;
        }
        if (value instanceof GgufValue.IntValue(GgufValueType type, long a) && GgufHeaderParser.isValidAlignment(a)) {
            return a;
        }
        throw new GgufException(GgufHeaderParser.ALIGNMENT_KEY + " is " + value
                + ", must be an integer power of two from 1 to 2^30");
    }

    /**
     * Adds a tensor whose bytes are the whole of {@code data} (which must be exactly the shape's
     * size), after the tensors added so far. The segment is not copied now: it is read when the file
     * is written, so it must stay alive and unchanged until then.
     *
     * @param name the tensor name, unique within the file, e.g. {@code blk.0.attn_q.weight}
     * @param ne   the shape, ggml order ({@code ne[0]} contiguous): 1 to 4 positive dimensions,
     *             {@code ne[0]} a multiple of the type's block size; copied
     * @param type the element type
     * @param data the tensor's bytes in the type's on-disk layout, exactly
     *             {@link GgmlType#tensorBytes(long[]) type.tensorBytes(ne)} bytes
     * @return this writer
     * @throws IllegalArgumentException if the shape is invalid for the type, the name is already
     *                                  used, or the data's size differs from the shape's byte size
     * @throws NullPointerException     if an argument is null
     */
    public GgufWriter addTensor(String name, long[] ne, GgmlType type, MemorySegment data) {
        Objects.requireNonNull(data, "data");
        long nbytes = checkedSize(name, ne, type);
        if (data.byteSize() != nbytes) {
            throw new IllegalArgumentException("tensor '" + name + "': " + type + " " + GgufTensorInfo.shapeString(ne)
                    + " takes " + nbytes + " bytes but " + data.byteSize() + " were given");
        }
        return add(name, ne, type, nbytes, sink -> sink.write(data));
    }

    /**
     * Adds a tensor whose bytes are {@code data} (not copied; must not change before writing).
     *
     * @param name the tensor name, unique within the file, e.g. {@code blk.0.attn_q.weight}
     * @param ne   the shape, ggml order ({@code ne[0]} contiguous): 1 to 4 positive dimensions,
     *             {@code ne[0]} a multiple of the type's block size; copied
     * @param type the element type
     * @param data the tensor's bytes in the type's on-disk layout, exactly the shape's byte size
     * @return this writer
     * @throws IllegalArgumentException if the shape is invalid for the type, the name is already
     *                                  used, or the data's size differs from the shape's byte size
     * @throws NullPointerException     if an argument is null
     */
    public GgufWriter addTensor(String name, long[] ne, GgmlType type, byte[] data) {
        return addTensor(name, ne, type, MemorySegment.ofArray(data));
    }

    /**
     * Adds a tensor whose bytes lie between {@code data}'s position and limit (not copied; the
     * buffer's content must not change before writing, and moving its position later has no effect).
     *
     * @param name the tensor name, unique within the file, e.g. {@code blk.0.attn_q.weight}
     * @param ne   the shape, ggml order ({@code ne[0]} contiguous): 1 to 4 positive dimensions,
     *             {@code ne[0]} a multiple of the type's block size; copied
     * @param type the element type
     * @param data the tensor's bytes in the type's on-disk layout, exactly the shape's byte size
     *             between position and limit
     * @return this writer
     * @throws IllegalArgumentException if the shape is invalid for the type, the name is already
     *                                  used, or the data's size differs from the shape's byte size
     * @throws NullPointerException     if an argument is null
     */
    public GgufWriter addTensor(String name, long[] ne, GgmlType type, ByteBuffer data) {
        return addTensor(name, ne, type, MemorySegment.ofBuffer(data));
    }

    /**
     * Adds a tensor whose bytes {@code source} produces when the writer reaches it, during
     * {@link #write(Path)} (once per write).
     *
     * @param name the tensor name, unique within the file, e.g. {@code blk.0.attn_q.weight}
     * @param ne   the shape, ggml order ({@code ne[0]} contiguous): 1 to 4 positive dimensions,
     *             {@code ne[0]} a multiple of the type's block size; copied
     * @param type the element type
     * @param source produces exactly the shape's byte size; a different amount fails the write with
     *               {@link GgufException}
     * @return this writer
     * @throws IllegalArgumentException if the shape is invalid for the type or the name is already
     *                                  used
     * @throws NullPointerException     if an argument is null
     */
    public GgufWriter addTensor(String name, long[] ne, GgmlType type, TensorSource source) {
        Objects.requireNonNull(source, "source");
        return add(name, ne, type, checkedSize(name, ne, type), source);
    }

    /**
     * Adds {@code info}'s tensor of {@code source} under the same name, shape and type. The bytes are
     * streamed from {@code source}'s mapping when written, without an intermediate copy, so
     * {@code source} must stay open until {@link #write(Path)} returns.
     *
     * @param source an open file
     * @param info   one of {@code source}'s tensor infos
     * @return this writer
     * @throws IllegalArgumentException if {@code info} is not {@code source}'s or its name is already
     *                                  used in this writer
     */
    public GgufWriter copyTensor(GgufFile source, GgufTensorInfo info) {
        MemorySegment data = source.tensorData(info);
        return addTensor(info.name(), info.ne(), info.type(), data);
    }

    /**
     * Adds the tensor named {@code name} of {@code source}; see
     * {@link #copyTensor(GgufFile, GgufTensorInfo)}.
     *
     * @param source an open file
     * @param name   the tensor's exact name in {@code source}
     * @return this writer
     * @throws GgufException            if {@code source} has no such tensor
     * @throws IllegalArgumentException if the name is already used in this writer
     */
    public GgufWriter copyTensor(GgufFile source, String name) {
        return copyTensor(source, source.tensor(name));
    }

    /**
     * Names of the tensors added so far.
     *
     * @return an unmodifiable snapshot, in the order the tensors will be written
     */
    public List<String> tensorNames() {
        return tensors.stream().map(PendingTensor::name).toList();
    }

    private long checkedSize(String name, long[] ne, GgmlType type) {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(ne, "ne");
        Objects.requireNonNull(type, "type");
        if (ne.length < 1 || ne.length > GgufTensorInfo.MAX_DIMS) {
            throw new IllegalArgumentException("tensor '" + name + "' has " + ne.length
                    + " dimensions, must be 1 to " + GgufTensorInfo.MAX_DIMS);
        }
        try {
            return type.tensorBytes(ne);
        } catch (IllegalArgumentException | ArithmeticException e) {
            throw new IllegalArgumentException("tensor '" + name + "' " + type + " "
                    + GgufTensorInfo.shapeString(ne) + ": " + e.getMessage(), e);
        }
    }

    private GgufWriter add(String name, long[] ne, GgmlType type, long nbytes, TensorSource source) {
        if (!tensorNames.add(name)) {
            throw new IllegalArgumentException("duplicate tensor name '" + name + "'");
        }
        tensors.add(new PendingTensor(name, ne.clone(), type, nbytes, source));
        return this;
    }

    /**
     * Writes the file to {@code destination} atomically: to a temporary file
     * {@code .NAME.RANDOM.tmp} in the same directory, fsynced, then renamed over {@code destination}
     * (replacing an existing file), and the directory fsynced (best effort). Tensor sources are called
     * in order. On failure the temporary file is deleted and {@code destination} is untouched. The
     * writer is unchanged and may be written again.
     *
     * @param destination the file to create or replace; its directory must exist
     * @throws IOException   if the file system fails (missing or unwritable directory, full disk);
     *                       the message names the destination
     * @throws GgufException if a tensor source delivers the wrong number of bytes
     */
    public void write(Path destination) throws IOException {
        long alignment = alignment();
        Path target = destination.toAbsolutePath();
        Path directory = target.getParent();
        if (directory == null || !Files.isDirectory(directory)) {
            throw new NoSuchFileException(destination.toString(), null,
                    "cannot write GGUF file: parent directory does not exist");
        }
        Path temp = null;
        try {
            FileChannel channel = null;
            // A random suffix keeps concurrent writers to the same destination apart; CREATE_NEW
            // never clobbers someone else's file.
            for (int attempt = 0; channel == null; attempt++) {
                temp = directory.resolve("." + target.getFileName() + "."
                        + Long.toHexString(ThreadLocalRandom.current().nextLong()) + ".tmp");
                try {
                    channel = FileChannel.open(temp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
                } catch (FileAlreadyExistsException e) {
                    if (attempt >= 8) {
                        throw e;
                    }
                }
            }
            try (FileChannel out = channel) {
                writeContent(out, alignment, destination.toString());
                out.force(true);
            }
            Files.move(temp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            temp = null;
        } catch (IOException e) {
            deleteQuietly(temp, e);
            throw new IOException(destination + ": could not write GGUF file, nothing was written: " + e, e);
        } catch (RuntimeException | Error e) {
            deleteQuietly(temp, e);
            throw e;
        }
        syncDirectory(directory);
    }

    private void writeContent(FileChannel channel, long alignment, String destination) throws IOException {
        LittleEndianOutput out = new LittleEndianOutput(channel);
        out.u32(GgufHeaderParser.MAGIC);
        out.u32(version);
        out.u64(tensors.size());
        out.u64(metadata.size());
        for (Map.Entry<String, GgufValue> e : metadata.entrySet()) {
            out.string(e.getKey());
            out.u32(e.getValue().type().id());
            writeValue(out, e.getValue());
        }
        long[] offsets = new long[tensors.size()];
        long next = 0;
        for (int i = 0; i < tensors.size(); i++) {
            PendingTensor t = tensors.get(i);
            offsets[i] = next;
            next = GgufHeaderParser.alignUp(Math.addExact(next, t.nbytes()), alignment);
            out.string(t.name());
            out.u32(t.ne().length);
            for (long n : t.ne()) {
                out.u64(n);
            }
            out.u32(t.type().id());
            out.u64(offsets[i]);
        }
        long dataOffset = GgufHeaderParser.alignUp(out.position(), alignment);
        out.zeros(dataOffset - out.position());
        for (int i = 0; i < tensors.size(); i++) {
            PendingTensor t = tensors.get(i);
            out.zeros(dataOffset + offsets[i] - out.position());
            CountingSink sink = new CountingSink(out, t, destination);
            t.source().writeTo(sink);
            if (sink.written != t.nbytes()) {
                throw new GgufException(destination + ": tensor '" + t.name() + "' source wrote " + sink.written
                        + " bytes, but " + t.type() + " " + GgufTensorInfo.shapeString(t.ne()) + " takes " + t.nbytes());
            }
        }
        // Pad the end too, as llama.cpp and gguf-py do, so every tensor's slot is whole.
        out.zeros(GgufHeaderParser.alignUp(out.position(), alignment) - out.position());
        out.flush();
    }

    private static void writeValue(LittleEndianOutput out, GgufValue value) throws IOException {
        switch (value) {
            case GgufValue.IntValue(GgufValueType type, long v) -> writeInteger(out, type, v);
            case GgufValue.Float32Value(float f) -> out.u32(Float.floatToRawIntBits(f));
            case GgufValue.Float64Value(double d) -> out.u64(Double.doubleToRawLongBits(d));
            case GgufValue.BoolValue(boolean b) -> out.u8(b ? 1 : 0);
            case GgufValue.StringValue(String s) -> out.string(s);
            case GgufValue.ArrayValue array -> writeArray(out, array);
        }
    }

    private static void writeArray(LittleEndianOutput out, GgufValue.ArrayValue array) throws IOException {
        out.u32(array.elementType().id());
        out.u64(array.size());
        switch (array) {
            case GgufValue.IntArray a -> {
                for (int i = 0; i < a.size(); i++) {
                    writeInteger(out, a.elementType(), a.get(i));
                }
            }
            case GgufValue.Float32Array a -> {
                for (int i = 0; i < a.size(); i++) {
                    out.u32(Float.floatToRawIntBits(a.get(i)));
                }
            }
            case GgufValue.Float64Array a -> {
                for (int i = 0; i < a.size(); i++) {
                    out.u64(Double.doubleToRawLongBits(a.get(i)));
                }
            }
            case GgufValue.BoolArray a -> {
                for (int i = 0; i < a.size(); i++) {
                    out.u8(a.get(i) ? 1 : 0);
                }
            }
            case GgufValue.StringArray(List<String> values) -> {
                for (String s : values) {
                    out.string(s);
                }
            }
            case GgufValue.NestedArray(List<GgufValue.ArrayValue> values) -> {
                for (GgufValue.ArrayValue v : values) {
                    writeArray(out, v);
                }
            }
        }
    }

    private static void writeInteger(LittleEndianOutput out, GgufValueType type, long v) throws IOException {
        switch (type) {
            case UINT8, INT8 -> out.u8((int) v);
            case UINT16, INT16 -> out.u16((int) v);
            case UINT32, INT32 -> out.u32((int) v);
            default -> out.u64(v);
        }
    }

    private static void deleteQuietly(Path temp, Throwable primary) {
        if (temp == null) {
            return;
        }
        try {
            Files.deleteIfExists(temp);
        } catch (IOException | RuntimeException e) {
            primary.addSuppressed(e);
        }
    }

    // Makes the rename itself durable; not every platform lets a directory be opened, hence best effort.
    private static void syncDirectory(Path directory) {
        try (FileChannel dir = FileChannel.open(directory, StandardOpenOption.READ)) {
            dir.force(true);
        } catch (IOException | RuntimeException ignored) {
            // the data is already fsynced and renamed; only crash-durability of the name is at stake
        }
    }

    /** Counts a tensor's bytes on their way to the file and refuses any beyond its size. */
    private static final class CountingSink implements TensorSink {
        private final LittleEndianOutput out;
        private final PendingTensor tensor;
        private final String destination;
        long written;

        CountingSink(LittleEndianOutput out, PendingTensor tensor, String destination) {
            this.out = out;
            this.tensor = tensor;
            this.destination = destination;
        }

        @Override
        public void write(MemorySegment bytes) throws IOException {
            if (bytes.byteSize() > tensor.nbytes() - written) {
                throw new GgufException(destination + ": tensor '" + tensor.name() + "' source wrote more than the "
                        + tensor.nbytes() + " bytes that " + tensor.type() + " "
                        + GgufTensorInfo.shapeString(tensor.ne()) + " takes");
            }
            out.segment(bytes);
            written += bytes.byteSize();
        }
    }

    /** Little-endian primitives through one reusable buffer, so the header costs few system calls. */
    private static final class LittleEndianOutput {
        private final FileChannel channel;
        private final ByteBuffer buffer = ByteBuffer.allocate(1 << 20).order(ByteOrder.LITTLE_ENDIAN);
        private long flushed;

        LittleEndianOutput(FileChannel channel) {
            this.channel = channel;
        }

        long position() {
            return flushed + buffer.position();
        }

        void u8(int v) throws IOException {
            room(1);
            buffer.put((byte) v);
        }

        void u16(int v) throws IOException {
            room(2);
            buffer.putShort((short) v);
        }

        void u32(int v) throws IOException {
            room(4);
            buffer.putInt(v);
        }

        void u64(long v) throws IOException {
            room(8);
            buffer.putLong(v);
        }

        void string(String s) throws IOException {
            byte[] utf8 = s.getBytes(StandardCharsets.UTF_8);
            u64(utf8.length);
            segment(MemorySegment.ofArray(utf8));
        }

        void zeros(long count) throws IOException {
            if (count < 0) {
                throw new IllegalStateException("negative padding " + count); // a layout bug, not bad input
            }
            while (count > 0) {
                room(1);
                int n = (int) Math.min(count, buffer.remaining());
                for (int i = 0; i < n; i++) {
                    buffer.put((byte) 0);
                }
                count -= n;
            }
        }

        /** Appends a segment: native ones (mapped files, off-heap) go straight to the channel in chunks. */
        void segment(MemorySegment bytes) throws IOException {
            long size = bytes.byteSize();
            if (!bytes.isNative()) {
                for (long off = 0; off < size; ) {
                    room(1);
                    int n = (int) Math.min(size - off, buffer.remaining());
                    MemorySegment.copy(bytes, ValueLayout.JAVA_BYTE, off, buffer.array(), buffer.position(), n);
                    buffer.position(buffer.position() + n);
                    off += n;
                }
                return;
            }
            flush();
            for (long off = 0; off < size; off += CHUNK_BYTES) {
                ByteBuffer chunk = bytes.asSlice(off, Math.min(CHUNK_BYTES, size - off)).asByteBuffer();
                flushed += chunk.remaining();
                writeFully(chunk);
            }
        }

        void flush() throws IOException {
            buffer.flip();
            flushed += buffer.remaining();
            writeFully(buffer);
            buffer.clear();
        }

        private void room(int bytes) throws IOException {
            if (buffer.remaining() < bytes) {
                flush();
            }
        }

        private void writeFully(ByteBuffer b) throws IOException {
            while (b.hasRemaining()) {
                channel.write(b);
            }
        }
    }
}
