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
        return List.of(VariantOption.of("cola-links", "3", "COLA: links in the chain, at least 1"));
    }

    @Override
    public TrainingStrategy create(VariantSettings s) {
        return new ColaChain(new ColaConfig(s.integer("cola-links")));
    }
}
