package io.panlora.fuzz;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.panlora.convert.PeftAdapter;
import io.panlora.convert.Safetensors;
import io.panlora.data.DataReader;
import io.panlora.data.ReadOptions;
import io.panlora.gguf.GgufFile;
import io.panlora.lora.AdapterGguf;
import io.panlora.lora.LoraSet;
import io.panlora.model.LlamaModel;
import io.panlora.model.TokenizerLoader;
import io.panlora.train.internal.Checkpoint;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The committed seeds (written by {@link FuzzSeeds}) are valid files that each reader accepts, so fuzzing starts from
 * inputs that reach deep into the readers rather than from files refused at the first byte.
 */
class FuzzSeedsTest {
    @TempDir
    Path dir;

    /** The seed files (seed-*) of a target's inputs directory on the test classpath. */
    static List<Path> seeds(String testClass, String method) throws IOException, URISyntaxException {
        Path d = Path.of(FuzzSeedsTest.class.getResource("/io/panlora/fuzz/" + testClass + "Inputs/" + method).toURI());
        try (Stream<Path> s = Files.list(d)) {
            List<Path> out = s.filter(p -> p.getFileName().toString().startsWith("seed-")).sorted().toList();
            assertFalse(out.isEmpty(), "no seeds in " + d);
            return out;
        }
    }

    @Test
    void ggufSeedsOpen() throws Exception {
        for (Path p : seeds("GgufFuzzTest", "ggufFile")) {
            try (GgufFile f = GgufFile.open(p)) {
                assertFalse(f.tensors().isEmpty(), p.toString());
            }
        }
    }

    @Test
    void modelSeedsLoadAndRun() throws Exception {
        for (Path p : seeds("ModelFuzzTest", "model")) {
            try (LlamaModel m = LlamaModel.load(p)) {
                assertEquals(2 * m.config().nVocab(), m.logits(new int[][] {{1, 2}}).length, p.toString());
                assertTrue(TokenizerLoader.fromGguf(m.gguf().orElseThrow()).encode("hello world").length > 1, p.toString());
            }
        }
    }

    @Test
    void adapterSeedsLoad() throws Exception {
        for (Path p : seeds("AdapterFuzzTest", "adapter")) {
            try (LoraSet set = new LoraSet(FuzzSupport.base())) {
                assertEquals(8, AdapterGguf.load(p, set, 1f), p.toString()); // 7 targets of layer 0, attn_q of layer 1
            }
        }
    }

    @Test
    void safetensorsAndPeftSeedsLoad() throws Exception {
        for (Path p : seeds("SafetensorsFuzzTest", "safetensors")) assertEquals(16, Safetensors.read(p).size(), p.toString());
        for (Path p : seeds("PeftFuzzTest", "peft")) {
            byte[] packed = Files.readAllBytes(p);
            int n = (packed[0] & 0xFF) | (packed[1] & 0xFF) << 8;
            Path peft = Files.createDirectories(dir.resolve(p.getFileName().toString()));
            Files.write(peft.resolve("adapter_config.json"), Arrays.copyOfRange(packed, 2, 2 + n));
            Files.write(peft.resolve("adapter_model.safetensors"), Arrays.copyOfRange(packed, 2 + n, packed.length));
            try (LoraSet set = new LoraSet(FuzzSupport.base())) {
                assertEquals(8, PeftAdapter.load(peft, set, 1f), p.toString());
            }
        }
    }

    @Test
    void dataSeedsRead() throws Exception {
        for (Path p : seeds("DataFuzzTest", "trainingData")) {
            byte[] packed = Files.readAllBytes(p);
            Path file = dir.resolve((packed[0] & 1) != 0 ? "train.txt" : "train.jsonl");
            Files.write(file, Arrays.copyOfRange(packed, 2, packed.length));
            ReadOptions o = ReadOptions.defaults().withSkipBadLines((packed[0] & 2) != 0);
            assertFalse(DataReader.read(file, io.panlora.tokenizer.Tokenizer.of(io.panlora.tokenizer.BpeTrainer.byteVocabulary(FuzzSeeds.CHAT_SPECIALS)), o)
                    .examples().isEmpty(), p.toString());
        }
    }

    @Test
    void checkpointSeedLoads() throws Exception {
        for (Path p : seeds("CheckpointFuzzTest", "checkpoint")) {
            Path run = Files.createDirectories(dir.resolve("run"));
            Files.copy(p, run.resolve(Checkpoint.FILE), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            try (LoraSet set = FuzzSupport.checkpointSlots()) {
                Checkpoint.State st = Checkpoint.load(run, set, FuzzSupport.CHECKPOINT_KEY);
                assertEquals(7, st.step());
                assertEquals(1, st.hookTensors().size());
                assertEquals(10, st.divergenceState().length);
            }
            try (LoraSet empty = new LoraSet(FuzzSupport.base())) {
                assertEquals(3, Checkpoint.loadSlotsInto(run, empty));
            }
        }
    }
}
