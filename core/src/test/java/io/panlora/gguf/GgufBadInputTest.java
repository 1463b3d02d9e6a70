package io.panlora.gguf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Corrupt files must end in a GgufException naming the file and the problem, never in a crash. */
class GgufBadInputTest {

    @TempDir
    Path dir;

    private static final long[] SHAPE_8 = {8};
    private static final int F32 = GgmlType.F32.id();

    /** Writes {@code bytes} as {@code name}, opens it, expects a GgufException; returns its message. */
    private String rejected(String name, byte[] bytes, String... fragments) throws IOException {
        Path path = dir.resolve(name);
        Files.write(path, bytes);
        GgufException e = assertThrows(GgufException.class, () -> {
            try (GgufFile f = GgufFile.open(path)) {
                fail("opened " + f);
            }
        });
        String m = e.getMessage();
        assertTrue(m.startsWith(path.toString() + ": "), "message starts with the file: " + m);
        for (String fragment : fragments) {
            assertTrue(m.contains(fragment), "message says '" + fragment + "': " + m);
        }
        assertEquals(List.of(path), listDir(), "reading writes nothing");
        Files.delete(path);
        return m;
    }

    private List<Path> listDir() throws IOException {
        try (var s = Files.list(dir)) {
            return s.toList();
        }
    }

    /** A valid one-tensor file whose tensor data is 32 bytes of F32 at offset 0. */
    private static RawGgufBuilder validUpToData() {
        return RawGgufBuilder.header(3, 1, 1).kvString("general.architecture", "llama")
                .tensorInfo("w", SHAPE_8, F32, 0).padTo(32);
    }

    @Test
    void validBaselineOpens() throws IOException {
        Path path = validUpToData().fill(32, 1).writeTo(dir.resolve("ok.gguf"));
        try (GgufFile f = GgufFile.open(path)) {
            assertEquals("llama", f.getString("general.architecture"));
            assertEquals(32, f.tensorData("w").byteSize());
        }
    }

    @Test
    void missingFileOrDirectoryIsAnIoError() throws IOException {
        Path missing = dir.resolve("missing.gguf");
        IOException e = assertThrows(java.nio.file.NoSuchFileException.class, () -> GgufFile.open(missing));
        assertTrue(e.getMessage().contains("missing.gguf"), e.getMessage());
        Path directory = Files.createDirectory(dir.resolve("folder.gguf"));
        IOException d = assertThrows(IOException.class, () -> GgufFile.open(directory).close());
        assertTrue(d.getMessage().contains("folder.gguf: is a directory"), d.getMessage());
    }

    @Test
    void emptyFile() throws IOException {
        rejected("empty.gguf", new byte[0], "empty file");
    }

    @Test
    void tooShortForMagic() throws IOException {
        rejected("two.gguf", new byte[] {'G', 'G'}, "not a GGUF file", "too short");
    }

    @Test
    void wrongMagic() throws IOException {
        byte[] b = validUpToData().fill(32, 0).build();
        b[3] = 'L';
        rejected("ggml.gguf", b, "not a GGUF file (magic", "\"GGUL\"");
        rejected("text.gguf", "hello world, not a model".getBytes(), "not a GGUF file (magic");
    }

    @Test
    void unsupportedVersions() throws IOException {
        rejected("v1.gguf", RawGgufBuilder.header(1, 0, 0).padTo(32).build(), "unsupported GGUF version 1");
        rejected("v99.gguf", RawGgufBuilder.header(99, 0, 0).padTo(32).build(), "unsupported GGUF version 99");
        rejected("v0.gguf", RawGgufBuilder.header(0, 0, 0).padTo(32).build(), "unsupported GGUF version 0");
        rejected("be.gguf", RawGgufBuilder.header(0x0300_0000, 0, 0).padTo(32).build(), "big-endian");
    }

    @Test
    void truncatedHeader() throws IOException {
        byte[] b = RawGgufBuilder.header(3, 0, 0).build();
        rejected("hdr6.gguf", Arrays.copyOf(b, 6), "truncated", "the version");
        rejected("hdr12.gguf", Arrays.copyOf(b, 12), "truncated", "the tensor count");
        rejected("hdr20.gguf", Arrays.copyOf(b, 20), "truncated", "the metadata key count");
    }

    @Test
    void truncatedInsideKeyString() throws IOException {
        byte[] b = RawGgufBuilder.header(3, 0, 1).u64(20).bytes("general".getBytes()).build();
        rejected("key.gguf", b, "key of metadata entry #0", "claims 20 bytes but only 7 bytes remain");
    }

    @Test
    void truncatedInsideValueString() throws IOException {
        byte[] full = RawGgufBuilder.header(3, 0, 1).kvString("general.name", "a long model name").build();
        rejected("value.gguf", Arrays.copyOf(full, full.length - 5), "metadata 'general.name'", "claims 17 bytes");
    }

    @Test
    void truncatedTensorData() throws IOException {
        byte[] full = validUpToData().fill(32, 1).build();
        rejected("data.gguf", Arrays.copyOf(full, full.length - 1),
                "tensor 'w' data [offset 0, 32 bytes] runs past the end of the file");
    }

    @Test
    void absurdTensorCount() throws IOException {
        rejected("tc.gguf", RawGgufBuilder.header(3, 1L << 62, 0).padTo(32).build(),
                "tensor count 4611686018427387904 cannot fit");
        rejected("tcneg.gguf", RawGgufBuilder.header(3, -1L, 0).padTo(32).build(),
                "tensor count 18446744073709551615 cannot fit");
    }

    @Test
    void absurdKeyCount() throws IOException {
        rejected("kc.gguf", RawGgufBuilder.header(3, 0, 1L << 40).padTo(32).build(),
                "metadata key count 1099511627776 cannot fit");
    }

    @Test
    void absurdStringLength() throws IOException {
        byte[] b = RawGgufBuilder.header(3, 0, 1).u64(1L << 60).fill(40, 'a').build();
        rejected("strlen.gguf", b, "claims 1152921504606846976 bytes but only 40 bytes remain");
        byte[] neg = RawGgufBuilder.header(3, 0, 1).str("k").u32(GgufValueType.STRING.id()).u64(-1L).fill(40, 'a').build();
        rejected("strneg.gguf", neg, "metadata 'k'", "claims 18446744073709551615 bytes");
    }

    @Test
    void absurdArrayCount() throws IOException {
        byte[] b = RawGgufBuilder.header(3, 0, 1).str("tokenizer.ggml.scores").u32(GgufValueType.ARRAY.id())
                .u32(GgufValueType.FLOAT32.id()).u64(1L << 40).fill(64, 0).build();
        rejected("arr.gguf", b, "metadata 'tokenizer.ggml.scores'", "claims 1099511627776 FLOAT32 elements");
        byte[] strings = RawGgufBuilder.header(3, 0, 1).str("tokenizer.ggml.tokens").u32(GgufValueType.ARRAY.id())
                .u32(GgufValueType.STRING.id()).u64(1L << 33).fill(64, 0).build();
        rejected("arrstr.gguf", strings, "claims 8589934592 STRING elements");
    }

    @Test
    void arrayElementTruncated() throws IOException {
        byte[] b = RawGgufBuilder.header(3, 0, 1).str("toks").u32(GgufValueType.ARRAY.id())
                .u32(GgufValueType.STRING.id()).u64(2).str("ok").u64(100).fill(20, 'x').build();
        rejected("arrel.gguf", b, "element #1 of metadata 'toks'", "claims 100 bytes");
    }

    @Test
    void deeplyNestedArrays() throws IOException {
        RawGgufBuilder b = RawGgufBuilder.header(3, 0, 1).str("deep").u32(GgufValueType.ARRAY.id());
        for (int i = 0; i < 20; i++) {
            b.u32(GgufValueType.ARRAY.id()).u64(1);
        }
        rejected("deep.gguf", b.fill(64, 0).build(), "nests arrays more than");
    }

    @Test
    void unknownValueType() throws IOException {
        rejected("vt.gguf", RawGgufBuilder.header(3, 0, 1).str("k").u32(13).u32(0).padTo(32).build(),
                "metadata 'k' has unknown value type 13");
        rejected("vtarr.gguf", RawGgufBuilder.header(3, 0, 1).str("k").u32(GgufValueType.ARRAY.id())
                .u32(0xFFFF_FFFFL).u64(0).padTo(32).build(), "unknown value type 4294967295");
    }

    @Test
    void badBool() throws IOException {
        rejected("bool.gguf", RawGgufBuilder.header(3, 0, 1).str("flag").u32(GgufValueType.BOOL.id()).u8(2)
                .padTo(32).build(), "metadata 'flag' is a BOOL with byte value 2");
    }

    @Test
    void duplicateKey() throws IOException {
        rejected("dupkey.gguf", RawGgufBuilder.header(3, 0, 2).kvU32("a", 1).kvU32("a", 2).padTo(32).build(),
                "duplicate metadata key 'a' (entries #0 and #1)");
    }

    @Test
    void badAlignment() throws IOException {
        rejected("align3.gguf", RawGgufBuilder.header(3, 0, 1).kvU32("general.alignment", 3).padTo(32).build(),
                "general.alignment is 3, must be a power of two");
        rejected("align0.gguf", RawGgufBuilder.header(3, 0, 1).kvU32("general.alignment", 0).padTo(32).build(),
                "general.alignment is 0");
        rejected("alignstr.gguf", RawGgufBuilder.header(3, 0, 1).kvString("general.alignment", "32").padTo(32)
                .build(), "general.alignment is STRING");
    }

    @Test
    void tooManyDimensions() throws IOException {
        rejected("ndims.gguf", RawGgufBuilder.header(3, 1, 0)
                        .tensorInfo("w", new long[] {1, 1, 1, 1, 1, 1, 1, 1, 1}, F32, 0).padTo(32).fill(32, 0).build(),
                "tensor 'w' has n_dims 9 (must be 1 to 4)");
        rejected("ndims0.gguf", RawGgufBuilder.header(3, 1, 0).tensorInfo("w", new long[0], F32, 0).padTo(32)
                .fill(32, 0).build(), "tensor 'w' has n_dims 0");
    }

    @Test
    void zeroOrNegativeDimension() throws IOException {
        rejected("ne0.gguf", RawGgufBuilder.header(3, 1, 0).tensorInfo("w", new long[] {8, 0}, F32, 0).padTo(32)
                .fill(32, 0).build(), "tensor 'w' has ne[1] = 0");
        rejected("neneg.gguf", RawGgufBuilder.header(3, 1, 0).tensorInfo("w", new long[] {-8}, F32, 0).padTo(32)
                .fill(32, 0).build(), "tensor 'w' has ne[0] = 18446744073709551608 (negative as int64");
    }

    @Test
    void shapeProductOverflow() throws IOException {
        rejected("overflow.gguf", RawGgufBuilder.header(3, 1, 0)
                        .tensorInfo("w", new long[] {1L << 32, 1L << 32}, F32, 0).padTo(32).fill(32, 0).build(),
                "tensor 'w' shape [4294967296, 4294967296] has more elements than fit");
        rejected("bytesoverflow.gguf", RawGgufBuilder.header(3, 1, 0)
                        .tensorInfo("w", new long[] {1L << 62}, F32, 0).padTo(32).fill(32, 0).build(),
                "takes more bytes than fit");
    }

    @Test
    void unknownGgmlType() throws IOException {
        rejected("type77.gguf", RawGgufBuilder.header(3, 1, 0).tensorInfo("w", SHAPE_8, 77, 0).padTo(32)
                .fill(32, 0).build(), "tensor 'w' has unknown ggml type id 77");
        rejected("type4.gguf", RawGgufBuilder.header(3, 1, 0).tensorInfo("w", SHAPE_8, 4, 0).padTo(32)
                .fill(32, 0).build(), "unknown ggml type id 4");
    }

    @Test
    void partialBlock() throws IOException {
        rejected("block.gguf", RawGgufBuilder.header(3, 1, 0)
                        .tensorInfo("w", new long[] {33}, GgmlType.Q4_0.id(), 0).padTo(32).fill(64, 0).build(),
                "tensor 'w' has ne[0] = 33, not a multiple of Q4_0's block size 32");
    }

    @Test
    void tensorOffsetPastTheEnd() throws IOException {
        rejected("offset.gguf", RawGgufBuilder.header(3, 1, 0).tensorInfo("w", SHAPE_8, F32, 1L << 40).padTo(32)
                .fill(32, 0).build(), "tensor 'w' data [offset 1099511627776, 32 bytes] runs past the end");
        rejected("offneg.gguf", RawGgufBuilder.header(3, 1, 0).tensorInfo("w", SHAPE_8, F32, -32).padTo(32)
                .fill(32, 0).build(), "tensor 'w' has data offset 18446744073709551584");
    }

    @Test
    void misalignedTensorOffset() throws IOException {
        rejected("misaligned.gguf", RawGgufBuilder.header(3, 1, 0).tensorInfo("w", SHAPE_8, F32, 4).padTo(32)
                .fill(64, 0).build(), "tensor 'w' data offset 4 is not a multiple of the alignment 32");
    }

    @Test
    void overlappingTensors() throws IOException {
        rejected("overlap.gguf", RawGgufBuilder.header(3, 2, 0)
                        .tensorInfo("a", new long[] {16}, F32, 0)
                        .tensorInfo("b", SHAPE_8, F32, 32).padTo(32).fill(96, 0).build(),
                "tensors 'a' [offset 0, 64 bytes] and 'b' [offset 32, 32 bytes] overlap");
    }

    @Test
    void duplicateTensorName() throws IOException {
        rejected("duptensor.gguf", RawGgufBuilder.header(3, 2, 0)
                        .tensorInfo("w", SHAPE_8, F32, 0)
                        .tensorInfo("w", SHAPE_8, F32, 32).padTo(32).fill(64, 0).build(),
                "duplicate tensor name 'w' (tensors #0 and #1)");
    }

    /** Every prefix of a valid file is rejected with a GgufException, never another exception. */
    @Test
    void everyTruncationIsRejectedCleanly() throws IOException {
        Path full = dir.resolve("full.gguf");
        GgufRoundTripTest.writeSample(full, 32);
        byte[] bytes = Files.readAllBytes(full);
        Files.delete(full);
        Path cut = dir.resolve("cut.gguf");
        for (int n = 0; n < bytes.length; n += (n < 2048 ? 1 : 61)) {
            Files.write(cut, Arrays.copyOf(bytes, n));
            int length = n;
            GgufException e = assertThrows(GgufException.class, () -> GgufFile.open(cut).close(),
                    () -> "prefix of " + length + " bytes");
            assertTrue(e.getMessage().startsWith(cut.toString()), e.getMessage());
        }
    }

    /** Random corruption either still parses or fails with a GgufException: no other exception, no crash. */
    @Test
    void randomCorruptionNeverEscapesAsAnotherException() throws IOException {
        Path full = dir.resolve("full.gguf");
        GgufRoundTripTest.writeSample(full, 32);
        byte[] original = Files.readAllBytes(full);
        Path corrupt = dir.resolve("corrupt.gguf");
        Random random = new Random(1234);
        int headerBytes;
        try (GgufFile f = GgufFile.open(full)) {
            headerBytes = (int) f.dataOffset();
        }
        int rejectedCount = 0;
        for (int trial = 0; trial < 1500; trial++) {
            byte[] b = original.clone();
            int flips = 1 + random.nextInt(4);
            for (int i = 0; i < flips; i++) {
                int at = random.nextInt(headerBytes); // the header is where parsing can go wrong
                b[at] = random.nextInt(4) == 0 ? (byte) 0xFF : (byte) random.nextInt(256);
            }
            Files.write(corrupt, b);
            try (GgufFile f = GgufFile.open(corrupt)) {
                GgufDump.summary(f);
                for (GgufTensorInfo t : f.tensors()) {
                    f.tensorData(t);
                }
            } catch (GgufException e) {
                assertTrue(e.getMessage().startsWith(corrupt.toString()), e.getMessage());
                rejectedCount++;
            }
        }
        assertTrue(rejectedCount > 100, "most corruptions are detected: " + rejectedCount);
    }
}
