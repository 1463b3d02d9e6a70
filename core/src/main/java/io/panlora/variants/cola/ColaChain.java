package io.panlora.variants.cola;

import io.panlora.lora.LoraSet;
import io.panlora.lora.Target;
import io.panlora.train.LoraInit;
import io.panlora.train.StatefulHook;
import io.panlora.train.TrainConfig;
import io.panlora.train.TrainHook;
import io.panlora.train.Trainer;
import io.panlora.train.TrainingStrategy;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * COLA as a strategy. Every link's slots exist from the start (A random, B = 0; links after the first disabled), so
 * the slot layout never changes and checkpoints stay simple. A knot freezes the finished link's slots, which keep
 * contributing s·B·A exactly (the fold W ← W + s·B·A kept as a frozen low-rank term, exact for quantized bases
 * too), and enables the next link's fresh slots, whose AdamW state is still zero; the learning-rate schedule
 * continues over the whole run. The exported adapter is the sum of the links (rank links × r).
 *
 * <p>The strategy is its own (only) hook and is stateful: the current link goes into checkpoints. One instance serves one
 * run: {@link #addSlots} binds it to the adapter set.
 */
public final class ColaChain implements TrainingStrategy, StatefulHook {
    private final ColaConfig config;
    private final List<List<LoraSet.Slot>> links = new ArrayList<>();
    private LoraSet set;
    private float scale;
    private int current;

    /**
     * A chain with the given number of links; the slots are made by {@link #addSlots}.
     *
     * @param config the link count
     */
    public ColaChain(ColaConfig config) {
        this.config = config;
    }

    @Override
    public String name() { return "cola"; }

    @Override
    public void addSlots(LoraSet s, TrainConfig cfg) {
        this.set = s;
        this.scale = cfg.scale();
        SplittableRandom rng = new SplittableRandom(cfg.seed());
        int layers = (int) s.model().config().nLayer();
        for (int k = 0; k < config.links(); k++) {
            List<LoraSet.Slot> link = new ArrayList<>();
            for (int l = 0; l < layers; l++)
                for (Target t : cfg.targets()) {
                    LoraSet.Slot slot = s.addSlot(l, t, cfg.rank(), scale);
                    s.setWeights(slot, LoraInit.kaimingUniform(rng, cfg.rank(), slot.in()), null);
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
     * At the first step of a new link, ties the finished link in (frozen, still contributing) and switches training to the
     * new link's slots, reporting the knot on the trainer's progress stream.
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
        apply(k);
    }

    /** Flags for training link k: links before it frozen and on, link k trainable, later links off. */
    private void apply(int k) {
        for (int j = 0; j < links.size(); j++)
            for (LoraSet.Slot slot : links.get(j)) set.setFlags(slot, scale, j == k, j == k, j <= k);
        current = k;
    }

    /**
     * The state for checkpoints.
     *
     * @return one number: the current link
     */
    @Override
    public long[] state() { return new long[] {current}; }

    /**
     * Sets the slots' flags for the saved link: the links before it frozen and on, it trainable, the later ones off.
     *
     * @param state the array {@link #state()} gave
     */
    @Override
    public void restore(long[] state) { apply((int) state[0]); }

    @Override
    public String toString() { return "cola" + config; }
}
