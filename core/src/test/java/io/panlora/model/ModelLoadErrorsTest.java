package io.panlora.model;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.panlora.bindings.PanloraException;
import io.panlora.gguf.GgmlType;
import io.panlora.gguf.GgufException;
import io.panlora.gguf.GgufFile;
import io.panlora.gguf.GgufValue;
import io.panlora.gguf.GgufWriter;
import io.panlora.tokenizer.BpeTrainer;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Models that cannot run give an exception naming the file and the problem; nothing crashes. */
class ModelLoadErrorsTest {
    @TempDir
    Path dir;
    Path good;

    @BeforeEach
    void writeGoodModel() throws Exception {
        LlamaConfig c = LlamaConfig.llama(260, 32, 2, 4, 2, 64, 16);
        good = dir.resolve("good.gguf");
        try (Arena a = Arena.ofConfined()) {
            ModelWriter.write(good, "t", c, BpeTrainer.byteVocabulary(List.of("<pad>", "<x>")), ModelInit.randomWeights(c, GgmlType.Q8_0, 1, false, a));
        }
        try (LlamaModel m = LlamaModel.load(good)) {
            assertTrue(m.logits(new int[][] {{1, 2, 3}}).length == 3 * 260);
        }
    }

    /** Writes a variant of the good model with edited metadata and tensors. */
    Path variant(String name, Consumer<GgufWriter> edit) throws Exception {
        Path p = dir.resolve(name);
        try (GgufFile f = GgufFile.open(good)) {
            GgufWriter w = GgufWriter.copyOf(f);
            edit.accept(w);
            w.write(p);
        }
        return p;
    }

    void assertLoadFails(Path p, String... words) {
        RuntimeException e = assertThrows(RuntimeException.class, () -> LlamaModel.load(p).close());
        assertTrue(e instanceof GgufException || e instanceof PanloraException, e.toString());
        assertTrue(e.getMessage().contains(p.getFileName().toString()), "message names the file: " + e.getMessage());
        for (String w : words) assertTrue(e.getMessage().contains(w), "message mentions '" + w + "': " + e.getMessage());
    }

    @Test
    void unsupportedArchitecture() throws Exception {
        assertLoadFails(variant("gpt2arch.gguf", w -> w.putString("general.architecture", "gptneox")), "gptneox", "not supported");
    }

    @Test
    void missingHyperparameter() throws Exception {
        assertLoadFails(variant("nolayers.gguf", w -> w.remove("llama.block_count")), "llama.block_count", "missing");
    }

    @Test
    void absurdHyperparameter() throws Exception {
        assertLoadFails(variant("heads.gguf", w -> w.put("llama.attention.head_count_kv", GgufValue.uint32(3))), "head_count");
        assertLoadFails(variant("huge.gguf", w -> w.put("llama.embedding_length", GgufValue.uint32(4_000_000_000L))));
    }

    @Test
    void missingTensor() throws Exception {
        Path p = dir.resolve("notensor.gguf");
        try (GgufFile f = GgufFile.open(good)) {
            GgufWriter w = new GgufWriter();
            w.putAll(f.metadata());
            w.remove("general.alignment");
            for (var t : f.tensors()) if (!t.name().equals("blk.1.ffn_up.weight")) w.copyTensor(f, t);
            w.write(p);
        }
        assertLoadFails(p, "blk.1.ffn_up.weight", "missing");
    }

    @Test
    void wrongTensorShapeIsRejectedByTheEngine() throws Exception {
        assertLoadFails(variant("shape.gguf", w -> w.put("llama.feed_forward_length", GgufValue.uint32(96))), "ffn");
    }

    @Test
    void unsupportedTensorTypeIsNamed() throws Exception {
        Path p = dir.resolve("iq.gguf");
        try (GgufFile f = GgufFile.open(good)) {
            GgufWriter w = new GgufWriter();
            w.putAll(f.metadata());
            w.remove("general.alignment");
            for (var t : f.tensors()) {
                if (t.name().equals("blk.0.attn_v.weight")) // same shape [32, 16], stored as IQ4_NL
                    w.addTensor(t.name(), t.ne(), GgmlType.IQ4_NL, new byte[(int) (GgmlType.IQ4_NL.rowBytes(t.ne()[0]) * t.ne()[1])]);
                else w.copyTensor(f, t);
            }
            w.write(p);
        }
        assertLoadFails(p, "blk.0.attn_v.weight", "cannot run");
    }

    @Test
    void truncatedFile() throws Exception {
        Path p = dir.resolve("cut.gguf");
        byte[] b = Files.readAllBytes(good);
        Files.write(p, java.util.Arrays.copyOf(b, b.length - 100));
        assertLoadFails(p, "past the end");
        assertFalse(Files.exists(dir.resolve("cut.gguf.tmp")));
    }
}
