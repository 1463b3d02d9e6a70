package io.panlora.model;

/**
 * The weights of a LLaMA model: their GGUF names and engine ids ({@code enum pl_weight}). Matrices are stored ggml-style
 * with ne0 = the input size (contiguous) and ne1 = the output size; see {@link #shape}.
 */
public enum WeightKind {
    /** Token embeddings, n_embd × n_vocab; required. Also the output projection when {@link #OUTPUT} is absent (tied). */
    TOKEN_EMBD(0, "token_embd.weight", false, true),
    /** The final RMSNorm's weight, [n_embd]; required. */
    OUTPUT_NORM(1, "output_norm.weight", false, true),
    /** The output projection (LM head), n_embd → n_vocab; optional: absent means tied to {@link #TOKEN_EMBD}. */
    OUTPUT(2, "output.weight", false, false),
    /** A block's RMSNorm weight before attention, [n_embd]. */
    ATTN_NORM(3, "attn_norm.weight", true, true),
    /** A block's query projection, n_embd → n_head · head_dim. */
    ATTN_Q(4, "attn_q.weight", true, true),
    /** A block's key projection, n_embd → n_head_kv · head_dim. */
    ATTN_K(5, "attn_k.weight", true, true),
    /** A block's value projection, n_embd → n_head_kv · head_dim. */
    ATTN_V(6, "attn_v.weight", true, true),
    /** A block's attention output projection, n_head · head_dim → n_embd. */
    ATTN_OUTPUT(7, "attn_output.weight", true, true),
    /** A block's RMSNorm weight before the feed-forward network, [n_embd]. */
    FFN_NORM(8, "ffn_norm.weight", true, true),
    /** A block's SwiGLU gate projection, n_embd → n_ff. */
    FFN_GATE(9, "ffn_gate.weight", true, true),
    /** A block's SwiGLU up projection, n_embd → n_ff. */
    FFN_UP(10, "ffn_up.weight", true, true),
    /** A block's SwiGLU down projection, n_ff → n_embd. */
    FFN_DOWN(11, "ffn_down.weight", true, true),
    /** A block's optional query bias, [n_head · head_dim] (Qwen2). */
    ATTN_Q_BIAS(12, "attn_q.bias", true, false),
    /** A block's optional key bias, [n_head_kv · head_dim] (Qwen2). */
    ATTN_K_BIAS(13, "attn_k.bias", true, false),
    /** A block's optional value bias, [n_head_kv · head_dim] (Qwen2). */
    ATTN_V_BIAS(14, "attn_v.bias", true, false),
    /** Llama 3.1-style per-pair RoPE frequency divisors, [n_rot/2]; optional, global. */
    ROPE_FREQS(15, "rope_freqs.weight", false, false);

    /** The engine's id ({@code enum pl_weight}). */
    public final int id;
    /** The GGUF name (per-layer names are prefixed with {@code blk.N.}). */
    public final String suffix;
    /** Whether each block has its own tensor ({@code blk.N.}-prefixed) rather than one global tensor. */
    public final boolean perLayer;
    /** Whether a model must have this weight (in every block, for per-layer weights) to be bound. */
    public final boolean required;

    WeightKind(int id, String suffix, boolean perLayer, boolean required) {
        this.id = id;
        this.suffix = suffix;
        this.perLayer = perLayer;
        this.required = required;
    }

    /**
     * The full GGUF tensor name of this weight in a layer.
     *
     * @param layer the block index (ignored for global weights)
     * @return e.g. {@code blk.3.attn_q.weight}, or {@code token_embd.weight} for a global weight
     */
    public String ggufName(long layer) {
        return perLayer ? "blk." + layer + "." + suffix : suffix;
    }

    /**
     * Expected ggml shape (ne0, ne1) of this weight for a config; ne1 = 1 for vectors.
     *
     * @param c the model's hyperparameters
     * @return a new array {ne0, ne1}: for a matrix ne0 is the input size (contiguous) and ne1 the output size
     */
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

    /**
     * Whether FULL-mode training updates this weight.
     *
     * @return true for every matrix and norm; false for biases and RoPE factors, which stay fixed
     */
    public boolean trainsInFullMode() {
        return switch (this) {
            case ATTN_Q_BIAS, ATTN_K_BIAS, ATTN_V_BIAS, ROPE_FREQS -> false;
            default -> true;
        };
    }

    /**
     * Whether this is a 1-D weight (norms, biases, RoPE factors), which must be F32.
     *
     * @return true for vectors, false for matrices
     */
    public boolean isVector() {
        return switch (this) {
            case OUTPUT_NORM, ATTN_NORM, FFN_NORM, ATTN_Q_BIAS, ATTN_K_BIAS, ATTN_V_BIAS, ROPE_FREQS -> true;
            default -> false;
        };
    }
}
