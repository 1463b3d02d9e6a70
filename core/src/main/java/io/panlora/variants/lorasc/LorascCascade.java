package io.panlora.variants.lorasc;

import io.panlora.lora.LoraSet;
import io.panlora.lora.Target;
import io.panlora.model.LlamaModel;
import io.panlora.model.WeightTensor;
import io.panlora.tensor.Codec;
import io.panlora.train.LoraInit;
import io.panlora.train.TrainConfig;
import io.panlora.train.TrainHook;
import io.panlora.train.Trainer;
import io.panlora.train.StatefulHook;
import io.panlora.train.TensorStateHook;
import io.panlora.train.TrainingStrategy;
import io.panlora.tensor.SplitMix64;
import io.panlora.tensor.LowRank;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * LoRASC as a strategy. The slow update S of each module is dense F32 and reaches the engine as the module's dense
 * correction Δ = S + N, N the iteration's noise ({@link LorascConfig.Noise}). Every iteration, the last one included,
 * ends with the slow update S ← S + α·s·B·A. After the last step the noise and the fast LoRA are removed and S is
 * re-factorised by SVD into frozen slots (exactly, at rank iterations × r capped at min(in, out), or to the best
 * rank-{@link LorascConfig#rankOut() rankOut} approximation), so the exported adapter is S and every later forward
 * computes W₀ + S (not the model of the last training step, W₀ + S + N + s·B·A: the paper exports the slow weights).
 * S, the iteration and the noise RNG are checkpointed, so a resume is exact.
 *
 * <p>Memory: S (on the Java heap) and Δ (native memory) are each one dense F32 matrix per adapted module, the size of the
 * base weight. The native buffers are freed when the run ends ({@link #onEnd}); after a run that stopped with an
 * exception (which does not reach {@code onEnd}), {@link #close()} clears the corrections from the model and frees them.
 * The strategy is its own (only) hook; one instance serves one run.
 */
public final class LorascCascade implements TrainingStrategy, StatefulHook, TensorStateHook, AutoCloseable {
    private final LorascConfig config;
    private Arena arena;
    private boolean closed;
    private final List<Module> modules = new ArrayList<>();
    private LoraSet set;
    private TrainConfig cfg;
    private SplitMix64 rng;
    private int iteration;
    private long rngAtNoise; // the noise RNG's state when the current iteration's noise was drawn

    /** One adapted linear: its fast slot, slow update S, the Δ the engine reads, and std(W₀). */
    private static final class Module {
        private final int layer;
        private final Target target;
        private final LoraSet.Slot slot;
        private final float[] slow;
        private final MemorySegment delta;
        private final double std;
        private boolean applied; // Δ is set on the model

        Module(int layer, Target target, LoraSet.Slot slot, float[] slow, MemorySegment delta, double std) {
            this.layer = layer;
            this.target = target;
            this.slot = slot;
            this.slow = slow;
            this.delta = delta;
            this.std = std;
        }

        int layer() { return layer; }
        Target target() { return target; }
        LoraSet.Slot slot() { return slot; }
        float[] slow() { return slow; }
        MemorySegment delta() { return delta; }
        double std() { return std; }
        boolean applied() { return applied; }
    }

    /**
     * A cascade; the slots and the dense buffers are made by {@link #addSlots}.
     *
     * @param config the iteration length, α, the noise law and level, the export rank and the seed
     * @throws IllegalArgumentException if {@code config} is null
     */
    public LorascCascade(LorascConfig config) {
        if (config == null) throw new IllegalArgumentException("LoRASC: the config must be given");
        this.config = config;
    }

    @Override
    public String name() { return "lorasc"; }

    @Override
    public List<TrainHook> hooks() { return List.of(this); }

    /**
     * The cascade iterations finished so far.
     *
     * @return the number of iterations whose fast LoRA was folded into S: 0 during the first, and after the run's end
     *         ({@link #onEnd}) the number of iterations of the run, the last one included
     */
    public int iteration() { return iteration; }

    /**
     * The dense correction the model now adds to a module's base weight: S + N during an iteration.
     *
     * @param layer  the block
     * @param target the adapted linear
     * @return a copy of Δ (out × in, row-major), or null when the module is not adapted, the run has not started, or it
     *         has ended (then the correction is cleared from the model and S is in the frozen slots)
     */
    public float[] correction(int layer, Target target) {
        if (closed) return null;
        for (Module md : modules)
            if (md.layer() == layer && md.target() == target)
                return md.applied() ? md.delta().toArray(ValueLayout.JAVA_FLOAT) : null;
        return null;
    }

    /**
     * Adds one standard LoRA slot per (layer, target) and, for each, a zero S and a native Δ buffer the size of the base
     * weight (whose standard deviation it measures for the noise).
     *
     * @param s the empty adapter set
     * @param c the run's configuration (rank, alpha, targets, seed)
     * @throws IllegalStateException if this cascade already made its slots (one instance serves one run)
     */
    @Override
    public void addSlots(LoraSet s, TrainConfig c) {
        if (closed || set != null) throw new IllegalStateException("a LoRASC cascade serves one run: make a new one");
        this.arena = Arena.ofShared();
        this.set = s;
        this.cfg = c;
        this.rng = new SplitMix64(config.seed());
        SplittableRandom initRng = new SplittableRandom(c.seed());
        LlamaModel m = s.model();
        for (int l = 0; l < m.config().nLayer(); l++)
            for (Target t : c.targets()) {
                LoraSet.Slot slot = s.addSlot(l, t, c.rank(), c.scale());
                s.setWeights(slot, LoraInit.kaimingUniform(initRng, c.rank(), slot.in()), null);
                int n = (int) (slot.in() * slot.out());
                WeightTensor w = m.weights().get("blk." + l + "." + t.gguf + ".weight");
                float[] dense = Codec.dequantize(w.type(), w.data(), n);
                double mean = 0, sq = 0;
                for (float v : dense) { mean += v; sq += (double) v * v; }
                mean /= n;
                double std = Math.sqrt(Math.max(0, sq / n - mean * mean));
                modules.add(new Module(l, t, slot, new float[n], arena.allocate(ValueLayout.JAVA_FLOAT, n), std));
            }
    }

    /**
     * At the first step of an iteration: ends the previous one (S ← S + α·s·B·A, the fast LoRA restarts with fresh AdamW
     * state), then draws fresh noise and sets Δ = S + N on every module.
     *
     * @param trainer the running trainer
     * @param step    the step about to run, 0-based
     * @throws IllegalStateException if the run has ended or the cascade is closed
     */
    @Override
    public void beforeStep(Trainer trainer, int step) {
        if (closed) throw new IllegalStateException("this LoRASC cascade's run has ended");
        if (step > 0 && step % config.every() == 0) endIteration();
        if (step % config.every() == 0) applyNoise();
    }

    /** S ← S + α·s·B·A for every module; the fast LoRA restarts with fresh AdamW state. */
    private void endIteration() {
        slowUpdate();
        // the fast LoRA restarts: A from a stream of this iteration (so a resume draws the same), B = 0, fresh AdamW
        SplittableRandom initRng = new SplittableRandom(cfg.seed() + 7919L * iteration);
        for (Module md : modules)
            set.setWeights(md.slot(), LoraInit.kaimingUniform(initRng, md.slot().rank(), md.slot().in()), new float[(int) md.slot().bLength()]);
        set.resetAdam(null);
    }

    /** S ← S + α·s·B·A for every module (the slow update that ends an iteration); counts the iteration. */
    private void slowUpdate() {
        for (Module md : modules) {
            float[] a = set.getA(md.slot()), b = set.getB(md.slot());
            LowRank.addProduct(md.slow(), b, a, (int) md.slot().out(), (int) md.slot().in(), md.slot().rank(), (float) (config.alpha() * set.scale(md.slot())));
        }
        iteration++;
    }

    /**
     * Δ = S + N set on every module: N ~ N(0, (γ·std W₀)²) (Gaussian) or U(−λ/2, λ/2)·std W₀ (uniform), drawn weight by
     * weight, module after module, from the checkpointed RNG.
     */
    private void applyNoise() {
        rngAtNoise = rng.state();
        boolean uniform = config.noise() == LorascConfig.Noise.UNIFORM;
        for (Module md : modules) {
            double sd = config.scale() * md.std(); // Gaussian: the standard deviation; uniform: the interval's width
            float[] s = md.slow();
            for (int i = 0; i < s.length; i++) {
                double n = uniform ? sd * (rng.nextDouble() - 0.5) : sd * gaussian();
                md.delta().setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (s[i] + n));
            }
            set.model().setDelta(md.target().weight(), md.layer(), md.delta());
            md.applied = true;
        }
    }

    /**
     * After the last step: the last iteration ends with its slow update S ← S + α·s·B·A; the noise and the fast LoRA are
     * removed (the fast slots stay, disabled) and S is re-factorised by SVD ({@link LowRank#factor}) into one frozen slot
     * per module, of scale 1 and rank {@link LorascConfig#rankOut()} or, when that is 0, iterations × r (both capped at
     * min(in, out)). The model then computes W₀ + S, and S is what an export of the set writes. The dense corrections'
     * native memory is freed ({@link #close()}).
     *
     * @param trainer the trainer whose run ends
     * @throws IllegalStateException if the run has ended already or the cascade is closed
     */
    @Override
    public void onEnd(Trainer trainer) {
        if (closed) throw new IllegalStateException("this LoRASC cascade's run has ended");
        try {
            slowUpdate();
            for (Module md : modules) {
                int out = (int) md.slot().out(), in = (int) md.slot().in(), r = md.slot().rank();
                clearCorrection(md);
                set.setFlags(md.slot(), set.scale(md.slot()), false, false, false); // its share α is in S now
                int k = config.rankOut() > 0 ? config.rankOut() : iteration * r;
                LowRank.Factors f = LowRank.factor(md.slow(), out, in, k, config.seed() + md.layer());
                LoraSet.Slot folded = set.addSlot(md.layer(), md.target(), f.rank(), 1f);
                set.setWeights(folded, f.a(), f.b());
                set.setFlags(folded, 1f, false, false, true);
            }
            trainer.slotsChanged();
        } finally {
            close();
        }
    }

    /** Clears a module's dense correction from the model (the pointer is gone even when a CUDA copy then fails). */
    private void clearCorrection(Module md) {
        if (!md.applied) return;
        md.applied = false;
        if (!set.model().isClosed()) set.model().setDelta(md.target().weight(), md.layer(), null);
    }

    /**
     * Clears the dense corrections from the model (unless it is closed) and frees their native memory. {@link #onEnd}
     * does this; call it after a run that stopped with an exception, which leaves the model with W₀ + S + N. The slots
     * stay in the set. Idempotent; the cascade cannot train afterwards.
     */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        RuntimeException first = null;
        for (Module md : modules)
            try {
                clearCorrection(md);
            } catch (RuntimeException e) { // the engine forgot the pointer anyway; clear the others, then report
                if (first == null) first = e;
            }
        if (arena != null) arena.close();
        if (first != null) throw first;
    }

    private double gaussian() { // Box–Muller on the checkpoint-friendly RNG
        double u1 = Math.max(rng.nextDouble(), 1e-300), u2 = rng.nextDouble();
        return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
    }

    /**
     * The state for checkpoints.
     *
     * @return three numbers: the iteration, the noise RNG's state when the current noise was drawn, and its state now
     */
    @Override
    public long[] state() { return new long[] {iteration, rngAtNoise, rng.state()}; }

    /**
     * Restores the iteration and redraws the current iteration's noise exactly (S comes with the tensor state).
     *
     * @param st the array {@link #state()} gave; the noise is redrawn in {@link #restoreTensorState}, once S is back
     */
    @Override
    public void restore(long[] st) {
        iteration = (int) st[0];
        pendingRestore = st;
    }

    private long[] pendingRestore;

    /**
     * S of every module, for checkpoints.
     *
     * @return the live S arrays, named {@code lorasc.S.LAYER.TARGET} (e.g. {@code lorasc.S.0.attn_q})
     */
    @Override
    public Map<String, float[]> tensorState() {
        Map<String, float[]> out = new LinkedHashMap<>();
        for (Module md : modules) out.put("lorasc.S." + md.layer() + "." + md.target().gguf, md.slow());
        return out;
    }

    /**
     * Restores S of every module and, after {@link #restore}, sets Δ = S + the noise the interrupted run had.
     *
     * @param tensors the checkpoint's hook tensors
     * @throws IllegalStateException if a module's S is missing or has the wrong length, or the cascade is closed
     */
    @Override
    public void restoreTensorState(Map<String, float[]> tensors) {
        if (closed) throw new IllegalStateException("this LoRASC cascade's run has ended");
        for (Module md : modules) {
            float[] s = tensors.get("lorasc.S." + md.layer() + "." + md.target().gguf);
            if (s == null || s.length != md.slow().length)
                throw new IllegalStateException("the checkpoint lacks LoRASC's slow weights of blk." + md.layer() + "." + md.target().gguf);
            System.arraycopy(s, 0, md.slow(), 0, s.length);
        }
        if (pendingRestore != null) { // Δ = S + the same noise as before the interruption, then the RNG where it was
            rng.setState(pendingRestore[1]);
            applyNoise();
            rng.setState(pendingRestore[2]);
            pendingRestore = null;
        }
    }

    @Override
    public String toString() { return key(); }

    @Override
    public String key() {
        return "lorasc(every=" + config.every() + ",alpha=" + config.alpha() + ",noise=" + config.noise() + ",scale=" + config.scale()
                + ",rankOut=" + config.rankOut() + ",seed=" + config.seed() + ")";
    }
}
