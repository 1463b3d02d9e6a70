package io.panlora.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class GgufRoundTripTest {

    @TempDir
    Path dir;

    /** One metadata entry of every scalar type, every array element type, and the awkward cases. */
    static Map<String, GgufValue> everyKindOfValue() {
        Map<String, GgufValue> m = new LinkedHashMap<>();
        m.put("general.architecture", GgufValue.string("llama"));
        m.put("t.uint8", GgufValue.uint8(255));
        m.put("t.int8", GgufValue.int8(-128));
        m.put("t.uint16", GgufValue.uint16(65535));
        m.put("t.int16", GgufValue.int16(-32768));
        m.put("t.uint32", GgufValue.uint32(0xFFFF_FFFFL));
        m.put("t.int32", GgufValue.int32(Integer.MIN_VALUE));
        m.put("t.uint64", GgufValue.uint64(-1L)); // 2^64-1
        m.put("t.int64", GgufValue.int64(Long.MIN_VALUE));
        m.put("t.float32", GgufValue.float32(1e-5f));
        m.put("t.float32.negzero", GgufValue.float32(-0.0f));
        m.put("t.float32.nan", GgufValue.float32(Float.intBitsToFloat(0x7fc0_1234)));
        m.put("t.float64", GgufValue.float64(Math.PI));
        m.put("t.bool.true", GgufValue.bool(true));
        m.put("t.bool.false", GgufValue.bool(false));
        m.put("t.string.empty", GgufValue.string(""));
        m.put("t.string.unicode", GgufValue.string("héllo wörld — 世界 🦙 \u0000 tab\there"));
        m.put("t.arr.uint8", GgufValue.intArray(GgufValueType.UINT8, 0, 1, 127, 128, 255));
        m.put("t.arr.int8", GgufValue.intArray(GgufValueType.INT8, -128, -1, 0, 127));
        m.put("t.arr.uint16", GgufValue.intArray(GgufValueType.UINT16, 0, 65535, 40000));
        m.put("t.arr.int16", GgufValue.intArray(GgufValueType.INT16, -32768, 32767));
        m.put("t.arr.uint32", GgufValue.intArray(GgufValueType.UINT32, 0, 0xFFFF_FFFFL, 3_000_000_000L));
        m.put("t.arr.int32", GgufValue.int32Array(1, -2, Integer.MAX_VALUE, Integer.MIN_VALUE));
        m.put("t.arr.uint64", GgufValue.intArray(GgufValueType.UINT64, 0, -1L, Long.MAX_VALUE));
        m.put("t.arr.int64", GgufValue.intArray(GgufValueType.INT64, Long.MIN_VALUE, -1, 42));
        m.put("t.arr.float32", GgufValue.float32Array(0f, -1.5f, Float.MAX_VALUE, Float.MIN_VALUE, Float.NEGATIVE_INFINITY));
        m.put("t.arr.float64", GgufValue.float64Array(Math.E, -0.0, Double.MIN_VALUE));
        m.put("t.arr.bool", GgufValue.boolArray(true, false, true));
        m.put("t.arr.string", GgufValue.stringArray("<unk>", "", "▁the", "日本語", "🦙🦙"));
        m.put("t.arr.empty.int32", GgufValue.int32Array());
        m.put("t.arr.empty.string", GgufValue.stringArray(List.of()));
        m.put("t.arr.nested", GgufValue.nestedArray(List.of(
                GgufValue.int32Array(1, 2), GgufValue.stringArray("a", "b"), GgufValue.float32Array())));
        return m;
    }

    record TensorSpec(String name, long[] ne, GgmlType type) {
    }

    static final List<TensorSpec> TENSORS = List.of(
            new TensorSpec("token_embd.weight", new long[] {64, 3}, GgmlType.F32),
            new TensorSpec("blk.0.attn_norm.weight", new long[] {17}, GgmlType.F16),
            new TensorSpec("blk.0.attn_q.weight", new long[] {64, 2}, GgmlType.Q4_0),
            new TensorSpec("blk.0.ffn_up.weight", new long[] {32, 3, 2}, GgmlType.Q8_0),
            new TensorSpec("blk.0.four_d", new long[] {8, 2, 2, 3}, GgmlType.BF16),
            new TensorSpec("ids", new long[] {5}, GgmlType.I32),
            new TensorSpec("blk.1.q6k", new long[] {256}, GgmlType.Q6_K),
            new TensorSpec("blk.1.q4k", new long[] {512, 1}, GgmlType.Q4_K),
            new TensorSpec("one_byte", new long[] {1}, GgmlType.I8));

    static byte[] randomBytes(long n, long seed) {
        byte[] b = new byte[Math.toIntExact(n)];
        new Random(seed).nextBytes(b);
        return b;
    }

    /** Writes every kind of value and the TENSORS (random bytes, seeded by index) to {@code path}. */
    static List<byte[]> writeSample(Path path, long alignment) throws IOException {
        GgufWriter writer = new GgufWriter().putAll(everyKindOfValue());
        if (alignment != GgufWriter.DEFAULT_ALIGNMENT) {
            writer.alignment(alignment);
        }
        List<byte[]> data = new ArrayList<>();
        for (int i = 0; i < TENSORS.size(); i++) {
            TensorSpec t = TENSORS.get(i);
            byte[] bytes = randomBytes(t.type().tensorBytes(t.ne()), i);
            data.add(bytes);
            // exercise every way of passing bytes
            switch (i % 4) {
                case 0 -> writer.addTensor(t.name(), t.ne(), t.type(), bytes);
                case 1 -> writer.addTensor(t.name(), t.ne(), t.type(), ByteBuffer.wrap(bytes));
                case 2 -> writer.addTensor(t.name(), t.ne(), t.type(), MemorySegment.ofArray(bytes));
                default -> writer.addTensor(t.name(), t.ne(), t.type(), sink -> {
                    // streamed in uneven pieces
                    for (int off = 0; off < bytes.length; off += 7) {
                        sink.write(java.util.Arrays.copyOfRange(bytes, off, Math.min(bytes.length, off + 7)));
                    }
                });
            }
        }
        writer.write(path);
        return data;
    }

    @ParameterizedTest
    @ValueSource(longs = {32, 64, 1, 4096})
    void writeReadWriteIsIdentical(long alignment) throws IOException {
        Path first = dir.resolve("first.gguf");
        List<byte[]> data = writeSample(first, alignment);
        Path second = dir.resolve("second.gguf");

        try (GgufFile file = GgufFile.open(first)) {
            assertEquals(3, file.version());
            assertEquals(alignment, file.alignment());
            assertEquals(0, file.dataOffset() % alignment);
            assertEquals(0, file.fileSize() % alignment, "the file ends padded to the alignment");

            Map<String, GgufValue> expected = new LinkedHashMap<>(everyKindOfValue());
            if (alignment != 32) {
                expected.put("general.alignment", GgufValue.uint32(alignment));
            }
            assertEquals(expected, file.metadata());
            assertEquals(List.copyOf(expected.keySet()), List.copyOf(file.metadata().keySet()), "key order");
            // -0.0f and the NaN payload survive bit for bit
            assertEquals(Float.floatToRawIntBits(-0.0f), Float.floatToRawIntBits(file.getFloat("t.float32.negzero")));
            assertEquals(0x7fc0_1234, Float.floatToRawIntBits(file.getFloat("t.float32.nan")));

            assertEquals(TENSORS.size(), file.tensors().size());
            for (int i = 0; i < TENSORS.size(); i++) {
                TensorSpec spec = TENSORS.get(i);
                GgufTensorInfo info = file.tensors().get(i);
                assertEquals(spec.name(), info.name());
                assertArrayEquals(spec.ne(), info.ne());
                assertEquals(spec.type(), info.type());
                assertEquals(0, info.offset() % alignment);
                MemorySegment bytes = file.tensorData(info);
                assertTrue(bytes.isReadOnly());
                assertEquals(0, bytes.address() % Math.min(alignment, 4096), "mapped tensor data is aligned in memory");
                assertEquals(-1, bytes.mismatch(MemorySegment.ofArray(data.get(i))), spec.name());
            }

            GgufWriter.copyOf(file).write(second);
        }
        assertEquals(-1, Files.mismatch(first, second), "a read file written back is byte-identical");
    }

    @Test
    void typedGettersWidenAndCheck() throws IOException {
        Path path = dir.resolve("getters.gguf");
        writeSample(path, 32);
        try (GgufFile f = GgufFile.open(path)) {
            assertEquals("llama", f.getString("general.architecture"));
            assertEquals(255, f.getInt("t.uint8"));
            assertEquals(-128, f.getInt("t.int8"));
            assertEquals(65535, f.getInt("t.uint16"));
            assertEquals(0xFFFF_FFFFL, f.getLong("t.uint32"));
            assertEquals(Long.MIN_VALUE, f.getLong("t.int64"));
            assertEquals(1e-5f, f.getFloat("t.float32"));
            assertEquals(Math.PI, f.getDouble("t.float64"));
            assertEquals(255.0, f.getDouble("t.uint8"));
            assertTrue(f.getBool("t.bool.true"));
            assertFalse(f.getBool("t.bool.false"));
            assertEquals("", f.getString("t.string.empty"));
            assertEquals(List.of("<unk>", "", "▁the", "日本語", "🦙🦙"), f.getStringArray("t.arr.string"));
            assertArrayEquals(new int[] {1, -2, Integer.MAX_VALUE, Integer.MIN_VALUE}, f.getIntArray("t.arr.int32"));
            assertArrayEquals(new int[] {0, 1, 127, 128, 255}, f.getIntArray("t.arr.uint8"));
            assertArrayEquals(new float[] {0f, -1.5f, Float.MAX_VALUE, Float.MIN_VALUE, Float.NEGATIVE_INFINITY},
                    f.getFloatArray("t.arr.float32"));
            assertArrayEquals(new boolean[] {true, false, true}, f.getBoolArray("t.arr.bool"));
            assertArrayEquals(new int[0], f.getIntArray("t.arr.empty.int32"));

            assertEquals(7, f.getInt("absent", 7));
            assertEquals("x", f.getString("absent", "x"));
            assertEquals(2.5f, f.getFloat("absent", 2.5f));
            assertTrue(f.getBool("absent", true));
            assertTrue(f.find("absent").isEmpty());

            assertMessage(assertThrows(GgufException.class, () -> f.getString("absent")),
                    path, "missing metadata key 'absent'");
            assertMessage(assertThrows(GgufException.class, () -> f.getInt("general.architecture")),
                    path, "'general.architecture' is STRING, expected an integer");
            assertMessage(assertThrows(GgufException.class, () -> f.getInt("t.uint32")),
                    path, "does not fit in a 32-bit integer");
            assertMessage(assertThrows(GgufException.class, () -> f.getLong("t.uint64")),
                    path, "18446744073709551615 does not fit");
            assertMessage(assertThrows(GgufException.class, () -> f.getIntArray("t.arr.uint32")),
                    path, "element #1");
            assertMessage(assertThrows(GgufException.class, () -> f.getStringArray("t.arr.int32")),
                    path, "is an array of INT32, expected an array of STRING");
            // a present key of the wrong type is an error even with a fallback
            assertThrows(GgufException.class, () -> f.getInt("general.architecture", 3));

            assertEquals("token_embd.weight", f.tensor("token_embd.weight").name());
            assertTrue(f.findTensor("nope").isEmpty());
            assertMessage(assertThrows(GgufException.class, () -> f.tensor("nope")), path, "no tensor named 'nope'");
            assertEquals(64 * 3, f.tensor("token_embd.weight").nElements());
            assertEquals(4, f.tensor("blk.0.four_d").nDims());
        }
    }

    @Test
    void tensorDataIsUnusableAfterClose() throws IOException {
        Path path = dir.resolve("closed.gguf");
        writeSample(path, 32);
        MemorySegment data;
        try (GgufFile f = GgufFile.open(path)) {
            data = f.tensorData("token_embd.weight");
            data.get(ValueLayout.JAVA_BYTE, 0);
        }
        assertThrows(IllegalStateException.class, () -> data.get(ValueLayout.JAVA_BYTE, 0));
    }

    @Test
    void tensorInfoOfAnotherFileIsRefused() throws IOException {
        Path a = dir.resolve("a.gguf");
        writeSample(a, 32);
        try (GgufFile f = GgufFile.open(a)) {
            GgufTensorInfo foreign = new GgufTensorInfo("token_embd.weight", new long[] {32}, GgmlType.F32, 0, 128);
            assertThrows(IllegalArgumentException.class, () -> f.tensorData(foreign));
        }
    }

    @Test
    void versionTwoIsReadAndKeptOnRewrite() throws IOException {
        Path v2 = dir.resolve("v2.gguf");
        new GgufWriter().version(2).putString("general.architecture", "llama")
                .addTensor("w", new long[] {4}, GgmlType.F32, new byte[16]).write(v2);
        Path copy = dir.resolve("v2-copy.gguf");
        try (GgufFile f = GgufFile.open(v2)) {
            assertEquals(2, f.version());
            GgufWriter.copyOf(f).write(copy);
        }
        assertEquals(-1, Files.mismatch(v2, copy));
    }

    @Test
    void emptyFileWithNoTensorsRoundTrips() throws IOException {
        Path empty = dir.resolve("nothing.gguf");
        new GgufWriter().write(empty);
        try (GgufFile f = GgufFile.open(empty)) {
            assertTrue(f.metadata().isEmpty());
            assertTrue(f.tensors().isEmpty());
            assertEquals(32, f.fileSize(), "24-byte header padded to 32");
        }
    }

    @Test
    void offHeapSourceIsStreamed() throws IOException {
        Path path = dir.resolve("offheap.gguf");
        long n = 3 * 1024 * 1024 + 8; // larger than the writer's header buffer
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment data = arena.allocate(n * 4);
            for (long i = 0; i < n; i++) {
                data.setAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN), i, i * 0.5f);
            }
            new GgufWriter().addTensor("big", new long[] {n}, GgmlType.F32, data).write(path);
            try (GgufFile f = GgufFile.open(path)) {
                assertEquals(-1, f.tensorData("big").mismatch(data));
            }
        }
    }

    @Test
    void writerRejectsMisuse() {
        GgufWriter w = new GgufWriter();
        assertThrows(IllegalArgumentException.class,
                () -> w.addTensor("w", new long[] {4}, GgmlType.F32, new byte[15]), "wrong byte count");
        assertThrows(IllegalArgumentException.class,
                () -> w.addTensor("w", new long[] {33}, GgmlType.Q4_0, sink -> { }), "not whole blocks");
        assertThrows(IllegalArgumentException.class,
                () -> w.addTensor("w", new long[] {0}, GgmlType.F32, sink -> { }), "zero dimension");
        assertThrows(IllegalArgumentException.class,
                () -> w.addTensor("w", new long[] {1, 1, 1, 1, 1}, GgmlType.F32, sink -> { }), "five dimensions");
        w.addTensor("w", new long[] {4}, GgmlType.F32, new byte[16]);
        IllegalArgumentException dup = assertThrows(IllegalArgumentException.class,
                () -> w.addTensor("w", new long[] {4}, GgmlType.F32, new byte[16]));
        assertTrue(dup.getMessage().contains("duplicate tensor name 'w'"), dup.getMessage());
        assertThrows(IllegalArgumentException.class, () -> w.alignment(48));
        assertThrows(IllegalArgumentException.class, () -> w.version(1));
        assertThrows(IllegalArgumentException.class, () -> GgufValue.uint8(256));
        assertThrows(IllegalArgumentException.class, () -> GgufValue.uint32(-1));
        assertThrows(IllegalArgumentException.class, () -> GgufValue.intArray(GgufValueType.INT16, 1, 40000));
        assertThrows(IllegalArgumentException.class, () -> GgufValue.intArray(GgufValueType.FLOAT32, 1));
    }

    @Test
    void dumpSummarisesMetadataAndTensors() throws IOException {
        Path path = dir.resolve("dump.gguf");
        GgufWriter w = new GgufWriter().putString("general.architecture", "llama")
                .put("tokenizer.ggml.tokens", GgufValue.stringArray(
                        java.util.stream.IntStream.range(0, 100).mapToObj(i -> "tok" + i).toList()))
                .putString("multi.line", "a\nb")
                .addTensor("output.weight", new long[] {8, 4}, GgmlType.F32, new byte[128]);
        w.write(path);
        try (GgufFile f = GgufFile.open(path)) {
            String s = GgufDump.summary(f);
            assertTrue(s.contains("GGUF v3"), s);
            assertTrue(s.contains("general.architecture"), s);
            assertTrue(s.contains("\"llama\""), s);
            assertTrue(s.contains("ARRAY[STRING]"), s);
            assertTrue(s.contains("(100) [\"tok0\", \"tok1\""), s);
            assertTrue(s.contains("... 92 more]"), s);
            assertTrue(s.contains("\"a\\nb\""), s);
            assertTrue(s.contains("output.weight"), s);
            assertTrue(s.contains("[8, 4]"), s);
            assertTrue(s.contains("F32"), s);
            assertTrue(s.contains("128"), s);
        }
    }

    static void assertMessage(Throwable e, Path file, String fragment) {
        String m = e.getMessage();
        assertTrue(m.contains(file.getFileName().toString()), "message names the file: " + m);
        assertTrue(m.contains(fragment), "message says '" + fragment + "': " + m);
    }
}
