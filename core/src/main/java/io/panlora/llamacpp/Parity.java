package io.panlora.llamacpp;

import io.panlora.lora.AdapterGguf;
import io.panlora.lora.LoraSet;
import io.panlora.model.LlamaModel;
import io.panlora.model.TokenizerLoader;
import io.panlora.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

/**
 * The same text through panlora's engine and through llama.cpp, with the same adapters at the same scales: token ids of the
 * whole text from both tokenizers, then the logits of one window (panlora's token ids, BOS as the vocabulary asks) from both
 * engines, compared position by position. This is what {@code panlora verify} prints and what the parity tests assert.
 */
public final class Parity {
    private Parity() {}

    /**
     * An adapter file and its user scale, as {@code --lora FILE} (scale 1) or {@code --lora-scaled FILE SCALE} give them to
     * llama.cpp; panlora loads it with {@link AdapterGguf#load} at the same scale.
     *
     * @param file  the adapter's GGUF file
     * @param scale the user scale, multiplied with the file's alpha / r
     */
    public record Adapter(Path file, float scale) {
        /**
         * Parses {@code FILE} or {@code FILE:SCALE}. The text after the last ':' is taken as the scale when it parses as a
         * number; otherwise the whole text is the file name (which may then contain ':') and the scale is 1.
         *
         * @param spec the command-line value, for example {@code adapter.gguf} or {@code adapter.gguf:0.5}
         * @return the adapter
         * @throws IllegalArgumentException if the scale parses but is not finite (NaN or infinite)
         */
        public static Adapter parse(String spec) {
            int i = spec.lastIndexOf(':');
            if (i > 0) {
                try {
                    float s = Float.parseFloat(spec.substring(i + 1));
                    if (!Float.isFinite(s)) throw new IllegalArgumentException("--lora " + spec + ": the scale must be a finite number");
                    return new Adapter(Path.of(spec.substring(0, i)), s);
                } catch (NumberFormatException e) {
                    // a ':' in the file name
                }
            }
            return new Adapter(Path.of(spec), 1f);
        }

        /**
         * The form {@link #parse} reads back.
         *
         * @return {@code FILE}, or {@code FILE:SCALE} when the scale is not 1
         */
        @Override
        public String toString() {
            return file + (scale == 1f ? "" : ":" + scale);
        }
    }

    /**
     * The outcome of {@link #run}: how the two tokenizers and the two engines compare.
     *
     * @param ourTokens       panlora's token count of the whole text
     * @param llamaTokens     llama.cpp's
     * @param firstDifference the first index where the two token sequences differ, -1 when equal
     * @param window          tokens evaluated by both engines
     * @param ourNll          mean NLL (nats/token) of the window's predictions, panlora
     * @param llamaNll        the same from llama.cpp's logits
     * @param maxAbsDelta     max |logit difference| over the window
     * @param maxAbsLogit     max |logit| (panlora), the scale of maxAbsDelta
     * @param greedyAgree     positions where both engines' argmax agree
     */
    public record Report(int ourTokens, int llamaTokens, int firstDifference, int window, double ourNll, double llamaNll,
                         double maxAbsDelta, double maxAbsLogit, int greedyAgree) {
        /**
         * Whether both tokenizers gave the same ids for the whole text.
         *
         * @return true when firstDifference is −1
         */
        public boolean tokensEqual() {
            return firstDifference < 0;
        }

        /**
         * How far the mean NLLs of the window are apart.
         *
         * @return |ourNll − llamaNll|, nats/token
         */
        public double nllDelta() {
            return Math.abs(ourNll - llamaNll);
        }

        /**
         * Whether everything agrees within the tolerances: token ids equal, |ΔNLL| and max |Δlogit| within theirs.
         *
         * @param nllTolerance   largest accepted {@link #nllDelta()}, nats/token (see {@link ParityTolerance#nll()})
         * @param logitTolerance largest accepted {@link #maxAbsDelta()} (see {@link ParityTolerance#logit()})
         * @return whether the tokens are equal and both differences are at most their tolerance
         */
        public boolean within(double nllTolerance, double logitTolerance) {
            return tokensEqual() && nllDelta() <= nllTolerance && maxAbsDelta <= logitTolerance;
        }
    }

    /**
     * Runs the comparison: loads the base in both engines (panlora on the CPU, llama.cpp on the CPU), tokenizes the whole
     * text with both tokenizers (BOS as the vocabulary asks, special tokens not parsed), then evaluates the first tokens
     * of panlora's ids in both with the adapters applied. Everything loaded is closed again before returning. panlora's
     * side runs with F32 products of the base weights ({@code Native.Matmul.F32}) for the duration of the call, whatever
     * precision was set (it is process-wide: another thread's computation at the same time also runs in F32), and the
     * setting in effect before is restored.
     *
     * @param base     the base model's GGUF file
     * @param adapters the adapters with their user scales, in order; empty compares the base models
     * @param text     the text to tokenize and evaluate
     * @param window   at most this many tokens are evaluated (also bounded by the model's training context), at least 2
     * @param threads  llama.cpp's threads (0: all cores)
     * @return the comparison
     * @throws IOException              if a model or adapter file cannot be read
     * @throws IllegalArgumentException if window is less than 2 or the text gives fewer than 2 tokens
     * @throws LlamaCppException        if llama.cpp is not built or fails to load or evaluate
     * @throws io.panlora.gguf.GgufException if the base or an adapter is not a valid GGUF file for panlora
     */
    public static Report run(Path base, List<Adapter> adapters, String text, int window, int threads) throws IOException {
        if (window < 2) throw new IllegalArgumentException("the window must hold at least 2 tokens, got " + window);
        // the comparison is of F32 numerics: the base weights' products run in F32 for it, whatever --matmul chose
        io.panlora.bindings.Native.Matmul mode = io.panlora.bindings.Native.matmul();
        io.panlora.bindings.Native.setMatmul(io.panlora.bindings.Native.Matmul.F32);
        try {
            return compare(base, adapters, text, window, threads);
        } finally {
            io.panlora.bindings.Native.setMatmul(mode);
        }
    }

    private static Report compare(Path base, List<Adapter> adapters, String text, int window, int threads) throws IOException {
        try (LlamaModel m = LlamaModel.load(base, LlamaModel.LoadOptions.cpu());
             LlamaCppModel lm = LlamaCppModel.load(base)) {
            Tokenizer tok = TokenizerLoader.fromGguf(m.gguf().orElseThrow());
            int[] ours = tok.encode(text, true, false);
            int[] theirs = lm.tokenize(text, true, false);
            int first = Arrays.mismatch(ours, theirs);
            int n = Math.min(Math.min(window, ours.length), (int) Math.min(Integer.MAX_VALUE, m.config().nCtxTrain()));
            if (n < 2) throw new IllegalArgumentException("the text gives " + ours.length + " tokens: at least 2 are needed");
            int[] ids = Arrays.copyOf(ours, n);
            float[] a = ourLogits(m, adapters, ids);
            float[] b;
            try (LlamaCppContext ctx = lm.newContext(new LlamaCppContext.Options(n, Math.min(n, 512), threads, true))) {
                ctx.setAdapters(lm.loadAdapters(adapters)); // closed with lm
                b = ctx.logits(ids);
            }
            int nv = (int) m.config().nVocab();
            double maxDelta = 0, maxLogit = 0;
            int agree = 0;
            for (int t = 0; t < n; t++) {
                int am = 0, bm = 0;
                for (int v = 0; v < nv; v++) {
                    int i = t * nv + v;
                    maxDelta = Math.max(maxDelta, Math.abs((double) a[i] - b[i]));
                    maxLogit = Math.max(maxLogit, Math.abs(a[i]));
                    if (a[i] > a[t * nv + am]) am = v;
                    if (b[i] > b[t * nv + bm]) bm = v;
                }
                if (am == bm) agree++;
            }
            return new Report(ours.length, theirs.length, first, n, meanNll(a, ids, nv), meanNll(b, ids, nv), maxDelta, maxLogit, agree);
        }
    }

    /**
     * panlora's logits of one sequence with the adapters applied (AdapterGguf, as --lora / --lora-scaled). The adapters are
     * loaded into a temporary {@link LoraSet} that is attached for the call and closed (detached) afterwards.
     *
     * @param m        the base model; with no adapters it runs as it is, with whatever adapter it has attached
     * @param adapters the adapter files with their user scales; empty for none
     * @param ids      the sequence's token ids
     * @return ids.length·nVocab logits, row t predicting the token after ids[t]
     * @throws IOException                   if an adapter file cannot be read
     * @throws io.panlora.gguf.GgufException if an adapter does not fit the model
     */
    public static float[] ourLogits(LlamaModel m, List<Adapter> adapters, int[] ids) throws IOException {
        if (adapters.isEmpty()) return m.logits(new int[][] {ids});
        try (LoraSet set = new LoraSet(m)) {
            for (Adapter ad : adapters) AdapterGguf.load(ad.file(), set, ad.scale());
            set.attach();
            return m.logits(new int[][] {ids});
        }
    }

    /**
     * Mean over t of −log softmax(logits[t])[ids[t+1]], in double precision: how well each position predicts the next
     * token of the sequence (the last row is not used).
     *
     * @param logits at least (ids.length − 1)·nVocab logits, row-major, row t for position t
     * @param ids    the sequence, at least 2 tokens
     * @param nVocab the row length
     * @return the mean negative log-likelihood, nats/token (meaningless for fewer than 2 ids: NaN for one, −0 for none)
     */
    public static double meanNll(float[] logits, int[] ids, int nVocab) {
        double sum = 0;
        for (int t = 0; t + 1 < ids.length; t++) sum += nll(logits, t * nVocab, nVocab, ids[t + 1]);
        return sum / (ids.length - 1);
    }

    /**
     * −log softmax(row)[target] of the row starting at off, computed stably (max subtracted) in double precision.
     *
     * @param logits the logits holding the row
     * @param off    index of the row's first logit
     * @param nVocab the row length
     * @param target the token whose probability is taken, 0..nVocab−1
     * @return the negative log-probability of target, nats
     */
    public static double nll(float[] logits, int off, int nVocab, int target) {
        double max = Double.NEGATIVE_INFINITY;
        for (int v = 0; v < nVocab; v++) max = Math.max(max, logits[off + v]);
        double s = 0;
        for (int v = 0; v < nVocab; v++) s += Math.exp(logits[off + v] - max);
        return Math.log(s) + max - logits[off + target];
    }
}
