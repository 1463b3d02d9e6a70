package io.panlora.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.panlora.bindings.PanloraException;
import io.panlora.gguf.GgufException;
import io.panlora.gguf.GgufFile;
import io.panlora.model.LlamaConfig;
import io.panlora.model.LlamaModel;
import io.panlora.model.TokenizerLoader;
import io.panlora.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Path;

/**
 * Target 2: any bytes as a model GGUF, through what {@code panlora inspect/generate/train} do with one:
 * {@link LlamaConfig#fromGguf} (the hyperparameters and their limits), {@link LlamaModel#load} (every weight's type and
 * shape checked, bound to the engine on the CPU and validated there; then a two-token forward, cheap at the sizes a
 * small file can hold) and {@link TokenizerLoader#fromGguf} with a tokenization round. Allowed failures: GgufException
 * or IOException naming the file, and the engine's PanloraException naming it (its validation of the weights).
 */
class ModelFuzzTest {

    @FuzzTest
    void model(byte[] input) throws IOException {
        Path file = FuzzSupport.write("model.gguf", input);
        try (GgufFile f = GgufFile.open(file)) {
            if (f.has("tokenizer.ggml.model")) tokenizer(f);
            LlamaConfig.fromGguf(f);
        } catch (GgufException | IOException e) {
            FuzzSupport.check(e, file);
            return;
        }
        try (LlamaModel m = LlamaModel.load(file)) {
            LlamaConfig c = m.config();
            int last = (int) Math.min(c.nVocab() - 1, Integer.MAX_VALUE);
            float[] logits = m.logits(new int[][] {{0, last}});
            if (logits.length != 2 * c.nVocab()) throw new AssertionError("logits of " + logits.length + " values for vocab " + c.nVocab());
        } catch (GgufException | PanloraException e) {
            FuzzSupport.check(e, file);
        }
    }

    private static void tokenizer(GgufFile f) {
        Tokenizer t;
        try {
            t = TokenizerLoader.fromGguf(f);
        } catch (GgufException e) {
            FuzzSupport.check(e, f.path());
            return;
        }
        int[] ids = t.encode("Hello world! <|im_start|> é 😀\n", true, true);
        for (int id : ids) {
            if (id < 0 || id >= t.vocabSize()) throw new AssertionError("token id " + id + " outside the vocabulary of " + t.vocabSize());
        }
        t.decode(ids);
        t.detokenize(ids, false, true);
    }
}
