package io.panlora.train;

import io.panlora.lora.LoraSet;
import java.util.List;

/**
 * How a run uses the adapter slots: which slots exist and how they start, and the hooks that change them during
 * training. Plain LoRA is one slot per (layer, target) and no hooks; the variants live in {@code io.panlora.variants}.
 */
public interface TrainingStrategy {
    /**
     * A short name for logs and checkpoints.
     *
     * @return the strategy's name: {@code lora}, {@code copra}, {@code cola}, {@code cora}, {@code lorasc} …
     */
    String name();

    /**
     * Creates and initialises the slots; called once before training (and before a resume restores them), before the set is
     * attached to the model. The slots' factors live in the engine's native memory, owned by {@code set}.
     *
     * @param set the empty adapter set of the model to train; a strategy with hooks may keep it for them
     * @param cfg the run's configuration (rank, alpha, targets, seed)
     */
    void addSlots(LoraSet set, TrainConfig cfg);

    /**
     * The hooks this strategy puts on the loop, to be added to the {@link Trainer} in this order.
     *
     * @return the hooks (often just the strategy itself); empty for none
     */
    List<TrainHook> hooks();

    /** Plain LoRA: one slot per (layer, target), PEFT init ({@link LoraInit#addStandard}), no hooks. Stateless. */
    TrainingStrategy LORA = new TrainingStrategy() {
        @Override
        public String name() { return "lora"; }

        @Override
        public void addSlots(LoraSet set, TrainConfig cfg) {
            LoraInit.addStandard(set, cfg.rank(), cfg.scale(), cfg.targets(), cfg.seed());
        }

        @Override
        public List<TrainHook> hooks() { return List.of(); }
    };
}
