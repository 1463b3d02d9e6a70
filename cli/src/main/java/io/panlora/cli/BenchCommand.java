package io.panlora.cli;

import io.panlora.bindings.Native;
import io.panlora.bindings.PanloraException;
import io.panlora.bindings.gen.panlora_h;
import io.panlora.gguf.GgmlType;
import io.panlora.lora.LoraSet;
import io.panlora.lora.Target;
import io.panlora.model.Device;
import io.panlora.model.LlamaConfig;
import io.panlora.model.LlamaModel;
import io.panlora.model.ModelInit;
import io.panlora.model.Presets;
import io.panlora.model.WeightTensor;
import io.panlora.tensor.Codec;
import io.panlora.train.LoraInit;
import io.panlora.train.StepEngine;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code panlora bench}: engine throughput against a reference measured in the same run — the CPU's F32 GEMM peak, or on a
 * CUDA device its BF16 GEMM rate (cuBLASLt, 8192³).
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Benchmarks: 'peak' (F32 GEMM; BF16 GEMM on CUDA), 'matmul' (weight types, CPU kernels), 'forward' (LLaMA forward), "
                + "'train' (LoRA step; with --device cuda: MFU against the same run's BF16 GEMM, peak GPU memory), "
                + "'compare' (prompt, decode and a LoRA step of -m files through panlora in F32 and BF16 and through llama.cpp), "
                + "'contention' (forward and LoRA step alone and beside 1 and 2 busy processes, for -t 1, -t 2 and the default).")
final class BenchCommand implements Callable<Integer> {
    /** Rows of random weights quantized once per tensor kind and tiled (big shapes, and every CUDA run). */
    static final int POOL_ROWS = 256;
    /** Size and repetitions of the CUDA BF16 GEMM reference. */
    static final long GEMM_N = 8192;
    static final int GEMM_REPS = 10;

    @Parameters(index = "0", description = "peak | matmul | forward | train | contention | compare")
    String what;

    @Option(names = "--types", split = ",", description = "weight types (default: F32,F16,BF16,Q8_0,Q4_0,Q4_K,Q6_K; 'train' on CUDA: BF16,Q4_K)")
    List<String> types;

    @Option(names = "--preset", description = "model shapes, comma-separated: tiny, small, 25m, 110m, 125m, 1b, 3b, 8b (default: 25m; 'train' on CUDA: 125m)")
    String preset;

    @Option(names = "--tokens", description = "tokens per sequence (default: 512; 'train' on CUDA: 2048)")
    Integer tokens;

    @Option(names = "--reps", defaultValue = "3", description = "timed repetitions (default: ${DEFAULT-VALUE})")
    int reps;

    @Option(names = "--batch", description = "'train': sequences per step (default: 4; on CUDA: 8)")
    Integer batch;

    @Option(names = "--rank", defaultValue = "16", description = "'train': LoRA rank (default: ${DEFAULT-VALUE})")
    int rank;

    @Option(names = "--targets", description = "'train': adapted linears (default: q,k,v,o; on CUDA: all)")
    String targets;

    @Option(names = "--recompute", description = "'train': recompute activations in the backward")
    boolean recompute;

    @Option(names = {"-m", "--model"}, split = ",", description = "'compare': GGUF files run through both engines (e.g. made with panlora init --preset 110m --type Q4_K)")
    List<Path> models;

    @Option(names = "--gen", defaultValue = "128", description = "'compare': decoded tokens after the prompt (default: ${DEFAULT-VALUE})")
    int gen;

    @Option(names = "--json", description = "'train': also write the rows (and the reference GEMM rate) as JSON to this file")
    Path json;

    @Mixin
    CommonOptions common;

    @Mixin
    WeightsOption weights;

    /** Every flag and file checked before a benchmark starts (nothing is written before). */
    private void checkArguments() {
        if (types != null) for (String t : types) Check.oneOf("--types", t, InitCommand.WEIGHT_TYPES);
        if (preset != null) for (String s : preset.split(",")) if (!s.isBlank()) Check.preset("--preset", s.trim());
        if (tokens != null) Check.range("--tokens", tokens, 2, Check.MAX_CTX);
        Check.range("--reps", reps, 1, 1 << 20);
        if (batch != null) Check.range("--batch", batch, 1, 1 << 20);
        Check.range("--rank", rank, 1, Check.MAX_RANK);
        if (targets != null) Check.targets("--targets", targets);
        if (json != null) Check.outputFile("--json", json);
    }

    /** The reference rate of this run: what it is and its FLOP/s. */
    record Reference(String label, double flopsPerSecond) {}

    @Override
    public Integer call() throws Exception {
        if (what.equals("variants"))
            throw new IllegalArgumentException("'bench variants' (one seed, one learning rate) is replaced by 'panlora experiment NAME': "
                    + "tuned learning rates, paired seeds and confidence intervals (cola, cora, lorasc, copra-prune, copra-merge)");
        if (!List.of("peak", "matmul", "forward", "train", "contention", "compare").contains(what))
            throw new IllegalArgumentException("unknown benchmark '" + what + "' (peak, matmul, forward, train, contention, compare)");
        if (what.equals("compare")) {
            if (models == null || models.isEmpty()) throw new IllegalArgumentException("bench compare needs -m FILE[,FILE…] (GGUF models)");
            for (Path p : models) Check.inputFile("-m", p);
            Check.range("--gen", gen, 1, 1 << 16);
        }
        checkArguments();
        common.defaultMatmul(Native.Matmul.AUTO).apply();
        if (what.equals("contention")) {
            System.out.println("machine: " + MachineInfo.describe());
            System.out.println("engine:  " + Native.buildInfo());
            return new ContentionBench(preset != null ? preset : "25m", tokens != null ? tokens : 512, reps).run(preset != null ? preset : "25m");
        }
        Device dev = common.device();
        System.out.println("machine: " + MachineInfo.describe());
        System.out.println("engine:  " + Native.buildInfo());
        System.out.println("threads: " + Native.threads());
        if (dev.isCuda()) System.out.println("device:  " + dev + " (" + dev.describe() + ")");
        boolean gpu = dev.isCuda() && !what.equals("matmul");
        if (what.equals("matmul") && dev.isCuda()) System.out.println("note:    'matmul' times the CPU kernels (pl_matmul); --device does not apply");
        Peaks peaks = gpu ? null : peaks();
        Reference ref = gpu ? gpuReference(dev) : new Reference("F32 GEMM (CPU)", peaks.f32Gflops() * 1e9);
        switch (what) {
            case "peak" -> { }
            case "matmul" -> matmul(ref.flopsPerSecond() / 1e9);
            case "forward" -> forward(dev, ref);
            case "train" -> { return train(dev, ref); }
            case "compare" -> {
                int p = tokens != null ? tokens : 512;
                return new CompareBench(models, p, gen, reps, batch != null ? batch : 4, Math.min(p, 256), rank,
                        peaks == null ? 0 : peaks.memoryGBps()).run();
            }
            default -> throw new IllegalStateException(what);
        }
        return 0;
    }

    /** The CUDA device's BF16 GEMM rate (best of two runs of GEMM_REPS), printed. */
    static Reference gpuReference(Device dev) {
        double best = 0;
        for (int i = 0; i < 2; i++) best = Math.max(best, dev.benchGemmTflops(GEMM_N, GEMM_REPS));
        System.out.printf(Locale.ROOT, "peak:    BF16 GEMM %dx%dx%d (cuBLASLt, F32 accumulation) on %s: %.1f TFLOP/s%n", GEMM_N, GEMM_N, GEMM_N, dev, best);
        return new Reference("BF16 GEMM " + GEMM_N + "^3 (cuBLASLt)", best * 1e12);
    }

    /**
     * This machine's peaks measured now.
     *
     * @param f32Gflops   the best F32 GEMM rate (GFLOP/s), sizes 1024 and 2048
     * @param memoryGBps  streaming memory reads (GB/s) with the engine's threads: the bound on decoding; 0 if not measured
     */
    record Peaks(double f32Gflops, double memoryGBps) {}

    /** The F32 and BF16 GEMM rates, the 8-bit decode products' rate and the memory read rate of this build on this
     *  machine now, printed. */
    static Peaks peaks() {
        double best = 0, mem = 0;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment g = a.allocate(ValueLayout.JAVA_DOUBLE);
            for (long n : new long[] {1024, 2048}) {
                Native.check(panlora_h.pl_bench_sgemm(n, n >= 2048 ? 2 : 5, g), "pl_bench_sgemm");
                double v = g.get(ValueLayout.JAVA_DOUBLE, 0);
                System.out.printf("peak:    F32 GEMM %dx%dx%d: %.1f GFLOP/s%n", n, n, n, v);
                best = Math.max(best, v);
            }
            if (Native.cpuHasBf16()) {
                for (long n : new long[] {1024, 2048}) {
                    Native.check(panlora_h.pl_bench_bgemm(n, n >= 2048 ? 2 : 5, g), "pl_bench_bgemm");
                    System.out.printf("peak:    BF16 GEMM %dx%dx%d (AVX512-BF16, F32 sums): %.1f GFLOP/s%n", n, n, n, g.get(ValueLayout.JAVA_DOUBLE, 0));
                }
            } else {
                System.out.println("peak:    BF16 GEMM: this CPU has no AVX512-BF16");
            }
            if (panlora_h.pl_bench_peak(panlora_h.PL_PEAK_INT8(), 8L << 20, 5, g) == 0)
                System.out.printf(Locale.ROOT, "peak:    int8 dot products (the 8-bit decode path: Q8_0 rows of 4096 x 4 tokens, 8 MiB): %.1f GOP/s%n",
                        g.get(ValueLayout.JAVA_DOUBLE, 0));
            else
                System.out.println("peak:    int8 dot products: " + Native.lastError());
            Native.check(panlora_h.pl_bench_peak(panlora_h.PL_PEAK_MEMREAD(), 512L << 20, 3, g), "pl_bench_peak");
            mem = g.get(ValueLayout.JAVA_DOUBLE, 0);
            System.out.printf(Locale.ROOT, "peak:    memory reads (512 MiB streamed, %d threads): %.1f GB/s%n", Native.threads(), mem);
            System.out.println("matmul:  " + Native.matmul().name().toLowerCase(Locale.ROOT) + " (the base weights' products; --matmul f32|bf16|auto)");
        }
        return new Peaks(best, mem);
    }

    private List<String> types(boolean gpuTrain) {
        if (types != null && !types.isEmpty()) return types;
        return gpuTrain ? List.of("BF16", "Q4_K") : List.of("F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_K", "Q6_K");
    }

    private List<String> presets(boolean gpuTrain) {
        String p = preset != null ? preset : gpuTrain ? "125m" : "25m";
        List<String> out = new ArrayList<>();
        for (String s : p.split(",")) if (!s.isBlank()) out.add(s.trim());
        for (String s : out) Presets.byName(s); // unknown names fail before any work
        return out;
    }

    private void matmul(double peak) {
        int T = tokens != null ? tokens : 512;
        System.out.printf("%-6s %6s %6s %6s %10s %10s %8s%n", "type", "in", "out", "tokens", "ms/call", "GFLOP/s", "of peak");
        SplittableRandom rng = new SplittableRandom(1);
        for (long[] shape : new long[][] {{768, 768}, {768, 2048}, {2048, 768}}) {
            long in = shape[0], out = shape[1];
            float[] w = new float[Math.toIntExact(in * out)];
            for (int i = 0; i < w.length; i++) w[i] = (float) rng.nextGaussian() * 0.02f;
            for (String tn : types(false)) {
                GgmlType t = GgmlType.valueOf(tn.toUpperCase());
                try (Arena a = Arena.ofConfined()) {
                    MemorySegment ws = t == GgmlType.F32 ? a.allocateFrom(ValueLayout.JAVA_FLOAT, w) : Codec.quantize(t, w, a);
                    MemorySegment x = a.allocate(ValueLayout.JAVA_FLOAT, T * in);
                    for (long i = 0; i < T * in; i++) x.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) rng.nextGaussian());
                    MemorySegment y = a.allocate(ValueLayout.JAVA_FLOAT, T * out);
                    Native.check(panlora_h.pl_matmul(t.id(), ws, ws.byteSize(), in, out, x, T, y), "pl_matmul");
                    long t0 = System.nanoTime();
                    for (int r = 0; r < reps; r++)
                        Native.check(panlora_h.pl_matmul(t.id(), ws, ws.byteSize(), in, out, x, T, y), "pl_matmul");
                    double s = (System.nanoTime() - t0) / 1e9 / reps;
                    double gf = 2.0 * in * out * T / s / 1e9;
                    System.out.printf("%-6s %6d %6d %6d %10.2f %10.1f %7.0f%%%n", t, in, out, T, s * 1e3, gf, 100 * gf / peak);
                }
            }
        }
    }

    /** Random weights of a shape: i.i.d. for small CPU shapes (as before), tiled pools for CUDA or big shapes. */
    static Map<String, WeightTensor> weightsFor(LlamaConfig c, GgmlType t, Device dev, Arena a) {
        boolean tiled = dev.isCuda() || c.parameterCount(true) > 200_000_000L;
        return tiled ? ModelInit.tiledRandomWeights(c, t, 7, false, POOL_ROWS, a) : ModelInit.randomWeights(c, t, 7, false, a);
    }

    /** A model of random weights (see {@link #weightsFor}) owning their memory, which is freed at once if the engine refuses it. */
    static LlamaModel randomModel(LlamaConfig c, GgmlType t, Device dev, LlamaModel.LoadOptions where) {
        Arena a = Arena.ofShared();
        try {
            return LlamaModel.fromWeights(c, weightsFor(c, t, dev, a), a, where);
        } catch (RuntimeException | Error e) {
            a.close();
            throw e;
        }
    }

    private void forward(Device dev, Reference ref) {
        boolean gpu = dev.isCuda();
        String unit = gpu ? "TFLOP/s" : "GFLOP/s";
        double scale = gpu ? 1e12 : 1e9;
        for (String pn : presets(false)) {
            LlamaConfig c = Presets.byName(pn);
            System.out.printf("model:   preset %s: %s, %.1fM parameters%n", pn, Presets.describe(c), c.parameterCount(true) / 1e6);
            int T = (int) Math.min(tokens != null ? tokens : 512, c.nCtxTrain());
            System.out.printf("%-6s %8s %10s %10s %8s%n", "type", "tokens", "tokens/s", unit, "of peak");
            for (String tn : types(false)) {
                GgmlType t = GgmlType.valueOf(tn.toUpperCase());
                try (LlamaModel m = randomModel(c, t, dev, common.load(weights.placement()))) {
                    int[][] tok = new int[1][T];
                    SplittableRandom rng = new SplittableRandom(3);
                    for (int i = 0; i < T; i++) tok[0][i] = rng.nextInt((int) c.nVocab());
                    m.nll(tok, tok);
                    long t0 = System.nanoTime();
                    for (int r = 0; r < reps; r++) m.nll(tok, tok);
                    double s = (System.nanoTime() - t0) / 1e9 / reps;
                    double flops = forwardFlops(c, T);
                    System.out.printf("%-6s %8d %10.1f %10.1f %7.0f%%%n", t, T, T / s, flops / s / scale, 100 * flops / s / ref.flopsPerSecond());
                } catch (PanloraException e) {
                    if (!gpu) throw e;
                    System.out.printf("%-6s %s%n", t, (e.status() == panlora_h.PL_ERR_OUT_OF_MEMORY() ? "does not fit: " : "error: ") + e.getMessage());
                }
            }
        }
    }

    /** One row of 'train': a shape and a base type, with its measurement or why there is none. */
    record TrainRow(String preset, String type, long params, String status, String message, double secondsPerStep, double tokensPerSecond,
                    double flopsPerStep, double flopsPerSecond, double mfu, long peakMemory, long totalMemory) {}

    private int train(Device dev, Reference ref) throws IOException {
        boolean gpu = dev.isCuda();
        int B = batch != null ? batch : gpu ? 8 : 4;
        int tok = tokens != null ? tokens : gpu ? 2048 : 512;
        List<Target> tg = Target.parseList(targets != null ? targets : gpu ? "all" : "q,k,v,o");
        String tgNames = tg.stream().map(t -> t.shortName).collect(Collectors.joining(","));
        var where = common.load(weights.placement());
        System.out.printf("LoRA step: rank %d on %s, batch %d x %d tokens, recompute %s, device %s%n", rank, tgNames, B, tok, recompute, where);
        if (gpu) System.out.printf("weights: random rows, tiled (a pool of %d random rows per tensor kind, quantized once, repeated over each tensor)%n", POOL_ROWS);
        if (gpu) System.out.printf("%-6s %-6s %10s %10s %10s %8s %10s%n", "model", "base", "s/step", "tokens/s", "TFLOP/s", "MFU", "peak mem");
        else System.out.printf("%-6s %-6s %10s %10s %10s %8s %10s%n", "model", "base", "s/step", "tokens/s", "GFLOP/s", "of peak", "vs F32");
        List<TrainRow> rows = new ArrayList<>();
        boolean failed = false;
        for (String pn : presets(gpu)) {
            LlamaConfig c = Presets.byName(pn);
            int T = (int) Math.min(tok, c.nCtxTrain());
            double f32Time = Double.NaN;
            for (String tn : types(gpu)) {
                GgmlType t = GgmlType.valueOf(tn.toUpperCase());
                TrainRow row;
                try {
                    row = trainRow(pn, c, t, dev, where, B, T, tg, ref);
                } catch (PanloraException e) {
                    boolean fit = e.status() == panlora_h.PL_ERR_OUT_OF_MEMORY();
                    if (!gpu && !fit) throw e;
                    row = new TrainRow(pn, t.name(), c.parameterCount(true), fit ? "does_not_fit" : "error", e.getMessage(), Double.NaN, Double.NaN,
                            loraStepFlops(c, (long) B * T, T, rank, tg), Double.NaN, Double.NaN, 0, 0);
                } catch (OutOfMemoryError e) {
                    row = new TrainRow(pn, t.name(), c.parameterCount(true), "does_not_fit", "host memory: " + e.getMessage(), Double.NaN, Double.NaN,
                            loraStepFlops(c, (long) B * T, T, rank, tg), Double.NaN, Double.NaN, 0, 0);
                }
                rows.add(row);
                if (row.status().equals("error")) failed = true;
                if (!row.status().equals("ok")) {
                    System.out.printf("%-6s %-6s %s: %s%n", pn, t, row.status().equals("does_not_fit") ? "does not fit" : "error", row.message());
                } else if (gpu) {
                    System.out.printf(Locale.ROOT, "%-6s %-6s %10.3f %10.0f %10.1f %7.1f%% %6.1f GiB%n", pn, t, row.secondsPerStep(), row.tokensPerSecond(),
                            row.flopsPerSecond() / 1e12, 100 * row.mfu(), row.peakMemory() / (double) (1L << 30));
                } else {
                    if (t == GgmlType.F32) f32Time = row.secondsPerStep();
                    System.out.printf("%-6s %-6s %10.3f %10.0f %10.1f %7.0f%% %10s%n", pn, t, row.secondsPerStep(), row.tokensPerSecond(),
                            row.flopsPerSecond() / 1e9, 100 * row.mfu(), Double.isNaN(f32Time) ? "-" : String.format("%.2fx", row.secondsPerStep() / f32Time));
                }
                if (json != null) writeJson(json, dev, ref, where, B, T, tgNames, rows);
            }
        }
        System.out.println("FLOPs counted as DESIGN.md: 4·N_base·tokens (forward + input gradients, output layer included) + attention (3x forward) + LoRA terms;");
        System.out.println("MFU / of peak: against " + ref.label() + " measured above in this run.");
        if (json != null) System.out.println("json: " + json);
        if (failed) {
            System.err.println("panlora bench: error: a row failed (see above)");
            return 1;
        }
        return 0;
    }

    private TrainRow trainRow(String pn, LlamaConfig c, GgmlType t, Device dev, LlamaModel.LoadOptions where, int B, int T, List<Target> tg,
                              Reference ref) {
        LlamaModel m = randomModel(c, t, dev, where);
        try (m; LoraSet set = new LoraSet(m)) {
            LoraInit.addStandard(set, rank, 2f, tg, 1);
            set.attach();
            SplittableRandom rng = new SplittableRandom(3);
            int[][] tok = new int[B][T], tgt = new int[B][T];
            for (int b = 0; b < B; b++) for (int i = 0; i < T; i++) { tok[b][i] = rng.nextInt((int) c.nVocab()); tgt[b][i] = rng.nextInt((int) c.nVocab()); }
            try (StepEngine e = new StepEngine(m, B, T, StepEngine.Mode.LORA, recompute)) {
                e.zeroGrad();
                e.accumulate(tok, tgt, 1f / (B * T)); // warm-up
                e.adamw(1e-4f, 0.9f, 0.999f, 1e-8f, 0f, 1f);
                e.gradNorm(); // reads back: the device has finished the warm-up
                long t0 = System.nanoTime();
                for (int r = 0; r < reps; r++) {
                    e.zeroGrad();
                    e.accumulate(tok, tgt, 1f / (B * T));
                    e.adamw(1e-4f, 0.9f, 0.999f, 1e-8f, 0f, 1f);
                }
                e.gradNorm(); // and has finished the last AdamW step
                double s = (System.nanoTime() - t0) / 1e9 / reps;
                double flops = loraStepFlops(c, (long) B * T, T, rank, tg);
                LlamaModel.DeviceMemory mem = m.deviceMemory();
                return new TrainRow(pn, t.name(), c.parameterCount(true), "ok", null, s, B * T / s, flops, flops / s, flops / s / ref.flopsPerSecond(),
                        mem.peak(), mem.total());
            }
        }
    }

    private void writeJson(Path file, Device dev, Reference ref, LlamaModel.LoadOptions where, int B, int T, String tg, List<TrainRow> rows)
            throws IOException {
        StringBuilder j = new StringBuilder("{\n");
        j.append("  \"benchmark\": \"lora_train_step\",\n");
        j.append("  \"machine\": ").append(str(MachineInfo.describe())).append(",\n");
        j.append("  \"engine\": ").append(str(Native.buildInfo())).append(",\n");
        j.append("  \"threads\": ").append(Native.threads()).append(",\n");
        j.append("  \"device\": ").append(str(dev.toString())).append(",\n");
        j.append("  \"device_info\": ").append(str(dev.isCuda() ? dev.describe() : "cpu")).append(",\n");
        j.append("  \"weights\": ").append(str(where.placement().toString())).append(",\n");
        j.append("  \"weights_init\": ").append(str(dev.isCuda() ? "random rows, tiled (" + POOL_ROWS + "-row pool per tensor kind)" : "random")).append(",\n");
        j.append("  \"reference\": {\"what\": ").append(str(ref.label())).append(", \"tflops\": ").append(num(ref.flopsPerSecond() / 1e12)).append("},\n");
        j.append("  \"config\": {\"batch\": ").append(B).append(", \"tokens\": ").append(T).append(", \"rank\": ").append(rank)
                .append(", \"alpha\": ").append(2 * rank).append(", \"targets\": ").append(str(tg)).append(", \"reps\": ").append(reps)
                .append(", \"recompute\": ").append(recompute).append("},\n");
        j.append("  \"flops_formula\": \"4*N_base*tokens + attention (3x causal forward) + LoRA 6*r*(in+out)*tokens per slot\",\n");
        j.append("  \"rows\": [");
        for (int i = 0; i < rows.size(); i++) {
            TrainRow r = rows.get(i);
            j.append(i == 0 ? "\n" : ",\n").append("    {\"preset\": ").append(str(r.preset())).append(", \"type\": ").append(str(r.type()))
                    .append(", \"params\": ").append(r.params()).append(", \"status\": ").append(str(r.status()))
                    .append(", \"message\": ").append(r.message() == null ? "null" : str(r.message()))
                    .append(", \"s_per_step\": ").append(num(r.secondsPerStep())).append(", \"tokens_per_s\": ").append(num(r.tokensPerSecond()))
                    .append(", \"flops_per_step\": ").append(num(r.flopsPerStep())).append(", \"tflops\": ").append(num(r.flopsPerSecond() / 1e12))
                    .append(", \"mfu\": ").append(num(r.mfu())).append(", \"peak_memory_bytes\": ").append(r.peakMemory())
                    .append(", \"peak_gib\": ").append(r.peakMemory() > 0 ? num(r.peakMemory() / (double) (1L << 30)) : "null")
                    .append(", \"device_memory_bytes\": ").append(r.totalMemory()).append(", \"batch\": ").append(B)
                    .append(", \"tokens\": ").append(T).append("}");
        }
        j.append("\n  ]\n}\n");
        Path abs = file.toAbsolutePath();
        if (abs.getParent() != null) Files.createDirectories(abs.getParent());
        Path tmp = abs.resolveSibling(abs.getFileName() + ".tmp");
        Files.writeString(tmp, j);
        Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    private static String num(double v) {
        return Double.isFinite(v) ? String.format(Locale.ROOT, "%.6g", v) : "null";
    }

    static String str(String s) {
        return io.panlora.data.JsonValue.quote(s);
    }

    /**
     * FLOPs of one LoRA step, the one formula of every device: 4·N·tokens for the base matrices (forward and input gradients,
     * output layer included), attention forward+backward ≈ 3× its causal forward, and 6·r·(in+out)·tokens per adapted linear.
     */
    static double loraStepFlops(LlamaConfig c, long tokens, long T, int rank, List<Target> targets) {
        double q = c.nHead() * c.headDim(), kv = c.nHeadKv() * c.headDim();
        double matrices = c.nLayer() * (c.nEmbd() * (q + 2 * kv) + q * c.nEmbd() + 3.0 * c.nEmbd() * c.nFf()) + c.nEmbd() * c.nVocab();
        double attn = c.nLayer() * 2.0 * T * T * q * (tokens / (double) T) * 3;
        double perLayer = 0;
        for (Target t : targets) perLayer += t.in(c) + t.out(c);
        double lora = c.nLayer() * 6.0 * rank * perLayer * tokens;
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
