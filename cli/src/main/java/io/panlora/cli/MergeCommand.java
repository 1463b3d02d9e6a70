package io.panlora.cli;

import io.panlora.gguf.GgmlType;
import io.panlora.lora.AdapterGguf;
import io.panlora.lora.LoraSet;
import io.panlora.merge.AdapterMerge;
import io.panlora.model.LlamaModel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code panlora merge}: several GGUF LoRA adapters of one base into one (PEFT's combination types). */
@Command(name = "merge", mixinStandardHelpOptions = true,
        description = "Merge GGUF LoRA adapters of one base: cat, linear, svd, task_arithmetic, ties, dare.")
final class MergeCommand implements Callable<Integer> {
    @Option(names = {"-m", "--model"}, required = true, description = "the base GGUF model")
    Path model;

    @Option(names = "--adapter", required = true, description = "an adapter, optionally FILE:WEIGHT (repeatable; weight 1 by default)")
    List<String> adapters;

    @Option(names = "--method", defaultValue = "ties", description = "cat | linear | svd | task_arithmetic | ties | dare (default: ${DEFAULT-VALUE})")
    String method;

    @Option(names = {"-r", "--rank"}, defaultValue = "0", description = "rank of the svd-based results (default: the sum of the input ranks)")
    int rank;

    @Option(names = "--density", defaultValue = "0.5", description = "ties/dare: share of entries kept (default: ${DEFAULT-VALUE})")
    double density;

    @Option(names = {"-s", "--seed"}, defaultValue = "1", description = "dare's random drops (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = {"-o", "--output"}, required = true, description = "merged adapter GGUF")
    Path output;

    @Option(names = "--type", defaultValue = "F16", description = "F32, F16, BF16, Q8_0, Q6_K, Q5_1, Q5_K, Q5_0, Q4_1, Q4_K, Q4_0, Q3_K, Q2_K (default: ${DEFAULT-VALUE})")
    String type;

    @Mixin VerifyOption verify;

    @Override
    public Integer call() throws Exception {
        Check.inputFile("-m", model);
        Check.outputFile("-o", output);
        Check.range("--rank", rank, 0, Check.MAX_RANK);
        Check.range("--density", density, 0, 1);
        GgmlType outType = GgmlType.valueOf(Check.oneOf("--type", type, TrainCommand.ADAPTER_TYPES));
        AdapterMerge.Method how = AdapterMerge.Method.parse(method);
        List<Path> paths = new ArrayList<>();
        double[] w = new double[adapters.size()];
        for (int i = 0; i < adapters.size(); i++) {
            String a = adapters.get(i);
            int c = a.lastIndexOf(':');
            w[i] = 1;
            if (c > 0) {
                try {
                    w[i] = Double.parseDouble(a.substring(c + 1));
                    a = a.substring(0, c);
                    Check.finite("--adapter " + adapters.get(i) + ": the weight", w[i]);
                } catch (NumberFormatException e) {
                    // a path with a colon and no weight
                }
            }
            paths.add(Check.inputFile("--adapter", Path.of(a)));
        }
        verify.check();
        VerifyCommand.F16 f16;
        try (LlamaModel m = LlamaModel.load(model); LoraSet out = new LoraSet(m)) {
            AdapterMerge.merge(m, paths, w, how, rank, density, seed, out);
            List<String> notes = AdapterGguf.write(output, out, m.config(), outType, "panlora-merged");
            for (String n : notes) System.out.println("note: " + n);
            System.out.printf("wrote %s: %d adapters merged with %s%s%n", output, paths.size(), method,
                    notes.isEmpty() ? "" : " (" + AdapterGguf.typeSummary(output) + ")");
            f16 = verify.f16Version(output, out, m.config(), outType);
        }
        return verify.adapter(model, output, f16, System.out) ? 0 : 1;
    }
}
