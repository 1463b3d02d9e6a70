package io.panlora.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.panlora.convert.Safetensors;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

/**
 * Target 4a: any bytes as a safetensors file ({@link Safetensors#read}: the 8-byte header length, the JSON header, dtypes,
 * shapes and data offsets). It must return tensors whose value counts match their shapes, or throw an IOException naming
 * the file.
 */
class SafetensorsFuzzTest {

    @FuzzTest
    void safetensors(byte[] input) {
        Path file = FuzzSupport.write("adapter_model.safetensors", input);
        Map<String, Safetensors.Tensor> tensors;
        try {
            tensors = Safetensors.read(file);
        } catch (IOException e) {
            FuzzSupport.check(e, file);
            return;
        }
        for (var e : tensors.entrySet()) {
            long count = 1;
            for (long d : e.getValue().shape()) {
                if (d < 0) throw new AssertionError(e.getKey() + ": negative dimension " + d);
                count *= d;
            }
            if (count != e.getValue().values().length)
                throw new AssertionError(e.getKey() + ": " + e.getValue().values().length + " values for " + count + " elements");
        }
    }
}
