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
 */
public final class ColaChain implements TrainingStrategy, StatefulHook {
    private final ColaConfig config;
    private final List<List<LoraSet.Slot>> links = new ArrayList<>();
    private LoraSet set;
    private float scale;
    private int current;

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

    /** The link being trained. */
    public int currentLink() { return current; }

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

    @Override
    public long[] state() { return new long[] {current}; }

    @Override
    public void restore(long[] state) { apply((int) state[0]); }

    @Override
    public String toString() { return "cola" + config; }
}
