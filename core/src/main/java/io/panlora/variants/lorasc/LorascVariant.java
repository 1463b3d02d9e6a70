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
                VariantOption.of("lorasc-noise", "gaussian", "LoRASC: backbone noise law, gaussian N(0, (gamma std W)^2) or uniform U(-gamma/2, gamma/2) std W (NoisyTune)"),
                VariantOption.of("lorasc-gamma", "", "LoRASC: noise scale in units of each module's weight std, >= 0 (default: 0.01 gaussian, 0.15 uniform)"),
                VariantOption.of("lorasc-rank-out", "0", "LoRASC: rank of the exported slow update S, SVD-truncated (0: exact)"));
    }

    @Override
    public TrainingStrategy create(VariantSettings s) {
        int every = s.integer("lorasc-every"), rankOut = s.integer("lorasc-rank-out");
        double alpha = s.number("lorasc-alpha");
        if (every < 0) throw new IllegalArgumentException("--lorasc-every must be >= 0, got " + every);
        if (!(alpha > 0 && alpha <= 1)) throw new IllegalArgumentException("--lorasc-alpha must be in (0, 1], got " + alpha);
        if (rankOut < 0) throw new IllegalArgumentException("--lorasc-rank-out must be >= 0, got " + rankOut);
        LorascConfig.Noise noise;
        try {
            noise = LorascConfig.Noise.parse(s.text("lorasc-noise"));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--lorasc-noise must be gaussian or uniform, got '" + s.text("lorasc-noise") + "'");
        }
        double scale = s.text("lorasc-gamma").isEmpty() ? LorascConfig.defaultScale(noise) : s.number("lorasc-gamma");
        if (!(scale >= 0)) throw new IllegalArgumentException("--lorasc-gamma must be >= 0, got " + scale);
        return new LorascCascade(new LorascConfig(every > 0 ? every : Math.max(1, s.steps() / 3), alpha, noise, scale, rankOut, s.seed()));
    }
}
