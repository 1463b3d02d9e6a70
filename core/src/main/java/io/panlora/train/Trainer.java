package io.panlora.train;
import io.panlora.train.internal.Checkpoint;
import io.panlora.train.internal.MetricsLog;
import io.panlora.train.internal.LossPlot;

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
 * schedule, periodic validation, atomic checkpoints and resume, metrics JSONL and a loss plot, NaN/Inf detection and
 * divergence detection ({@link DivergenceGuard}). Strategies (LoRA variants) plug in as {@link TrainHook}s.
 *
 * <p>A checkpoint is written only from a state that passes three checks: every adapter factor, AdamW moment and strategy
 * tensor is finite; the model with the updated weights gives a finite loss on the step's first micro-batch; and that loss is
 * not more than {@link DivergenceGuard#MARGIN_NATS} above the divergence reference ({@link DivergenceGuard#reference()}).
 * A non-finite state is never written and stops the run. A finite one beyond the margin is not written under
 * {@link DivergenceGuard.Policy#STOP} (reported; the run goes on until the divergence rule stops it) and written with a
 * warning under {@link DivergenceGuard.Policy#WARN}. So under STOP the checkpoint on disk is always the last good one, and
 * under WARN the last finite one.
 */
public final class Trainer {
    /** Thrown when the loss or the gradients stop being finite, or the loss explodes; the last good checkpoint is kept. */
    public static final class DivergedException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        DivergedException(String msg, Throwable cause) {
            super(msg, cause);
        }
    }

    /**
     * What a run did. {@code plot} is null when no plot was written (no run directory, or the last attempt failed: see
     * {@code warnings}); {@code warnings} are the problems the run went on after, as the listener got them.
     */
    public record Result(int steps, double firstLoss, double lastLoss, double valBefore, double valAfter, Path metrics, Path plot,
                         List<String> warnings, boolean cancelled) {
        public Result {
            warnings = List.copyOf(warnings);
        }
    }

    private final LlamaModel model;
    private final LoraSet lora;
    private final TrainConfig cfg;
    private final BatchSource data;
    private final List<BatchSource.Batch> val;
    private final Path outDir;
    private final List<TrainHook> hooks = new ArrayList<>();
    private final PrintStream progress;
    private TrainListener listener = TrainListener.NONE;
    private final List<String> warnings = new ArrayList<>();
    private boolean plotWarned; // a failed plot is reported once per run
    private boolean fullCheckpointWarned; // a full-parameter run on CUDA writes no checkpoints: said once
    private StepEngine engine;
    private int step;
    private double lastLoss = Double.NaN;
    private DivergenceGuard.Policy onDivergence = DivergenceGuard.Policy.STOP;
    private DivergenceGuard guard = new DivergenceGuard();
    private int lastCheckpointStep = -1;
    private boolean warned; // a warning was given for the current episode of explosive growth (WARN policy)
    private boolean midLine; // the progress line (\r-updated) is not ended yet

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

    /** What to do on explosive loss growth (default: stop). Non-finite losses, gradients or weights always stop the run. */
    public Trainer onDivergence(DivergenceGuard.Policy p) {
        onDivergence = p == null ? DivergenceGuard.Policy.STOP : p;
        return this;
    }

    /** The divergence detector of the current run. */
    public DivergenceGuard divergenceGuard() { return guard; }

    /** Where warnings and checkpoint events go besides the progress stream (default: nowhere). */
    public Trainer listener(TrainListener l) {
        listener = l == null ? TrainListener.NONE : l;
        return this;
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
        guard = new DivergenceGuard();
        lastCheckpointStep = -1;
        warned = false;
        midLine = false;
        plotWarned = false;
        fullCheckpointWarned = false;
        warnings.clear();
        if (outDir != null) Files.createDirectories(outDir);
        if (resume) {
            try {
                if (outDir == null) throw new IOException("--resume: no run directory");
                Path ckpt = outDir.resolve(Checkpoint.FILE);
                Checkpoint.State st;
                if (lora != null) st = Checkpoint.load(outDir, lora, configKey());
                else {
                    if (!model.device().isCpu())
                        throw new IOException(ckpt + ": a full-parameter run resumes on the CPU only (the CUDA trainer's AdamW state "
                                + "cannot be restored yet)");
                    engine = new StepEngine(model, cfg.batch(), cfg.ctx(), cfg.mode(), cfg.recompute());
                    st = Checkpoint.loadFull(outDir, model, engine, configKey());
                }
                step = st.step();
                lastCheckpointStep = step;
                guard.restore(st.divergenceState());
                try {
                    data.seek(st.dataPosition());
                } catch (IllegalArgumentException e) { // a position the data does not have: damaged, or saved for other data
                    throw new IOException(ckpt + ": the checkpoint's data position does not fit this data: " + e.getMessage(), e);
                }
                long[] hs = st.hookState();
                int off = 0;
                for (TrainHook h : hooks)
                    if (h instanceof StatefulHook sh) {
                        int n = sh.state().length; // each hook's state has a fixed length
                        if (off + n > hs.length)
                            throw new IOException(ckpt + ": the checkpoint's training-strategy state is shorter than --variant needs");
                        sh.restore(java.util.Arrays.copyOfRange(hs, off, off + n));
                        off += n;
                    }
                for (TrainHook h : hooks) if (h instanceof TensorStateHook th) th.restoreTensorState(st.hookTensors());
                if (progress != null) progress.printf("resuming at step %d from %s%n", step, outDir.resolve(Checkpoint.FILE));
            } catch (IOException | RuntimeException e) {
                if (engine != null) { // a FULL-mode trainer made for the restore
                    engine.close();
                    engine = null;
                }
                throw e;
            }
        }
        MetricsLog log = outDir == null ? null : new MetricsLog(outDir.resolve("metrics.jsonl"), resume ? step : -1);
        Path plot = outDir == null ? null : outDir.resolve(LossPlot.FILE);
        boolean plotted = false;
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
            boolean cancelled = false;
            int lastCheckpointed = -1;
            BatchSource.Batch lastBatch = null; // the last step's check batch, for a checkpoint at cancellation
            for (; step < cfg.steps(); step++) {
                if (listener.cancelled()) {
                    cancelled = true;
                    if (progress != null) {
                        if (midLine) progress.println();
                        progress.printf("cancelled after %d of %d steps%n", step, cfg.steps());
                        midLine = false;
                    }
                    if (outDir != null && cfg.checkpointEvery() > 0 && step > startStep && lastCheckpointed != step && lastBatch != null) {
                        step--; // checkpoint() records the state after step + 1 steps: the last one done
                        boolean written;
                        try {
                            written = checkpoint(lastBatch);
                        } finally {
                            step++;
                        }
                        if (written) listener.checkpointed(step, outDir.resolve(Checkpoint.FILE));
                    }
                    break;
                }
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
                BatchSource.Batch firstBatch = null; // the first micro-batch with counted targets: the checkpoint check's batch
                try {
                    for (BatchSource.Batch b : micro) {
                        StepEngine.Loss l = engine.accumulate(b.inputs(), b.targets(), scale);
                        lossSum += l.sum();
                        if (firstBatch == null && l.count() > 0) firstBatch = b;
                    }
                } catch (PanloraException e) {
                    throw diverged("the loss is not finite", e);
                }
                double loss = counted == 0 ? 0 : lossSum / counted;
                if (!Double.isFinite(loss)) throw diverged("the loss is " + loss, null);
                double norm = engine.gradNorm();
                if (!Double.isFinite(norm)) throw diverged("the gradient norm is " + norm, null);
                float clip = cfg.maxGradNorm() > 0 && norm > cfg.maxGradNorm() ? (float) (cfg.maxGradNorm() / norm) : 1f;
                float lr = LrSchedule.at(cfg.schedule(), cfg.lr(), step, cfg.steps(), cfg.warmupSteps(), cfg.minLrRatio());
                if (counted > 0) guard.observe(loss);
                if (guard.diverged()) {
                    if (onDivergence == DivergenceGuard.Policy.STOP) {
                        if (log != null) { // the loss that stopped the run goes into the metrics too
                            long tokens = tokensDone + (long) cfg.gradAccum() * cfg.batch() * cfg.ctx();
                            double elapsed = (System.nanoTime() - t0) / 1e9;
                            log.step(step + 1, loss, lr, norm, tokens, tokens / elapsed, elapsed);
                        }
                        throw diverged(guard.describe(), null);
                    }
                    warn(guard.describe());
                } else if (guard.recent() <= guard.reference() + DivergenceGuard.MARGIN_NATS / 2) {
                    warned = false; // the episode is over once the loss is well back (half the margin: no warning per wobble)
                }
                engine.adamw(lr, cfg.beta1(), cfg.beta2(), cfg.eps(), cfg.weightDecay(), clip);
                lastLoss = loss;
                if (Double.isNaN(firstLoss)) firstLoss = loss;
                tokensDone += (long) cfg.gradAccum() * cfg.batch() * cfg.ctx();
                double elapsed = (System.nanoTime() - t0) / 1e9;
                double tps = tokensDone / elapsed;
                for (TrainHook h : hooks) h.afterStep(this, step);
                if (log != null) log.step(step + 1, loss, lr, norm, tokensDone, tps, elapsed);
                listener.stepped(step + 1, cfg.steps(), loss, lr, norm, tps);
                if (progress != null) {
                    double eta = (cfg.steps() - step - 1) * elapsed / (step + 1 - startStep);
                    progress.printf(Locale.ROOT, "\rstep %d/%d | loss %.4f | lr %.2e | %.0f tok/s | ETA %s   ", step + 1, cfg.steps(), loss, lr, tps,
                            formatTime(eta));
                    progress.flush();
                    midLine = true;
                }
                boolean last = step + 1 == cfg.steps();
                if (!val.isEmpty() && cfg.evalEvery() > 0 && ((step + 1) % cfg.evalEvery() == 0 || last)) {
                    double v = evaluate();
                    if (log != null) log.validation(step + 1, v);
                    listener.validated(step + 1, v);
                    midLine = false;
                    if (progress != null) progress.printf(Locale.ROOT, "%nstep %d: validation loss %.4f (ppl %.2f)%n", step + 1, v, Math.exp(v));
                }
                if (outDir != null && cfg.checkpointEvery() > 0 && ((step + 1) % cfg.checkpointEvery() == 0 || last)) {
                    if (checkpoint(firstBatch)) listener.checkpointed(step + 1, outDir.resolve(Checkpoint.FILE));
                    lastCheckpointed = step + 1;
                }
                lastBatch = firstBatch;
                if (log != null && plot != null && (last || (step + 1) % 25 == 0)) plotted = plot(plot, log);
            }
            if (progress != null) progress.println();
            midLine = false;
            for (TrainHook h : hooks) h.onEnd(this);
            double valAfter = val.isEmpty() ? Double.NaN : evaluate();
            if (log != null) plotted = plot(plot, log);
            return new Result(step, firstLoss, lastLoss, valBefore, valAfter, log == null ? null : log.path(), plotted ? plot : null, warnings,
                    cancelled);
        } finally {
            if (log != null) log.close();
            if (engine != null) {
                engine.close();
                engine = null;
            }
        }
    }

    /**
     * Writes the checkpoint of the step just done if the state passes the checks (see the class comment). A non-finite state
     * or loss is not written and stops the run; a finite loss beyond the margin is not written under STOP (reported; the
     * divergence rule decides whether the run stops) and written with a warning under WARN.
     */
    private boolean checkpoint(BatchSource.Batch batch) throws IOException {
        if (lora == null && !model.device().isCpu()) { // the CUDA trainer cannot hand its AdamW state back yet
            if (!fullCheckpointWarned) {
                fullCheckpointWarned = true;
                warning("checkpoints of a full-parameter run are written on the CPU only (the CUDA trainer's AdamW state cannot be "
                        + "read yet): this run writes none, its model is exported at the end");
            }
            return false;
        }
        if (batch != null) {
            double post;
            try {
                post = evaluate(model, List.of(batch));
            } catch (PanloraException e) {
                post = Double.NaN;
            }
            if (!Double.isFinite(post)) throw diverged("the updated weights give a loss of " + post + " on this step's batch", null, true);
            if (guard.tooHigh(post)) {
                String what = String.format(Locale.ROOT, "the updated weights give a loss of %.4f on this step's batch, more than %.1f nats "
                        + "above the best %.4f", post, DivergenceGuard.MARGIN_NATS, guard.reference());
                if (onDivergence == DivergenceGuard.Policy.STOP) {
                    note(String.format(Locale.ROOT, "step %d: checkpoint not written: %s; %s", step + 1, what, lastGood()));
                    return false;
                }
                warn("explosive loss growth: " + what);
            }
        }
        try {
            Checkpoint.State st = new Checkpoint.State(step + 1, data.position(), hookState(), configKey(), hookTensors(), guard.state());
            if (lora != null) Checkpoint.save(outDir, lora, st);
            else Checkpoint.saveFull(outDir, model, engine, st);
        } catch (Checkpoint.NonFiniteException e) {
            throw diverged(e.getMessage(), null, true);
        }
        lastCheckpointStep = step + 1;
        return true;
    }

    /**
     * Writes the loss plot; a failure (an unwritable file, a full disk, anything else) is reported once per run as a warning
     * and never stops training. Returns whether the plot was written.
     */
    private boolean plot(Path plot, MetricsLog log) {
        try {
            LossPlot.write(plot, "panlora training loss", log.trainPoints(), log.valPoints());
            return true;
        } catch (IOException | RuntimeException e) {
            if (!plotWarned) {
                plotWarned = true;
                String why = e.getMessage() == null ? e.toString() : e.getMessage();
                warning("the loss plot could not be written (" + plot + ": " + why.replaceAll("\\s*\\R\\s*", " ")
                        + "); training goes on, the metrics are in " + log.path());
            }
            return false;
        }
    }

    /** A warning: a line on the progress stream, the listener, and the result. */
    private void warning(String line) {
        warnings.add(line);
        note("warning: " + line);
        listener.warning(line);
    }

    /** Reports explosive growth under the WARN policy, once per episode (until the loss is back within half the margin). */
    private void warn(String what) {
        if (warned) return;
        warned = true;
        warning(String.format(Locale.ROOT, "step %d: %s; training goes on (--on-divergence warn)", step + 1, what));
    }

    /** A line of its own on the progress stream. */
    private void note(String line) {
        if (progress == null) return;
        if (midLine) progress.println();
        progress.println(line);
        progress.flush();
        midLine = false;
    }

    /** Where the last good checkpoint is, in words. */
    private String lastGood() {
        if (lastCheckpointStep >= 0) return "the last good checkpoint (step " + lastCheckpointStep + ") is kept: " + outDir.resolve(Checkpoint.FILE);
        if (outDir != null && Checkpoint.exists(outDir)) return outDir.resolve(Checkpoint.FILE) + " (of an earlier run) is left as it was";
        return "no checkpoint has been written";
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
        return diverged(what, cause, false);
    }

    private DivergedException diverged(String what, Throwable cause, boolean atCheckpoint) {
        if (progress != null && midLine) { // the error line (printed by the caller) starts on a line of its own
            progress.println();
            progress.flush();
            midLine = false;
        }
        String good = lastGood();
        String msg = "training stopped at step " + (step + 1) + ": " + what + (cause != null ? " (" + cause.getMessage() + ")" : "")
                + (what.startsWith("explosive") ? " (usually a too-high --lr)" : " (NaN/Inf in the data or the weights, or a too-high --lr)")
                + "; " + (atCheckpoint && !good.startsWith("no ") ? "this step's checkpoint was not written; " : "") + good;
        return new DivergedException(msg.replaceAll("\\s*\\R\\s*", " "), cause);
    }

    static String formatTime(double s) {
        if (!Double.isFinite(s)) return "?";
        long t = Math.round(s);
        return t >= 3600 ? String.format("%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60) : String.format("%02d:%02d", t / 60, t % 60);
    }
}
