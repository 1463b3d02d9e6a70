package io.panlora.llamacpp;

import io.panlora.bindings.llama.llama_h;
import io.panlora.bindings.llama.llama_model_params;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * A model loaded by llama.cpp (memory-mapped). Holds the vocabulary (tokenize, detokenize) and the adapters loaded for it;
 * contexts ({@link #newContext}) evaluate and generate. Closing closes the model's contexts, then its adapters, then frees
 * the model; every method but {@link #path()} and {@link #vocabOnly()} throws {@link IllegalStateException} afterwards.
 * Not thread-safe: use a model, its contexts and adapters from one thread at a time.
 */
public final class LlamaCppModel implements AutoCloseable {
    /**
     * How the model is loaded: layers offloaded to a GPU (0: CPU only; -1: all), llama.cpp's tensor validation, vocabOnly
     * (llama_model_params.vocab_only: only the tokenizer is read, so vocabulary files without weights load; such a model
     * tokenizes and detokenizes but cannot have contexts or adapters), and extraBuffers (use_extra_bufts: the CPU's extra
     * weight buffer types, AMX tiles and repacked Q4_0/Q8_0 layouts, llama-cli's --repack). extraBuffers is off unless asked
     * for: on a Xeon VM that reports AMX and grants its permission, llama.cpp's AMX kernel for Q8_0/Q4_0 weights dies with
     * SIGILL at its first tile instruction (tilezero), killing the JVM; without it the same weights run ggml's plain kernels.
     *
     * @param gpuLayers    layers offloaded to a GPU ({@code n_gpu_layers}): 0 for CPU only, −1 for all; needs a llama.cpp
     *                     build with a GPU backend
     * @param checkTensors whether llama.cpp validates the tensor data while loading ({@code check_tensors}; slower)
     * @param vocabOnly    whether only the tokenizer is read ({@code vocab_only})
     * @param extraBuffers whether the CPU's extra weight buffer types may be used ({@code use_extra_bufts}); also on when
     *                     {@code PANLORA_LLAMA_EXTRA_BUFTS=1}
     */
    public record Options(int gpuLayers, boolean checkTensors, boolean vocabOnly, boolean extraBuffers) {
        /**
         * Weights loaded (not vocabulary-only), without the extra CPU buffer types.
         *
         * @param gpuLayers    layers offloaded to a GPU: 0 for CPU only, −1 for all
         * @param checkTensors whether llama.cpp validates the tensor data while loading
         */
        public Options(int gpuLayers, boolean checkTensors) {
            this(gpuLayers, checkTensors, false, false);
        }

        /**
         * The whole model on the CPU, without tensor validation or extra buffer types: what {@link #load(Path)} uses.
         *
         * @return the options
         */
        public static Options cpu() {
            return new Options(0, false, false, false);
        }

        /**
         * The tokenizer only: for tokenizing and detokenizing with a GGUF file's vocabulary, weights or not.
         *
         * @return the options
         */
        public static Options vocabularyOnly() {
            return new Options(0, false, true, false);
        }
    }

    /**
     * Whether llama.cpp may move quantized weights to its extra CPU buffer types (weight repacking: AMX tiles, the AVX/NEON
     * repacks). Off unless Options.extraBuffers or PANLORA_LLAMA_EXTRA_BUFTS=1: on machines whose CPUID reports AMX that the (virtual) machine does not
     * let a process use, ggml's AMX kernels die with SIGILL on the first Q4_0/Q4_1/Q8_0/Q4_K/Q5_K/Q6_K model weight (taking
     * the JVM with them; llama-perplexity itself crashes the same way there). Without them the weights stay in ggml's own
     * layout and run the plain CPU kernels, with the same activation rounding. Adapter tensors never use these buffers.
     */
    static final boolean EXTRA_BUFFER_TYPES = "1".equals(System.getenv("PANLORA_LLAMA_EXTRA_BUFTS"));

    private final Path path;
    private final boolean vocabOnly;
    private MemorySegment model;
    private final MemorySegment vocab;
    private final int nVocab; // asked once: token checks run per token
    private final List<LlamaCppAdapter> adapters = new ArrayList<>();
    final List<LlamaCppContext> contexts = new ArrayList<>();

    private LlamaCppModel(Path path, MemorySegment model, boolean vocabOnly) {
        this.path = path;
        this.vocabOnly = vocabOnly;
        this.model = model;
        this.vocab = llama_h.llama_model_get_vocab(model);
        this.nVocab = llama_h.llama_vocab_n_tokens(vocab);
    }

    /**
     * Loads a GGUF model on the CPU ({@link Options#cpu()}).
     *
     * @param path the model file
     * @return the model, to be closed by the caller
     * @throws LlamaCppException if llama.cpp is not built, the file does not exist, or llama.cpp cannot load it (the
     *                           message carries llama.cpp's log)
     */
    public static LlamaCppModel load(Path path) {
        return load(path, Options.cpu());
    }

    /**
     * Loads a GGUF model ({@code llama_model_load_from_file}), initialising llama.cpp first if needed ({@link LlamaCpp#init}).
     *
     * @param path    the model file (a vocabulary-only GGUF will do with {@link Options#vocabularyOnly()})
     * @param options how to load it
     * @return the model, to be closed by the caller
     * @throws LlamaCppException if llama.cpp is not built, the file does not exist, or llama.cpp cannot load it (the
     *                           message carries llama.cpp's log)
     */
    public static LlamaCppModel load(Path path, Options options) {
        LlamaCpp.init();
        if (!Files.isRegularFile(path)) throw new LlamaCppException(path + ": no such file");
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = llama_h.llama_model_default_params(a);
            llama_model_params.n_gpu_layers(p, options.gpuLayers());
            llama_model_params.check_tensors(p, options.checkTensors());
            llama_model_params.vocab_only(p, options.vocabOnly());
            llama_model_params.use_extra_bufts(p, options.extraBuffers() || EXTRA_BUFFER_TYPES);
            LlamaCpp.clearLog();
            MemorySegment m = llama_h.llama_model_load_from_file(a.allocateFrom(path.toString()), p);
            if (m.equals(MemorySegment.NULL)) throw LlamaCpp.failure(path + ": the model could not be loaded");
            return new LlamaCppModel(path, m, options.vocabOnly());
        }
    }

    /**
     * The model file.
     *
     * @return the path as given to {@link #load(Path, Options)}
     */
    public Path path() {
        return path;
    }

    MemorySegment handle() {
        if (model == null) throw new IllegalStateException(path + ": the llama.cpp model is closed");
        return model;
    }

    MemorySegment vocab() {
        handle();
        return vocab;
    }

    /**
     * The vocabulary size: token ids run 0..nVocab−1.
     *
     * @return the number of tokens of the model's vocabulary
     * @throws IllegalStateException if the model is closed
     */
    public int nVocab() {
        vocab();
        return nVocab;
    }

    /**
     * The context length the model was trained with ({@code llama_model_n_ctx_train}, from the GGUF's
     * {@code context_length}).
     *
     * @return the training context in tokens, as llama.cpp read it
     * @throws IllegalStateException if the model is closed
     */
    public int nCtxTrain() {
        return llama_h.llama_model_n_ctx_train(handle());
    }

    /**
     * The embedding (hidden) size.
     *
     * @return n_embd as llama.cpp read it
     * @throws IllegalStateException if the model is closed
     */
    public int nEmbd() {
        return llama_h.llama_model_n_embd(handle());
    }

    /**
     * The number of transformer layers.
     *
     * @return n_layer as llama.cpp read it
     * @throws IllegalStateException if the model is closed
     */
    public int nLayer() {
        return llama_h.llama_model_n_layer(handle());
    }

    /**
     * The number of weights of the model, as llama.cpp counts them ({@code llama_model_n_params}).
     *
     * @return the parameter count
     * @throws IllegalStateException if the model is closed
     */
    public long nParams() {
        return llama_h.llama_model_n_params(handle());
    }

    /**
     * The beginning-of-sequence token.
     *
     * @return its id, or −1 when the vocabulary has none
     * @throws IllegalStateException if the model is closed
     */
    public int bos() {
        return llama_h.llama_vocab_bos(vocab());
    }

    /**
     * The end-of-sequence token ({@link #isEog} covers the other end-of-generation tokens too).
     *
     * @return its id, or −1 when the vocabulary has none
     * @throws IllegalStateException if the model is closed
     */
    public int eos() {
        return llama_h.llama_vocab_eos(vocab());
    }

    /**
     * Whether the model adds BOS when tokenizing with addSpecial.
     *
     * @return the vocabulary's {@code add_bos} setting
     * @throws IllegalStateException if the model is closed
     */
    public boolean addsBos() {
        return llama_h.llama_vocab_get_add_bos(vocab());
    }

    /**
     * Whether the token ends a generation (EOS, EOT...).
     *
     * @param token a token id
     * @return whether llama.cpp counts it as end of generation; false for ids it does not know
     * @throws IllegalStateException if the model is closed
     */
    public boolean isEog(int token) {
        return llama_h.llama_vocab_is_eog(vocab(), token);
    }

    /**
     * Token ids of text, as llama.cpp's tokenizer gives them.
     *
     * @param text         the text (encoded as UTF-8 for llama.cpp); empty gives no tokens, or only BOS with addSpecial
     * @param addSpecial   add BOS (and EOS) as the model's metadata asks
     * @param parseSpecial recognise special tokens written in the text
     * @return the token ids
     * @throws LlamaCppException     if llama.cpp fails to tokenize the text
     * @throws IllegalStateException if the model is closed
     */
    public int[] tokenize(String text, boolean addSpecial, boolean parseSpecial) {
        byte[] utf8 = text.getBytes(StandardCharsets.UTF_8);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment t = a.allocate(Math.max(1, utf8.length));
            MemorySegment.copy(utf8, 0, t, ValueLayout.JAVA_BYTE, 0, utf8.length);
            int cap = utf8.length + 8;
            MemorySegment out = a.allocate(ValueLayout.JAVA_INT, cap);
            int n = llama_h.llama_tokenize(vocab(), t, utf8.length, out, cap, addSpecial, parseSpecial);
            if (n < 0 && n != Integer.MIN_VALUE) {
                cap = -n;
                out = a.allocate(ValueLayout.JAVA_INT, cap);
                n = llama_h.llama_tokenize(vocab(), t, utf8.length, out, cap, addSpecial, parseSpecial);
            }
            if (n < 0) throw new LlamaCppException("llama.cpp: tokenizing " + utf8.length + " bytes failed (" + n + ")");
            return out.asSlice(0, 4L * n).toArray(ValueLayout.JAVA_INT);
        }
    }

    /**
     * The bytes of one token (special tokens rendered when special is true). A token can be part of a UTF-8 character, so
     * these are bytes, not text; join the pieces of a sequence before decoding them.
     *
     * @param token   a token id, 0..nVocab−1
     * @param special whether control and other special tokens are rendered as their text (else they give no bytes)
     * @return the token's bytes as llama.cpp renders them ({@code llama_token_to_piece}, no leading space stripped)
     * @throws IllegalArgumentException if the id is outside the vocabulary
     * @throws LlamaCppException        if llama.cpp fails to render it
     * @throws IllegalStateException    if the model is closed
     */
    public byte[] pieceBytes(int token, boolean special) {
        checkToken(token);
        try (Arena a = Arena.ofConfined()) {
            int cap = 64;
            MemorySegment buf = a.allocate(cap);
            int n = llama_h.llama_token_to_piece(vocab(), token, buf, cap, 0, special);
            if (n < 0) {
                cap = -n;
                buf = a.allocate(cap);
                n = llama_h.llama_token_to_piece(vocab(), token, buf, cap, 0, special);
            }
            if (n < 0) throw new LlamaCppException("llama.cpp: rendering token " + token + " failed");
            return buf.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE);
        }
    }

    /**
     * Text of token ids (llama_detokenize).
     *
     * @param tokens         token ids, each in 0..nVocab−1
     * @param removeSpecial  whether the BOS and EOS the model adds when tokenizing (and its leading space prefix) are
     *                       removed
     * @param unparseSpecial whether special tokens are rendered as their text (else they are left out)
     * @return the text, decoded from UTF-8 (malformed bytes, as from a cut multi-byte character, become U+FFFD)
     * @throws IllegalArgumentException if an id is outside the vocabulary
     * @throws LlamaCppException        if llama.cpp fails to detokenize
     * @throws IllegalStateException    if the model is closed
     */
    public String detokenize(int[] tokens, boolean removeSpecial, boolean unparseSpecial) {
        for (int t : tokens) checkToken(t);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ids = a.allocateFrom(ValueLayout.JAVA_INT, tokens);
            int cap = 16 + tokens.length * 8;
            MemorySegment buf = a.allocate(cap);
            int n = llama_h.llama_detokenize(vocab(), ids, tokens.length, buf, cap, removeSpecial, unparseSpecial);
            if (n < 0) {
                cap = -n;
                buf = a.allocate(cap);
                n = llama_h.llama_detokenize(vocab(), ids, tokens.length, buf, cap, removeSpecial, unparseSpecial);
            }
            if (n < 0) throw new LlamaCppException("llama.cpp: detokenizing " + tokens.length + " tokens failed");
            return new String(buf.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
        }
    }

    void checkToken(int token) {
        int n = nVocab();
        if (token < 0 || token >= n) throw new IllegalArgumentException("token id " + token + " outside the vocabulary 0.." + (n - 1));
    }

    /**
     * Loads a GGUF LoRA adapter for this model ({@code llama_adapter_lora_init}); it lives until it or the model is closed.
     * Loading does not apply it: see {@link LlamaCppContext#setAdapters}. The same file may be loaded more than once.
     *
     * @param file an adapter file in llama.cpp's layout (as {@link io.panlora.lora.AdapterGguf#write} makes them)
     * @return the adapter
     * @throws LlamaCppException     if the file does not exist or llama.cpp cannot load it for this model (wrong
     *                               architecture, shapes or type; the message carries llama.cpp's log)
     * @throws IllegalStateException if the model is closed or was loaded vocabulary-only
     */
    public LlamaCppAdapter loadAdapter(Path file) {
        requireWeights("an adapter");
        if (!Files.isRegularFile(file)) throw new LlamaCppException(file + ": no such file");
        try (Arena a = Arena.ofConfined()) {
            LlamaCpp.clearLog();
            MemorySegment h = llama_h.llama_adapter_lora_init(handle(), a.allocateFrom(file.toString()));
            if (h.equals(MemorySegment.NULL)) throw LlamaCpp.failure(file + ": the adapter could not be loaded");
            LlamaCppAdapter ad = new LlamaCppAdapter(this, file, h);
            adapters.add(ad);
            return ad;
        }
    }

    /**
     * Whether only the vocabulary was loaded ({@link Options#vocabOnly}): then the model tokenizes and detokenizes but
     * cannot have contexts or adapters.
     *
     * @return the option the model was loaded with
     */
    public boolean vocabOnly() {
        return vocabOnly;
    }

    private void requireWeights(String what) {
        handle();
        if (vocabOnly) throw new IllegalStateException(path + ": loaded vocabulary-only, so " + what + " cannot be made for it");
    }

    /**
     * Loads every adapter file for this model and pairs it with its user scale, ready for {@link LlamaCppContext#setAdapters};
     * when one cannot be loaded, those loaded before it are closed again and the failure is thrown.
     *
     * @param files the adapter files with their user scales
     * @return one entry per file, in the same order; empty for an empty list
     * @throws LlamaCppException     if a file does not exist or cannot be loaded
     * @throws IllegalStateException if the model is closed or was loaded vocabulary-only
     */
    public List<LlamaCppContext.Scaled> loadAdapters(List<Parity.Adapter> files) {
        List<LlamaCppContext.Scaled> out = new ArrayList<>();
        try {
            for (Parity.Adapter f : files) out.add(new LlamaCppContext.Scaled(loadAdapter(f.file()), f.scale()));
            return out;
        } catch (RuntimeException e) {
            for (LlamaCppContext.Scaled s : out) s.adapter().close();
            throw e;
        }
    }

    void forget(LlamaCppAdapter a) {
        adapters.remove(a);
    }

    /**
     * A context (KV cache, compute buffers) for evaluation and generation, with no adapters applied. A model may have
     * several contexts; each must be closed, or is closed with the model.
     *
     * @param options the cache size, batch size, threads, cache type and sequence count
     * @return the new context
     * @throws LlamaCppException     if llama.cpp cannot create it (for example out of memory)
     * @throws IllegalStateException if the model is closed or was loaded vocabulary-only
     */
    public LlamaCppContext newContext(LlamaCppContext.Options options) {
        requireWeights("a context");
        LlamaCppContext c = new LlamaCppContext(this, options);
        contexts.add(c);
        return c;
    }

    /** Closes the model's contexts and adapters, then frees the model. Idempotent. */
    @Override
    public void close() {
        if (model == null) return;
        for (LlamaCppContext c : List.copyOf(contexts)) c.close();
        for (LlamaCppAdapter a : List.copyOf(adapters)) a.close();
        llama_h.llama_model_free(model);
        model = null;
    }
}
