package io.panlora.cli;

import io.panlora.gguf.GgmlType;
import io.panlora.model.LlamaConfig;
import io.panlora.model.ModelInit;
import io.panlora.model.ModelWriter;
import io.panlora.model.Presets;
import io.panlora.tokenizer.BpeTrainer;
import io.panlora.tokenizer.TokenizerSpec;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code panlora init}: a randomly initialised LLaMA GGUF with a real tokenizer, loadable by llama.cpp. */
@Command(name = "init", mixinStandardHelpOptions = true,
        description = "Write a random-initialised LLaMA GGUF model with a byte-level BPE tokenizer trained on a text (or a byte vocabulary).")
final class InitCommand implements Callable<Integer> {
    @Option(names = {"-o", "--output"}, required = true, description = "output GGUF file")
    Path output;

    @Option(names = "--preset", description = "shape: tiny, small, 25m, 110m (default: tiny)")
    String preset;

    @Option(names = "--dim", description = "model width") Long dim;
    @Option(names = "--layers", description = "transformer blocks") Long layers;
    @Option(names = "--heads", description = "attention heads") Long heads;
    @Option(names = "--kv-heads", description = "key/value heads (GQA), default = heads") Long kvHeads;
    @Option(names = "--ffn", description = "FFN hidden width") Long ffn;
    @Option(names = "--ctx", description = "context length") Long ctx;

    @Option(names = "--tokenizer-from", description = "train a byte-level BPE tokenizer on this UTF-8 text file")
    Path tokenizerFrom;

    @Option(names = "--vocab", defaultValue = "1024", description = "vocabulary size with --tokenizer-from (default: ${DEFAULT-VALUE})")
    int vocab;

    @Option(names = "--type", defaultValue = "F32", description = "weight type: F32, F16, BF16, Q8_0, Q4_0, … (default: ${DEFAULT-VALUE})")
    String type;

    @Option(names = {"-s", "--seed"}, defaultValue = "1", description = "RNG seed (default: ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--name", defaultValue = "panlora-init", description = "general.name")
    String name;

    @Override
    public Integer call() throws Exception {
        Check.outputFile("-o", output);
        Check.inputFile("--tokenizer-from", tokenizerFrom);
        Check.range("--vocab", vocab, 259, 1 << 20);
        GgmlType t = GgmlType.valueOf(Check.oneOf("--type", type, WEIGHT_TYPES));
        if (preset != null) Check.preset("--preset", preset);
        for (var e : new Object[][] {{"--dim", dim}, {"--layers", layers}, {"--heads", heads}, {"--kv-heads", kvHeads}, {"--ffn", ffn}, {"--ctx", ctx}})
            if (e[1] != null) Check.range((String) e[0], (Long) e[1], 1, 1 << 20);
        TokenizerSpec tok;
        if (tokenizerFrom != null) {
            if (!Files.isReadable(tokenizerFrom)) throw new IllegalArgumentException(tokenizerFrom + ": cannot read the tokenizer text");
            long t0 = System.nanoTime();
            tok = BpeTrainer.train(Files.readString(tokenizerFrom), vocab);
            System.err.printf("panlora: trained a %d-token BPE tokenizer on %s in %.1f s%n", tok.tokens().size(), tokenizerFrom,
                    (System.nanoTime() - t0) / 1e9);
        } else {
            tok = BpeTrainer.byteVocabulary(List.of());
        }
        LlamaConfig c = shape(tok.tokens().size());
        try (Arena arena = Arena.ofConfined()) {
            ModelWriter.write(output, name, c, tok, ModelInit.randomWeights(c, t, seed, false, arena));
        }
        System.out.printf("wrote %s: %s, %.2fM parameters, %s weights%n", output, Presets.describe(c), c.parameterCount(true) / 1e6, t);
        return 0;
    }

    /** The weight types a model can be written with. */
    static final List<String> WEIGHT_TYPES = java.util.Arrays.stream(GgmlType.values()).map(Enum::name).toList();

    private LlamaConfig shape(long nVocab) {
        LlamaConfig p = Presets.byName(preset != null ? preset : "tiny");
        long d = dim != null ? dim : p.nEmbd(), h = heads != null ? heads : p.nHead();
        long kv = kvHeads != null ? kvHeads : (heads != null ? h : p.nHeadKv());
        return LlamaConfig.llama(nVocab, d, layers != null ? layers : p.nLayer(), h, kv, ffn != null ? ffn : p.nFf(),
                ctx != null ? ctx : p.nCtxTrain());
    }
}
