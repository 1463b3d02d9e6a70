package io.panlora.variants.copra;

import io.panlora.train.TrainingStrategy;
import io.panlora.variants.VariantOption;
import io.panlora.variants.VariantSettings;
import io.panlora.variants.VariantType;
import java.util.List;

/** CopRA / CoTo: progressive layer dropping, optionally followed by per-layer Shapley values. */
public final class CopraVariant implements VariantType {
    /** The variant; {@link io.panlora.variants.Variants} holds the instance in use. */
    public CopraVariant() {}

    @Override
    public String name() { return "copra"; }

    @Override
    public List<String> aliases() { return List.of("coto"); }

    @Override
    public String summary() { return "CopRA/CoTo: each layer's adapter active with a probability rising over the run (arXiv 2410.22911)"; }

    @Override
    public List<VariantOption> options() {
        return List.of(
                VariantOption.of("copra-p0", "0.1", "CopRA: layer activation probability at step 0, in [0, 1]"),
                VariantOption.of("copra-p1", "1.0", "CopRA: final activation probability, in [p0, 1]"),
                VariantOption.of("copra-rho", "0.75", "CopRA: share of the run over which the probability rises, in (0, 1]"),
                VariantOption.of("shapley-permutations", "0", "CopRA: estimate per-layer Shapley values after training over N permutations (0: off)"));
    }

    @Override
    public TrainingStrategy create(VariantSettings s) {
        double p0 = s.number("copra-p0"), p1 = s.number("copra-p1"), rho = s.number("copra-rho");
        int perms = s.integer("shapley-permutations");
        if (!(p0 >= 0 && p0 <= 1)) throw new IllegalArgumentException("--copra-p0 must be in [0, 1], got " + p0);
        if (!(p1 >= p0 && p1 <= 1)) throw new IllegalArgumentException("--copra-p1 must be in [--copra-p0, 1], got " + p1);
        if (!(rho > 0 && rho <= 1)) throw new IllegalArgumentException("--copra-rho must be in (0, 1], got " + rho);
        if (perms < 0) throw new IllegalArgumentException("--shapley-permutations must be >= 0, got " + perms);
        return new CopraSchedule(new CopraConfig(p0, p1, rho, s.seed(), perms));
    }
}
