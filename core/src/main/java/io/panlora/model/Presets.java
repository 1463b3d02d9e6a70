package io.panlora.model;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Named LLaMA shapes for init and benchmarks: {@code tiny}, {@code small}, {@code 25m}, {@code 110m} (small models to
 * train from scratch) and {@code 125m}, {@code 1b}, {@code 3b}, {@code 8b} (GPU benchmark shapes: a 125M LLaMA, Llama 3.2
 * 1B and 3B, Llama 3.1 8B, the last three with Llama 3's vocabulary of 128256 and RoPE θ 500000).
 */
public final class Presets {
    private Presets() {}

    private static final Map<String, LlamaConfig> SHAPES = new LinkedHashMap<>();

    static {
        //                              vocab, dim, layers, heads, kv heads, ffn, ctx
        SHAPES.put("tiny", LlamaConfig.llama(512, 64, 2, 4, 2, 192, 256));
        SHAPES.put("small", LlamaConfig.llama(2048, 256, 4, 8, 4, 704, 512));
        SHAPES.put("25m", LlamaConfig.llama(8192, 512, 6, 8, 8, 1408, 512));
        SHAPES.put("110m", LlamaConfig.llama(32000, 768, 12, 12, 12, 2048, 1024));
        // GPU benchmark shapes (bench train --device cuda): a 125M LLaMA, and Llama 3.2 1B / 3B and Llama 3.1 8B
        SHAPES.put("125m", LlamaConfig.llama(32000, 768, 12, 12, 12, 2048, 2048));
        SHAPES.put("1b", llama3(2048, 16, 32, 8, 8192));
        SHAPES.put("3b", llama3(3072, 28, 24, 8, 8192));
        SHAPES.put("8b", llama3(4096, 32, 32, 8, 14336));
    }

    /** A Llama 3 shape: vocabulary 128256, head_dim = dim / heads, RoPE theta 500000, context 8192 (enough for any benchmark). */
    private static LlamaConfig llama3(long dim, long layers, long heads, long kvHeads, long ffn) {
        LlamaConfig c = LlamaConfig.llama(128256, dim, layers, heads, kvHeads, ffn, 8192);
        return new LlamaConfig(c.arch(), c.nVocab(), c.nEmbd(), c.nLayer(), c.nHead(), c.nHeadKv(), c.headDim(), c.nFf(), c.nCtxTrain(),
                c.nRot(), 500000f, 1f, c.normEps(), c.ropeType());
    }

    /**
     * The preset names, in size order.
     *
     * @return a live view of the preset table's names, in size order (its iterator's {@code remove} would delete a preset:
     *         do not call it)
     */
    public static Iterable<String> names() { return SHAPES.keySet(); }

    /**
     * The config of a named preset; vocab may be replaced later by the tokenizer's size.
     *
     * @param name a preset name, case-insensitive, surrounding white space ignored
     * @return the preset's config
     * @throws IllegalArgumentException naming the known presets if there is none of that name
     */
    public static LlamaConfig byName(String name) {
        LlamaConfig c = SHAPES.get(name.trim().toLowerCase(java.util.Locale.ROOT));
        if (c == null) throw new IllegalArgumentException("unknown preset '" + name + "' (known: " + String.join(", ", SHAPES.keySet()) + ")");
        return c;
    }

    /**
     * A one-line description of a shape, for logs.
     *
     * @param c any config
     * @return e.g. {@code dim 64, 2 layers, 4 heads (2 kv), ffn 192, vocab 512, ctx 256}
     */
    public static String describe(LlamaConfig c) {
        return String.format("dim %d, %d layers, %d heads (%d kv), ffn %d, vocab %d, ctx %d",
                c.nEmbd(), c.nLayer(), c.nHead(), c.nHeadKv(), c.nFf(), c.nVocab(), c.nCtxTrain());
    }
}
