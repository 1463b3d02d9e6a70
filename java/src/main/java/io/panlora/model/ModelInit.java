package io.panlora.model;

import io.panlora.gguf.GgmlType;
import io.panlora.tensor.Codec;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/** Random initialisation of LLaMA weights (GPT-2 style: N(0, 0.02), residual projections scaled by 1/√(2L), norms 1). */
public final class ModelInit {
    private ModelInit() {}

    /**
     * Random weights by GGUF name, allocated from arena: matrices in {@code type} (F32 when the row length is not a
     * multiple of the type's block), vectors in F32. The output projection is untied when {@code untiedOutput}.
     */
    public static Map<String, WeightTensor> randomWeights(LlamaConfig c, GgmlType type, long seed, boolean untiedOutput, Arena arena) {
        Map<String, WeightTensor> w = new LinkedHashMap<>();
        SplittableRandom rng = new SplittableRandom(seed);
        double std = 0.02, resid = 0.02 / Math.sqrt(2.0 * c.nLayer());
        for (WeightKind k : WeightKind.values()) {
            if (k == WeightKind.OUTPUT && !untiedOutput) continue;
            if (k == WeightKind.ATTN_Q_BIAS || k == WeightKind.ATTN_K_BIAS || k == WeightKind.ATTN_V_BIAS || k == WeightKind.ROPE_FREQS) continue;
            long layers = k.perLayer ? c.nLayer() : 1;
            for (long l = 0; l < layers; l++) {
                long[] sh = k.shape(c);
                float[] v = new float[Math.toIntExact(sh[0] * sh[1])];
                if (k.isVector()) {
                    java.util.Arrays.fill(v, 1f);
                } else {
                    double s = (k == WeightKind.ATTN_OUTPUT || k == WeightKind.FFN_DOWN) ? resid : std;
                    for (int i = 0; i < v.length; i++) v[i] = (float) (rng.nextGaussian() * s);
                }
                w.put(k.ggufName(l), tensor(v, sh[0], sh[1], k.isVector() ? GgmlType.F32 : type, arena));
            }
        }
        return w;
    }

    /** Packs floats of shape (ne0, ne1) into a tensor of the given type (F32 if ne0 does not fit the type's block). */
    public static WeightTensor tensor(float[] v, long ne0, long ne1, GgmlType type, Arena arena) {
        GgmlType t = ne0 % type.blockSize() == 0 ? type : GgmlType.F32;
        MemorySegment seg;
        if (t == GgmlType.F32) {
            seg = arena.allocate(ValueLayout.JAVA_FLOAT, v.length);
            MemorySegment.copy(v, 0, seg, ValueLayout.JAVA_FLOAT, 0, v.length);
        } else {
            seg = Codec.quantize(t, v, arena);
        }
        return new WeightTensor(t, ne0, ne1, seg);
    }
}
