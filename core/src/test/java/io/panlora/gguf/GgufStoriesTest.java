package io.panlora.gguf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Reads the real stories260K model from ../shared/data beside the checkout; skipped when it is absent. */
class GgufStoriesTest {

    @TempDir
    Path dir;

    /** The repository root: the first directory upwards from the working directory holding native/include/panlora.h. */
    static Path repositoryRoot() {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("native/include/panlora.h"))) {
                return p;
            }
        }
        return null;
    }

    static Path sharedData(String name) {
        String env = System.getenv("PANLORA_SHARED_DATA"); // as io.panlora.testing.SharedData: checkouts elsewhere (worktrees)
        if (env != null && !env.isBlank()) return Path.of(env).resolve(name);
        Path root = repositoryRoot();
        return root == null ? null : root.resolve("../shared/data").resolve(name).normalize();
    }

    private static Path storiesOrSkip() {
        Path model = sharedData("stories260K.gguf");
        io.panlora.testing.SharedData.present(model != null && Files.isRegularFile(model), "stories260K.gguf not present beside the checkout");
        return model;
    }

    @Test
    void readsTheRealModel() throws IOException {
        try (GgufFile f = GgufFile.open(storiesOrSkip())) {
            assertTrue(GgufDump.summary(f).contains("blk.4.ffn_down.weight"));
            assertEquals("llama", f.getString("general.architecture"));
            assertEquals(5, f.getInt("llama.block_count"));
            assertEquals(64, f.getInt("llama.embedding_length"));
            assertEquals("llama", f.getString("tokenizer.ggml.model"));
            List<String> tokens = f.getStringArray("tokenizer.ggml.tokens");
            assertEquals(512, tokens.size());
            assertEquals(512, f.getFloatArray("tokenizer.ggml.scores").length);

            // 5 layers x 9 tensors + token_embd, output_norm, output
            assertEquals(5 * 9 + 3, f.tensors().size());
            GgufTensorInfo embd = f.tensor("token_embd.weight");
            assertEquals(64, embd.ne(0));
            assertEquals(512, embd.ne(1));
            assertEquals(GgmlType.F32, embd.type());
            for (GgufTensorInfo t : f.tensors()) {
                assertEquals(GgmlType.F32, t.type(), t.name());
                var data = f.tensorData(t);
                assertEquals(t.nbytes(), data.byteSize());
                // real weights are finite
                for (long i = 0; i < t.nElements(); i++) {
                    float v = data.getAtIndex(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), i);
                    assertTrue(Float.isFinite(v), t.name() + "[" + i + "]");
                }
            }
        }
    }

    @Test
    void rewritingTheRealModelIsByteIdentical() throws IOException {
        Path model = storiesOrSkip();
        Path copy = dir.resolve("stories-copy.gguf");
        try (GgufFile f = GgufFile.open(model)) {
            GgufWriter.copyOf(f).write(copy);
        }
        assertEquals(-1, Files.mismatch(model, copy));
    }
}
