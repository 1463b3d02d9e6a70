package io.panlora.fuzz;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.panlora.convert.PeftAdapter;
import io.panlora.convert.Safetensors;
import io.panlora.gguf.GgufException;
import io.panlora.gguf.GgufFile;
import io.panlora.lora.LoraSet;
import io.panlora.model.TokenizerLoader;
import io.panlora.train.Checkpoint;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every crash the fuzz targets found, as a plain test: the committed input (in the target's inputs directory, where
 * Jazzer saved it and where the @FuzzTest replays it too) and the clear error it must now give. Before each fix these
 * inputs ended in the exception named in the test's comment.
 */
class FuzzFindingsTest {
    @TempDir
    Path dir;

    /** A committed input of a fuzz target, copied to dir/fileName. */
    Path input(String testClass, String method, String name, String fileName) throws IOException {
        String resource = "/io/panlora/fuzz/" + testClass + "Inputs/" + method + "/" + name;
        try (InputStream in = FuzzFindingsTest.class.getResourceAsStream(resource)) {
            if (in == null) throw new IllegalStateException("missing test resource " + resource);
            Path p = dir.resolve(fileName);
            Files.createDirectories(p.getParent());
            Files.write(p, in.readAllBytes());
            return p;
        }
    }

    static void assertMentions(Throwable e, String... words) {
        for (String w : words) assertTrue(e.getMessage().contains(w), "message mentions '" + w + "': " + e.getMessage());
    }

    /** Was: NullPointerException (a header entry without "dtype" was cast and dereferenced). */
    @Test
    void safetensorsEntryWithoutDtype() throws IOException {
        Path p = input("SafetensorsFuzzTest", "safetensors", "crash-misspelt-metadata-without-dtype.safetensors", "adapter_model.safetensors");
        IOException e = assertThrows(IOException.class, () -> Safetensors.read(p));
        assertMentions(e, p.toString(), "tensor '__meadtata__'", "dtype is missing or not a string");
    }

    /** Was: a MalformedInputException whose message ("Input length = 3") named neither the file nor the problem. */
    @Test
    void peftConfigThatIsNotUtf8() throws IOException {
        byte[] packed = Files.readAllBytes(input("PeftFuzzTest", "peft", "crash-config-not-utf8.bin", "packed.bin"));
        int n = (packed[0] & 0xFF) | (packed[1] & 0xFF) << 8;
        Path peft = Files.createDirectories(dir.resolve("peft"));
        Files.write(peft.resolve("adapter_config.json"), Arrays.copyOfRange(packed, 2, 2 + n));
        Files.write(peft.resolve("adapter_model.safetensors"), Arrays.copyOfRange(packed, 2 + n, packed.length));
        try (LoraSet set = new LoraSet(FuzzSupport.base())) {
            IOException e = assertThrows(IOException.class, () -> PeftAdapter.load(peft, set, 1f));
            assertMentions(e, peft.resolve("adapter_config.json").toString(), "not UTF-8 text");
        }
    }

    /** Was: IllegalArgumentException "unknown LoRA target 'attn\uFFFDv'" from export --checkpoint, not naming the file. */
    @Test
    void checkpointSlotOfAnUnknownTarget() throws IOException {
        Path p = input("CheckpointFuzzTest", "checkpoint", "crash-slot-where-unknown-target.gguf", "run/" + Checkpoint.FILE);
        try (LoraSet empty = new LoraSet(FuzzSupport.base())) {
            GgufException e = assertThrows(GgufException.class, () -> Checkpoint.loadSlotsInto(p.getParent(), empty));
            assertMentions(e, p.toString(), "panlora.slot.1.where", "is not LAYER/TARGET/RANK");
        }
        try (LoraSet set = FuzzSupport.checkpointSlots()) {
            IOException e = assertThrows(IOException.class, () -> Checkpoint.load(p.getParent(), set, FuzzSupport.CHECKPOINT_KEY));
            assertTrue(e.getMessage().startsWith(p.toString()) && !e.getMessage().contains("\n"), e.getMessage());
            assertMentions(e, "slot 1 is");
        }
    }

    /** Was: IllegalArgumentException "tokenizer tokens 43 and 121 have the same text" from the tokenizer, not naming the file. */
    @Test
    void tokenizerWithTwoTokensOfOneText() throws IOException {
        Path p = input("ModelFuzzTest", "model", "crash-duplicate-token-text.gguf", "model.gguf");
        try (GgufFile f = GgufFile.open(p)) {
            GgufException e = assertThrows(GgufException.class, () -> TokenizerLoader.fromGguf(f));
            assertMentions(e, p.toString(), "bad tokenizer", "have the same text");
        }
    }

    /**
     * Found by reading the code, not by the fuzzer (it did not get there in 3 × 90 s): a factor of a type the engine
     * cannot decode (here I8, whose byte size still fits the file) was a PanloraException from pl_dequantize that did
     * not name the file.
     */
    @Test
    void adapterFactorOfATypeTheEngineCannotDecode() throws IOException {
        Path p = input("AdapterFuzzTest", "adapter", "review-lora-a-of-type-i8.gguf", "adapter.gguf");
        try (LoraSet set = new LoraSet(FuzzSupport.base())) {
            GgufException e = assertThrows(GgufException.class, () -> io.panlora.lora.AdapterGguf.load(p, set, 1f));
            assertMentions(e, p.toString(), "tensor 'blk.0.attn_q.weight.lora_a' is I8", "cannot decode");
        }
    }
}
