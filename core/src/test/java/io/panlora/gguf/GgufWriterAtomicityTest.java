package io.panlora.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeFalse;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A failed write leaves nothing behind: no temporary file, and the destination as it was. */
class GgufWriterAtomicityTest {

    @TempDir
    Path dir;

    private static GgufWriter smallWriter() {
        return new GgufWriter().putString("general.architecture", "llama")
                .addTensor("a", new long[] {8}, GgmlType.F32, new byte[32]);
    }

    private List<String> names(Path directory) throws IOException {
        try (var s = Files.list(directory)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test
    void missingParentDirectory() throws IOException {
        Path dest = dir.resolve("no/such/dir/model.gguf");
        IOException e = assertThrows(IOException.class, () -> smallWriter().write(dest));
        assertTrue(e.getMessage().contains("model.gguf"), e.getMessage());
        assertTrue(e.getMessage().contains("parent directory does not exist"), e.getMessage());
        assertEquals(List.of(), names(dir));
    }

    @Test
    void parentIsARegularFile() throws IOException {
        Path file = Files.writeString(dir.resolve("plain.txt"), "x");
        IOException e = assertThrows(IOException.class, () -> smallWriter().write(file.resolve("model.gguf")));
        assertTrue(e.getMessage().contains("model.gguf"), e.getMessage());
        assertEquals(List.of("plain.txt"), names(dir));
    }

    @Test
    void unwritableDirectory() throws IOException {
        Path locked = Files.createDirectory(dir.resolve("locked"));
        Files.setPosixFilePermissions(locked, PosixFilePermissions.fromString("r-xr-xr-x"));
        try {
            assumeFalse(Files.isWritable(locked), "running as a user (root) whom permissions do not stop");
            IOException e = assertThrows(IOException.class, () -> smallWriter().write(locked.resolve("model.gguf")));
            assertTrue(e.getMessage().contains("model.gguf"), e.getMessage());
            assertEquals(List.of(), names(locked));
        } finally {
            Files.setPosixFilePermissions(locked, PosixFilePermissions.fromString("rwxr-xr-x"));
        }
    }

    @Test
    void sourceFailingMidWriteLeavesNothing() throws IOException {
        Path dest = dir.resolve("model.gguf");
        GgufWriter writer = smallWriter().addTensor("b", new long[] {1024}, GgmlType.F32, sink -> {
            sink.write(new byte[1000]);
            throw new IOException("No space left on device (simulated)");
        });
        IOException e = assertThrows(IOException.class, () -> writer.write(dest));
        assertTrue(e.getMessage().contains("model.gguf"), e.getMessage());
        assertTrue(e.getMessage().contains("No space left on device (simulated)"), e.getMessage());
        assertEquals(List.of(), names(dir), "no destination, no temporary file");
    }

    @Test
    void sourceThrowingUncheckedLeavesNothing() throws IOException {
        Path dest = dir.resolve("model.gguf");
        GgufWriter writer = smallWriter().addTensor("b", new long[] {4}, GgmlType.F32, sink -> {
            throw new IllegalStateException("merge failed");
        });
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> writer.write(dest));
        assertEquals("merge failed", e.getMessage());
        assertEquals(List.of(), names(dir));
    }

    @Test
    void sourceWritingTooFewOrTooManyBytes() throws IOException {
        Path dest = dir.resolve("model.gguf");
        GgufException few = assertThrows(GgufException.class, () -> smallWriter()
                .addTensor("b", new long[] {4}, GgmlType.F32, sink -> sink.write(new byte[15])).write(dest));
        assertTrue(few.getMessage().startsWith(dest + ": tensor 'b' source wrote 15 bytes"), few.getMessage());
        GgufException many = assertThrows(GgufException.class, () -> smallWriter()
                .addTensor("b", new long[] {4}, GgmlType.F32, sink -> sink.write(new byte[17])).write(dest));
        assertTrue(many.getMessage().contains("wrote more than the 16 bytes"), many.getMessage());
        assertEquals(List.of(), names(dir));
    }

    @Test
    void failedOverwriteKeepsThePreviousFile() throws IOException {
        Path dest = dir.resolve("model.gguf");
        smallWriter().write(dest);
        byte[] before = Files.readAllBytes(dest);
        assertThrows(IOException.class, () -> new GgufWriter()
                .addTensor("x", new long[] {4}, GgmlType.F32, sink -> {
                    throw new IOException("boom");
                }).write(dest));
        assertArrayEquals(before, Files.readAllBytes(dest));
        assertEquals(List.of("model.gguf"), names(dir));
    }

    @Test
    void copyingFromAClosedFileFailsCleanly() throws IOException {
        Path source = dir.resolve("source.gguf");
        smallWriter().write(source);
        GgufWriter writer;
        try (GgufFile f = GgufFile.open(source)) {
            writer = GgufWriter.copyOf(f);
        }
        assertThrows(IllegalStateException.class, () -> writer.write(dir.resolve("copy.gguf")));
        assertEquals(List.of("source.gguf"), names(dir));
    }

    @Test
    void successfulOverwriteReplacesTheFile() throws IOException {
        Path dest = dir.resolve("model.gguf");
        Files.writeString(dest, "old content");
        smallWriter().write(dest);
        try (GgufFile f = GgufFile.open(dest)) {
            assertEquals("llama", f.getString("general.architecture"));
        }
        assertEquals(List.of("model.gguf"), names(dir));
        assertFalse(names(dir).stream().anyMatch(n -> n.endsWith(".tmp")));
    }

    @Test
    void relativeDestinationWorks() throws IOException {
        // a relative path is resolved against the working directory to find the directory for the temp file
        Path relative = Path.of("target", "gguf-relative-test.gguf");
        Files.createDirectories(relative.toAbsolutePath().getParent());
        try {
            smallWriter().write(relative);
            try (GgufFile f = GgufFile.open(relative)) {
                assertEquals(1, f.tensors().size());
            }
        } finally {
            Files.deleteIfExists(relative);
        }
    }
}
