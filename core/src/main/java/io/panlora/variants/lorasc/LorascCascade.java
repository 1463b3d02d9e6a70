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
 * correction Δ = S + N (noise during an iteration) or Δ = S (at the end). After the last step S + s·B·A is
 * re-factorised exactly (its rank is at most iterations × r) into frozen slots, so the exported adapter and every
 * later forward reproduce W₀ + S + s·B·A. S, the iteration and the noise RNG are checkpointed, so a resume is exact.
 *
 * <p>Memory: S (on the Java heap) and Δ (native memory, freed only with the process) are each one dense F32 matrix per
 * adapted module, the size of the base weight. The strategy is its own (only) hook; one instance serves one run.
 */
public final class LorascCascade implements TrainingStrategy, StatefulHook, TensorStateHook {
    private final LorascConfig config;
    private final Arena arena = Arena.ofShared();
    private final List<Module> modules = new ArrayList<>();
    private LoraSet set;
    private TrainConfig cfg;
    private SplitMix64 rng;
    private int iteration;
    private long rngAtNoise; // the noise RNG's state when the current iteration's noise was drawn

    /** One adapted linear: its fast slot, slow update S, the Δ the engine reads, and std(W₀). */
    private record Module(int layer, Target target, LoraSet.Slot slot, float[] slow, MemorySegment delta, double std) {}

    /**
     * A cascade; the slots and the dense buffers are made by {@link #addSlots}.
     *
     * @param config the iteration length, α, the noise level and the seed
     */
    public LorascCascade(LorascConfig config) {
        this.config = config;
    }

    @Override
    public String name() { return "lorasc"; }

    @Override
    public List<TrainHook> hooks() { return List.of(this); }

    /**
     * The cascade iterations finished so far.
     *
     * @return the number of iterations whose fast LoRA was folded into S (0 during the first)
     */
    public int iteration() { return iteration; }

    /**
     * Adds one standard LoRA slot per (layer, target) and, for each, a zero S and a native Δ buffer the size of the base
     * weight (whose standard deviation it measures for the noise).
     *
     * @param s the empty adapter set
     * @param c the run's configuration (rank, alpha, targets, seed)
     */
    @Override
    public void addSlots(LoraSet s, TrainConfig c) {
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
     */
    @Override
    public void beforeStep(Trainer trainer, int step) {
        if (step > 0 && step % config.every() == 0) endIteration();
        if (step % config.every() == 0) applyNoise();
    }

    /** S ← S + α·s·B·A for every module; the fast LoRA restarts with fresh AdamW state. */
    private void endIteration() {
        for (Module md : modules) {
            float[] a = set.getA(md.slot()), b = set.getB(md.slot());
            LowRank.addProduct(md.slow(), b, a, (int) md.slot().out(), (int) md.slot().in(), md.slot().rank(), (float) (config.alpha() * set.scale(md.slot())));
        }
        iteration++;
        // the fast LoRA restarts: A from a stream of this iteration (so a resume draws the same), B = 0, fresh AdamW
        SplittableRandom initRng = new SplittableRandom(cfg.seed() + 7919L * iteration);
        for (Module md : modules)
            set.setWeights(md.slot(), LoraInit.kaimingUniform(initRng, md.slot().rank(), md.slot().in()), new float[(int) md.slot().bLength()]);
        set.resetAdam(null);
    }

    /** Δ = S + N, N ~ N(0, (γ·std W₀)²), set on every module. */
    private void applyNoise() {
        rngAtNoise = rng.state();
        for (Module md : modules) {
            double sd = config.gamma() * md.std();
            float[] s = md.slow();
            for (int i = 0; i < s.length; i++) md.delta().setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (s[i] + sd * gaussian()));
            set.model().setDelta(md.target().weight(), md.layer(), md.delta());
        }
    }

    /** After the last step: noise removed, S + s·B·A folded exactly into frozen slots, dense corrections cleared. */
    @Override
    public void onEnd(Trainer trainer) {
        for (Module md : modules) {
            int out = (int) md.slot().out(), in = (int) md.slot().in(), r = md.slot().rank();
            float[] total = md.slow().clone();
            LowRank.addProduct(total, set.getB(md.slot()), set.getA(md.slot()), out, in, r, set.scale(md.slot()));
            set.model().setDelta(md.target().weight(), md.layer(), null);
            set.setFlags(md.slot(), set.scale(md.slot()), false, false, false); // its contribution is in `total` now
            LowRank.Factors f = LowRank.factor(total, out, in, (iteration + 1) * r, config.seed() + md.layer());
            LoraSet.Slot folded = set.addSlot(md.layer(), md.target(), f.rank(), 1f);
            set.setWeights(folded, f.a(), f.b());
            set.setFlags(folded, 1f, false, false, true);
        }
        trainer.slotsChanged();
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
     * @throws IllegalStateException if a module's S is missing or has the wrong length
     */
    @Override
    public void restoreTensorState(Map<String, float[]> tensors) {
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
    public String toString() { return "lorasc" + config; }
}
