package io.panlora.cli;

import io.panlora.model.WeightPlacement;
import picocli.CommandLine.Option;

/** {@code --weights auto|resident|streamed|f32}: how a CUDA model holds its base weights (ignored on the CPU). */
final class WeightsOption {
    @Option(names = "--weights", defaultValue = "auto", paramLabel = "auto|resident|streamed|f32",
            description = "CUDA base weights: auto (resident if they fit, else streamed), resident (BF16 on the GPU), streamed "
                    + "(BF16 in pinned host memory, copied per layer), f32 (F32 on the GPU, F32 GEMMs: the CPU-matching reference); "
                    + "ignored on the CPU (default: ${DEFAULT-VALUE})")
    String weights;

    WeightPlacement placement() {
        return WeightPlacement.parse(weights);
    }
}
