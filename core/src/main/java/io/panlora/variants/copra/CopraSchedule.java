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
 *
 * <p>The strategy is its own (only) hook. With {@link CopraConfig#shapleyPermutations()} above 0 and validation data, the end
 * of the run estimates per-layer Shapley values, prints them to the progress stream and writes {@code shapley.json} into the
 * run directory. One instance serves one run.
 */
public final class CopraSchedule implements TrainingStrategy, StatefulHook {
    private final CopraConfig config;
    private final SplitMix64 rng;
    private LoraSet set;
    private boolean[] lastMask;

    /**
     * A schedule whose mask RNG starts from the configuration's seed.
     *
     * @param config the schedule's probabilities, seed and Shapley setting
     */
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

    /**
     * Draws the mask of a step: layer active iff u ≤ p(t), u uniform in [0, 1); the whole mask is redrawn while no layer is
     * active. Advances the mask RNG (the state that is checkpointed).
     *
     * @param layers     the model's layer count, at least 1
     * @param step       the step, 0-based
     * @param totalSteps the run's steps
     * @return a new array, true for each active layer; at least one is true
     */
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

    /**
     * Draws the step's mask ({@link #drawMask}) and turns each layer's adapters on or off by it.
     *
     * @param trainer the running trainer
     * @param step    the step about to run, 0-based
     */
    @Override
    public void beforeStep(Trainer trainer, int step) {
        LoraSet s = set != null ? set : trainer.lora();
        int layers = (int) trainer.model().config().nLayer();
        lastMask = drawMask(layers, step, trainer.config().steps());
        for (int l = 0; l < layers; l++) s.setLayerEnabled(l, lastMask[l]);
    }

    /**
     * Turns every layer on again: the mask holds for the optimizer step only, so validation and checkpoints see the whole
     * adapter.
     *
     * @param trainer the running trainer
     * @param step    the step just done, 0-based
     */
    @Override
    public void afterStep(Trainer trainer, int step) {
        enableAll(trainer);
    }

    /**
     * Turns every layer on and, when asked for and there are validation batches, estimates the Shapley values (see
     * {@link #shapley()}), prints them to the progress stream and writes {@code shapley.json} into the run directory.
     *
     * @param trainer the trainer whose run ends
     * @throws java.io.UncheckedIOException if {@code shapley.json} cannot be written
     */
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

    /**
     * The Shapley values estimated at the end of the run.
     *
     * @return per-layer values (in nats per token of validation loss removed); null if not asked for, without validation
     *         batches, or before the run ended
     */
    public Shapley.Values shapley() { return shapley; }

    private void enableAll(Trainer trainer) {
        LoraSet s = set != null ? set : trainer.lora();
        for (int l = 0; l < trainer.model().config().nLayer(); l++) s.setLayerEnabled(l, true);
    }

    /**
     * The mask of the last step (for reports and tests).
     *
     * @return a copy, true for each layer that was active; null before the first step
     */
    public boolean[] lastMask() { return lastMask == null ? null : lastMask.clone(); }

    /**
     * The state for checkpoints.
     *
     * @return one number: the mask RNG's state
     */
    @Override
    public long[] state() { return new long[] {rng.state()}; }

    /**
     * Restores the mask RNG, so that the following steps draw the masks the interrupted run would have drawn.
     *
     * @param state the array {@link #state()} gave
     */
    @Override
    public void restore(long[] state) { rng.setState(state[0]); }

    @Override
    public String key() {
        return "copra(p0=" + config.p0() + ",p1=" + config.p1() + ",rho=" + config.rho() + ",seed=" + config.seed() + ",shapley="
                + config.shapleyPermutations() + ")";
    }

    @Override
    public String toString() { return key(); }
}
