package io.panlora.train;

import io.panlora.bindings.PanloraException;
import io.panlora.lora.LoraSet;
import io.panlora.model.LlamaModel;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * The training loop: micro-batches with gradient accumulation, global-norm clipping, AdamW with a learning-rate
 * schedule, periodic validation, atomic checkpoints and resume, metrics JSONL and a loss plot, NaN/Inf detection.
 * Strategies (LoRA variants) plug in as {@link TrainHook}s.
 */
public final class Trainer {
    /** Thrown when the loss or the gradients stop being finite; the last good checkpoint is kept. */
    public static final class DivergedException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        DivergedException(String msg, Throwable cause) {
            super(msg, cause);
        }
    }

    /** What a run did. */
    public record Result(int steps, double firstLoss, double lastLoss, double valBefore, double valAfter, Path metrics, Path plot) {}

    private final LlamaModel model;
    private final LoraSet lora;
    private final TrainConfig cfg;
    private final BatchSource data;
    private final List<BatchSource.Batch> val;
    private final Path outDir;
    private final List<TrainHook> hooks = new ArrayList<>();
    private final PrintStream progress;
    private StepEngine engine;
    private int step;
    private double lastLoss = Double.NaN;

    /**
     * @param lora   the adapter to train (attached to model), or null in FULL mode
     * @param val    validation batches (may be empty)
     * @param outDir where metrics, plot and checkpoints go (null: nothing written)
     */
    public Trainer(LlamaModel model, LoraSet lora, TrainConfig cfg, BatchSource data, List<BatchSource.Batch> val, Path outDir,
                   PrintStream progress) {
        this.model = model;
        this.lora = lora;
        this.cfg = cfg;
        this.data = data;
        this.val = val;
        this.outDir = outDir;
        this.progress = progress;
        if (cfg.mode() == StepEngine.Mode.LORA && lora == null) throw new IllegalArgumentException("LoRA training needs an adapter");
    }

    public Trainer addHook(TrainHook h) {
        hooks.add(h);
        return this;
    }

    public LlamaModel model() { return model; }

    public LoraSet lora() { return lora; }

    /** The validation batches (possibly empty). */
    public List<BatchSource.Batch> validationBatches() { return val; }

    /** The run directory (null when nothing is written). */
    public Path outDir() { return outDir; }

    /** Where progress goes (may be null). */
    public PrintStream progress() { return progress; }

    public TrainConfig config() { return cfg; }

    /** The step about to run (or the number done, after the run). */
    public int step() { return step; }

    public double lastLoss() { return lastLoss; }

    /** The step engine (recreated when the adapter's slots change: call {@link #slotsChanged()}). */
    public StepEngine engine() { return engine; }

    /** Tells the trainer the adapter gained slots: the engine's buffers are rebuilt before the next step. */
    public void slotsChanged() {
        if (engine != null) engine.close();
        engine = null;
    }

    /** A key of everything that must match for a checkpoint to be resumed. */
    public String configKey() {
        return cfg.toString() + " model=" + model.config() + " hooks=" + hooks;
    }

    /** Mean NLL per counted target over the validation batches (with the adapter as it is now). */
    public double evaluate() {
        return evaluate(model, val);
    }

    /** Mean NLL per counted target of a model over batches. */
    public static double evaluate(LlamaModel model, List<BatchSource.Batch> batches) {
        double sum = 0;
        long n = 0;
        for (BatchSource.Batch b : batches) {
            float[] nll = model.nll(b.inputs(), b.targets());
            for (int s = 0; s < b.targets().length; s++)
                for (int t = 0; t < b.targets()[s].length; t++)
                    if (b.targets()[s][t] >= 0) { sum += nll[s * b.targets()[s].length + t]; n++; }
        }
        return n == 0 ? Double.NaN : sum / n;
    }

    /** Runs to cfg.steps(), from the checkpoint in outDir when resume is set and one exists. */
    public Result run(boolean resume) throws IOException {
        step = 0;
        if (outDir != null) Files.createDirectories(outDir);
        if (resume) {
            if (outDir == null || !Checkpoint.exists(outDir))
                throw new IOException("--resume: no checkpoint in " + outDir + " (expected " + Checkpoint.FILE + ")");
            Checkpoint.State st = Checkpoint.load(outDir, lora, configKey());
            step = st.step();
            data.seek(st.dataPosition());
            long[] hs = st.hookState();
            int off = 0;
            for (TrainHook h : hooks)
                if (h instanceof StatefulHook sh) {
                    int n = sh.state().length; // each hook's state has a fixed length
                    if (off + n > hs.length) throw new IOException("--resume: the checkpoint's hook state is shorter than the hooks need");
                    sh.restore(java.util.Arrays.copyOfRange(hs, off, off + n));
                    off += n;
                }
            for (TrainHook h : hooks) if (h instanceof TensorStateHook th) th.restoreTensorState(st.hookTensors());
            if (progress != null) progress.printf("resuming at step %d from %s%n", step, outDir.resolve(Checkpoint.FILE));
        }
        MetricsLog log = outDir == null ? null : new MetricsLog(outDir.resolve("metrics.jsonl"), resume ? step : -1);
        Path plot = outDir == null ? null : outDir.resolve("loss.png");
        double valBefore = Double.NaN, firstLoss = Double.NaN;
        try {
            if (!val.isEmpty() && !resume) {
                valBefore = evaluate();
                if (log != null) log.validation(0, valBefore);
                if (progress != null) progress.printf("validation loss before training: %.4f (ppl %.2f)%n", valBefore, Math.exp(valBefore));
            }
            long t0 = System.nanoTime();
            long tokensDone = 0;
            int startStep = step;
            for (; step < cfg.steps(); step++) {
                for (TrainHook h : hooks) h.beforeStep(this, step);
                if (engine == null) engine = new StepEngine(model, cfg.batch(), cfg.ctx(), cfg.mode(), cfg.recompute());
                List<BatchSource.Batch> micro = new ArrayList<>(cfg.gradAccum());
                long counted = 0;
                for (int i = 0; i < cfg.gradAccum(); i++) {
                    BatchSource.Batch b = data.next();
                    micro.add(b);
                    counted += b.targetCount();
                }
                engine.zeroGrad();
                double lossSum = 0;
                float scale = counted == 0 ? 0f : 1f / counted;
                try {
                    for (BatchSource.Batch b : micro) lossSum += engine.accumulate(b.inputs(), b.targets(), scale).sum();
                } catch (PanloraException e) {
                    throw diverged("the loss is not finite", e);
                }
                double loss = counted == 0 ? 0 : lossSum / counted;
                double norm = engine.gradNorm();
                if (!Double.isFinite(norm)) throw diverged("the gradient norm is " + norm, null);
                float clip = cfg.maxGradNorm() > 0 && norm > cfg.maxGradNorm() ? (float) (cfg.maxGradNorm() / norm) : 1f;
                float lr = LrSchedule.at(cfg.schedule(), cfg.lr(), step, cfg.steps(), cfg.warmupSteps(), cfg.minLrRatio());
                engine.adamw(lr, cfg.beta1(), cfg.beta2(), cfg.eps(), cfg.weightDecay(), clip);
                lastLoss = loss;
                if (Double.isNaN(firstLoss)) firstLoss = loss;
                tokensDone += (long) cfg.gradAccum() * cfg.batch() * cfg.ctx();
                double elapsed = (System.nanoTime() - t0) / 1e9;
                double tps = tokensDone / elapsed;
                for (TrainHook h : hooks) h.afterStep(this, step);
                if (log != null) log.step(step + 1, loss, lr, norm, tokensDone, tps, elapsed);
                if (progress != null) {
                    double eta = (cfg.steps() - step - 1) * elapsed / (step + 1 - startStep);
                    progress.printf(Locale.ROOT, "\rstep %d/%d | loss %.4f | lr %.2e | %.0f tok/s | ETA %s   ", step + 1, cfg.steps(), loss, lr, tps,
                            formatTime(eta));
                    progress.flush();
                }
                boolean last = step + 1 == cfg.steps();
                if (!val.isEmpty() && cfg.evalEvery() > 0 && ((step + 1) % cfg.evalEvery() == 0 || last)) {
                    double v = evaluate();
                    if (log != null) log.validation(step + 1, v);
                    if (progress != null) progress.printf(Locale.ROOT, "%nstep %d: validation loss %.4f (ppl %.2f)%n", step + 1, v, Math.exp(v));
                }
                if (outDir != null && lora != null && cfg.checkpointEvery() > 0 && ((step + 1) % cfg.checkpointEvery() == 0 || last))
                {
                    Checkpoint.save(outDir, lora, new Checkpoint.State(step + 1, data.position(), hookState(), configKey(), hookTensors()));
                    // fault injection for the resume test: die like a killed process right after this checkpoint
                    if (Integer.getInteger("panlora.test.haltAfterCheckpoint", -1) == step + 1) Runtime.getRuntime().halt(137);
                }
                if (log != null && plot != null && (last || (step + 1) % 25 == 0))
                    LossPlot.write(plot, "panlora training loss", log.trainPoints(), log.valPoints());
            }
            if (progress != null) progress.println();
            for (TrainHook h : hooks) h.onEnd(this);
            double valAfter = val.isEmpty() ? Double.NaN : evaluate();
            if (log != null) LossPlot.write(plot, "panlora training loss", log.trainPoints(), log.valPoints());
            return new Result(step, firstLoss, lastLoss, valBefore, valAfter, log == null ? null : log.path(), plot);
        } finally {
            if (log != null) log.close();
            if (engine != null) {
                engine.close();
                engine = null;
            }
        }
    }

    private java.util.Map<String, float[]> hookTensors() {
        java.util.Map<String, float[]> all = new java.util.LinkedHashMap<>();
        for (TrainHook h : hooks) if (h instanceof TensorStateHook th) all.putAll(th.tensorState());
        return all;
    }

    private long[] hookState() {
        List<Long> all = new ArrayList<>();
        for (TrainHook h : hooks) if (h instanceof StatefulHook sh) for (long v : sh.state()) all.add(v);
        return all.stream().mapToLong(Long::longValue).toArray();
    }

    private DivergedException diverged(String what, Throwable cause) {
        String ckpt = outDir != null && Checkpoint.exists(outDir) ? "; the last good checkpoint is " + outDir.resolve(Checkpoint.FILE)
                : "; no checkpoint was written yet";
        return new DivergedException("training stopped at step " + (step + 1) + ": " + what
                + (cause != null ? " (" + cause.getMessage() + ")" : "") + " — NaN/Inf in the data, the weights or a too-high learning rate"
                + ckpt, cause);
    }

    static String formatTime(double s) {
        if (!Double.isFinite(s)) return "?";
        long t = Math.round(s);
        return t >= 3600 ? String.format("%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60) : String.format("%02d:%02d", t / 60, t % 60);
    }
}
