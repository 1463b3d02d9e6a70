package io.panlora.train;

import io.panlora.lora.LoraSet;
import java.util.List;

/**
 * How a run uses the adapter slots: which slots exist and how they start, and the hooks that change them during
 * training. Plain LoRA is one slot per (layer, target) and no hooks; the variants live in {@code io.panlora.variants}.
 */
public interface TrainingStrategy {
    /** A short name (lora, copra, cola …) for logs and checkpoints. */
    String name();

    /** Creates and initialises the slots; called once before training (and before a resume restores them). */
    void addSlots(LoraSet set, TrainConfig cfg);

    /** The hooks this strategy puts on the loop. */
    List<TrainHook> hooks();

    /** Plain LoRA: one slot per (layer, target), PEFT init, no hooks. */
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
