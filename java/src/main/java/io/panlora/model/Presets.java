package io.panlora.model;

import java.util.Map;
import java.util.TreeMap;

/** Named LLaMA shapes for init and benchmarks. */
public final class Presets {
    private Presets() {}

    private static final Map<String, long[]> SHAPES = new TreeMap<>(Map.of(
            // vocab, dim, layers, heads, kv heads, ffn, ctx
            "tiny", new long[] {512, 64, 2, 4, 2, 192, 256},
            "small", new long[] {2048, 256, 4, 8, 4, 704, 512},
            "25m", new long[] {8192, 512, 6, 8, 8, 1408, 512},
            "110m", new long[] {32000, 768, 12, 12, 12, 2048, 1024}));

    /** The names, sorted. */
    public static Iterable<String> names() { return SHAPES.keySet(); }

    /** The config of a named preset; vocab may be replaced later by the tokenizer's size. */
    public static LlamaConfig byName(String name) {
        long[] s = SHAPES.get(name.toLowerCase());
        if (s == null) throw new IllegalArgumentException("unknown preset '" + name + "' (known: " + String.join(", ", SHAPES.keySet()) + ")");
        return LlamaConfig.llama(s[0], s[1], s[2], s[3], s[4], s[5], s[6]);
    }

    /** A short description: dims, layers, heads. */
    public static String describe(LlamaConfig c) {
        return String.format("dim %d, %d layers, %d heads (%d kv), ffn %d, vocab %d, ctx %d",
                c.nEmbd(), c.nLayer(), c.nHead(), c.nHeadKv(), c.nFf(), c.nVocab(), c.nCtxTrain());
    }
}
