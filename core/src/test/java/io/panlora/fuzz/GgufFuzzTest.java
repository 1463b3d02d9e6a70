package io.panlora.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.panlora.gguf.GgufDump;
import io.panlora.gguf.GgufException;
import io.panlora.gguf.GgufFile;
import io.panlora.gguf.GgufTensorInfo;
import io.panlora.gguf.GgufValue;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.Map;

/**
 * Target 1: any bytes as a GGUF file. {@link GgufFile#open} (header, metadata, tensor infos, the data-section checks)
 * must return a file or throw {@link GgufException}/{@link IOException} naming it; on a file it returns, every accessor
 * that {@code panlora inspect} and the loaders use must work: the dump, the typed getters on every key, and every
 * tensor's data slice (read at both ends, so a slice past the mapping would fault here).
 */
class GgufFuzzTest {

    @FuzzTest
    void ggufFile(byte[] input) throws IOException {
        Path file = FuzzSupport.write("fuzz.gguf", input);
        GgufFile f;
        try {
            f = GgufFile.open(file);
        } catch (GgufException | IOException e) {
            FuzzSupport.check(e, file);
            return;
        }
        try (f) {
            GgufDump.summary(f, 4);
            for (Map.Entry<String, GgufValue> e : f.metadata().entrySet()) {
                getters(f, e.getKey());
                e.getValue().toString();
            }
            for (GgufTensorInfo t : f.tensors()) {
                MemorySegment data = f.tensorData(t);
                if (data.byteSize() != t.nbytes()) throw new AssertionError(t + ": slice of " + data.byteSize() + " bytes");
                if (data.byteSize() > 0) {
                    data.get(java.lang.foreign.ValueLayout.JAVA_BYTE, 0);
                    data.get(java.lang.foreign.ValueLayout.JAVA_BYTE, data.byteSize() - 1);
                }
                if (t.nElements() < 1) throw new AssertionError(t + ": " + t.nElements() + " elements");
                if (!f.tensor(t.name()).equals(t)) throw new AssertionError(t + ": not found by name");
            }
        }
    }

    /** Every typed getter on a key: each returns its value or throws a GgufException naming the file and the key. */
    private static void getters(GgufFile f, String key) {
        Runnable[] calls = {
            () -> f.getString(key), () -> f.getLong(key), () -> f.getInt(key), () -> f.getDouble(key), () -> f.getFloat(key),
            () -> f.getBool(key), () -> f.getStringArray(key), () -> f.getIntArray(key), () -> f.getLongArray(key),
            () -> f.getFloatArray(key), () -> f.getBoolArray(key),
        };
        for (Runnable call : calls) {
            try {
                call.run();
            } catch (GgufException e) {
                FuzzSupport.check(e, f.path());
                if (!e.getMessage().contains(key)) throw new AssertionError("message does not name the key '" + key + "': " + e.getMessage(), e);
            }
        }
    }
}
