package io.panlora.cli;

import io.panlora.gguf.GgmlType;
import io.panlora.llamacpp.LlamaCpp;
import io.panlora.llamacpp.Parity;
import io.panlora.lora.AdapterGguf;
import io.panlora.lora.LoraSet;
import io.panlora.model.LlamaConfig;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import picocli.CommandLine.Option;

/**
 * {@code --verify} of the commands that write a GGUF (export, merge, prune, convert): after the output is written it is run
 * through panlora and llama.cpp as {@code panlora verify} does (an adapter with its base; a merged model alone), with the
 * default tolerances of its tensor types, and the command exits 1 when they differ. A quantized adapter is also compared with
 * its F16 version written from the same factors (size and llama.cpp's NLL cost). llama.cpp must be built: {@link #check} says
 * so before any work is done.
 */
final class VerifyOption {
    @Option(names = "--verify", description = "after writing, run the output through panlora and llama.cpp (as panlora verify: the "
            + "adapter with its base, a merged model alone) and exit 1 when they differ beyond its types' tolerances; a quantized "
            + "adapter is also compared with its F16 version (size, NLL cost). Needs llama.cpp built (native/llama.cpp/build.sh)")
    boolean verify;

    @Option(names = "--verify-nll-tolerance", paramLabel = "NATS",
            description = "with --verify: largest accepted |mean NLL difference| (default: by the output's tensor types, as panlora verify)")
    Double nllTolerance;

    @Option(names = "--verify-logit-tolerance", paramLabel = "X",
            description = "with --verify: largest accepted |logit difference| (default: by the output's tensor types, as panlora verify)")
    Double logitTolerance;

    /** With --verify: loads llama.cpp now, so a missing build stops the command before it does any work (one-line message). */
    void check() {
        if (!verify && (nllTolerance != null || logitTolerance != null))
            throw new IllegalArgumentException("--verify-nll-tolerance and --verify-logit-tolerance need --verify");
        if (nllTolerance != null) Check.nonNegative("--verify-nll-tolerance", nllTolerance.floatValue());
        if (logitTolerance != null) Check.nonNegative("--verify-logit-tolerance", logitTolerance.floatValue());
        if (verify) LlamaCpp.init();
    }

    /**
     * With --verify, an F16 version of a quantized adapter, written from set (the factors the adapter was written from) into a
     * temporary directory; null when not needed. Call while set is open; pass the result to {@link #adapter}.
     */
    VerifyCommand.F16 f16Version(Path written, LoraSet set, LlamaConfig config, GgmlType type) throws IOException {
        if (!verify || !VerifyCommand.quantized(written)) return null;
        Path dir = Files.createTempDirectory("panlora-verify-");
        Path f = dir.resolve("f16.gguf");
        AdapterGguf.write(f, set, config, GgmlType.F16, "panlora-f16-reference");
        return new VerifyCommand.F16(written, f, true, "the same factors (" + type + " asked for)");
    }

    /** With --verify: base + the written adapter through both engines; true when within the tolerances (or without --verify). */
    boolean adapter(Path base, Path written, VerifyCommand.F16 f16, PrintStream out) throws IOException {
        if (!verify) return true;
        try {
            return VerifyCommand.run(base, List.of(new Parity.Adapter(written, 1f)), f16 == null ? null : List.of(f16), VerifyCommand.SAMPLE,
                    CTX, 0, VerifyCommand.defaultTolerance(base, List.of(written)).with(nllTolerance, logitTolerance), out);
        } finally {
            if (f16 != null) VerifyCommand.deleteTree(f16.file().getParent());
        }
    }

    /** With --verify: a written (merged) model alone through both engines. */
    boolean model(Path written, PrintStream out) throws IOException {
        if (!verify) return true;
        return VerifyCommand.run(written, List.of(), null, VerifyCommand.SAMPLE, CTX, 0, VerifyCommand.defaultTolerance(written, List.of()).with(nllTolerance, logitTolerance), out);
    }

    /** Tokens of the built-in text compared (as panlora verify's default -c). */
    static final int CTX = 256;
}
