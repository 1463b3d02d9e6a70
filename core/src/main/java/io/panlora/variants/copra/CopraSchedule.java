package io.panlora.variants.copra;

import io.panlora.lora.LoraSet;
import io.panlora.train.StatefulHook;
import io.panlora.train.TrainConfig;
import io.panlora.train.Trainer;
import io.panlora.train.TrainingStrategy;
import io.panlora.train.TrainHook;
import io.panlora.prune.Shapley;
import io.panlora.tensor.SplitMix64;
import java.util.List;

/**
 * CopRA as a strategy: standard LoRA slots, and before every optimizer step a per-layer mask drawn from the
 * progressive schedule (a layer whose mask is off runs its base only and gets no gradient that step; no 1/p
 * rescaling). After training every layer is on again. The mask RNG is checkpointed, so resume is exact.
 */
public final class CopraSchedule implements TrainingStrategy, StatefulHook {
    private final CopraConfig config;
    private final SplitMix64 rng;
    private LoraSet set;
    private boolean[] lastMask;

    public CopraSchedule(CopraConfig config) {
        this.config = config;
        this.rng = new SplitMix64(config.seed());
    }

    @Override
    public String name() { return "copra"; }

    @Override
    public void addSlots(LoraSet s, TrainConfig cfg) {
        this.set = s;
        TrainingStrategy.LORA.addSlots(s, cfg);
    }

    @Override
    public List<TrainHook> hooks() { return List.of(this); }

    /** Draws the mask of a step: layer active iff u ≤ p(t); redrawn while no layer is active. */
    public boolean[] drawMask(int layers, int step, int totalSteps) {
        double p = config.probability(step, totalSteps);
        boolean[] mask = new boolean[layers];
        boolean any;
        do {
            any = false;
            for (int l = 0; l < layers; l++) {
                mask[l] = rng.nextDouble() <= p;
                any |= mask[l];
            }
        } while (!any);
        return mask;
    }

    @Override
    public void beforeStep(Trainer trainer, int step) {
        LoraSet s = set != null ? set : trainer.lora();
        int layers = (int) trainer.model().config().nLayer();
        lastMask = drawMask(layers, step, trainer.config().steps());
        for (int l = 0; l < layers; l++) s.setLayerEnabled(l, lastMask[l]);
    }

    /** The mask holds for the optimizer step only: validation and checkpoints see the whole adapter. */
    @Override
    public void afterStep(Trainer trainer, int step) {
        enableAll(trainer);
    }

    @Override
    public void onEnd(Trainer trainer) {
        enableAll(trainer);
        if (config.shapleyPermutations() > 0 && !trainer.validationBatches().isEmpty()) {
            shapley = Shapley.estimate(trainer.model(), trainer.lora(), trainer.validationBatches(), config.shapleyPermutations(), config.seed() + 1);
            if (trainer.progress() != null) trainer.progress().print(Shapley.format(shapley));
            if (trainer.outDir() != null) {
                try {
                    java.nio.file.Files.writeString(trainer.outDir().resolve("shapley.json"), Shapley.json(shapley));
                } catch (java.io.IOException e) {
                    throw new java.io.UncheckedIOException("writing shapley.json", e);
                }
            }
        }
    }

    private Shapley.Values shapley;

    /** The Shapley values estimated at the end (null if not asked for). */
    public Shapley.Values shapley() { return shapley; }

    private void enableAll(Trainer trainer) {
        LoraSet s = set != null ? set : trainer.lora();
        for (int l = 0; l < trainer.model().config().nLayer(); l++) s.setLayerEnabled(l, true);
    }

    /** The mask of the last step (for reports and tests). */
    public boolean[] lastMask() { return lastMask == null ? null : lastMask.clone(); }

    @Override
    public long[] state() { return new long[] {rng.state()}; }

    @Override
    public void restore(long[] state) { rng.setState(state[0]); }

    @Override
    public String toString() { return "copra" + config; }
}
