package io.panlora.cli;

import io.panlora.bindings.Native;
import io.panlora.bindings.gen.panlora_h;
import io.panlora.gguf.GgmlType;
import io.panlora.model.LlamaConfig;
import io.panlora.model.LlamaModel;
import io.panlora.model.ModelInit;
import io.panlora.model.Presets;
import io.panlora.lora.LoraSet;
import io.panlora.lora.Target;
import io.panlora.tensor.Codec;
import io.panlora.train.LoraInit;
import io.panlora.train.StepEngine;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code panlora bench}: engine throughput against the same run's measured F32 GEMM peak. */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Benchmarks: 'peak' (F32 GEMM), 'matmul' (weight types), 'forward' (LLaMA forward), 'train' (LoRA step).")
final class BenchCommand implements Callable<Integer> {
    @Parameters(index = "0", description = "peak | matmul | forward | train | variants")
    String what;

    @Option(names = "--types", split = ",", defaultValue = "F32,F16,BF16,Q8_0,Q4_0,Q4_K,Q6_K", description = "weight types (default: ${DEFAULT-VALUE})")
    List<String> types;

    @Option(names = "--preset", defaultValue = "25m", description = "model shape for 'forward': ${COMPLETION-CANDIDATES}")
    String preset;

    @Option(names = "--tokens", defaultValue = "512", description = "tokens per call (default: ${DEFAULT-VALUE})")
    int tokens;

    @Option(names = "--reps", defaultValue = "3", description = "timed repetitions (default: ${DEFAULT-VALUE})")
    int reps;

    @Option(names = "--batch", defaultValue = "4", description = "'train': sequences per step (default: ${DEFAULT-VALUE})")
    int batch;

    @Option(names = "--rank", defaultValue = "16", description = "'train': LoRA rank on q,k,v,o (default: ${DEFAULT-VALUE})")
    int rank;

    @Option(names = "--recompute", description = "'train': recompute activations in the backward")
    boolean recompute;

    @Option(names = {"-m", "--model"}, description = "'variants': base model (default: ../shared/data/stories260K.gguf)")
    java.nio.file.Path model;

    @Option(names = "--data", description = "'variants': training text (default: the first 300 KB of ../shared/data/tinyshakespeare.txt)")
    java.nio.file.Path data;

    @Option(names = "--shifted", description = "'variants': text of another domain (default: ../shared/data/grimm-pg2591.txt)")
    java.nio.file.Path shifted;

    @Option(names = "--steps", defaultValue = "60", description = "'variants': steps per training (default: ${DEFAULT-VALUE})")
    int steps;

    @Option(names = "--shapley-permutations", defaultValue = "6", description = "'variants': permutations for Shapley values (default: ${DEFAULT-VALUE})")
    int shapleyPermutations;

    @Mixin
    CommonOptions common;

    @Override
    public Integer call() throws Exception {
        common.apply();
        System.out.println("machine: " + MachineInfo.describe());
        System.out.println("engine:  " + Native.buildInfo());
        System.out.println("threads: " + Native.threads());
        double peak = peak();
        switch (what) {
            case "peak" -> { }
            case "matmul" -> matmul(peak);
            case "forward" -> forward(peak);
            case "train" -> train(peak);
            case "variants" -> variants();
            default -> throw new IllegalArgumentException("unknown benchmark '" + what + "' (peak, matmul, forward, train, variants)");
        }
        return 0;
    }

    /** The best F32 GEMM rate of this build on this machine now (GFLOP/s), sizes 1024 and 2048. */
    static double peak() {
        double best = 0;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment g = a.allocate(ValueLayout.JAVA_DOUBLE);
            for (long n : new long[] {1024, 2048}) {
                Native.check(panlora_h.pl_bench_sgemm(n, n >= 2048 ? 2 : 5, g), "pl_bench_sgemm");
                double v = g.get(ValueLayout.JAVA_DOUBLE, 0);
                System.out.printf("peak:    F32 GEMM %dx%dx%d: %.1f GFLOP/s%n", n, n, n, v);
                best = Math.max(best, v);
            }
        }
        return best;
    }

    private void matmul(double peak) {
        System.out.printf("%-6s %6s %6s %6s %10s %10s %8s%n", "type", "in", "out", "tokens", "ms/call", "GFLOP/s", "of peak");
        SplittableRandom rng = new SplittableRandom(1);
        for (long[] shape : new long[][] {{768, 768}, {768, 2048}, {2048, 768}}) {
            long in = shape[0], out = shape[1];
            float[] w = new float[Math.toIntExact(in * out)];
            for (int i = 0; i < w.length; i++) w[i] = (float) rng.nextGaussian() * 0.02f;
            for (String tn : types) {
                GgmlType t = GgmlType.valueOf(tn.toUpperCase());
                try (Arena a = Arena.ofConfined()) {
                    MemorySegment ws = t == GgmlType.F32 ? a.allocateFrom(ValueLayout.JAVA_FLOAT, w) : Codec.quantize(t, w, a);
                    MemorySegment x = a.allocate(ValueLayout.JAVA_FLOAT, tokens * in);
                    for (long i = 0; i < tokens * in; i++) x.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) rng.nextGaussian());
                    MemorySegment y = a.allocate(ValueLayout.JAVA_FLOAT, tokens * out);
                    Native.check(panlora_h.pl_matmul(t.id(), ws, ws.byteSize(), in, out, x, tokens, y), "pl_matmul");
                    long t0 = System.nanoTime();
                    for (int r = 0; r < reps; r++)
                        Native.check(panlora_h.pl_matmul(t.id(), ws, ws.byteSize(), in, out, x, tokens, y), "pl_matmul");
                    double s = (System.nanoTime() - t0) / 1e9 / reps;
                    double gf = 2.0 * in * out * tokens / s / 1e9;
                    System.out.printf("%-6s %6d %6d %6d %10.2f %10.1f %7.0f%%%n", t, in, out, tokens, s * 1e3, gf, 100 * gf / peak);
                }
            }
        }
    }

    private void forward(double peak) {
        for (String pn : preset.split(",")) {
            LlamaConfig c = Presets.byName(pn.trim());
            System.out.printf("model:   preset %s: %s, %.1fM parameters%n", pn.trim(), Presets.describe(c), c.parameterCount(true) / 1e6);
            int T = (int) Math.min(tokens, c.nCtxTrain());
            System.out.printf("%-6s %8s %10s %10s %8s%n", "type", "tokens", "tokens/s", "GFLOP/s", "of peak");
            for (String tn : types) {
                GgmlType t = GgmlType.valueOf(tn.toUpperCase());
                Arena a = Arena.ofShared();
                try (LlamaModel m = LlamaModel.fromWeights(c, ModelInit.randomWeights(c, t, 7, false, a), a)) {
                    int[][] tok = new int[1][T];
                    SplittableRandom rng = new SplittableRandom(3);
                    for (int i = 0; i < T; i++) tok[0][i] = rng.nextInt((int) c.nVocab());
                    m.nll(tok, tok);
                    long t0 = System.nanoTime();
                    for (int r = 0; r < reps; r++) m.nll(tok, tok);
                    double s = (System.nanoTime() - t0) / 1e9 / reps;
                    double flops = forwardFlops(c, T);
                    System.out.printf("%-6s %8d %10.1f %10.1f %7.0f%%%n", t, T, T / s, flops / s / 1e9, 100 * flops / s / 1e9 / peak);
                }
            }
        }
    }

    private void train(double peak) {
        List<String> presets = preset.contains(",") ? List.of(preset.split(",")) : List.of(preset);
        System.out.printf("LoRA step: rank %d on q,k,v,o, batch %d x %d tokens, recompute %s%n", rank, batch, tokens, recompute);
        System.out.printf("%-6s %-6s %10s %10s %10s %8s %10s%n", "model", "base", "s/step", "tokens/s", "GFLOP/s", "of peak", "vs F32");
        for (String pn : presets) {
            LlamaConfig c = Presets.byName(pn.trim());
            int T = (int) Math.min(tokens, c.nCtxTrain());
            double f32Time = Double.NaN;
            for (String tn : types) {
                GgmlType t = GgmlType.valueOf(tn.toUpperCase());
                Arena a = Arena.ofShared();
                try (LlamaModel m = LlamaModel.fromWeights(c, ModelInit.randomWeights(c, t, 7, false, a), a);
                     LoraSet set = new LoraSet(m)) {
                    LoraInit.addStandard(set, rank, 2f, Target.parseList("q,k,v,o"), 1);
                    set.attach();
                    SplittableRandom rng = new SplittableRandom(3);
                    int[][] tok = new int[batch][T], tgt = new int[batch][T];
                    for (int b = 0; b < batch; b++) for (int i = 0; i < T; i++) { tok[b][i] = rng.nextInt((int) c.nVocab()); tgt[b][i] = rng.nextInt((int) c.nVocab()); }
                    try (StepEngine e = new StepEngine(m, batch, T, StepEngine.Mode.LORA, recompute)) {
                        e.zeroGrad();
                        e.accumulate(tok, tgt, 1f / (batch * T)); // warm-up
                        long t0 = System.nanoTime();
                        for (int r = 0; r < reps; r++) {
                            e.zeroGrad();
                            e.accumulate(tok, tgt, 1f / (batch * T));
                            e.adamw(1e-4f, 0.9f, 0.999f, 1e-8f, 0f, 1f);
                        }
                        double s = (System.nanoTime() - t0) / 1e9 / reps;
                        double flops = loraStepFlops(c, (long) batch * T, T, rank);
                        if (t == GgmlType.F32) f32Time = s;
                        System.out.printf("%-6s %-6s %10.3f %10.0f %10.1f %7.0f%% %10s%n", pn, t, s, batch * T / s, flops / s / 1e9,
                                100 * flops / s / 1e9 / peak, Double.isNaN(f32Time) ? "-" : String.format("%.2fx", s / f32Time));
                    }
                }
            }
        }
        System.out.println("FLOPs counted as DESIGN.md: 4·N_base·tokens (forward + input gradients, output layer included) + attention (3x forward) + LoRA terms.");
    }

    private void variants() throws java.io.IOException {
        java.nio.file.Path shared = io.panlora.demo.JdkCorpora.sharedData();
        java.nio.file.Path work = java.nio.file.Files.createTempDirectory("panlora-variants");
        java.nio.file.Path m = model, d = data, sh = shifted;
        if (m == null || d == null || sh == null) {
            if (shared == null)
                throw new IllegalArgumentException("give -m MODEL --data TEXT --shifted OTHER_TEXT (../shared/data is not beside this checkout)");
            if (m == null) m = shared.resolve("stories260K.gguf");
            if (d == null) {
                String t = java.nio.file.Files.readString(shared.resolve("tinyshakespeare.txt"));
                d = work.resolve("train.txt");
                java.nio.file.Files.writeString(d, t.substring(0, Math.min(t.length(), 300_000)));
            }
            if (sh == null) sh = shared.resolve("grimm-pg2591.txt");
        }
        io.panlora.train.TrainConfig cfg = io.panlora.train.TrainConfig.builder().lora(rank, 2f * rank).targets("all")
                .lr(3e-3f, io.panlora.train.LrSchedule.Kind.COSINE, Math.max(1, steps / 20), 0.1f).steps(steps)
                .batch(batch, (int) Math.min(tokens, 256), 1).seed(7).eval(0, 8).checkpointEvery(0).build();
        System.out.printf("variants: base %s, training text %s, shifted text %s; rank %d, alpha %d, all targets, %d steps of %d x %d, lr 3e-3 cosine, seed 7%n%n",
                m, d, sh, rank, 2 * rank, steps, batch, cfg.ctx());
        io.panlora.variants.Experiments.run(new io.panlora.variants.Experiments.Setup(m, d, sh, cfg, shapleyPermutations, work), System.out);
    }

    /** FLOPs of one LoRA step: 4·N·tokens for the base matrices, attention forward+backward ≈ 3x its forward, LoRA 6·r·(in+out)·tokens per slot. */
    static double loraStepFlops(LlamaConfig c, long tokens, long T, int rank) {
        double q = c.nHead() * c.headDim(), kv = c.nHeadKv() * c.headDim();
        double matrices = c.nLayer() * (c.nEmbd() * (q + 2 * kv) + q * c.nEmbd() + 3.0 * c.nEmbd() * c.nFf()) + c.nEmbd() * c.nVocab();
        double attn = c.nLayer() * 2.0 * T * T * q * (tokens / (double) T) * 3;
        double lora = c.nLayer() * 6.0 * rank * ((c.nEmbd() + q) + (c.nEmbd() + kv) * 2 + (q + c.nEmbd())) * tokens;
        return 4 * matrices * tokens + attn + lora;
    }

    /** FLOPs of one forward over T tokens: 2·(matrix parameters incl. the output layer)·T + attention 2·2·T²/2·d per layer. */
    static double forwardFlops(LlamaConfig c, long T) {
        double q = c.nHead() * c.headDim(), kv = c.nHeadKv() * c.headDim();
        double perTok = c.nLayer() * (c.nEmbd() * (q + 2 * kv) + q * c.nEmbd() + 3.0 * c.nEmbd() * c.nFf()) + c.nEmbd() * c.nVocab();
        double attn = c.nLayer() * 2.0 * T * T * q; // QKᵀ and PV over the causal half: 2·(T²/2)·q·2
        return 2 * perTok * T + attn;
    }
}
