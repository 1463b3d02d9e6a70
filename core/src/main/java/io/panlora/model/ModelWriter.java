package io.panlora.model;

import io.panlora.gguf.GgmlType;
import io.panlora.gguf.GgufValue;
import io.panlora.gguf.GgufWriter;
import io.panlora.tokenizer.TokenizerSpec;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.Map;

/**
 * Writes a LLaMA model as a GGUF file llama.cpp loads: {@code <arch>.*} hyperparameters, tokenizer, weights. Every file is
 * written atomically (a temporary file, fsync, then a rename), so a failed write leaves no partial file at the destination.
 */
public final class ModelWriter {
    private ModelWriter() {}

    /**
     * Writes config, tokenizer and weights (by GGUF name, in WeightKind order) atomically to path. Only names that
     * {@link WeightKind} knows are written (global tensors first, then each block's); other entries of {@code weights} are
     * ignored, absent optional ones (output, biases, RoPE factors) are skipped. {@code general.file_type} follows the
     * type of {@code blk.0.attn_q.weight}.
     *
     * @param path    the destination; replaced if it exists
     * @param name    {@code general.name}
     * @param c       the hyperparameters
     * @param tok     the tokenizer written as {@code tokenizer.*} keys
     * @param weights the tensors by GGUF name; their segments must be readable until this method returns
     * @throws IOException if the file cannot be written (missing or unwritable directory, full disk)
     */
    public static void write(Path path, String name, LlamaConfig c, TokenizerSpec tok, Map<String, WeightTensor> weights)
            throws IOException {
        GgufWriter w = new GgufWriter();
        putHparams(w, name, c, fileType(weights));
        TokenizerLoader.putMetadata(w, tok);
        // llama.cpp's order: the global tensors, then each block's tensors together
        for (WeightKind k : WeightKind.values()) if (!k.perLayer) add(w, weights, k, 0);
        for (long l = 0; l < c.nLayer(); l++)
            for (WeightKind k : WeightKind.values()) if (k.perLayer) add(w, weights, k, l);
        w.write(path);
    }

    /** The types a trained model can be written in ({@link #writeTrained}): F32, F16 and BF16. */
    public static final java.util.Set<GgmlType> TRAINED_TYPES = java.util.Collections.unmodifiableSet(
            java.util.EnumSet.of(GgmlType.F32, GgmlType.F16, GgmlType.BF16));

    /**
     * Writes a model trained from base (atomically): every metadata key of the base (hyperparameters, tokenizer, chat
     * template, everything) and every tensor in the base's order and shape. A tensor that {@code trained} holds (F32, by GGUF
     * name) is written in {@code type}, or, with type null, in the base tensor's own type; vectors (norms) always stay F32. A
     * tensor it does not hold is copied from the base unchanged. {@code general.name} gets {@code nameSuffix}, and
     * {@code general.file_type} follows type when one is given.
     *
     * @param base       the base model's file (open; its tensors are read while writing)
     * @param trained    F32 tensors by GGUF name, each with the element count of the base tensor of that name; names the
     *                   base does not have are ignored
     * @param out        the destination; replaced if it exists
     * @param type       F32, F16 or BF16 for every trained matrix, or null to keep each base tensor's type (which must then
     *                   be one of those for every trained matrix)
     * @param nameSuffix appended to the base's {@code general.name} unless it already ends with it
     * @return the size of the written file in bytes
     * @throws IOException if the file cannot be written
     * @throws IllegalArgumentException if {@code type} is not in {@link #TRAINED_TYPES}, a trained tensor is not F32 or its
     *                                  element count differs from the base's, or (type null) a trained matrix is quantized
     *                                  in the base
     */
    public static long writeTrained(io.panlora.gguf.GgufFile base, Map<String, WeightTensor> trained, Path out, GgmlType type,
                                    String nameSuffix) throws IOException {
        if (type != null && !TRAINED_TYPES.contains(type))
            throw new IllegalArgumentException("a trained model is written as F32, F16 or BF16, not " + type);
        GgufWriter w = new GgufWriter();
        w.putAll(base.metadata());
        w.remove("general.alignment");
        w.alignment(base.alignment());
        String name = base.getString("general.name", "model");
        w.putString("general.name", name.endsWith(nameSuffix) ? name : name + nameSuffix); // a model trained again keeps one suffix
        if (type != null) w.put("general.file_type", GgufValue.uint32(fileType(type)));
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            for (io.panlora.gguf.GgufTensorInfo t : base.tensors()) {
                WeightTensor tw = trained.get(t.name());
                if (tw == null) {
                    w.copyTensor(base, t);
                    continue;
                }
                if (tw.type() != GgmlType.F32)
                    throw new IllegalArgumentException(t.name() + ": trained weights are F32, got " + tw.type());
                long n = 1;
                for (long d : t.ne()) n *= d;
                if (n != tw.ne0() * tw.ne1())
                    throw new IllegalArgumentException(t.name() + ": " + tw.ne0() + "x" + tw.ne1() + " trained, " + t.shapeString() + " in the base");
                GgmlType target = t.nDims() == 1 ? GgmlType.F32 : type != null ? type : t.type();
                if (!TRAINED_TYPES.contains(target))
                    throw new IllegalArgumentException(t.name() + " is " + t.type() + " in the base: give a type (F32, F16 or BF16)");
                MemorySegment data = tw.data();
                if (target != GgmlType.F32) {
                    data = arena.allocate(target.rowBytes(n), 64);
                    io.panlora.tensor.Codec.quantize(target, tw.data(), n, data);
                }
                w.addTensor(t.name(), t.ne(), target, data);
            }
            w.write(out);
        }
        return java.nio.file.Files.size(out);
    }

    private static void add(GgufWriter w, Map<String, WeightTensor> weights, WeightKind k, long layer) {
        WeightTensor t = weights.get(k.ggufName(layer));
        if (t == null) return;
        long[] ne = t.ne1() == 1 && k.isVector() ? new long[] {t.ne0()} : new long[] {t.ne0(), t.ne1()};
        w.addTensor(k.ggufName(layer), ne, t.type(), t.data());
    }

    /**
     * Puts the {@code general.*} keys and the config's {@code <arch>.*} hyperparameters: vocabulary, context, width, blocks,
     * FFN width, RoPE dimensions, heads, RMSNorm epsilon and RoPE base; key/value lengths only when n_head · head_dim differs
     * from n_embd, linear RoPE scaling only when the scale is not 1. The RoPE type is not written: readers derive it from
     * the architecture.
     *
     * @param w        the writer to put the keys into
     * @param name     {@code general.name}
     * @param c        the hyperparameters ({@code c.arch()} prefixes the keys)
     * @param fileType {@code general.file_type}, llama.cpp's {@code LLAMA_FTYPE} (see {@link #fileType(GgmlType)})
     */
    public static void putHparams(GgufWriter w, String name, LlamaConfig c, int fileType) {
        String a = c.arch();
        w.putString("general.architecture", a);
        w.putString("general.name", name);
        w.putUint32("general.file_type", fileType);
        w.putUint32(a + ".vocab_size", c.nVocab());
        w.putUint32(a + ".context_length", c.nCtxTrain());
        w.putUint32(a + ".embedding_length", c.nEmbd());
        w.putUint32(a + ".block_count", c.nLayer());
        w.putUint32(a + ".feed_forward_length", c.nFf());
        w.putUint32(a + ".rope.dimension_count", c.nRot());
        w.putUint32(a + ".attention.head_count", c.nHead());
        w.putUint32(a + ".attention.head_count_kv", c.nHeadKv());
        if (c.headDim() * c.nHead() != c.nEmbd()) {
            w.putUint32(a + ".attention.key_length", c.headDim());
            w.putUint32(a + ".attention.value_length", c.headDim());
        }
        w.putFloat32(a + ".attention.layer_norm_rms_epsilon", c.normEps());
        w.putFloat32(a + ".rope.freq_base", c.ropeFreqBase());
        if (c.ropeFreqScale() != 1f) {
            w.putString(a + ".rope.scaling.type", "linear");
            w.put(a + ".rope.scaling.factor", GgufValue.float32(1f / c.ropeFreqScale()));
        }
    }

    /** llama.cpp's general.file_type (LLAMA_FTYPE) of the dominant matrix type. */
    static int fileType(Map<String, WeightTensor> weights) {
        return fileType(weights.containsKey("blk.0.attn_q.weight") ? weights.get("blk.0.attn_q.weight").type() : GgmlType.F32);
    }

    /**
     * llama.cpp's {@code general.file_type} ({@code LLAMA_FTYPE}) of a model whose matrices are of type t.
     *
     * @param t the matrices' type
     * @return the file-type number (e.g. 0 F32, 1 F16, 7 Q8_0, 15 Q4_K, 32 BF16); 0 (F32) for a type without one
     */
    public static int fileType(GgmlType t) {
        return switch (t) {
            case F32 -> 0;
            case F16 -> 1;
            case Q4_0 -> 2;
            case Q4_1 -> 3;
            case Q8_0 -> 7;
            case Q5_0 -> 8;
            case Q5_1 -> 9;
            case Q2_K -> 10;
            case Q3_K -> 12;
            case Q4_K -> 15;
            case Q5_K -> 17;
            case Q6_K -> 18;
            case BF16 -> 32;
            default -> 0;
        };
    }
}
