package io.panlora.model;

/** The weights of a LLaMA model: their GGUF names and engine ids ({@code enum pl_weight}). */
public enum WeightKind {
    TOKEN_EMBD(0, "token_embd.weight", false, true),
    OUTPUT_NORM(1, "output_norm.weight", false, true),
    OUTPUT(2, "output.weight", false, false),
    ATTN_NORM(3, "attn_norm.weight", true, true),
    ATTN_Q(4, "attn_q.weight", true, true),
    ATTN_K(5, "attn_k.weight", true, true),
    ATTN_V(6, "attn_v.weight", true, true),
    ATTN_OUTPUT(7, "attn_output.weight", true, true),
    FFN_NORM(8, "ffn_norm.weight", true, true),
    FFN_GATE(9, "ffn_gate.weight", true, true),
    FFN_UP(10, "ffn_up.weight", true, true),
    FFN_DOWN(11, "ffn_down.weight", true, true),
    ATTN_Q_BIAS(12, "attn_q.bias", true, false),
    ATTN_K_BIAS(13, "attn_k.bias", true, false),
    ATTN_V_BIAS(14, "attn_v.bias", true, false),
    /** Llama 3.1-style per-pair RoPE frequency divisors, [n_rot/2]. */
    ROPE_FREQS(15, "rope_freqs.weight", false, false);

    /** The engine's id. */
    public final int id;
    /** The GGUF name (per-layer names are prefixed with {@code blk.N.}). */
    public final String suffix;
    public final boolean perLayer;
    public final boolean required;

    WeightKind(int id, String suffix, boolean perLayer, boolean required) {
        this.id = id;
        this.suffix = suffix;
        this.perLayer = perLayer;
        this.required = required;
    }

    /** The full GGUF tensor name of this weight in a layer (ignored for global weights). */
    public String ggufName(long layer) {
        return perLayer ? "blk." + layer + "." + suffix : suffix;
    }

    /** Expected ggml shape (ne0, ne1) of this weight for a config; ne1 = 1 for vectors. */
    public long[] shape(LlamaConfig c) {
        long q = c.nHead() * c.headDim(), kv = c.nHeadKv() * c.headDim();
        return switch (this) {
            case TOKEN_EMBD, OUTPUT -> new long[] {c.nEmbd(), c.nVocab()};
            case OUTPUT_NORM, ATTN_NORM, FFN_NORM -> new long[] {c.nEmbd(), 1};
            case ATTN_Q -> new long[] {c.nEmbd(), q};
            case ATTN_K, ATTN_V -> new long[] {c.nEmbd(), kv};
            case ATTN_OUTPUT -> new long[] {q, c.nEmbd()};
            case FFN_GATE, FFN_UP -> new long[] {c.nEmbd(), c.nFf()};
            case FFN_DOWN -> new long[] {c.nFf(), c.nEmbd()};
            case ATTN_Q_BIAS -> new long[] {q, 1};
            case ATTN_K_BIAS, ATTN_V_BIAS -> new long[] {kv, 1};
            case ROPE_FREQS -> new long[] {c.nRot() / 2, 1};
        };
    }

    /** True for the weights FULL-mode training updates: every matrix and norm; biases and RoPE factors stay fixed. */
    public boolean trainsInFullMode() {
        return switch (this) {
            case ATTN_Q_BIAS, ATTN_K_BIAS, ATTN_V_BIAS, ROPE_FREQS -> false;
            default -> true;
        };
    }

    /** True for the 1-D weights (norms and biases), which must be F32. */
    public boolean isVector() {
        return switch (this) {
            case OUTPUT_NORM, ATTN_NORM, FFN_NORM, ATTN_Q_BIAS, ATTN_K_BIAS, ATTN_V_BIAS, ROPE_FREQS -> true;
            default -> false;
        };
    }
}
