package io.panlora.cli;

import io.panlora.convert.PeftAdapter;
import io.panlora.gguf.GgmlType;
import io.panlora.lora.AdapterGguf;
import io.panlora.lora.LoraSet;
import io.panlora.model.LlamaModel;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
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
    @Option(names = "--type", defaultValue = "F16", description = "GGUF: F32, F16, BF16, Q8_0, Q6_K, Q5_1, Q5_K, Q5_0, Q4_1, Q4_K, Q4_0, Q3_K, Q2_K; PEFT: F32, F16, BF16 (default: ${DEFAULT-VALUE})") String type;
    @Option(names = "--base-name", defaultValue = "", description = "PEFT base_model_name_or_path to record") String baseName;

    @Mixin VerifyOption verify;

    @Override
    public Integer call() throws Exception {
        if ((fromPeft == null) == (adapter == null)) throw new IllegalArgumentException("give exactly one of --from-peft DIR or --adapter FILE");
        if ((toPeft == null) == (output == null)) throw new IllegalArgumentException("give exactly one of --to-peft DIR or -o FILE");
        if (verify.verify && toPeft != null)
            throw new IllegalArgumentException("--verify is not applicable to --to-peft: it checks a GGUF output with llama.cpp, and a PEFT "
                    + "directory is not one (convert to GGUF with -o FILE --verify, or verify the GGUF source with panlora verify)");
        Check.inputFile("-m", model);
        Check.inputDirectory("--from-peft", fromPeft);
        Check.inputFile("--adapter", adapter);
        if (output != null) {
            Check.outputFile("-o", output);
            type = Check.oneOf("--type", type, TrainCommand.ADAPTER_TYPES);
        } else {
            Check.outputDirectory("--to-peft", toPeft);
            type = Check.oneOf("--type", type, java.util.List.of("F32", "F16", "BF16"));
        }
        verify.check();
        VerifyCommand.F16 f16 = null;
        try (LlamaModel m = LlamaModel.load(model); LoraSet set = new LoraSet(m)) {
            int n = fromPeft != null ? PeftAdapter.load(fromPeft, set, 1f) : AdapterGguf.load(adapter, set, 1f);
            if (output != null) {
                GgmlType t = GgmlType.valueOf(type);
                java.util.List<String> notes = AdapterGguf.write(output, set, m.config(), t, "panlora-converted");
                for (String note : notes) System.out.println("note: " + note);
                System.out.printf("wrote %s: %d modules%s%n", output, n, notes.isEmpty() ? "" : " (" + AdapterGguf.typeSummary(output) + ")");
                f16 = verify.f16Version(output, set, m.config(), t);
            } else {
                try {
                    PeftAdapter.write(toPeft, set, type, baseName.isEmpty() ? m.gguf().orElseThrow().getString("general.name", "") : baseName);
                } catch (java.io.IOException e) {
                    throw Check.naming(toPeft, e);
                }
                System.out.printf("wrote %s: %d modules%n", toPeft, n);
            }
        }
        return output == null || verify.adapter(model, output, f16, System.out) ? 0 : 1;
    }
}
