package io.panlora.model;

import io.panlora.gguf.GgmlType;
import io.panlora.tensor.Codec;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Random initialisation of LLaMA weights (GPT-2 style: N(0, 0.02), residual projections scaled by 1/√(2L), norms 1), for
 * training a model from scratch, tests and benchmarks. Biases and RoPE frequency factors are never created. The results
 * are deterministic for a seed.
 */
public final class ModelInit {
    private ModelInit() {}

    /**
     * Random weights by GGUF name, allocated from arena: matrices in {@code type} (F32 when the row length is not a
     * multiple of the type's block), vectors in F32. The output projection is untied when {@code untiedOutput}.
     * Each matrix passes through a Java {@code float[]}, so no single tensor may exceed {@link Integer#MAX_VALUE} elements;
     * for big shapes use {@link #tiledRandomWeights}.
     *
     * @param c            the shape
     * @param type         the type of the matrices (any type the codec can quantize to)
     * @param seed         the random seed
     * @param untiedOutput whether to create {@code output.weight}; when false the output reuses the token embeddings
     * @param arena        where every tensor's memory is allocated; it must outlive any model bound to the weights
     * @return the weights by GGUF name, in {@link WeightKind} order
     * @throws ArithmeticException if a tensor has more than {@link Integer#MAX_VALUE} elements
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

    /**
     * Random weights for benchmarks of big shapes, fast and off-heap: for each kind of matrix a pool of {@code poolRows} random
     * rows (the same distribution as {@link #randomWeights}) is quantized once to {@code type} and its bytes are tiled over every
     * tensor of that kind (so rows repeat with period poolRows; the engine's work per step is the same as for i.i.d. rows).
     * Norms are 1 (F32). Every tensor gets its own memory from arena; nothing passes through Java arrays but the pools.
     * The values are in general not those {@link #randomWeights} gives for the same seed.
     *
     * @param c            the shape
     * @param type         the type of the matrices (F32 for a kind whose row length is not a multiple of the type's block)
     * @param seed         the random seed
     * @param untiedOutput whether to create {@code output.weight}
     * @param poolRows     random rows generated per kind of matrix (at most the matrix's row count is used), ≥ 1
     * @param arena        where every tensor's memory is allocated (the full size of the model); it must outlive any model
     *                     bound to the weights
     * @return the weights by GGUF name, in {@link WeightKind} order
     * @throws IllegalArgumentException if {@code poolRows} is below 1
     */
    public static Map<String, WeightTensor> tiledRandomWeights(LlamaConfig c, GgmlType type, long seed, boolean untiedOutput, int poolRows,
                                                               Arena arena) {
        if (poolRows < 1) throw new IllegalArgumentException("poolRows must be >= 1, got " + poolRows);
        Map<String, WeightTensor> w = new LinkedHashMap<>();
        SplittableRandom rng = new SplittableRandom(seed);
        double std = 0.02, resid = 0.02 / Math.sqrt(2.0 * c.nLayer());
        try (Arena scratch = Arena.ofConfined()) {
            for (WeightKind k : WeightKind.values()) {
                if (k == WeightKind.OUTPUT && !untiedOutput) continue;
                if (k == WeightKind.ATTN_Q_BIAS || k == WeightKind.ATTN_K_BIAS || k == WeightKind.ATTN_V_BIAS || k == WeightKind.ROPE_FREQS) continue;
                long[] sh = k.shape(c);
                long ne0 = sh[0], ne1 = sh[1];
                long layers = k.perLayer ? c.nLayer() : 1;
                if (k.isVector()) {
                    for (long l = 0; l < layers; l++) {
                        MemorySegment v = arena.allocate(ValueLayout.JAVA_FLOAT, ne0);
                        for (long i = 0; i < ne0; i++) v.setAtIndex(ValueLayout.JAVA_FLOAT, i, 1f);
                        w.put(k.ggufName(l), new WeightTensor(GgmlType.F32, ne0, ne1, v));
                    }
                    continue;
                }
                GgmlType t = ne0 % type.blockSize() == 0 ? type : GgmlType.F32;
                long rows = Math.min(poolRows, ne1);
                double s = (k == WeightKind.ATTN_OUTPUT || k == WeightKind.FFN_DOWN) ? resid : std;
                MemorySegment f = scratch.allocate(ValueLayout.JAVA_FLOAT, rows * ne0);
                for (long i = 0; i < rows * ne0; i++) f.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (rng.nextGaussian() * s));
                long rowBytes = t.rowBytes(ne0);
                MemorySegment pool = scratch.allocate(rowBytes * rows, 64);
                io.panlora.tensor.Codec.quantize(t, f, rows * ne0, pool);
                for (long l = 0; l < layers; l++) {
                    MemorySegment dst = arena.allocate(rowBytes * ne1, 64);
                    tile(pool, dst);
                    w.put(k.ggufName(l), new WeightTensor(t, ne0, ne1, dst));
                }
            }
        }
        return w;
    }

    /** Fills dst with repeated copies of src's bytes (the last copy cut short), doubling the copied span each time. */
    static void tile(MemorySegment src, MemorySegment dst) {
        long n = dst.byteSize(), first = Math.min(src.byteSize(), n);
        MemorySegment.copy(src, 0, dst, 0, first);
        long done = first;
        while (done < n) {
            long len = Math.min(done, n - done);
            MemorySegment.copy(dst, 0, dst, done, len);
            done += len;
        }
    }

    /**
     * Packs floats of shape (ne0, ne1) into a tensor of the given type (F32 if ne0 does not fit the type's block).
     *
     * @param v     ne0 · ne1 values, ne0 contiguous (row-major rows of length ne0)
     * @param ne0   the row length (the linear's input size)
     * @param ne1   the number of rows (1 for a vector)
     * @param type  the wanted type; quantized types are encoded by the engine's codec
     * @param arena where the tensor's memory is allocated
     * @return the tensor, of {@code type} or F32
     * @throws io.panlora.bindings.PanloraException if the codec cannot encode that type
     */
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
