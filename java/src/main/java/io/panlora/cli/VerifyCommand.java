package io.panlora.cli;

import io.panlora.llamacpp.LlamaCpp;
import io.panlora.llamacpp.Parity;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code panlora verify}: the same text through panlora and llama.cpp, token ids, mean NLL and logits compared. */
@Command(name = "verify", mixinStandardHelpOptions = true,
        description = "Runs the same text through panlora's engine and llama.cpp (built from source) with the same adapters: token ids "
                + "equal or different, mean NLL of each, max |delta logit|. Exit status 1 beyond the tolerances.")
final class VerifyCommand implements Callable<Integer> {
    /** Text used when -f is not given: plain English with digits, punctuation and a few non-ASCII letters. */
    static final String SAMPLE = """
            Once upon a time, in a small village by the sea, there lived an old fisherman named Tomas. Every morning at 5:30 he \
            rowed out past the rocks, counting the gulls (seventeen, on a good day) and singing songs his grandmother had taught him. \
            One winter the nets came back empty for 12 days in a row. "The sea is tired," said his neighbour Zoë, "and so are you." \
            But Tomas only laughed, mended the nets once more, and went out again; on the thirteenth day the boat came home so full \
            that half the village ate fish for a week. Café owners still tell the story, and children still ask: was it luck, or was it patience?
            """;

    @Option(names = {"-m", "--model"}, required = true, description = "base GGUF model (or a merged model, verified without adapters)")
    Path model;

    @Option(names = "--lora", paramLabel = "FILE[:SCALE]", description = "a GGUF LoRA adapter with an optional user scale (repeatable)")
    List<String> lora = new ArrayList<>();

    @Option(names = {"-f", "--file"}, description = "text file (UTF-8; default: a built-in paragraph)")
    Path file;

    @Option(names = {"-c", "--ctx-size"}, defaultValue = "256", description = "tokens evaluated by both engines, at most (default: ${DEFAULT-VALUE})")
    int ctx;

    @Option(names = "--nll-tolerance", defaultValue = "0.002", description = "largest accepted |mean NLL difference|, nats/token (default: ${DEFAULT-VALUE})")
    double nllTolerance;

    @Option(names = "--logit-tolerance", defaultValue = "0.05", description = "largest accepted |logit difference| (default: ${DEFAULT-VALUE})")
    double logitTolerance;

    @Option(names = {"-t", "--threads"}, description = "llama.cpp's threads (default: all cores)")
    Integer threads;

    @Override
    public Integer call() throws Exception {
        Check.inputFile("-m", model);
        List<Parity.Adapter> adapters = new ArrayList<>();
        for (String s : lora) {
            Parity.Adapter a = Parity.Adapter.parse(s);
            Check.inputFile("--lora", a.file());
            adapters.add(a);
        }
        if (file != null) Check.inputFile("--file", file);
        Check.range("--ctx-size", ctx, 2, Check.MAX_CTX);
        Check.nonNegative("--nll-tolerance", (float) nllTolerance);
        Check.nonNegative("--logit-tolerance", (float) logitTolerance);
        if (threads != null) Check.range("--threads", threads, 1, 4096);
        LlamaCpp.init();
        String text = file != null ? Files.readString(file) : SAMPLE;
        return run(model, adapters, text, ctx, threads == null ? 0 : threads, nllTolerance, logitTolerance, System.out) ? 0 : 1;
    }

    /** Runs the comparison and prints it; true when within the tolerances. Also what {@code --verify} of other commands calls. */
    static boolean run(Path model, List<Parity.Adapter> adapters, String text, int ctx, int threads, double nllTol, double logitTol,
                       PrintStream out) throws IOException {
        var info = LlamaCpp.buildInfo();
        Parity.Report r = Parity.run(model, adapters, text, ctx, threads);
        out.printf(Locale.ROOT, "verify: %s%s against llama.cpp %s (commit %.7s)%n", model,
                adapters.isEmpty() ? "" : " with " + adapters, info.getOrDefault("tag", "?"), info.getOrDefault("commit", "?"));
        if (r.tokensEqual()) out.printf(Locale.ROOT, "token ids: equal (%d tokens)%n", r.ourTokens());
        else out.printf(Locale.ROOT, "token ids: DIFFERENT: panlora %d tokens, llama.cpp %d, first difference at index %d%n",
                r.ourTokens(), r.llamaTokens(), r.firstDifference());
        out.printf(Locale.ROOT, "window: %d tokens (panlora's ids), %d predictions%n", r.window(), r.window() - 1);
        out.printf(Locale.ROOT, "mean NLL: panlora %.6f, llama.cpp %.6f nats/token (|delta| %.2e, tolerance %.2e)%n",
                r.ourNll(), r.llamaNll(), r.nllDelta(), nllTol);
        out.printf(Locale.ROOT, "max |delta logit|: %.3e (max |logit| %.3f; tolerance %.2e); argmax equal at %d of %d positions%n",
                r.maxAbsDelta(), r.maxAbsLogit(), logitTol, r.greedyAgree(), r.window());
        boolean ok = r.within(nllTol, logitTol);
        out.println(ok ? "verify: PASS" : "verify: FAIL (" + (!r.tokensEqual() ? "token ids differ" : r.nllDelta() > nllTol ? "mean NLL differs" : "logits differ")
                + " beyond the tolerance)");
        return ok;
    }
}
