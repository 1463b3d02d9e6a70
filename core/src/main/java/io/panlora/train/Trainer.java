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
 *
 * <p>What a run with a run directory writes there: {@code metrics.jsonl} (one JSON line per step and per validation,
 * flushed every line; a new run starts it afresh, a resumed one drops the lines after the checkpoint's step),
 * {@code loss.svg} (the loss plot, redrawn every 25 steps and at the end) and {@code checkpoint.gguf} (every
 * {@link TrainConfig#checkpointEvery()} steps and after the last, written atomically). Progress lines go to the progress
 * stream, if there is one.
 *
 * <p>A trainer is used from one thread; it may {@link #run} several times (each run starts over unless it resumes).
 */
public final class Trainer {
    /**
     * Thrown by {@link #run} when the loss, the gradients or the updated weights stop being finite, or the loss explodes under
     * {@link DivergenceGuard.Policy#STOP}; the last good checkpoint is kept. The message says at which step, why, and where the
     * last good checkpoint is.
     */
    public static final class DivergedException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        DivergedException(String msg, Throwable cause) {
            super(msg, cause);
        }
    }

    /**
     * What a run did. {@code plot} is null when no plot was written (no run directory, or the last attempt failed: see
     * {@code warnings}); {@code warnings} are the problems the run went on after, as the listener got them.
     *
     * @param steps     the steps done in all, counting those a resume started from ({@link TrainConfig#steps()}, or fewer
     *                  when cancelled)
     * @param firstLoss the training loss of the first step this run took, in nats per counted token; NaN if it took none
     * @param lastLoss  the training loss of the last step taken ({@link Trainer#lastLoss()}: from an earlier run of the same
     *                  trainer if this one took none; NaN if the trainer never took a step)
     * @param valBefore the validation loss before training; NaN when there are no validation batches or the run resumed
     * @param valAfter  the validation loss after the run (after the end hooks); NaN when there are no validation batches
     * @param metrics   the metrics file ({@code metrics.jsonl}), or null without a run directory
     * @param plot      the loss plot ({@code loss.svg}), or null when none was written
     * @param warnings  the warnings of the run, in order (copied; never null)
     * @param cancelled true when the listener cancelled the run before its last step
     */
    public record Result(int steps, double firstLoss, double lastLoss, double valBefore, double valAfter, Path metrics, Path plot,
                         List<String> warnings, boolean cancelled) {
        /**
         * Copies the warnings.
         *
         * @throws NullPointerException if {@code warnings} is null or holds null
         */
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
     * Makes a trainer; nothing runs or is written until {@link #run}.
     *
     * @param model    the model to train; in FULL mode its weights must be F32 and writable
     * @param lora     the adapter to train (attached to model), or null in FULL mode
     * @param cfg      the run's configuration
     * @param data     the training batches, of {@code cfg.batch()} sequences of {@code cfg.ctx()} tokens; its position is
     *                 checkpointed
     * @param val      validation batches (may be empty; used as given, not copied)
     * @param outDir   where metrics, plot and checkpoints go (null: nothing written, and no resume)
     * @param progress where progress lines go (a {@code \r}-updated step line, validations, notes), or null for none
     * @throws IllegalArgumentException if the mode is LORA and {@code lora} is null
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

    /**
     * Sets what to do on explosive loss growth (default: stop). Non-finite losses, gradients or weights always stop the run.
     *
     * @param p the policy; null for {@link DivergenceGuard.Policy#STOP}
     * @return this trainer
     */
    public Trainer onDivergence(DivergenceGuard.Policy p) {
        onDivergence = p == null ? DivergenceGuard.Policy.STOP : p;
        return this;
    }

    /**
     * The divergence detector of the current (or last) run; {@link #run} replaces it with a fresh one at its start.
     *
     * @return the guard, never null
     */
    public DivergenceGuard divergenceGuard() { return guard; }

    /**
     * Sets where step, validation, warning and checkpoint events go besides the progress stream, and who may cancel the run
     * (default: {@link TrainListener#NONE}).
     *
     * @param l the listener; null for {@link TrainListener#NONE}
     * @return this trainer
     */
    public Trainer listener(TrainListener l) {
        listener = l == null ? TrainListener.NONE : l;
        return this;
    }

    /**
     * Adds a hook to the loop; hooks are called in the order added. Add them before {@link #run}: they are part of the
     * {@link #configKey()}, and the states of {@link StatefulHook}s are saved and restored in this order.
     *
     * @param h the hook (usually one of {@link TrainingStrategy#hooks()})
     * @return this trainer
     */
    public Trainer addHook(TrainHook h) {
        hooks.add(h);
        return this;
    }

    /**
     * The model being trained.
     *
     * @return the model given to the constructor
     */
    public LlamaModel model() { return model; }

    /**
     * The adapter being trained.
     *
     * @return the adapter given to the constructor; null in FULL mode
     */
    public LoraSet lora() { return lora; }

    /**
     * The validation batches.
     *
     * @return the batches given to the constructor (possibly empty; not a copy)
     */
    public List<BatchSource.Batch> validationBatches() { return val; }

    /**
     * The run directory.
     *
     * @return the directory metrics, plot and checkpoints go to; null when nothing is written
     */
    public Path outDir() { return outDir; }

    /**
     * The progress stream, for hooks that report.
     *
     * @return where progress lines go; null for none
     */
    public PrintStream progress() { return progress; }

    /**
     * The run's configuration.
     *
     * @return the configuration given to the constructor
     */
    public TrainConfig config() { return cfg; }

    /**
     * The training position.
     *
     * @return the 0-based step about to run (during a step, the one running); after a run, the number of steps done
     */
    public int step() { return step; }

    /**
     * The training loss of the last step done, in nats per counted token.
     *
     * @return the loss; NaN before the first step of this trainer's first run
     */
    public double lastLoss() { return lastLoss; }

    /**
     * The step engine of the running run, made at the first step (and again after {@link #slotsChanged()}) and closed at the
     * end of {@link #run}.
     *
     * @return the engine; null outside a run and between {@link #slotsChanged()} and the next step
     */
    public StepEngine engine() { return engine; }

    /**
     * Tells the trainer the adapter gained slots: the current engine is closed (freeing its native memory) and a new one is
     * made before the next step. Hooks that add slots must call it.
     */
    public void slotsChanged() {
        if (engine != null) engine.close();
        engine = null;
    }

    /**
     * A key of everything that must match for a checkpoint to be resumed; it is stored in every checkpoint and compared
     * exactly on resume.
     *
     * @return the configuration's {@link TrainConfig#key()} (every setting, the step count included), the model's
     *         {@link io.panlora.model.LlamaConfig#key()} and the hooks' {@link TrainHook#key()}s
     */
    public String configKey() {
        StringBuilder b = new StringBuilder(cfg.key()).append(" model=").append(model.config().key()).append(" hooks=[");
        for (int i = 0; i < hooks.size(); i++) b.append(i > 0 ? "," : "").append(hooks.get(i).key());
        return b.append(']').toString();
    }

    /**
     * Evaluates the model with the adapter as it is now on the validation batches; nothing changes.
     *
     * @return the mean NLL per counted target, in nats; NaN when there are no validation batches (or no counted target)
     * @throws io.panlora.bindings.PanloraException if the engine fails
     */
    public double evaluate() {
        return evaluate(model, val);
    }

    /**
     * Evaluates a model (with whatever adapter is attached to it) on batches; nothing changes.
     *
     * @param model   the model
     * @param batches the batches; their shape may be any the model accepts
     * @return the mean NLL per counted target (target {@code >= 0}), in nats; NaN when the batches count no target
     * @throws io.panlora.bindings.PanloraException if the engine fails
     */
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

    /**
     * Runs to {@code cfg.steps()}, from the checkpoint in the run directory when {@code resume} is set; see the class comment
     * for what is written and checked. Before training, the validation loss is measured (unless resuming); the loop then
     * calls the hooks, the engine and the listener for each step; at the end the end hooks run and the validation loss is
     * measured again. Creates the run directory if needed. The step engine and its native memory live only for the call.
     *
     * @param resume true to continue from {@code outDir/checkpoint.gguf}: the adapter (or, in FULL mode, the weights and
     *               AdamW state), the step, the data position, the hooks' state and the divergence guard are restored
     * @return what the run did
     * @throws IOException if the run directory, the metrics or a checkpoint cannot be written, or (resume) there is no run
     *                     directory, the checkpoint cannot be read, its data position or strategy state does not fit, or a
     *                     FULL-mode run is not on the CPU
     * @throws io.panlora.gguf.GgufException if the checkpoint was made with another {@link #configKey()} or is damaged
     * @throws DivergedException if the loss, the gradients or the updated weights stop being finite, or the loss explodes
     *                           under {@link DivergenceGuard.Policy#STOP}
     * @throws io.panlora.bindings.PanloraException if the engine fails otherwise
     */
    public Result run(boolean resume) throws IOException {
        step = 0;
        lastLoss = Double.NaN;
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
                for (TrainHook h : hooks) lr = h.learningRate(this, step, lr);
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
