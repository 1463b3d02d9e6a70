package io.panlora.variants.lora;

import io.panlora.train.TrainingStrategy;
import io.panlora.variants.VariantOption;
import io.panlora.variants.VariantSettings;
import io.panlora.variants.VariantType;
import java.util.List;

/** Plain LoRA (PEFT's {@code LoraConfig}): one slot per (layer, target), A Kaiming-uniform, B zero, both trained. */
public final class LoraVariant implements VariantType {
    /** The variant; {@link io.panlora.variants.Variants} holds the instance in use. */
    public LoraVariant() {}

    @Override
    public String name() { return "lora"; }

    @Override
    public String summary() { return "plain LoRA (Hu et al. 2021; PEFT's LoraConfig)"; }

    @Override
    public List<VariantOption> options() { return List.of(); }

    @Override
    public TrainingStrategy create(VariantSettings settings) { return TrainingStrategy.LORA; }
}
