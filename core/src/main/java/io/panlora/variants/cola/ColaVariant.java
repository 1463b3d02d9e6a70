package io.panlora.variants.cola;

import io.panlora.train.TrainingStrategy;
import io.panlora.variants.VariantOption;
import io.panlora.variants.VariantSettings;
import io.panlora.variants.VariantType;
import java.util.List;

/** Chain of LoRA: the run split into links; each finished link is folded in and a fresh adapter starts. */
public final class ColaVariant implements VariantType {
    /** The variant; {@link io.panlora.variants.Variants} holds the instance in use. */
    public ColaVariant() {}

    @Override
    public String name() { return "cola"; }

    @Override
    public String summary() { return "COLA, Chain of LoRA: links of equal length, each folded in before a fresh one starts (arXiv 2401.04151)"; }

    @Override
    public List<VariantOption> options() {
        return List.of(
                VariantOption.of("cola-links", "3", "COLA: links in the chain, at least 1 (1 is plain LoRA)"),
                VariantOption.flag("cola-restart-lr", "COLA: restart the learning-rate schedule (warmup and decay) at every link; default: one schedule over the run"),
                VariantOption.of("cola-rank-step", "0", "COLA: link j has rank max(1, r - j*K) (0: every link of rank r)"),
                VariantOption.of("cola-fold", "slots", "COLA: a finished link stays as a frozen slot (slots) or is added to a dense F32 correction per module (dense)"));
    }

    @Override
    public TrainingStrategy create(VariantSettings s) {
        int links = s.integer("cola-links"), step = s.integer("cola-rank-step");
        if (links < 1) throw new IllegalArgumentException("--cola-links must be >= 1, got " + links);
        if (step < 0) throw new IllegalArgumentException("--cola-rank-step must be >= 0, got " + step);
        ColaConfig.Fold fold = switch (s.text("cola-fold").toLowerCase(java.util.Locale.ROOT)) {
            case "slots" -> ColaConfig.Fold.SLOTS;
            case "dense" -> ColaConfig.Fold.DENSE;
            default -> throw new IllegalArgumentException("--cola-fold must be slots or dense, got '" + s.text("cola-fold") + "'");
        };
        return new ColaChain(new ColaConfig(links, s.bool("cola-restart-lr"), step, fold));
    }
}
