package io.panlora.cli;

import io.panlora.gguf.GgmlType;
import io.panlora.lora.AdapterGguf;
import io.panlora.lora.LoraSet;
import io.panlora.merge.MergedModel;
import java.util.List;
import io.panlora.model.LlamaModel;
import io.panlora.train.internal.Checkpoint;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code panlora export}: writes a GGUF LoRA adapter (llama.cpp layout) from a training checkpoint or another adapter. */
@Command(name = "export", mixinStandardHelpOptions = true,
        description = "Export a GGUF LoRA adapter (F32, F16, BF16, Q8_0 … Q2_K) from a run's checkpoint or another adapter, or with --merge the full model with the adapter folded in.")
final class ExportCommand implements Callable<Integer> {
    @Option(names = {"-m", "--model"}, required = true, description = "the base GGUF model the adapter belongs to")
    Path model;

    @Option(names = "--checkpoint", description = "a training output directory (holding checkpoint.gguf)")
    Path checkpoint;

    @Option(names = "--adapter", description = "an existing GGUF LoRA adapter to convert")
    Path adapter;

    @Option(names = {"-o", "--output"}, required = true, description = "adapter GGUF to write")
    Path output;

    @Option(names = "--type", description = "adapter: F32, F16, BF16, Q8_0, Q6_K, Q5_1, Q5_K, Q5_0, Q4_1, Q4_K, Q4_0, Q3_K, Q2_K (default Q8_0); --merge: any type for the adapted tensors (default: their own if F32/F16/BF16, else F16)")
    String type;

    @Option(names = "--merge", description = "write the full model with the adapter folded into its weights instead of an adapter")
    boolean merge;

    @Mixin VerifyOption verify;

    @Override
    public Integer call() throws Exception {
        if ((checkpoint == null) == (adapter == null)) throw new IllegalArgumentException("give exactly one of --checkpoint DIR or --adapter FILE");
        Check.inputFile("-m", model);
        Check.inputDirectory("--checkpoint", checkpoint);
        Check.inputFile("--adapter", adapter);
        Check.outputFile("-o", output);
        GgmlType t = type == null ? (merge ? null : GgmlType.Q8_0)
                : GgmlType.valueOf(merge ? Check.oneOf("--type", type, InitCommand.WEIGHT_TYPES) : Check.oneOf("--type", type, TrainCommand.ADAPTER_TYPES));
        verify.check();
        VerifyCommand.F16 f16 = null;
        try (LlamaModel m = LlamaModel.load(model); LoraSet set = new LoraSet(m)) {
            int n = checkpoint != null ? Checkpoint.loadSlotsInto(checkpoint, set) : AdapterGguf.load(adapter, set, 1f);
            List<String> notes = merge ? MergedModel.write(m.gguf().orElseThrow(), set, output, t) : AdapterGguf.write(output, set, m.config(), t, "panlora-lora");
            for (String note : notes) System.out.println("note: " + note);
            System.out.printf(merge ? "wrote %s: the base with %d slots folded in (%s)%n" : "wrote %s: %d slots as %s%n", output, n,
                    t == null ? "F32/F16/BF16 kept, quantized tensors as F16" : merge || notes.isEmpty() ? t : t + "; " + AdapterGguf.typeSummary(output));
            if (!merge) f16 = verify.f16Version(output, set, m.config(), t);
        }
        return (merge ? verify.model(output, System.out) : verify.adapter(model, output, f16, System.out)) ? 0 : 1;
    }
}
