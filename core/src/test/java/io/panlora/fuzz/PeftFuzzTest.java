package io.panlora.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.panlora.convert.PeftAdapter;
import io.panlora.gguf.GgufException;
import io.panlora.lora.LoraSet;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Target 4b: a PEFT adapter directory for {@code panlora convert --from-peft}: {@link PeftAdapter#load} reads
 * adapter_config.json and adapter_model.safetensors into a fresh adapter set of the fuzz base model. The input packs both
 * files: a 2-byte little-endian length n, n bytes of adapter_config.json, the rest adapter_model.safetensors (see
 * {@link #pack}). It must load or throw an IOException (or, for a non-finite factor, a GgufException) naming one of the
 * two files.
 */
class PeftFuzzTest {

    @FuzzTest
    void peft(byte[] input) {
        int n = input.length < 2 ? 0 : Math.min(input.length - 2, (input[0] & 0xFF) | (input[1] & 0xFF) << 8);
        int start = Math.min(2, input.length);
        Path dir = FuzzSupport.emptyDir("peft");
        FuzzSupport.write("peft/adapter_config.json", Arrays.copyOfRange(input, start, start + n));
        FuzzSupport.write("peft/adapter_model.safetensors", Arrays.copyOfRange(input, start + n, input.length));
        try (LoraSet set = new LoraSet(FuzzSupport.base())) {
            int loaded;
            try {
                loaded = PeftAdapter.load(dir, set, 1f);
            } catch (IOException | GgufException e) {
                String m = String.valueOf(e.getMessage());
                FuzzSupport.check(e, m.contains("adapter_config.json") ? dir.resolve("adapter_config.json") : dir.resolve("adapter_model.safetensors"));
                return;
            }
            if (loaded != set.slots().size() || loaded == 0) throw new AssertionError(loaded + " modules loaded into " + set.slots().size() + " slots");
            for (LoraSet.Slot s : set.slots())
                if (!Float.isFinite(set.scale(s))) throw new AssertionError("slot " + s + " has scale " + set.scale(s));
        }
    }

    /** The input format of this target: a 2-byte little-endian length of the config, the config, the safetensors bytes. */
    static byte[] pack(byte[] config, byte[] safetensors) {
        if (config.length > 0xFFFF) throw new IllegalArgumentException("config too long for the packing: " + config.length);
        byte[] out = new byte[2 + config.length + safetensors.length];
        out[0] = (byte) config.length;
        out[1] = (byte) (config.length >>> 8);
        System.arraycopy(config, 0, out, 2, config.length);
        System.arraycopy(safetensors, 0, out, 2 + config.length, safetensors.length);
        return out;
    }
}
