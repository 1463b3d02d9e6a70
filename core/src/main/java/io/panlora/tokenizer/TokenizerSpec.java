package io.panlora.tokenizer;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Objects;

/**
 * Everything a tokenizer is built from, as stored in GGUF's {@code tokenizer.*} metadata.
 *
 * <p>Fields map one-to-one to GGUF keys: {@code tokenizer.ggml.model} ({@code "llama"} = SentencePiece,
 * {@code "gpt2"} = byte-level BPE), {@code .pre}, {@code .tokens}, {@code .scores}, {@code .token_type},
 * {@code .merges}, {@code .bos_token_id}, {@code .eos_token_id}, {@code .unknown_token_id},
 * {@code .padding_token_id}, {@code .add_bos_token}, {@code .add_eos_token}, {@code .add_space_prefix}
 * and {@code tokenizer.chat_template}. Where a key is absent, the reader should pass llama.cpp's default:
 * ids {@code -1} (but llama.cpp assumes bos 1, eos 2, unk 0 for {@code llama} and bos = eos = 11 for
 * {@code gpt2}), {@link #defaultAddBos}, {@code addEos = false} and {@link #defaultAddSpacePrefix}.
 *
 * <p>The constructor copies the lists (into unmodifiable ones) and the arrays, but the array accessors
 * return the record's own arrays: do not modify them. As for any record with array components,
 * {@code equals} compares the arrays by identity.
 *
 * @param model          {@code "llama"} or {@code "gpt2"}
 * @param pre            the pre-tokenizer name ({@code tokenizer.ggml.pre}); may be null (means "default")
 * @param tokens         token texts, index = id (SPM texts use U+2581 for spaces; BPE texts the GPT-2 byte-unicode form)
 * @param scores         per-token scores (SPM merge priority); may be null (all 0)
 * @param tokenTypes     per-token GGUF types (see {@link TokenType}); may be null (all normal)
 * @param merges         BPE merges {@code "left right"} in rank order (first = merged first); required for
 *                       {@code gpt2}, may be null for {@code llama} (stored as an empty list)
 * @param bosId          beginning-of-sequence id, or -1
 * @param eosId          end-of-sequence id, or -1
 * @param unkId          unknown-token id, or -1
 * @param padId          padding id, or -1
 * @param addBos         whether {@code encode(.., addSpecial=true, ..)} prepends BOS
 * @param addEos         whether {@code encode(.., addSpecial=true, ..)} appends EOS
 * @param addSpacePrefix SPM: prepend a space to the text (and strip it again when decoding)
 * @param chatTemplate   the Jinja chat template; may be null
 */
public record TokenizerSpec(
        String model,
        String pre,
        List<String> tokens,
        float[] scores,
        int[] tokenTypes,
        List<String> merges,
        int bosId,
        int eosId,
        int unkId,
        int padId,
        boolean addBos,
        boolean addEos,
        boolean addSpacePrefix,
        String chatTemplate) {

    /** {@code tokenizer.ggml.model} of SentencePiece vocabularies. */
    public static final String MODEL_LLAMA = "llama";
    /** {@code tokenizer.ggml.model} of byte-level BPE vocabularies. */
    public static final String MODEL_GPT2 = "gpt2";

    /**
     * Validates sizes and ids and takes defensive copies.
     *
     * @throws NullPointerException     if {@code model} or {@code tokens} is null
     * @throws IllegalArgumentException if the model is neither {@code "llama"} nor {@code "gpt2"}, there are
     *                                  no tokens, a token or merge is null, {@code scores} or
     *                                  {@code tokenTypes} differ in length from {@code tokens}, a
     *                                  {@code gpt2} spec has no merges, or a special id is outside
     *                                  {@code -1 .. size() - 1}
     */
    public TokenizerSpec {
        Objects.requireNonNull(model, "tokenizer model");
        if (!model.equals(MODEL_LLAMA) && !model.equals(MODEL_GPT2)) {
            throw new IllegalArgumentException("unsupported tokenizer model '" + model + "' (expected llama or gpt2)");
        }
        Objects.requireNonNull(tokens, "tokenizer tokens");
        if (tokens.isEmpty()) {
            throw new IllegalArgumentException("tokenizer has no tokens");
        }
        tokens = copyWithoutNulls(tokens, "token");
        int n = tokens.size();
        if (scores != null) {
            if (scores.length != n) {
                throw new IllegalArgumentException("tokenizer scores: " + scores.length + " entries for " + n + " tokens");
            }
            scores = scores.clone();
        }
        if (tokenTypes != null) {
            if (tokenTypes.length != n) {
                throw new IllegalArgumentException("tokenizer token types: " + tokenTypes.length + " entries for " + n + " tokens");
            }
            tokenTypes = tokenTypes.clone();
        }
        if (merges == null) {
            if (model.equals(MODEL_GPT2)) {
                throw new IllegalArgumentException("gpt2 tokenizer without merges");
            }
            merges = List.of();
        } else {
            merges = copyWithoutNulls(merges, "merge");
        }
        checkId("bos", bosId, n);
        checkId("eos", eosId, n);
        checkId("unk", unkId, n);
        checkId("pad", padId, n);
    }

    /**
     * Number of tokens in the vocabulary.
     *
     * @return {@code tokens().size()}, at least 1
     */
    public int size() {
        return tokens.size();
    }

    /**
     * llama.cpp's {@code add_bos_token} default when the GGUF key is absent.
     *
     * @param model the {@code tokenizer.ggml.model} value
     * @param pre   the {@code tokenizer.ggml.pre} value; null or empty means "default"
     * @return true for {@code "llama"}; otherwise the pre-tokenizer's default ({@link PreTokenizer#defaultAddBos()}),
     *         e.g. true for {@code llama-bpe}, false for {@code gpt-2}
     */
    public static boolean defaultAddBos(String model, String pre) {
        if (MODEL_LLAMA.equals(model)) {
            return true;
        }
        return PreTokenizer.forName(pre).defaultAddBos();
    }

    /**
     * llama.cpp's {@code add_space_prefix} default when the GGUF key is absent (true for SentencePiece only).
     *
     * @param model the {@code tokenizer.ggml.model} value
     * @return true for {@code "llama"}, false otherwise
     */
    public static boolean defaultAddSpacePrefix(String model) {
        return MODEL_LLAMA.equals(model);
    }

    private static void checkId(String what, int id, int n) {
        if (id < -1 || id >= n) {
            throw new IllegalArgumentException("tokenizer " + what + " id " + id + " outside the vocabulary of " + n + " tokens");
        }
    }

    private static List<String> copyWithoutNulls(List<String> list, String what) {
        List<String> copy = new ArrayList<>(list.size());
        for (int i = 0; i < list.size(); i++) {
            String s = list.get(i);
            if (s == null) {
                throw new IllegalArgumentException("tokenizer " + what + " " + i + " is null");
            }
            copy.add(s);
        }
        return Collections.unmodifiableList(copy);
    }
}
