package io.panlora.model;

import io.panlora.gguf.GgufException;
import io.panlora.gguf.GgufFile;
import io.panlora.gguf.GgufValue;
import io.panlora.gguf.GgufWriter;
import io.panlora.tokenizer.Tokenizer;
import io.panlora.tokenizer.TokenizerSpec;
import java.util.List;

/** Reads and writes the {@code tokenizer.*} metadata of GGUF files (llama.cpp's keys and defaults). */
public final class TokenizerLoader {
    private TokenizerLoader() {}

    /**
     * The tokenizer a GGUF file describes ({@link #specFromGguf}, then {@link Tokenizer#of}).
     *
     * @param f an open GGUF file
     * @return the tokenizer
     * @throws GgufException naming the file if the tokenizer keys are missing, unsupported or inconsistent, or the
     *                       vocabulary cannot be built (for example two tokens with one text)
     */
    public static Tokenizer fromGguf(GgufFile f) {
        TokenizerSpec spec = specFromGguf(f);
        try {
            return Tokenizer.of(spec);
        } catch (IllegalArgumentException e) { // e.g. two tokens with one text, a merge of unknown tokens
            throw new GgufException(f.path() + ": bad tokenizer: " + e.getMessage(), e);
        }
    }

    /**
     * The tokenizer spec of a GGUF file; missing optional keys take llama.cpp's defaults: special ids BOS 1, EOS 2, UNK 0
     * for SentencePiece ({@code llama}) vocabularies and BOS = EOS = 11, no UNK for BPE ({@code gpt2}) ones, no padding id;
     * add-BOS and add-space-prefix as llama.cpp decides for the model and pre-tokenizer, no add-EOS.
     *
     * @param f an open GGUF file
     * @return the spec (scores, token types, merges, pre-tokenizer and chat template null where the file has none)
     * @throws GgufException naming the file if {@code tokenizer.ggml.model} or {@code tokenizer.ggml.tokens} is missing,
     *                       the model is neither {@code llama} nor {@code gpt2}, a special token id is outside the
     *                       vocabulary, or the spec is inconsistent
     */
    public static TokenizerSpec specFromGguf(GgufFile f) {
        String where = f.path().toString();
        if (!f.has("tokenizer.ggml.model")) throw new GgufException(where + ": no tokenizer (key tokenizer.ggml.model is missing)");
        String model = f.getString("tokenizer.ggml.model");
        if (!model.equals(TokenizerSpec.MODEL_LLAMA) && !model.equals(TokenizerSpec.MODEL_GPT2))
            throw new GgufException(where + ": tokenizer model '" + model + "' is not supported (llama, gpt2)");
        if (!f.has("tokenizer.ggml.tokens")) throw new GgufException(where + ": key tokenizer.ggml.tokens is missing");
        List<String> tokens = f.getStringArray("tokenizer.ggml.tokens");
        float[] scores = f.has("tokenizer.ggml.scores") ? f.getFloatArray("tokenizer.ggml.scores") : null;
        int[] types = f.has("tokenizer.ggml.token_type") ? f.getIntArray("tokenizer.ggml.token_type") : null;
        List<String> merges = f.has("tokenizer.ggml.merges") ? f.getStringArray("tokenizer.ggml.merges") : null;
        String pre = f.getString("tokenizer.ggml.pre", null);
        boolean spm = model.equals(TokenizerSpec.MODEL_LLAMA);
        int bos = f.getInt("tokenizer.ggml.bos_token_id", spm ? 1 : 11);
        int eos = f.getInt("tokenizer.ggml.eos_token_id", spm ? 2 : 11);
        int unk = f.getInt("tokenizer.ggml.unknown_token_id", spm ? 0 : -1);
        int pad = f.getInt("tokenizer.ggml.padding_token_id", -1);
        for (int id : new int[] {bos, eos, unk, pad})
            if (id >= tokens.size()) throw new GgufException(where + ": special token id " + id + " is outside the vocabulary (" + tokens.size() + ")");
        boolean addBos = f.getBool("tokenizer.ggml.add_bos_token", TokenizerSpec.defaultAddBos(model, pre));
        boolean addEos = f.getBool("tokenizer.ggml.add_eos_token", false);
        boolean addSpace = f.getBool("tokenizer.ggml.add_space_prefix", TokenizerSpec.defaultAddSpacePrefix(model));
        String chat = f.getString("tokenizer.chat_template", null);
        try {
            return new TokenizerSpec(model, pre, tokens, scores, types, merges, bos, eos, unk, pad, addBos, addEos, addSpace, chat);
        } catch (IllegalArgumentException e) {
            throw new GgufException(where + ": bad tokenizer: " + e.getMessage(), e);
        }
    }

    /**
     * Puts a spec into a writer as llama.cpp's {@code tokenizer.*} keys; optional parts (pre-tokenizer, scores, types,
     * special ids that are −1, chat template) are left out when absent, merges are written for BPE vocabularies only and
     * {@code add_space_prefix} for SentencePiece ones only. {@link #specFromGguf} reads the keys back.
     *
     * @param w the writer
     * @param s the spec
     */
    public static void putMetadata(GgufWriter w, TokenizerSpec s) {
        w.putString("tokenizer.ggml.model", s.model());
        if (s.pre() != null) w.putString("tokenizer.ggml.pre", s.pre());
        w.put("tokenizer.ggml.tokens", GgufValue.stringArray(s.tokens()));
        if (s.scores() != null) w.put("tokenizer.ggml.scores", GgufValue.float32Array(s.scores()));
        if (s.tokenTypes() != null) w.put("tokenizer.ggml.token_type", GgufValue.int32Array(s.tokenTypes()));
        if (s.merges() != null && s.model().equals(TokenizerSpec.MODEL_GPT2)) w.put("tokenizer.ggml.merges", GgufValue.stringArray(s.merges()));
        if (s.bosId() >= 0) w.putUint32("tokenizer.ggml.bos_token_id", s.bosId());
        if (s.eosId() >= 0) w.putUint32("tokenizer.ggml.eos_token_id", s.eosId());
        if (s.unkId() >= 0) w.putUint32("tokenizer.ggml.unknown_token_id", s.unkId());
        if (s.padId() >= 0) w.putUint32("tokenizer.ggml.padding_token_id", s.padId());
        w.putBool("tokenizer.ggml.add_bos_token", s.addBos());
        w.putBool("tokenizer.ggml.add_eos_token", s.addEos());
        if (s.model().equals(TokenizerSpec.MODEL_LLAMA)) w.putBool("tokenizer.ggml.add_space_prefix", s.addSpacePrefix());
        if (s.chatTemplate() != null) w.putString("tokenizer.chat_template", s.chatTemplate());
    }
}
