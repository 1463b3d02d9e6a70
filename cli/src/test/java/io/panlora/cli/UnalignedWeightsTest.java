package io.panlora.cli;

import io.panlora.model.*;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.panlora.cli.Main;
import io.panlora.gguf.GgufFile;
import io.panlora.gguf.GgufTensorInfo;
import io.panlora.gguf.GgufWriter;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A GGUF with general.alignment 1 can place F32 tensors at addresses that are not multiples of 4; the engine refuses such data
 * (misaligned float reads), so the loader copies those tensors into aligned memory: the model loads and computes exactly what
 * the same weights aligned give.
 */
class UnalignedWeightsTest {
    @TempDir
    Path dir;

    @Test
    void f32TensorsOffAFourByteBoundaryLoadAndGiveTheSameLogits() throws Exception {
        Path aligned = dir.resolve("a.gguf"), odd = dir.resolve("odd.gguf");
        assertTrue(Main.commandLine().execute("init", "-o", aligned.toString(), "--preset", "tiny", "--layers", "1") == 0);
        boolean misaligned = false;
        try (GgufFile f = GgufFile.open(aligned)) {
            GgufWriter w = GgufWriter.copyOf(f).alignment(1);
            w.putString("general.note", "x");            // an odd-length value: the data section starts off a multiple of 4
            w.write(odd);
        }
        try (GgufFile g = GgufFile.open(odd)) {
            for (GgufTensorInfo t : g.tensors()) misaligned |= g.tensorData(t).address() % 4 != 0;
        }
        assertTrue(misaligned, "the test file must hold an F32 tensor off a 4-byte boundary");
        int[][] tokens = {{1, 5, 9, 77, 3, 12}};
        float[] want, got;
        try (LlamaModel m = LlamaModel.load(aligned)) {
            want = m.logits(tokens);
        }
        try (LlamaModel m = LlamaModel.load(odd)) {
            got = m.logits(tokens);
        }
        assertArrayEquals(want, got);
    }
}
