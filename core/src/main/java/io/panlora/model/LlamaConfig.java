package io.panlora.model;

import io.panlora.gguf.GgufFile;
import io.panlora.gguf.GgufException;
import io.panlora.gguf.GgufTensorInfo;
import java.util.Set;

/**
 * Hyperparameters of a LLaMA-architecture model, read from a GGUF file's {@code <arch>.*} keys ({@link #fromGguf}) or
 * built for a new model ({@link #llama}). The canonical constructor checks every number against the engine's limits
 * ({@code MAX_*} below) and the relations between them, so a config that exists is one the engine accepts. Immutable.
 *
 * @param arch          {@code general.architecture} (llama, mistral, qwen2; see {@link #SUPPORTED_ARCHS}); also the
 *                      prefix of the hyperparameter keys {@link ModelWriter} writes. Not checked by the constructor
 * @param nVocab        vocabulary size in tokens, 1..{@link #MAX_VOCAB}
 * @param nEmbd         model width (embedding length), 1..{@link #MAX_EMBD}
 * @param nLayer        number of transformer blocks, 1..{@link #MAX_LAYERS}
 * @param nHead         query heads, 1..{@link #MAX_HEADS}; a multiple of {@code nHeadKv}
 * @param nHeadKv       key/value heads (fewer than {@code nHead} for grouped-query attention), 1..{@link #MAX_HEADS}
 * @param headDim       key and value length per head, 1..{@link #MAX_HEAD_DIM}; {@code nHead · headDim} at most
 *                      {@link #MAX_ATTN_WIDTH} (it need not equal {@code nEmbd})
 * @param nFf           feed-forward (SwiGLU) width, 1..{@link #MAX_FF}
 * @param nCtxTrain     training context length in tokens, 1..{@link #MAX_CTX}
 * @param nRot          leading dimensions of each head that RoPE rotates: even, 2..{@code headDim}
 * @param ropeFreqBase  RoPE base frequency θ (10000 for LLaMA 2, 500000 for Llama 3): finite and positive
 * @param ropeFreqScale linear RoPE scaling: positions are multiplied by it (1 = none; 1/factor of GGUF's linear
 *                      {@code rope.scaling.factor}): finite and positive
 * @param normEps       RMSNorm epsilon, in (0, 1)
 * @param ropeType      {@link #ROPE_NORMAL} (0, adjacent pairs: LLaMA) or {@link #ROPE_NEOX} (2, NeoX halves: Qwen2)
 */
public record LlamaConfig(String arch, long nVocab, long nEmbd, long nLayer, long nHead, long nHeadKv, long headDim,
                          long nFf, long nCtxTrain, long nRot, float ropeFreqBase, float ropeFreqScale, float normEps,
                          int ropeType) {

    /**
     * Every hyperparameter written out by name, for checkpoint keys.
     *
     * @return e.g. {@code arch=llama;vocab=512;embd=64;layer=5;head=8;kv=4;headdim=8;ff=172;ctx=512;rot=8;…}
     */
    public String key() {
        return "arch=" + arch + ";vocab=" + nVocab + ";embd=" + nEmbd + ";layer=" + nLayer + ";head=" + nHead + ";kv=" + nHeadKv
                + ";headdim=" + headDim + ";ff=" + nFf + ";ctx=" + nCtxTrain + ";rot=" + nRot + ";ropebase=" + ropeFreqBase
                + ";ropescale=" + ropeFreqScale + ";eps=" + normEps + ";ropetype=" + ropeType;
    }

    /** Architectures whose tensors and math are LLaMA's up to names: the ones this engine runs. */
    public static final Set<String> SUPPORTED_ARCHS = Set.of("llama", "mistral", "qwen2");

    /** RoPE over adjacent pairs of dimensions (2i, 2i+1), as LLaMA and Mistral do ({@code ropeType} 0). */
    public static final int ROPE_NORMAL = 0;
    /** RoPE over the two halves of the rotated dimensions (i, i + nRot/2), as GPT-NeoX and Qwen2 do ({@code ropeType} 2). */
    public static final int ROPE_NEOX = 2;

    /*
     * Limits of the hyperparameters: the engine's PL_MAX_* (native/include/panlora.h), checked here first so that a file's
     * number is refused with the key that holds it, and so that no product of them (n_head · head_dim, n_vocab · n_embd, …)
     * can overflow a long or an int cast of a length.
     */
    /** Largest vocabulary: token ids are 32-bit. */
    public static final long MAX_VOCAB = Integer.MAX_VALUE;
    /** Largest model width (2^20). */
    public static final long MAX_EMBD = 1L << 20;
    /** Most blocks. */
    public static final long MAX_LAYERS = 4096;
    /** Most attention heads, query or key/value (2^16). */
    public static final long MAX_HEADS = 1L << 16;
    /** Largest key/value length per head. */
    public static final long MAX_HEAD_DIM = 4096;
    /** Largest n_head · head_dim (2^20). */
    public static final long MAX_ATTN_WIDTH = 1L << 20;
    /** Largest FFN width (2^22). */
    public static final long MAX_FF = 1L << 22;
    /** Longest training context (2^24): it and any window derived from it fit an int. */
    public static final long MAX_CTX = 1L << 24;

    /**
     * Checks every hyperparameter against its limit and the relations between them (see the component descriptions).
     *
     * @param arch          the architecture name
     * @param nVocab        vocabulary size
     * @param nEmbd         model width
     * @param nLayer        number of blocks
     * @param nHead         query heads
     * @param nHeadKv       key/value heads
     * @param headDim       key/value length per head
     * @param nFf           feed-forward width
     * @param nCtxTrain     training context length
     * @param nRot          RoPE-rotated dimensions per head
     * @param ropeFreqBase  RoPE base frequency
     * @param ropeFreqScale linear RoPE position scale
     * @param normEps       RMSNorm epsilon
     * @param ropeType      {@link #ROPE_NORMAL} or {@link #ROPE_NEOX}
     * @throws IllegalArgumentException naming the first hyperparameter out of range (as in the engine's
     *                                  {@code pl_model_params})
     */
    public LlamaConfig {
        String bad = problem(nVocab, nEmbd, nLayer, nHead, nHeadKv, headDim, nFf, nCtxTrain, nRot, ropeFreqBase, ropeFreqScale, normEps, ropeType);
        if (bad != null) throw new IllegalArgumentException("model config: " + bad);
    }

    /** The first hyperparameter outside its limit (named as in the engine's pl_model_params), or null when all fit. */
    private static String problem(long nVocab, long nEmbd, long nLayer, long nHead, long nHeadKv, long headDim, long nFf, long nCtx,
                                  long nRot, float base, float scale, float eps, int ropeType) {
        String r;
        if ((r = range("n_vocab", nVocab, MAX_VOCAB)) != null || (r = range("n_embd", nEmbd, MAX_EMBD)) != null
                || (r = range("n_layer", nLayer, MAX_LAYERS)) != null || (r = range("n_head", nHead, MAX_HEADS)) != null
                || (r = range("n_head_kv", nHeadKv, MAX_HEADS)) != null || (r = range("head_dim", headDim, MAX_HEAD_DIM)) != null
                || (r = range("n_ff", nFf, MAX_FF)) != null || (r = range("n_ctx_train", nCtx, MAX_CTX)) != null)
            return r;
        if (nHead % nHeadKv != 0) return "n_head " + nHead + " must be a multiple of n_head_kv " + nHeadKv;
        if (nHead * headDim > MAX_ATTN_WIDTH) // both bounded above: the product cannot overflow
            return "n_head " + nHead + " x head_dim " + headDim + " exceeds the attention width limit " + MAX_ATTN_WIDTH;
        if (nRot < 2 || nRot > headDim || nRot % 2 != 0) return "n_rot " + nRot + " must be even and in 2.." + headDim + " (head_dim)";
        if (!(base > 0) || Float.isInfinite(base)) return "rope_freq_base " + base + " must be finite and positive";
        if (!(scale > 0) || Float.isInfinite(scale)) return "rope_freq_scale " + scale + " must be finite and positive";
        if (!(eps > 0 && eps < 1)) return "norm_eps " + eps + " must be in (0, 1)";
        if (ropeType != ROPE_NORMAL && ropeType != ROPE_NEOX) return "unknown rope type " + ropeType;
        return null;
    }

    private static String range(String name, long v, long max) {
        return v >= 1 && v <= max ? null : name + " " + v + " out of range 1.." + max;
    }

    /**
     * A LLaMA config with the usual derived values: head_dim = n_embd / n_head, n_rot = head_dim, RoPE θ 10000, no RoPE
     * scaling, RMSNorm eps 1e-5, {@link #ROPE_NORMAL}, architecture {@code llama}.
     *
     * @param nVocab  vocabulary size in tokens
     * @param nEmbd   model width; a multiple of {@code nHead}
     * @param nLayer  number of blocks
     * @param nHead   query heads
     * @param nHeadKv key/value heads (a divisor of {@code nHead})
     * @param nFf     feed-forward width
     * @param nCtx    training context length in tokens
     * @return the config
     * @throws IllegalArgumentException if {@code nEmbd} is not a positive multiple of {@code nHead}, or any value is outside
     *                                  the limits the constructor checks
     */
    public static LlamaConfig llama(long nVocab, long nEmbd, long nLayer, long nHead, long nHeadKv, long nFf, long nCtx) {
        if (nHead <= 0 || nEmbd % nHead != 0) throw new IllegalArgumentException("n_embd " + nEmbd + " must be a multiple of n_head " + nHead);
        long hd = nEmbd / nHead;
        return new LlamaConfig("llama", nVocab, nEmbd, nLayer, nHead, nHeadKv, hd, nFf, nCtx, hd, 10000f, 1f, 1e-5f, ROPE_NORMAL);
    }

    /**
     * Reads the config of a GGUF model from its {@code general.architecture} and {@code <arch>.*} keys, with llama.cpp's
     * defaults for the optional ones: {@code head_count_kv} = head_count, {@code context_length} 2048,
     * {@code attention.key_length} = n_embd / n_head, {@code rope.dimension_count} = head_dim, {@code rope.freq_base}
     * 10000, {@code attention.layer_norm_rms_epsilon} 1e-5, no RoPE scaling. The vocabulary size is {@code <arch>.vocab_size}
     * or else {@code token_embd.weight}'s second dimension. The RoPE type follows the architecture (NeoX for qwen2).
     *
     * @param f an open GGUF file (only its metadata and tensor directory are read)
     * @return the config
     * @throws GgufException naming the file and the key if the architecture is not one of {@link #SUPPORTED_ARCHS}, a
     *                       required key or {@code token_embd.weight} is missing, a value is out of range, the value length
     *                       differs from the key length, or the RoPE scaling type is other than {@code none} or
     *                       {@code linear}
     */
    public static LlamaConfig fromGguf(GgufFile f) {
        String where = f.path().toString();
        if (!f.has("general.architecture")) throw new GgufException(where + ": key general.architecture is missing");
        String arch = f.getString("general.architecture");
        if (!SUPPORTED_ARCHS.contains(arch))
            throw new GgufException(where + ": architecture '" + arch + "' is not supported (supported: "
                    + String.join(", ", SUPPORTED_ARCHS.stream().sorted().toList()) + ")");
        long nEmbd = bounded(f, arch + ".embedding_length", required(f, arch + ".embedding_length"), MAX_EMBD);
        long nLayer = bounded(f, arch + ".block_count", required(f, arch + ".block_count"), MAX_LAYERS);
        long nFf = bounded(f, arch + ".feed_forward_length", required(f, arch + ".feed_forward_length"), MAX_FF);
        long nHead = bounded(f, arch + ".attention.head_count", required(f, arch + ".attention.head_count"), MAX_HEADS);
        long nHeadKv = bounded(f, arch + ".attention.head_count_kv", f.getLong(arch + ".attention.head_count_kv", nHead), MAX_HEADS);
        long nCtx = bounded(f, arch + ".context_length", f.getLong(arch + ".context_length", 2048L), MAX_CTX);
        long headDim = bounded(f, arch + ".attention.key_length", f.getLong(arch + ".attention.key_length", nEmbd / nHead), MAX_HEAD_DIM);
        if (f.has(arch + ".attention.value_length") && f.getLong(arch + ".attention.value_length") != headDim)
            throw new GgufException(where + ": " + arch + ".attention.value_length = " + f.getLong(arch + ".attention.value_length")
                    + " differs from the key length " + headDim + "; panlora needs them equal");
        if (nHead % nHeadKv != 0)
            throw new GgufException(where + ": " + arch + ".attention.head_count " + nHead + " must be a multiple of head_count_kv " + nHeadKv);
        if (nHead * headDim > MAX_ATTN_WIDTH) // both bounded: no overflow
            throw new GgufException(where + ": " + arch + ".attention.head_count " + nHead + " x key_length " + headDim
                    + " exceeds the limit " + MAX_ATTN_WIDTH + " on the attention width");
        long nRot = f.getLong(arch + ".rope.dimension_count", headDim);
        if (nRot < 2 || nRot > headDim || nRot % 2 != 0)
            throw new GgufException(where + ": " + arch + ".rope.dimension_count = " + nRot + " must be even and in 2.." + headDim + " (the key length)");
        double baseD = f.getDouble(arch + ".rope.freq_base", 10000.0);
        float base = (float) baseD;
        if (!(base > 0) || Float.isInfinite(base))
            throw new GgufException(where + ": " + arch + ".rope.freq_base = " + baseD + " must be finite and positive");
        double epsD = f.getDouble(arch + ".attention.layer_norm_rms_epsilon", 1e-5);
        float eps = (float) epsD;
        if (!(eps > 0 && eps < 1))
            throw new GgufException(where + ": " + arch + ".attention.layer_norm_rms_epsilon = " + epsD + " must be in (0, 1)");
        float scale = 1f;
        String factorKey = arch + ".rope.scaling.factor";
        double factor = f.getDouble(factorKey, 1.0);
        float inverse = (float) (1.0 / factor);
        if (!(factor > 0) || Double.isInfinite(factor) || !(inverse > 0) || Float.isInfinite(inverse))
            throw new GgufException(where + ": " + factorKey + " = " + factor
                    + " must be finite and positive, with 1/factor finite in F32");
        String scaling = f.getString(arch + ".rope.scaling.type", "none");
        if (scaling.equals("linear")) {
            scale = (float) (1.0 / factor);
        } else if (!scaling.equals("none")) {
            throw new GgufException(where + ": rope scaling '" + scaling + "' is not supported (none, linear)");
        }
        GgufTensorInfo emb = f.findTensor("token_embd.weight")
                .orElseThrow(() -> new GgufException(where + ": tensor token_embd.weight is missing"));
        String vocabKey = f.has(arch + ".vocab_size") ? arch + ".vocab_size" : "token_embd.weight's ne[1]";
        long nVocab = bounded(f, vocabKey, f.getLong(arch + ".vocab_size", emb.ne().length > 1 ? emb.ne()[1] : 0), MAX_VOCAB);
        int ropeType = arch.equals("qwen2") ? ROPE_NEOX : ROPE_NORMAL;
        try {
            return new LlamaConfig(arch, nVocab, nEmbd, nLayer, nHead, nHeadKv, headDim, nFf, nCtx, nRot, base, scale, eps, ropeType);
        } catch (IllegalArgumentException e) { // a limit the checks above do not name: still the file's fault
            throw new GgufException(where + ": " + e.getMessage());
        }
    }

    /** v when it is in 1..max, else a GgufException naming the file, the key, the value and the limit. */
    private static long bounded(GgufFile f, String key, long v, long max) {
        if (v < 1 || v > max)
            throw new GgufException(f.path() + ": " + key + " = " + v + " is out of range 1.." + max + " (the limit panlora accepts)");
        return v;
    }

    private static long required(GgufFile f, String key) {
        if (!f.has(key)) throw new GgufException(f.path() + ": hyperparameter " + key + " is missing");
        return f.getLong(key);
    }

    /**
     * The number of weights in a model of this shape: token embeddings, each block's attention and SwiGLU matrices and its
     * two norms, the output norm, and the output projection when untied. Biases and RoPE frequency factors are not counted.
     *
     * @param tiedOutput true when the output projection shares the token embedding matrix (no {@code output.weight})
     * @return the parameter count
     */
    public long parameterCount(boolean tiedOutput) {
        long q = nHead * headDim, kv = nHeadKv * headDim;
        long block = nEmbd * q + 2 * nEmbd * kv + q * nEmbd + 3 * nEmbd * nFf + 2 * nEmbd;
        return nVocab * nEmbd * (tiedOutput ? 1 : 2) + nLayer * block + nEmbd;
    }
}
