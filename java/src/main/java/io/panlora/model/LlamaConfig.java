package io.panlora.model;

import io.panlora.gguf.GgufFile;
import io.panlora.gguf.GgufException;
import io.panlora.gguf.GgufTensorInfo;
import java.util.Set;

/**
 * Hyperparameters of a LLaMA-architecture model, read from a GGUF file's {@code <arch>.*} keys.
 *
 * @param arch         {@code general.architecture} (llama, mistral, qwen2)
 * @param ropeType     0 = adjacent pairs (LLaMA), 2 = NeoX halves (Qwen2)
 */
public record LlamaConfig(String arch, long nVocab, long nEmbd, long nLayer, long nHead, long nHeadKv, long headDim,
                          long nFf, long nCtxTrain, long nRot, float ropeFreqBase, float ropeFreqScale, float normEps,
                          int ropeType) {

    /** Architectures whose tensors and math are LLaMA's up to names: the ones this engine runs. */
    public static final Set<String> SUPPORTED_ARCHS = Set.of("llama", "mistral", "qwen2");

    public static final int ROPE_NORMAL = 0;
    public static final int ROPE_NEOX = 2;

    public LlamaConfig {
        if (nHead <= 0 || nHeadKv <= 0 || nHead % nHeadKv != 0)
            throw new IllegalArgumentException("n_head " + nHead + " must be a positive multiple of n_head_kv " + nHeadKv);
    }

    /** A LLaMA config with the usual derived values (head_dim = n_embd / n_head, n_rot = head_dim, theta 10000, eps 1e-5). */
    public static LlamaConfig llama(long nVocab, long nEmbd, long nLayer, long nHead, long nHeadKv, long nFf, long nCtx) {
        if (nHead <= 0 || nEmbd % nHead != 0) throw new IllegalArgumentException("n_embd " + nEmbd + " must be a multiple of n_head " + nHead);
        long hd = nEmbd / nHead;
        return new LlamaConfig("llama", nVocab, nEmbd, nLayer, nHead, nHeadKv, hd, nFf, nCtx, hd, 10000f, 1f, 1e-5f, ROPE_NORMAL);
    }

    /** Reads the config of a GGUF model; throws a {@link GgufException} naming the file and the missing or bad key. */
    public static LlamaConfig fromGguf(GgufFile f) {
        String where = f.path().toString();
        if (!f.has("general.architecture")) throw new GgufException(where + ": key general.architecture is missing");
        String arch = f.getString("general.architecture");
        if (!SUPPORTED_ARCHS.contains(arch))
            throw new GgufException(where + ": architecture '" + arch + "' is not supported (supported: "
                    + String.join(", ", SUPPORTED_ARCHS.stream().sorted().toList()) + ")");
        long nEmbd = required(f, arch + ".embedding_length");
        long nLayer = required(f, arch + ".block_count");
        long nFf = required(f, arch + ".feed_forward_length");
        long nHead = required(f, arch + ".attention.head_count");
        long nHeadKv = f.getLong(arch + ".attention.head_count_kv", nHead);
        long nCtx = f.getLong(arch + ".context_length", 2048L);
        long headDim = f.getLong(arch + ".attention.key_length", nHead > 0 ? nEmbd / nHead : 0);
        long nRot = f.getLong(arch + ".rope.dimension_count", headDim);
        float base = (float) f.getDouble(arch + ".rope.freq_base", 10000.0);
        float eps = (float) f.getDouble(arch + ".attention.layer_norm_rms_epsilon", 1e-5);
        float scale = 1f;
        String scaling = f.getString(arch + ".rope.scaling.type", "none");
        if (scaling.equals("linear")) {
            double factor = f.getDouble(arch + ".rope.scaling.factor", 1.0);
            if (!(factor > 0) || !Double.isFinite(factor))
                throw new GgufException(where + ": " + arch + ".rope.scaling.factor is " + factor + ", not a finite number above 0");
            scale = (float) (1.0 / factor);
        } else if (!scaling.equals("none")) {
            throw new GgufException(where + ": rope scaling '" + scaling + "' is not supported (none, linear)");
        }
        GgufTensorInfo emb = f.findTensor("token_embd.weight")
                .orElseThrow(() -> new GgufException(where + ": tensor token_embd.weight is missing"));
        long nVocab = f.getLong(arch + ".vocab_size", emb.ne()[1]);
        int ropeType = arch.equals("qwen2") ? ROPE_NEOX : ROPE_NORMAL;
        if (nHead <= 0 || nHeadKv <= 0 || nHead % nHeadKv != 0)
            throw new GgufException(where + ": attention.head_count " + nHead + " must be a positive multiple of head_count_kv " + nHeadKv);
        if (headDim <= 0 || nRot <= 0 || nRot > headDim || nRot % 2 != 0)
            throw new GgufException(where + ": bad head size " + headDim + " / rope dimensions " + nRot);
        for (long v : new long[] {nEmbd, nLayer, nFf, nCtx, nVocab})
            if (v <= 0 || v > (1L << 31)) throw new GgufException(where + ": hyperparameter out of range: " + v);
        return new LlamaConfig(arch, nVocab, nEmbd, nLayer, nHead, nHeadKv, headDim, nFf, nCtx, nRot, base, scale, eps, ropeType);
    }

    private static long required(GgufFile f, String key) {
        if (!f.has(key)) throw new GgufException(f.path() + ": hyperparameter " + key + " is missing");
        return f.getLong(key);
    }

    /** Parameters in the model: embeddings, blocks, norms and (untied) output. */
    public long parameterCount(boolean tiedOutput) {
        long q = nHead * headDim, kv = nHeadKv * headDim;
        long block = nEmbd * q + 2 * nEmbd * kv + q * nEmbd + 3 * nEmbd * nFf + 2 * nEmbd;
        return nVocab * nEmbd * (tiedOutput ? 1 : 2) + nLayer * block + nEmbd;
    }
}
