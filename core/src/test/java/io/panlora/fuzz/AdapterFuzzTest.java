package io.panlora.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.panlora.gguf.GgufException;
import io.panlora.lora.AdapterGguf;
import io.panlora.lora.LoraSet;
import java.io.IOException;
import java.nio.file.Path;

/**
 * Target 3: any bytes as a LoRA adapter GGUF, loaded with {@link AdapterGguf#load} (what {@code --lora}, export, merge,
 * prune and convert do) into a fresh adapter set of the fuzz base model ({@link FuzzSupport#BASE}). It must load (every
 * slot then has the rank and shape of its target) or throw GgufException/IOException naming the file.
 */
class AdapterFuzzTest {

    @FuzzTest
    void adapter(byte[] input) throws IOException {
        Path file = FuzzSupport.write("adapter.gguf", input);
        try (LoraSet set = new LoraSet(FuzzSupport.base())) {
            int n;
            try {
                n = AdapterGguf.load(file, set, 1f);
            } catch (GgufException | IOException e) {
                FuzzSupport.check(e, file);
                return;
            }
            if (n != set.slots().size() || n == 0) throw new AssertionError(n + " modules loaded into " + set.slots().size() + " slots");
            for (LoraSet.Slot s : set.slots()) {
                if (s.in() != s.target().in(FuzzSupport.BASE) || s.out() != s.target().out(FuzzSupport.BASE) || s.rank() < 1)
                    throw new AssertionError("slot " + s + " does not fit the base");
                if (!Float.isFinite(set.scale(s))) throw new AssertionError("slot " + s + " has scale " + set.scale(s));
            }
        }
    }
}
