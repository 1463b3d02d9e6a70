package io.panlora.variants.lorasc;

import io.panlora.train.TrainingStrategy;
import io.panlora.variants.VariantOption;
import io.panlora.variants.VariantSettings;
import io.panlora.variants.VariantType;
import java.util.List;

/** LoRASC: slow cascaded learning with a noisy backbone and slow-fast updates. */
public final class LorascVariant implements VariantType {
    /** The variant; {@link io.panlora.variants.Variants} holds the instance in use. */
    public LorascVariant() {}

    @Override
    public String name() { return "lorasc"; }

    @Override
    public String summary() { return "LoRASC: cascaded fast LoRAs on a noisy backbone, a share of each kept in slow weights (arXiv 2407.01491)"; }

    @Override
    public List<VariantOption> options() {
        return List.of(
                VariantOption.of("lorasc-every", "0", "LoRASC: steps per cascade iteration (0: a third of the run)"),
                VariantOption.of("lorasc-alpha", "0.5", "LoRASC: share of each fast LoRA the slow weights take, in (0, 1]"),
                VariantOption.of("lorasc-gamma", "0.01", "LoRASC: backbone noise, in units of each module's weight std, >= 0"));
    }

    @Override
    public TrainingStrategy create(VariantSettings s) {
        int every = s.integer("lorasc-every");
        if (every < 0) throw new IllegalArgumentException("--lorasc-every must be >= 0, got " + every);
        return new LorascCascade(new LorascConfig(every > 0 ? every : Math.max(1, s.steps() / 3), s.number("lorasc-alpha"),
                s.number("lorasc-gamma"), s.seed()));
    }
}
