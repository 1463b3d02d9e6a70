package io.panlora.cli;

import io.panlora.bindings.Native;
import io.panlora.llamacpp.LlamaCpp;
import io.panlora.llamacpp.LlamaCppContext;
import io.panlora.llamacpp.LlamaCppModel;
import io.panlora.lora.LoraSet;
import io.panlora.lora.Target;
import io.panlora.gguf.GgufFile;
import io.panlora.gguf.GgufTensorInfo;
import io.panlora.model.KvCache;
import io.panlora.model.LlamaConfig;
import io.panlora.model.LlamaModel;
import io.panlora.train.LoraInit;
import io.panlora.train.StepEngine;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;

/**
 * {@code panlora bench compare}: prompt processing (a prompt of P tokens from an empty cache, logits of the last one) and
 * decoding (G single-token steps after it) of the same GGUF files through panlora's engine — in F32 (the reference) and in
 * its fast mode (BF16 products where the CPU has AVX512-BF16; decoding of Q8_0/Q4_0/Q4_K/Q6_K weights with 8-bit activations) — and
 * through llama.cpp (the bridge, same thread count, same
 * tokens), as llama-bench's pp/tg tests time them; then a LoRA training step on the same file with F32 and BF16 products.
 * Each figure is the mean of the repetitions after one warm-up.
 */
final class CompareBench {
    private final List<Path> models;
    private final int prompt, gen, reps, batch, stepTokens, rank;
    private final double memoryGBps; /* the same run's streaming read rate: decoding's bound */

    CompareBench(List<Path> models, int prompt, int gen, int reps, int batch, int stepTokens, int rank, double memoryGBps) {
        this.memoryGBps = memoryGBps;
        this.models = models;
        this.prompt = prompt;
        this.gen = gen;
        this.reps = reps;
        this.batch = batch;
        this.stepTokens = stepTokens;
        this.rank = rank;
    }

    /** Seconds of one prompt and of the decode after it in our engine, in the precision now in effect (the KV cache is made
     *  in it too: F16 under the fast modes). */
    private double[] ours(LlamaModel m, int[] tokens) {
        try (KvCache kv = m.newKvCache(prompt + gen + 1)) {
            long t0 = System.nanoTime();
            kv.decode(tokens);
            long t1 = System.nanoTime();
            for (int i = 0; i < gen; i++) kv.decode(tokens[i % tokens.length]);
            long t2 = System.nanoTime();
            return new double[] {(t1 - t0) / 1e9, (t2 - t1) / 1e9};
        }
    }

    /**
     * Bytes one decoded token reads at least: every weight once (the embeddings only as the output matrix when tied; one
     * row otherwise, left out) and the F16 keys and values of the positions attended to, on average over the decode.
     */
    private double decodeBytes(Path file, LlamaModel m) throws IOException {
        long weights = 0;
        try (GgufFile f = GgufFile.open(file)) {
            boolean tied = !f.hasTensor("output.weight");
            for (GgufTensorInfo t : f.tensors()) if (tied || !t.name().equals("token_embd.weight")) weights += t.nbytes();
        }
        LlamaConfig c = m.config();
        double keys = prompt + (gen + 1) / 2.0;
        return weights + keys * c.nLayer() * c.nHeadKv() * c.headDim() * 2.0 * 2.0;
    }

    /** Tokens per second from the median seconds of each test over the reps. */
    private double[] rates(List<double[]> secs) {
        double[] out = new double[2];
        for (int t = 0; t < 2; t++) {
            final int k = t;
            out[t] = (t == 0 ? prompt : gen) / median(secs.stream().mapToDouble(s -> s[k]).toArray());
        }
        return out;
    }

    /**
     * Median seconds per LoRA step (rank r on q,k,v,o, batch × stepTokens) in F32 and in the fast precision (NaN when
     * there is none): the steps alternate between the two, so a change of load falls on both.
     */
    private double[] steps(LlamaModel m, Native.Matmul fast, boolean hasFast) {
        int T = (int) Math.min(stepTokens, m.config().nCtxTrain());
        try (LoraSet set = new LoraSet(m)) {
            LoraInit.addStandard(set, rank, 2f, List.of(Target.ATTN_Q, Target.ATTN_K, Target.ATTN_V, Target.ATTN_OUTPUT), 1);
            set.attach();
            SplittableRandom rng = new SplittableRandom(3);
            int V = (int) m.config().nVocab();
            int[][] tok = new int[batch][T], tgt = new int[batch][T];
            for (int b = 0; b < batch; b++) for (int i = 0; i < T; i++) { tok[b][i] = rng.nextInt(V); tgt[b][i] = rng.nextInt(V); }
            try (StepEngine e = new StepEngine(m, batch, T, StepEngine.Mode.LORA, false)) {
                double[] f32 = new double[reps], fst = new double[reps];
                for (int r = -1; r < reps; r++) { // r = -1: the warm-up of both
                    for (int k = 0; k < (hasFast ? 2 : 1); k++) {
                        Native.setMatmul(k == 0 ? Native.Matmul.F32 : fast);
                        long t0 = System.nanoTime();
                        e.zeroGrad();
                        e.accumulate(tok, tgt, 1f / (batch * T));
                        e.adamw(1e-4f, 0.9f, 0.999f, 1e-8f, 0f, 1f);
                        if (r >= 0) (k == 0 ? f32 : fst)[r] = (System.nanoTime() - t0) / 1e9;
                    }
                }
                return new double[] {median(f32), hasFast ? median(fst) : Double.NaN};
            }
        }
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        java.util.Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    int run() throws IOException {
        int threads = Native.threads();
        boolean bf16 = Native.cpuHasBf16();
        Native.Matmul fast = bf16 ? Native.Matmul.BF16 : Native.Matmul.AUTO;
        Native.Matmul chosen = Native.matmul();
        boolean llamaOk = true;
        String why = null;
        try {
            LlamaCpp.buildInfo();
        } catch (RuntimeException | LinkageError e) {
            llamaOk = false;
            why = e.getMessage();
        }
        System.out.printf("compare: prompt %d tokens (pp%d), decode %d tokens (tg%d), medians of %d interleaved reps after a warm-up, %d threads in both engines; "
                + "LoRA step: rank %d on q,k,v,o, batch %d x %d tokens, F32 and fast steps alternating, medians%n", prompt, prompt, gen, gen, reps, threads, rank, batch, stepTokens);
        if (!llamaOk) System.out.println("llama.cpp: not available (" + why + "): its columns are empty; build it with native/llama.cpp/build.sh");
        else System.out.println("llama.cpp: " + LlamaCpp.buildInfo().getOrDefault("tag", "?") + " (commit "
                + LlamaCpp.buildInfo().getOrDefault("commit", "?") + "), through the bridge (llama_decode + llama_synchronize, as llama-bench)");
        System.out.println("panlora fast: " + (bf16 ? "BF16 products (AVX512-BF16) above 4 tokens" : "no BF16 products (no AVX512-BF16)")
                + "; decoding of Q8_0/Q4_0/Q4_1/Q5_0/Q5_1/Q2_K/Q3_K/Q4_K/Q5_K/Q6_K weights with 8-bit activations and integer dots (other types: F32 rows)"
                + "; an F16 KV cache, head-major (f32: an F32 cache)");
        System.out.printf("%-28s %-10s %14s %14s %14s %10s%n", "model", "test", "panlora f32", "panlora fast", "llama.cpp", "best/llama");
        List<String> steps = new ArrayList<>();
        try {
            for (Path file : models) {
                String name = file.getFileName().toString();
                double[] f32, b16, ll = null;
                double sF32, sB16 = Double.NaN, bytes;
                try (LlamaModel m = LlamaModel.load(file, LlamaModel.LoadOptions.cpu());
                     LlamaCppModel lm = llamaOk ? LlamaCppModel.load(file, LlamaCppModel.Options.cpu()) : null;
                     LlamaCppContext ctx = lm == null ? null : lm.newContext(new LlamaCppContext.Options(prompt + gen + 1, prompt, threads, false))) {
                    SplittableRandom rng = new SplittableRandom(7);
                    int[] tokens = new int[prompt];
                    for (int i = 0; i < prompt; i++) tokens[i] = rng.nextInt((int) m.config().nVocab());
                    int[] warm = java.util.Arrays.copyOf(tokens, Math.min(32, prompt));
                    bytes = decodeBytes(file, m);
                    // the reps interleaved (f32, fast, llama.cpp, f32, ...) so that a change of load on a shared machine
                    // falls on all three; each test's median over the reps
                    List<double[]> sf = new ArrayList<>(), sb = new ArrayList<>(), sl = new ArrayList<>();
                    for (int r = -1; r < reps; r++) {
                        Native.setMatmul(Native.Matmul.F32);
                        double[] a = ours(m, r < 0 ? warm : tokens);
                        Native.setMatmul(fast);
                        double[] b = ours(m, r < 0 ? warm : tokens);
                        Native.setMatmul(chosen);
                        double[] c = ctx == null ? null : ctx.time(r < 0 ? warm : tokens, gen);
                        if (r < 0) continue;
                        sf.add(a);
                        sb.add(b);
                        if (c != null) sl.add(c);
                    }
                    f32 = rates(sf);
                    b16 = rates(sb);
                    if (!sl.isEmpty()) ll = rates(sl);
                    double[] st = steps(m, fast, bf16);
                    sF32 = st[0];
                    sB16 = st[1];
                    Native.setMatmul(chosen);
                }
                for (int t = 0; t < 2; t++) {
                    double best = Math.max(f32[t], b16[t]);
                    System.out.printf(Locale.ROOT, "%-28s %-10s %14.1f %14.1f %14s %10s%n", name, t == 0 ? "pp" + prompt : "tg" + gen, f32[t],
                            b16[t], ll == null ? "-" : String.format(Locale.ROOT, "%.1f", ll[t]),
                            ll == null ? "-" : String.format(Locale.ROOT, "%.2fx", best / ll[t]));
                }
                if (memoryGBps > 0) {
                    double bound = memoryGBps * 1e9 / bytes;
                    System.out.printf(Locale.ROOT, "%-28s %-10s %14s %14.0f%% %13s %10s  (bound %.1f tokens/s: %.1f MB read per token at %.1f GB/s)%n",
                            name, "tg" + gen + " %bw", "-", 100 * b16[1] / bound, ll == null ? "-" : String.format(Locale.ROOT, "%.0f%%", 100 * ll[1] / bound),
                            "", bound, bytes / 1e6, memoryGBps);
                }
                steps.add(String.format(Locale.ROOT, "%-28s %10.3f %10s %10s", name, sF32, Double.isNaN(sB16) ? "-" : String.format(Locale.ROOT, "%.3f", sB16),
                        Double.isNaN(sB16) ? "-" : String.format(Locale.ROOT, "%.2fx", sF32 / sB16)));
            }
        } finally {
            Native.setMatmul(chosen);
        }
        System.out.println("(tokens/s; best/llama: the faster panlora column over llama.cpp; %bw: decode speed as a share of the memory bound,"
                + " the same run's read rate over the bytes a decoded token must read)");
        System.out.printf("%-28s %10s %10s %10s%n", "LoRA step", "f32 s", "bf16 s", "speed-up");
        for (String s : steps) System.out.println(s);
        System.out.println("int8: decoding only (8-bit activations against the weights' own codes); prompt processing and training have no int8 GEMM");
        return 0;
    }
}
