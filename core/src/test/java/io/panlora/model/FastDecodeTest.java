package io.panlora.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.panlora.bindings.Native;
import io.panlora.gguf.GgmlType;
import io.panlora.gguf.GgufFile;
import io.panlora.gguf.GgufTensorInfo;
import io.panlora.tensor.Codec;
import io.panlora.testing.SharedData;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The fast decoding path end to end on the real stories260K base: its matrices requantized to Q8_0 where the rows allow
 * (8-bit activations and integer dots under {@link Native.Matmul#AUTO}) and an F16 KV cache, against the same model
 * decoded in F32 — teacher-forced over 300 tokens of TinyStories' validation text, one token per call as generation does.
 * The mean NLL stays within 0.01 nats/token of F32's (measured: a few 1e-4) and the greedy choice agrees at ≥ 97 % of
 * positions; the two runs differ (the fast paths ran).
 */
class FastDecodeTest {

    private static double[] teacherForced(LlamaModel m, int[] tokens, Native.Matmul mode) {
        Native.setMatmul(mode);
        try (KvCache cache = m.newKvCache(tokens.length)) {
            double nll = 0;
            double[] argmax = new double[tokens.length - 1];
            for (int t = 0; t + 1 < tokens.length; t++) {
                float[] logits = cache.decode(tokens[t]);
                double mx = Double.NEGATIVE_INFINITY, z = 0;
                int best = 0;
                for (int v = 0; v < logits.length; v++) {
                    if (logits[v] > mx) { mx = logits[v]; best = v; }
                }
                for (float l : logits) z += Math.exp(l - mx);
                nll += Math.log(z) + mx - logits[tokens[t + 1]];
                argmax[t] = best;
            }
            double[] out = Arrays.copyOf(argmax, argmax.length + 1);
            out[argmax.length] = nll / (tokens.length - 1);
            return out;
        } finally {
            Native.setMatmul(Native.Matmul.F32);
        }
    }

    @Test
    void fastDecodingOfARealModelKeepsItsNll() throws Exception {
        Arena arena = Arena.ofShared();
        try (GgufFile f = GgufFile.open(SharedData.require("stories260K.gguf"))) {
            LlamaConfig cfg = LlamaConfig.fromGguf(f);
            Map<String, WeightTensor> w = new HashMap<>();
            int requantized = 0;
            for (GgufTensorInfo t : f.tensors()) {
                long ne1 = 1;
                for (int i = 1; i < t.ne().length; i++) ne1 *= t.ne()[i];
                float[] v = Codec.dequantize(t.type(), f.tensorData(t), t.ne()[0] * ne1);
                GgmlType type = ne1 > 1 && t.ne()[0] % 32 == 0 ? GgmlType.Q8_0 : GgmlType.F32;
                if (type == GgmlType.Q8_0) requantized++;
                w.put(t.name(), ModelInit.tensor(v, t.ne()[0], ne1, type, arena));
            }
            assertTrue(requantized >= 5 * cfg.nLayer(), "most matrices are Q8_0: " + requantized);
            int[] tokens = Arrays.copyOf(TokenizerLoader.fromGguf(f).encode(
                    Files.readString(SharedData.require("tinystories-valid-sample.txt")), true, false), 301);
            try (LlamaModel m = LlamaModel.fromWeights(cfg, w, arena)) {
                double[] ref = teacherForced(m, tokens, Native.Matmul.F32);
                double[] fast = teacherForced(m, tokens, Native.Matmul.AUTO);
                int n = tokens.length - 1, same = 0;
                for (int t = 0; t < n; t++) if (ref[t] == fast[t]) same++;
                System.out.printf("stories260K (Q8_0 matrices), 300 teacher-forced decode steps: NLL F32 %.5f, fast %.5f (%+.5f); "
                        + "greedy choice agrees at %d of %d positions%n", ref[n], fast[n], fast[n] - ref[n], same, n);
                assertEquals(ref[n], fast[n], 0.01, "mean NLL of fast decoding");
                assertTrue(ref[n] < 3.0, "a real model's NLL on its own domain: " + ref[n]);
                assertTrue(same >= 0.97 * n, "greedy choices agree: " + same + " of " + n);
                if (Native.cpuHasBf16()) assertTrue(fast[n] != ref[n], "the fast paths ran (the NLL differs from F32's)");
            }
        }
    }
}
