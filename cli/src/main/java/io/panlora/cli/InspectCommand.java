package io.panlora.cli;

import io.panlora.gguf.GgufDump;
import io.panlora.gguf.GgufFile;
import io.panlora.model.LlamaConfig;
import io.panlora.model.Presets;
import io.panlora.model.TokenizerLoader;
import io.panlora.tokenizer.Tokenizer;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code panlora inspect}: metadata, hyperparameters, tensor table and tokenizer of a GGUF file. */
@Command(name = "inspect", mixinStandardHelpOptions = true, description = "Show a GGUF file: metadata, hparams, tensors, tokenizer.")
final class InspectCommand implements Callable<Integer> {
    @Parameters(index = "0", description = "GGUF file")
    Path file;

    @Option(names = "--array-items", defaultValue = "8", description = "array items shown before abbreviating (default: ${DEFAULT-VALUE})")
    int arrayItems;

    @Override
    public Integer call() throws Exception {
        try (GgufFile f = GgufFile.open(file)) {
            System.out.println(GgufDump.summary(f, arrayItems));
            boolean isAdapter = "adapter".equals(f.getString("general.type", ""));
            if (!isAdapter && f.has("general.architecture")) {
                try {
                    LlamaConfig c = LlamaConfig.fromGguf(f);
                    System.out.println("hparams: " + Presets.describe(c) + String.format(
                            ", head_dim %d, rope %s dims %d theta %.0f scale %.3g, rms eps %.1e, %.2fM parameters",
                            c.headDim(), c.ropeType() == LlamaConfig.ROPE_NEOX ? "neox" : "normal", c.nRot(), c.ropeFreqBase(),
                            c.ropeFreqScale(), c.normEps(), c.parameterCount(!f.hasTensor("output.weight")) / 1e6));
                } catch (RuntimeException e) {
                    System.out.println("hparams: not a model this engine runs: " + e.getMessage());
                }
            }
            if (f.has("tokenizer.ggml.model")) {
                Tokenizer t;
                try {
                    t = TokenizerLoader.fromGguf(f);
                } catch (RuntimeException e) {
                    System.out.println("tokenizer: " + f.getString("tokenizer.ggml.model") + " (pre " + f.getString("tokenizer.ggml.pre", "default")
                            + "), not one panlora runs: " + e.getMessage());
                    return 0;
                }
                System.out.printf("tokenizer: %s (pre %s), %d tokens, bos %d, eos %d%s%n", f.getString("tokenizer.ggml.model"),
                        f.getString("tokenizer.ggml.pre", "default"), t.vocabSize(), t.bos(), t.eos(),
                        f.has("tokenizer.chat_template") ? ", chat template present" : "");
                int[] ids = t.encode("Hello world! Once upon a time", true, false);
                StringBuilder sb = new StringBuilder();
                for (int id : ids) sb.append(id).append(' ');
                System.out.println("tokenizer sample: \"Hello world! Once upon a time\" -> " + sb.toString().trim());
            }
        }
        return 0;
    }
}
