package io.panlora.cli;

import io.panlora.convert.PeftAdapter;
import io.panlora.gguf.GgmlType;
import io.panlora.lora.AdapterGguf;
import io.panlora.lora.LoraSet;
import io.panlora.model.LlamaModel;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code panlora convert}: Hugging Face PEFT LoRA adapters ↔ GGUF LoRA adapters for a GGUF base. */
@Command(name = "convert", mixinStandardHelpOptions = true,
        description = "Convert a PEFT LoRA adapter directory (adapter_model.safetensors + adapter_config.json) to GGUF, or a GGUF adapter to PEFT.")
final class ConvertCommand implements Callable<Integer> {
    @Option(names = {"-m", "--model"}, required = true, description = "the GGUF base the adapter belongs to") Path model;
    @Option(names = "--from-peft", description = "PEFT adapter directory to read") Path fromPeft;
    @Option(names = "--adapter", description = "GGUF adapter to read") Path adapter;
    @Option(names = "--to-peft", description = "write a PEFT adapter directory here") Path toPeft;
    @Option(names = {"-o", "--output"}, description = "write a GGUF adapter here") Path output;
    @Option(names = "--type", defaultValue = "F16", description = "GGUF: F32, F16, BF16, Q8_0; PEFT: F32, F16, BF16 (default: ${DEFAULT-VALUE})") String type;
    @Option(names = "--base-name", defaultValue = "", description = "PEFT base_model_name_or_path to record") String baseName;

    @Override
    public Integer call() throws Exception {
        if ((fromPeft == null) == (adapter == null)) throw new IllegalArgumentException("give exactly one of --from-peft DIR or --adapter FILE");
        if ((toPeft == null) == (output == null)) throw new IllegalArgumentException("give exactly one of --to-peft DIR or -o FILE");
        Check.inputFile("-m", model);
        Check.inputDirectory("--from-peft", fromPeft);
        Check.inputFile("--adapter", adapter);
        if (output != null) {
            Check.outputFile("-o", output);
            Check.oneOf("--type", type, TrainCommand.ADAPTER_TYPES);
        } else {
            Check.outputDirectory("--to-peft", toPeft);
            Check.oneOf("--type", type, java.util.List.of("F32", "F16", "BF16"));
        }
        try (LlamaModel m = LlamaModel.load(model); LoraSet set = new LoraSet(m)) {
            int n = fromPeft != null ? PeftAdapter.load(fromPeft, set, 1f) : AdapterGguf.load(adapter, set, 1f);
            if (output != null) {
                for (String note : AdapterGguf.write(output, set, m.config(), GgmlType.valueOf(type.toUpperCase()), "panlora-converted"))
                    System.out.println("note: " + note);
                System.out.printf("wrote %s: %d modules%n", output, n);
            } else {
                try {
                    PeftAdapter.write(toPeft, set, type.toUpperCase(), baseName.isEmpty() ? m.gguf().orElseThrow().getString("general.name", "") : baseName);
                } catch (java.io.IOException e) {
                    throw Check.naming(toPeft, e);
                }
                System.out.printf("wrote %s: %d modules%n", toPeft, n);
            }
        }
        return 0;
    }
}
