package io.panlora.variants.cola;

import io.panlora.lora.LoraSet;
import io.panlora.lora.Target;
import io.panlora.tensor.LowRank;
import io.panlora.train.LoraInit;
import io.panlora.train.LrSchedule;
import io.panlora.train.StatefulHook;
import io.panlora.train.TrainConfig;
import io.panlora.train.TrainHook;
import io.panlora.train.Trainer;
import io.panlora.train.TrainingStrategy;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * COLA as a strategy. Every link has its own slot per adapted module (layer, target), made at the start (A Kaiming-uniform,
 * B = 0, AdamW state zero; rank and scale of the link's rank), so the slot layout never changes and a checkpoint holds every
 * link's factors. Exactly one link's slots are on and train at a time.
 *
 * <p>A knot (the first step of a new link) ties the finished link in and makes the next one train, with fresh AdamW state;
 * the model function is unchanged by it (up to float rounding). How the finished link is tied in is
 * {@link ColaConfig#fold()}:
 * <ul>
 *   <li>{@link ColaConfig.Fold#DENSE}: its s·B·A is added to a dense F32 correction Δ of each module, which the engine adds
 *       to the (possibly quantized, never re-quantized) base weight in the forward and backward passes
 *       ({@link io.panlora.model.LlamaModel#setDelta}); its slots are switched off. The number of slots on, and so the
 *       low-rank cost, stays one per module whatever the link; Δ costs a dense F32 matrix per module (allocated at the
 *       first knot) and one dense product per module per pass. Δ is not itself checkpointed: it is rebuilt on resume from
 *       the finished links' frozen factors in the checkpoint, by the same additions in the same order, so a resumed run is
 *       bit-identical.</li>
 *   <li>{@link ColaConfig.Fold#SLOTS}: its slots stay on, frozen (no dense memory; each finished link adds its low-rank
 *       product to every pass).</li>
 * </ul>
 *
 * <p>At the end (after the last step's update, before its validation and checkpoint; or in {@link #onEnd} for a cancelled
 * run) Δ is cleared and every link up to the current one is switched on, frozen: the adapter is then the whole chain as a
 * set of slots, which {@link io.panlora.lora.AdapterGguf#write} exports as one adapter of rank Σ rⱼ (the links stacked:
 * exact, no re-factorisation), and the run's final checkpoint holds it too. A checkpoint written mid-run (DENSE) holds the
 * finished links switched off: it resumes exactly, but exporting it directly gives only the current link.
 *
 * <p>With {@link ColaConfig#restartLr()} the learning-rate schedule restarts at every link ({@link #learningRate}).
 *
 * <p>The strategy is its own (only) hook and is stateful: the current link goes into checkpoints. One instance serves one
 * run: {@link #addSlots} binds it to the adapter set.
 */
public final class ColaChain implements TrainingStrategy, StatefulHook {
    private final ColaConfig config;
    /** links.get(j).get(m): the slot of link j on module m. */
    private final List<List<LoraSet.Slot>> links = new ArrayList<>();
    private LoraSet set;
    private float[] scales; // per link
    private int current;
    private Arena arena; // the dense corrections' memory (DENSE, from the first knot to the end)
    private MemorySegment[] delta; // per module: Δ, out × in F32, set on the model

    /**
     * A chain with the given configuration; the slots are made by {@link #addSlots}.
     *
     * @param config the links, the learning-rate restart, the rank step and the fold
     * @throws NullPointerException if {@code config} is null
     */
    public ColaChain(ColaConfig config) {
        this.config = java.util.Objects.requireNonNull(config, "config");
    }

    @Override
    public String name() { return "cola"; }

    /**
     * The chain's configuration.
     *
     * @return the configuration given to the constructor
     */
    public ColaConfig config() { return config; }

    /**
     * Adds one slot per link and (layer, target), link by link, in the order layers × targets: link j's slots have rank
     * {@link ColaConfig#linkRank}{@code (j, r)} and the scale of that rank (alpha/rⱼ, or alpha/√rⱼ with rsLoRA), A
     * Kaiming-uniform from one stream of the run's seed, B = 0. Link 0's slots are on and train; the others are off.
     *
     * @param s   the empty adapter set
     * @param cfg the run's configuration (rank, alpha, rsLoRA, targets, seed)
     */
    @Override
    public void addSlots(LoraSet s, TrainConfig cfg) {
        this.set = s;
        SplittableRandom rng = new SplittableRandom(cfg.seed());
        int layers = (int) s.model().config().nLayer();
        scales = new float[config.links()];
        for (int k = 0; k < config.links(); k++) {
            int r = config.linkRank(k, cfg.rank());
            float scale = cfg.rsLora() ? (float) (cfg.alpha() / Math.sqrt(r)) : cfg.alpha() / r; // as TrainConfig.scale()
            scales[k] = scale;
            List<LoraSet.Slot> link = new ArrayList<>();
            for (int l = 0; l < layers; l++)
                for (Target t : cfg.targets()) {
                    LoraSet.Slot slot = s.addSlot(l, t, r, scale);
                    s.setWeights(slot, LoraInit.kaimingUniform(rng, r, slot.in()), null);
                    if (k > 0) s.setFlags(slot, scale, true, true, false);
                    link.add(slot);
                }
            links.add(link);
        }
        current = 0;
    }

    @Override
    public List<TrainHook> hooks() { return List.of(this); }

    /**
     * The link being trained.
     *
     * @return the link's index, 0 … links−1 (0 before the first knot)
     */
    public int currentLink() { return current; }

    /**
     * The slots of one link, one per (layer, target) in the order layers × targets.
     *
     * @param k the link, 0 … links−1
     * @return an unmodifiable list of the link's slots
     * @throws IndexOutOfBoundsException if {@code k} is out of range or {@link #addSlots} has not run
     */
    public List<LoraSet.Slot> linkSlots(int k) { return List.copyOf(links.get(k)); }

    /**
     * At the first step of a new link, ties the finished link in (see the class comment) and switches training to the new
     * link's slots with fresh AdamW state, reporting the knot on the trainer's progress stream.
     *
     * @param trainer the running trainer
     * @param step    the step about to run, 0-based
     */
    @Override
    public void beforeStep(Trainer trainer, int step) {
        int k = config.linkOf(step, trainer.config().steps());
        if (k == current) return;
        if (trainer.progress() != null)
            trainer.progress().printf("%ncola: knot at step %d: link %d tied in, link %d starts%n", step, current, k);
        knot(k);
    }

    /**
     * With {@link ColaConfig#restartLr()}, the run's schedule replayed over the step's link (warmup and decay as configured,
     * over the link's steps); else {@code lr} unchanged.
     *
     * @param trainer the running trainer
     * @param step    the step about to be applied, 0-based
     * @param lr      the rate of the run's schedule
     * @return the rate for the step
     */
    @Override
    public float learningRate(Trainer trainer, int step, float lr) {
        if (!config.restartLr()) return lr;
        TrainConfig c = trainer.config();
        int k = config.linkOf(step, c.steps());
        int start = config.linkStart(k, c.steps());
        int end = k + 1 < config.links() ? config.linkStart(k + 1, c.steps()) : c.steps();
        return LrSchedule.at(c.schedule(), c.lr(), step - start, end - start, c.warmupSteps(), c.minLrRatio());
    }

    /**
     * After the last step's update (before its validation and checkpoint): the chain is unfolded into its slots (see the
     * class comment), so the final checkpoint holds the whole chain.
     *
     * @param trainer the running trainer
     * @param step    the step just done, 0-based
     */
    @Override
    public void afterStep(Trainer trainer, int step) {
        if (step + 1 == trainer.config().steps()) unfold();
    }

    /**
     * Unfolds the chain into its slots if the last step did not (a cancelled run): Δ cleared and freed, links 0 … current on
     * and frozen, so the adapter (and its export) is the whole chain.
     *
     * @param trainer the trainer whose run ends
     */
    @Override
    public void onEnd(Trainer trainer) { unfold(); }

    /** Ties links current … k−1 in and makes link k train with fresh AdamW state. */
    private void knot(int k) {
        if (k < current) { // a run started over: no knot, the state of link k from scratch
            rebuild(k);
            return;
        }
        if (config.fold() == ColaConfig.Fold.DENSE && k > current) {
            ensureDelta();
            for (int j = current; j < k; j++) foldLink(j);
            pushDelta();
        }
        for (LoraSet.Slot s : links.get(k)) set.resetAdam(s);
        flags(k);
    }

    /** Flags for training link k: link k on and trainable, earlier links frozen and on (SLOTS) or off (DENSE), later off. */
    private void flags(int k) {
        boolean keepOn = config.fold() == ColaConfig.Fold.SLOTS;
        for (int j = 0; j < links.size(); j++)
            for (LoraSet.Slot slot : links.get(j)) set.setFlags(slot, scales[j], j == k, j == k, j == k || (j < k && keepOn));
        current = k;
    }

    /** Δ ← Δ + sⱼ·Bⱼ·Aⱼ on every module, row by row (the same float operations at a knot and at a rebuild on resume). */
    private void foldLink(int j) {
        List<LoraSet.Slot> link = links.get(j);
        for (int m = 0; m < link.size(); m++) {
            LoraSet.Slot s = link.get(m);
            int in = (int) s.in(), out = (int) s.out(), r = s.rank();
            float[] a = set.getA(s), b = set.getB(s), row = new float[in], brow = new float[r];
            MemorySegment d = delta[m];
            for (int o = 0; o < out; o++) {
                System.arraycopy(b, o * r, brow, 0, r);
                boolean zero = true;
                for (float v : brow) zero &= v == 0f;
                if (zero) continue; // adds nothing (addProduct skips zero coefficients too)
                long off = (long) o * in * Float.BYTES;
                MemorySegment.copy(d, ValueLayout.JAVA_FLOAT, off, row, 0, in);
                LowRank.addProduct(row, brow, a, 1, in, r, scales[j]);
                MemorySegment.copy(row, 0, d, ValueLayout.JAVA_FLOAT, off, in);
            }
        }
    }

    /** Allocates a zero Δ per module if there is none. */
    private void ensureDelta() {
        if (delta != null) return;
        List<LoraSet.Slot> first = links.get(0);
        arena = Arena.ofShared();
        delta = new MemorySegment[first.size()];
        for (int m = 0; m < first.size(); m++) delta[m] = arena.allocate(ValueLayout.JAVA_FLOAT, first.get(m).in() * first.get(m).out());
    }

    /** Sets every module's Δ on the model (again: a CUDA model copies it at this call). */
    private void pushDelta() {
        List<LoraSet.Slot> first = links.get(0);
        for (int m = 0; m < first.size(); m++) set.model().setDelta(first.get(m).target().weight(), first.get(m).layer(), delta[m]);
    }

    /** Clears and frees Δ, and switches links 0 … current on, frozen: the adapter is then the whole chain. */
    private void unfold() {
        if (set == null) return;
        clearDelta();
        for (int j = 0; j < links.size(); j++)
            for (LoraSet.Slot slot : links.get(j)) set.setFlags(slot, scales[j], false, false, j <= current);
    }

    /** Clears every module's Δ on the model and frees it, if there is one. */
    private void clearDelta() {
        if (delta == null) return;
        for (LoraSet.Slot s : links.get(0)) set.model().setDelta(s.target().weight(), s.layer(), null);
        delta = null;
        arena.close();
        arena = null;
    }

    /**
     * The state for checkpoints.
     *
     * @return one number: the current link
     */
    @Override
    public long[] state() { return new long[] {current}; }

    /**
     * Restores the saved link: the slots' flags as for training it and (DENSE) Δ rebuilt from the finished links' factors,
     * which the checkpoint restored before this call, exactly as the interrupted run built it.
     *
     * @param state the array {@link #state()} gave
     * @throws IllegalArgumentException if the saved link is not one of this chain's
     */
    @Override
    public void restore(long[] state) {
        if (state.length != 1 || state[0] < 0 || state[0] >= links.size())
            throw new IllegalArgumentException("the checkpoint's COLA link " + (state.length == 1 ? state[0] : "?") + " is not one of the "
                    + links.size() + " links of this chain");
        rebuild((int) state[0]);
    }

    /** Link k's state from the slots alone: Δ (DENSE) cleared, then rebuilt from links 0 … k−1 as the knots built it. */
    private void rebuild(int k) {
        clearDelta();
        if (config.fold() == ColaConfig.Fold.DENSE && k > 0) {
            ensureDelta();
            for (int j = 0; j < k; j++) foldLink(j);
            pushDelta();
        }
        flags(k);
    }

    @Override
    public String toString() { return key(); }

    @Override
    public String key() {
        return "cola(links=" + config.links() + ",restartLr=" + config.restartLr() + ",rankStep=" + config.rankStep() + ",fold="
                + config.fold() + ")";
    }
}
