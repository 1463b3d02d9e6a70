package io.panlora.cli;

import io.panlora.data.ReadOptions;
import io.panlora.gguf.GgmlType;
import io.panlora.lora.AdapterGguf;
import io.panlora.lora.LoraSet;
import io.panlora.model.LlamaModel;
import io.panlora.model.TokenizerLoader;
import io.panlora.prune.AdapterPrune;
import io.panlora.tokenizer.Tokenizer;
import io.panlora.train.DatasetBatches;
import io.panlora.train.Trainer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code panlora prune}: a smaller adapter by magnitude, by rank, or by dropping the lowest-Shapley layers. */
@Command(name = "prune", mixinStandardHelpOptions = true,
        description = "Prune a GGUF LoRA adapter: magnitude (--keep), rank (--rank) or shapley (--layers, with --data for the values).")
final class PruneCommand implements Callable<Integer> {
    @Option(names = {"-m", "--model"}, required = true, description = "the base GGUF model") Path model;
    @Option(names = "--adapter", required = true, description = "the adapter to prune") Path adapter;
    @Option(names = "--method", required = true, description = "magnitude | rank | shapley") String method;
    @Option(names = "--keep", defaultValue = "0.5", description = "magnitude: share of ΔW entries kept (default: ${DEFAULT-VALUE})") double keep;
    @Option(names = {"-r", "--rank"}, defaultValue = "4", description = "rank: the rank kept (default: ${DEFAULT-VALUE})") int rank;
    @Option(names = "--layers", defaultValue = "1", description = "shapley: layers whose adapters are removed (default: ${DEFAULT-VALUE})") int layers;
    @Option(names = "--data", description = "shapley: validation text or JSONL for the Shapley values; also reports the loss before/after") Path data;
    @Option(names = "--permutations", defaultValue = "8", description = "shapley: Monte-Carlo permutations; 0 = exact values over all 2^layers coalitions (default: ${DEFAULT-VALUE})") int permutations;
    @Option(names = {"-c", "--ctx"}, defaultValue = "256", description = "tokens per validation window (default: ${DEFAULT-VALUE})") int ctx;
    @Option(names = {"-o", "--output"}, required = true, description = "pruned adapter GGUF") Path output;
    @Option(names = "--type", defaultValue = "F16", description = "F32, F16, BF16, Q8_0, Q6_K, Q5_1, Q5_K, Q5_0, Q4_1, Q4_K, Q4_0, Q3_K, Q2_K (default: ${DEFAULT-VALUE})") String type;
    @Mixin CommonOptions common;
    @Mixin VerifyOption verify;

    @Override
    public Integer call() throws Exception {
        Check.inputFile("-m", model);
        Check.inputFile("--adapter", adapter);
        Check.inputFile("--data", data);
        Check.outputFile("-o", output);
        Check.oneOf("--method", method, java.util.List.of("magnitude", "rank", "shapley"));
        Check.range("--keep", keep, 0, 1);
        Check.range("--rank", rank, 1, Check.MAX_RANK);
        Check.range("--layers", layers, 0, 1 << 20);
        Check.range("--permutations", permutations, 0, 1 << 20);
        Check.range("--ctx", ctx, 2, Check.MAX_CTX);
        GgmlType outType = GgmlType.valueOf(Check.oneOf("--type", type, TrainCommand.ADAPTER_TYPES));
        common.apply();
        verify.check();
        common.checkTensors(model);
        MemoryPlan.forInference(model, LlamaModel.LoadOptions.on(common.device()), 4, ctx, data).check(common.maxMemory());
        VerifyCommand.F16 f16;
        try (LlamaModel m = LlamaModel.load(model, common.device()); LoraSet set = new LoraSet(m)) {
            AdapterGguf.load(adapter, set, 1f);
            set.attach();
            var val = data == null ? java.util.List.<io.panlora.train.BatchSource.Batch>of() : validation(m);
            if (!val.isEmpty()) System.out.printf("loss before pruning: %.4f%n", Trainer.evaluate(m, val));
            switch (method) {
                case "magnitude" -> AdapterPrune.magnitude(set, keep, 1);
                case "rank" -> AdapterPrune.rank(set, rank, 1);
                case "shapley" -> {
                    if (val.isEmpty()) throw new IllegalArgumentException("--method shapley needs --data for the Shapley values");
                    System.out.println("removed the adapters of layers " + Arrays.toString(AdapterPrune.layers(m, set, val, layers, permutations, 1)));
                }
                default -> throw new IllegalArgumentException("unknown --method '" + method + "' (magnitude, rank, shapley)");
            }
            if (!val.isEmpty()) System.out.printf("loss after pruning: %.4f%n", Trainer.evaluate(m, val));
            java.util.List<String> notes = AdapterGguf.write(output, set, m.config(), outType, "panlora-pruned");
            for (String n : notes) System.out.println("note: " + n);
            System.out.println("wrote " + output + (notes.isEmpty() ? "" : " (" + AdapterGguf.typeSummary(output) + ")"));
            f16 = verify.f16Version(output, set, m.config(), outType);
        }
        return verify.adapter(model, output, f16, System.out) ? 0 : 1;
    }

    private java.util.List<io.panlora.train.BatchSource.Batch> validation(LlamaModel m) throws java.io.IOException {
        Tokenizer tok = TokenizerLoader.fromGguf(m.gguf().orElseThrow());
        return DatasetBatches.evaluationSet(data, tok, ReadOptions.defaults(), ctx, 4, 16);
    }
}
