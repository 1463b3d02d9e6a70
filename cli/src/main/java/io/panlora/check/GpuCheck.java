package io.panlora.check;

import io.panlora.data.Dataset;
import io.panlora.data.Packer;
import io.panlora.data.ReadOptions;
import io.panlora.gguf.GgmlType;
import io.panlora.lora.AdapterGguf;
import io.panlora.lora.LoraSet;
import io.panlora.model.Device;
import io.panlora.model.KvCache;
import io.panlora.model.LlamaModel;
import io.panlora.model.TokenizerLoader;
import io.panlora.model.WeightKind;
import io.panlora.model.WeightPlacement;
import io.panlora.model.WeightTensor;
import io.panlora.prune.Shapley;
import io.panlora.tensor.Codec;
import io.panlora.tokenizer.Tokenizer;
import io.panlora.train.BatchSource;
import io.panlora.train.DatasetBatches;
import io.panlora.train.LoraRun;
import io.panlora.train.LrSchedule;
import io.panlora.train.StepEngine;
import io.panlora.train.TrainConfig;
import io.panlora.train.TrainHook;
import io.panlora.train.Trainer;
import io.panlora.train.TrainingStrategy;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import io.panlora.variants.VariantSettings;
import io.panlora.variants.VariantType;
import io.panlora.variants.Variants;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.Supplier;

/**
 * The GPU self-test ({@code panlora gpu-check}): a CUDA device against the CPU on a small real model, through the same Java
 * code paths the CLI uses (LlamaModel, KvCache, Trainer, LoraRun with the variants, AdapterGguf, StepEngine in FULL mode,
 * Shapley). Each check prints {@code PASS name: details} or {@code FAIL name: details}; an exception fails its check only.
 *
 * <p>Tolerances: "bf16" is the default weight placement (BF16 weights on the device, F32 accumulation), "f32" the F32
 * reference placement. Logits: max |Δ| / max |logit| below 2e-2 (bf16) and 1e-4 (f32); mean NLL within 1e-2 / 1e-5 nats;
 * KV-cache decoding against the same model's full forward as logits; per-step training losses within 2 % / 1e-3 relative;
 * FULL-mode weight gradients within 1e-3 relative (f32).
 *
 * <p>With {@code device} = the CPU the check compares the CPU with itself: a test of the check (it runs without a GPU).
 */
public final class GpuCheck {
    /** Data order, LoRA init and Shapley permutations. */
    static final long SEED = 1234;
    static final int BATCH = 4, CTX = 128;

    /**
     * @param model  a small GGUF model (stories260K)
     * @param data   a training text (tinyshakespeare); its first 300 KB are used, the last 10 % of their windows held out
     * @param steps  LoRA steps of the training comparison (d)
     * @param work   a directory for the exported adapters and runs
     * @param out    where the PASS/FAIL lines go
     * @param quick  inference, training, the adapter on the CPU and FULL-mode gradients only: no Shapley ranking and no
     *               variants (for slow devices such as the CPU emulation of the CUDA backend)
     */
    public record Options(Path model, Path data, Device device, int steps, Path work, PrintStream out, boolean quick) {
        public Options {
            if (steps < 4) throw new IllegalArgumentException("--steps must be at least 4, got " + steps);
        }

        /** Every check. */
        public Options(Path model, Path data, Device device, int steps, Path work, PrintStream out) {
            this(model, data, device, steps, work, out, false);
        }
    }

    /** Counts of the checks. */
    public record Outcome(int passed, int failed, List<String> failures) {
        public boolean ok() { return failed == 0; }
    }

    /** A check's verdict and a line of numbers. */
    record Verdict(boolean ok, String details) {}

    /** A placement under test and its tolerances. */
    record Mode(String name, WeightPlacement placement, double logits, double nll, double trainLoss, double shapley) {}

    static final Mode BF16 = new Mode("bf16", WeightPlacement.AUTO, 2e-2, 1e-2, 2e-2, 2e-2);
    static final Mode F32 = new Mode("f32", WeightPlacement.F32, 1e-4, 1e-5, 1e-3, 2e-5);

    private final Options o;
    private final PrintStream out;
    private int passed, failed;
    private final List<String> failures = new ArrayList<>();
    private Tokenizer tok;
    private Path trainText;
    private Dataset ds;
    private List<BatchSource.Batch> val;

    private GpuCheck(Options o) {
        this.o = o;
        this.out = o.out();
    }

    /** Runs every check; never throws for a failed check (see the outcome). */
    public static Outcome run(Options o) throws IOException {
        return new GpuCheck(o).runAll();
    }

    private Outcome runAll() throws IOException {
        Files.createDirectories(o.work());
        long t0 = System.nanoTime();
        try (LlamaModel cpu = LlamaModel.load(o.model())) {
            tok = TokenizerLoader.fromGguf(cpu.gguf().orElseThrow());
            String text = Files.readString(o.data());
            trainText = o.work().resolve("train.txt");
            Files.writeString(trainText, text.substring(0, Math.min(text.length(), 300_000)));
            ds = Dataset.load(trainText, null, tok, ReadOptions.defaults(), new Packer(CTX, false, Packer.padIdFor(tok)), 0.1, SEED);
            val = DatasetBatches.validation(ds, BATCH, 4);
            out.printf("gpu-check: %s against the CPU; model %s (%s), data %s (%d training windows of %d tokens, %d held-out batches of %d)%n",
                    o.device(), o.model(), String.format(Locale.ROOT, "%.2fM parameters", cpu.config().parameterCount(false) / 1e6), o.data(),
                    ds.train().size(), CTX, val.size(), BATCH);
            int[] tokens = firstTokens(text, 64);
            for (Mode mode : List.of(BF16, F32)) inference(cpu, mode, tokens);
            training(cpu);
            if (!o.quick()) variants();
            fullGradients(cpu);
        }
        out.printf(Locale.ROOT, "gpu-check: %.1f s%n", (System.nanoTime() - t0) / 1e9);
        out.printf("%d passed, %d failed%n", passed, failed);
        return new Outcome(passed, failed, failures);
    }

    private void check(String name, Callable<Verdict> body) {
        Verdict v;
        long t0 = System.nanoTime();
        try {
            v = body.call();
        } catch (Exception | Error e) {
            String msg = e.getMessage() != null ? e.getMessage() : e.toString();
            v = new Verdict(false, e.getClass().getSimpleName() + ": " + msg.replace('\n', ' '));
        }
        out.println((v.ok() ? "PASS " : "FAIL ") + name + ": " + v.details()
                + String.format(Locale.ROOT, " [%.1f s]", (System.nanoTime() - t0) / 1e9));
        out.flush();
        if (v.ok()) passed++;
        else { failed++; failures.add(name); }
    }

    private void failAll(Exception e, String... names) {
        for (String n : names) check(n, () -> { throw e; });
    }

    private LlamaModel onDevice(Mode mode) throws IOException {
        return LlamaModel.load(o.model(), new LlamaModel.LoadOptions(o.device(), mode.placement()));
    }

    private int[] firstTokens(String text, int n) {
        int[] ids = tok.encode(text.substring(0, Math.min(text.length(), 4000)), true, false);
        if (ids.length < n) throw new IllegalArgumentException(o.data() + ": fewer than " + n + " tokens");
        return Arrays.copyOf(ids, n);
    }

    /** (a) logits, (b) mean NLL against the CPU, (c) KV-cache decoding against the device's own full forward. */
    private void inference(LlamaModel cpu, Mode mode, int[] tokens) {
        LlamaModel dev;
        try {
            dev = onDevice(mode);
        } catch (IOException | RuntimeException e) {
            failAll(new IllegalStateException("loading the model on " + o.device() + " with weights " + mode.placement() + ": " + e.getMessage(), e),
                    "logits-" + mode.name(), "nll-" + mode.name(), "kv-decode-" + mode.name());
            return;
        }
        try (dev) {
            check("logits-" + mode.name(), () -> {
                float[] a = cpu.logits(new int[][] {tokens}), b = dev.logits(new int[][] {tokens});
                double rel = relMaxDiff(a, b);
                return new Verdict(rel < mode.logits(), String.format(Locale.ROOT, "%d tokens, max |Δ| / max |logit| = %.2e (< %.0e; max |logit| %.3f)",
                        tokens.length, rel, mode.logits(), maxAbs(a)));
            });
            check("nll-" + mode.name(), () -> {
                double a = Trainer.evaluate(cpu, val), b = Trainer.evaluate(dev, val);
                return new Verdict(Math.abs(a - b) < mode.nll(), String.format(Locale.ROOT,
                        "held-out mean NLL cpu %.6f, %s %.6f, |Δ| = %.2e (< %.0e)", a, o.device(), b, Math.abs(a - b), mode.nll()));
            });
            check("kv-decode-" + mode.name(), () -> {
                float[] full = dev.logits(new int[][] {tokens});
                int nV = (int) dev.config().nVocab();
                float[] last = Arrays.copyOfRange(full, (tokens.length - 1) * nV, tokens.length * nV);
                float[] dec;
                try (KvCache cache = dev.newKvCache(tokens.length)) {
                    int half = tokens.length / 2;
                    cache.decode(Arrays.copyOf(tokens, half));
                    dec = null;
                    for (int i = half; i < tokens.length; i++) dec = cache.decode(tokens[i]);
                }
                double rel = relMaxDiff(last, dec);
                return new Verdict(rel < mode.logits(), String.format(Locale.ROOT,
                        "prefill %d + %d single tokens vs full forward, last logits max |Δ| / max |logit| = %.2e (< %.0e)",
                        tokens.length / 2, tokens.length - tokens.length / 2, rel, mode.logits()));
            });
        }
    }

    /** A LoRA run's per-step losses and held-out NLL. */
    record Run(List<Double> losses, double heldOut, Path adapter) {}

    private TrainConfig loraConfig(int steps, float lr, LrSchedule.Kind schedule) {
        return TrainConfig.builder().lora(8, 16f).targets("all").lr(lr, schedule, 0, 0f).steps(steps).batch(BATCH, CTX, 1).seed(SEED)
                .eval(0, 4).checkpointEvery(0).build();
    }

    /** Plain LoRA, rank 8, all targets, lr 1e-3 constant, on the CPU or the device; exports the adapter (F32) when asked. */
    private Run train(LlamaModel.LoadOptions where, Path export) throws IOException {
        TrainConfig cfg = loraConfig(o.steps(), 1e-3f, LrSchedule.Kind.CONSTANT);
        try (LlamaModel m = LlamaModel.load(o.model(), where); LoraSet set = new LoraSet(m)) {
            TrainingStrategy.LORA.addSlots(set, cfg);
            set.attach();
            List<Double> losses = new ArrayList<>();
            Trainer tr = new Trainer(m, set, cfg, new DatasetBatches(ds, BATCH, SEED), val, null, null);
            tr.addHook(new TrainHook() {
                @Override
                public void afterStep(Trainer t, int step) { losses.add(t.lastLoss()); }
            });
            Trainer.Result r = tr.run(false);
            if (export != null) AdapterGguf.write(export, set, m.config(), GgmlType.F32, "panlora-gpu-check");
            return new Run(losses, r.valAfter(), export);
        }
    }

    /** (d) per-step losses CPU vs device (bf16, f32) and the loss falling; (e) the device's adapter on the CPU; (h) Shapley ranking. */
    private void training(LlamaModel cpuBase) {
        Run cpu, bf16 = null, f32 = null;
        Exception bf16Error = null, f32Error = null;
        try {
            cpu = train(LlamaModel.LoadOptions.cpu(), o.work().resolve("adapter-cpu.gguf"));
        } catch (IOException | RuntimeException e) {
            failAll(new IllegalStateException("the CPU run failed: " + e.getMessage(), e), "train-bf16", "train-f32", "train-loss-falls",
                    "adapter-on-cpu", "shapley-ranking");
            return;
        }
        try {
            bf16 = train(new LlamaModel.LoadOptions(o.device(), BF16.placement()), o.work().resolve("adapter-device.gguf"));
        } catch (IOException | RuntimeException e) {
            bf16Error = e;
        }
        try {
            f32 = train(new LlamaModel.LoadOptions(o.device(), F32.placement()), null);
        } catch (IOException | RuntimeException e) {
            f32Error = e;
        }
        Run b = bf16, f = f32;
        Exception be = bf16Error, fe = f32Error;
        check("train-bf16", () -> lossesAgree(cpu, b, be, BF16));
        check("train-f32", () -> lossesAgree(cpu, f, fe, F32));
        check("train-loss-falls", () -> {
            if (b == null) throw be;
            List<Double> l = b.losses();
            double first = l.get(0), last = l.subList(l.size() - 3, l.size()).stream().mapToDouble(Double::doubleValue).average().orElseThrow();
            return new Verdict(first - last > 0.3, String.format(Locale.ROOT,
                    "%s (bf16) loss %.4f at step 1 -> %.4f (mean of the last 3 of %d steps): fell %.3f nats (> 0.3); held-out %.4f",
                    o.device(), first, last, l.size(), first - last, b.heldOut()));
        });
        check("adapter-on-cpu", () -> {
            if (b == null) throw be;
            try (LoraSet set = new LoraSet(cpuBase)) {
                int pairs = AdapterGguf.load(b.adapter(), set, 1f);
                set.attach();
                double onCpu = Trainer.evaluate(cpuBase, val);
                set.detach();
                double d = Math.abs(onCpu - b.heldOut());
                return new Verdict(d < BF16.nll(), String.format(Locale.ROOT,
                        "F32 adapter exported on %s (%d tensor pairs): held-out NLL %.6f there, %.6f on the CPU, |Δ| = %.2e (< %.0e)",
                        o.device(), pairs, b.heldOut(), onCpu, d, BF16.nll()));
            }
        });
        if (!o.quick()) check("shapley-ranking", () -> shapley(cpuBase, o.work().resolve("adapter-cpu.gguf")));
    }

    private Verdict lossesAgree(Run cpu, Run dev, Exception error, Mode mode) throws Exception {
        if (dev == null) throw error;
        double worst = 0;
        int at = 1;
        for (int i = 0; i < cpu.losses().size(); i++) {
            double rel = Math.abs(dev.losses().get(i) - cpu.losses().get(i)) / Math.abs(cpu.losses().get(i));
            if (rel > worst) { worst = rel; at = i + 1; }
        }
        int n = cpu.losses().size();
        return new Verdict(worst < mode.trainLoss(), String.format(Locale.ROOT,
                "%d LoRA steps (rank 8, all targets, %d x %d, lr 1e-3, seed %d): losses cpu %.4f -> %.4f, %s %.4f -> %.4f; max relative |Δ| %.2e at step %d (< %.0e)",
                n, BATCH, CTX, SEED, cpu.losses().get(0), cpu.losses().get(n - 1), o.device(), dev.losses().get(0), dev.losses().get(n - 1), worst, at,
                mode.trainLoss()));
    }

    /** (h) Shapley values of the layers' adapters (as prune --method shapley computes them) on the CPU and the device. */
    private Verdict shapley(LlamaModel cpuBase, Path adapter) throws IOException {
        int perms = 3;
        Shapley.Values onCpu, onDev;
        try (LoraSet set = new LoraSet(cpuBase)) {
            AdapterGguf.load(adapter, set, 1f);
            set.attach();
            onCpu = Shapley.estimate(cpuBase, set, val, perms, SEED);
            set.detach();
        }
        try (LlamaModel dev = onDevice(BF16); LoraSet set = new LoraSet(dev)) {
            AdapterGguf.load(adapter, set, 1f);
            set.attach();
            onDev = Shapley.estimate(dev, set, val, perms, SEED);
        }
        int[] rc = ranking(onCpu.mean()), rd = ranking(onDev.mean());
        double worst = 0;
        for (int l = 0; l < rc.length; l++) worst = Math.max(worst, Math.abs(onCpu.mean()[l] - onDev.mean()[l]));
        boolean same = Arrays.equals(rc, rd);
        String details = String.format(Locale.ROOT, "%d permutations; layers by value cpu %s, %s %s; max |Δ value| %.2e (tolerance %.0e)",
                perms, Arrays.toString(rc), o.device(), Arrays.toString(rd), worst, BF16.shapley());
        return new Verdict(same || worst < BF16.shapley(), details + (same ? "" : "; rankings differ only between values within the tolerance"));
    }

    private static int[] ranking(double[] v) {
        Integer[] order = new Integer[v.length];
        for (int i = 0; i < v.length; i++) order[i] = i;
        Arrays.sort(order, (x, y) -> Double.compare(v[x], v[y]));
        return Arrays.stream(order).mapToInt(Integer::intValue).toArray();
    }

    /** (f) each variant trains a few steps on the device through LoraRun and lowers the held-out loss. */
    private void variants() {
        int steps = 10;
        Map<String, Supplier<TrainingStrategy>> all = new LinkedHashMap<>();
        // every registered variant but plain LoRA (checked above), at its defaults; COLA with 2 links and LoRASC with 2
        // cascade iterations so that a knot / a slow update happens within the few steps
        Map<String, Map<String, String>> shorter = Map.of("cola", Map.of("cola-links", "2"), "lorasc", Map.of("lorasc-every", Integer.toString(steps / 2)));
        for (VariantType t : Variants.all())
            if (!t.name().equals("lora"))
                all.put(t.name(), () -> t.create(VariantSettings.of(t, shorter.getOrDefault(t.name(), Map.of()), steps, SEED)));
        for (var e : all.entrySet()) {
            check("variant-" + e.getKey(), () -> {
                TrainConfig cfg = loraConfig(steps, 3e-3f, LrSchedule.Kind.COSINE);
                long t0 = System.nanoTime();
                LoraRun.Summary s = LoraRun.run(new LoraRun.Options(o.model(), trainText, null, 0.1, cfg, 0, ReadOptions.defaults(), GgmlType.F32,
                        o.work().resolve("variant-" + e.getKey()), false, null, e.getValue().get(),
                        new LlamaModel.LoadOptions(o.device(), BF16.placement())));
                Trainer.Result r = s.result();
                boolean ok = Double.isFinite(r.valAfter()) && r.valAfter() < r.valBefore() && Double.isFinite(r.lastLoss());
                return new Verdict(ok, String.format(Locale.ROOT, "%d steps on %s in %.1f s: held-out loss %.4f -> %.4f, train loss %.4f -> %.4f",
                        r.steps(), o.device(), (System.nanoTime() - t0) / 1e9, r.valBefore(), r.valAfter(), r.firstLoss(), r.lastLoss()));
            });
        }
    }

    /** (g) one FULL-mode step (every weight trainable) on F32 copies of the model: weight gradients CPU vs device (f32). */
    private void fullGradients(LlamaModel cpuBase) {
        check("full-grad-f32", () -> {
            var c = cpuBase.config();
            BatchSource.Batch b = val.get(0);
            long count = b.targetCount();
            List<String> names = List.of("token_embd.weight", "output.weight", "output_norm.weight", "blk.0.attn_q.weight", "blk.0.attn_norm.weight",
                    "blk." + (c.nLayer() / 2) + ".attn_v.weight", "blk." + (c.nLayer() - 1) + ".ffn_down.weight", "blk." + (c.nLayer() - 1) + ".ffn_gate.weight");
            Map<String, float[]> gc = new HashMap<>(), gd = new HashMap<>();
            double[] loss = new double[2];
            int i = 0;
            for (LlamaModel.LoadOptions where : List.of(LlamaModel.LoadOptions.cpu(), new LlamaModel.LoadOptions(o.device(), F32.placement()))) {
                Arena arena = Arena.ofShared();
                LlamaModel m;
                try {
                    m = LlamaModel.fromWeights(c, f32Copy(cpuBase, arena), arena, where);
                } catch (RuntimeException e) {
                    arena.close();
                    throw e;
                }
                try (m; StepEngine e = new StepEngine(m, b.inputs().length, b.inputs()[0].length, StepEngine.Mode.FULL, false)) {
                    e.zeroGrad();
                    loss[i] = e.accumulate(b.inputs(), b.targets(), 1f / count).sum() / count;
                    for (String n : names) {
                        WeightTensor w = m.weights().get(n);
                        if (w == null) continue;
                        WeightKind k = kindOf(n);
                        (i == 0 ? gc : gd).put(n, e.weightGrad(k, layerOf(n), w.ne0() * w.ne1()));
                    }
                }
                i++;
            }
            double worst = 0;
            String worstName = gc.keySet().iterator().next();
            for (String n : gc.keySet()) {
                double rel = relMaxDiff(gc.get(n), gd.get(n));
                if (rel > worst) { worst = rel; worstName = n; }
            }
            return new Verdict(worst < 1e-3, String.format(Locale.ROOT,
                    "one FULL step on F32 copies, %d x %d tokens: loss cpu %.6f, %s %.6f; gradients of %d tensors, max |Δ| / max |g| = %.2e (%s; < 1e-3)",
                    b.inputs().length, b.inputs()[0].length, loss[0], o.device(), loss[1], gc.size(), worst, worstName));
        });
    }

    /** Writable F32 copies of every weight of a model. */
    private static Map<String, WeightTensor> f32Copy(LlamaModel m, Arena arena) {
        Map<String, WeightTensor> w = new HashMap<>();
        for (var e : m.weights().entrySet()) {
            WeightTensor t = e.getValue();
            long n = t.ne0() * t.ne1();
            MemorySegment seg = arena.allocate(ValueLayout.JAVA_FLOAT, n);
            Codec.dequantize(t.type(), t.data(), n, seg);
            w.put(e.getKey(), new WeightTensor(GgmlType.F32, t.ne0(), t.ne1(), seg));
        }
        return w;
    }

    private static WeightKind kindOf(String name) {
        String suffix = name.startsWith("blk.") ? name.substring(name.indexOf('.', 4) + 1) : name;
        for (WeightKind k : WeightKind.values()) if (k.suffix.equals(suffix)) return k;
        throw new IllegalArgumentException("no weight kind for " + name);
    }

    private static int layerOf(String name) {
        return name.startsWith("blk.") ? Integer.parseInt(name.substring(4, name.indexOf('.', 4))) : -1;
    }

    static double maxAbs(float[] a) {
        double m = 0;
        for (float v : a) m = Math.max(m, Math.abs(v));
        return m;
    }

    /** max |a − b| / max |a| (NaN anywhere gives +∞). */
    static double relMaxDiff(float[] a, float[] b) {
        if (a.length != b.length) throw new IllegalArgumentException("lengths differ: " + a.length + " vs " + b.length);
        double d = 0;
        for (int i = 0; i < a.length; i++) {
            double x = Math.abs((double) a[i] - b[i]);
            if (Double.isNaN(x)) return Double.POSITIVE_INFINITY;
            d = Math.max(d, x);
        }
        double m = maxAbs(a);
        return m == 0 ? d : d / m;
    }

    /**
     * A file of the shared data: {@code shared/data/NAME} in the repository's parent (../shared/data beside the checkout) or in the
     * repository, searched from panlora.home, the working directory and the jar's directory upwards; null when absent.
     */
    public static Path findSharedData(String name) {
        List<Path> starts = new ArrayList<>();
        String home = System.getProperty("panlora.home");
        if (home != null && !home.isBlank()) starts.add(Path.of(home));
        starts.add(Path.of(""));
        try {
            var src = GpuCheck.class.getProtectionDomain().getCodeSource();
            if (src != null) starts.add(Path.of(src.getLocation().toURI()).getParent());
        } catch (Exception ignored) {
            // no code source: the other starts stand
        }
        for (Path s : starts) {
            if (s == null) continue;
            for (Path p = s.toAbsolutePath().normalize(); p != null; p = p.getParent()) {
                Path inRepo = p.resolve("shared").resolve("data").resolve(name);
                if (Files.isRegularFile(inRepo)) return inRepo;
                if (p.getParent() != null) {
                    Path beside = p.resolveSibling("shared").resolve("data").resolve(name);
                    if (Files.isRegularFile(beside)) return beside;
                }
            }
        }
        return null;
    }
}
