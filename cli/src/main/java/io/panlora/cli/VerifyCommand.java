package io.panlora.cli;

import io.panlora.gguf.GgmlType;
import io.panlora.gguf.GgufFile;
import io.panlora.llamacpp.LlamaCpp;
import io.panlora.llamacpp.Parity;
import io.panlora.llamacpp.ParityTolerance;
import io.panlora.llamacpp.QuantizationCost;
import io.panlora.lora.AdapterGguf;
import io.panlora.lora.LoraSet;
import io.panlora.model.LlamaModel;
import io.panlora.train.internal.Checkpoint;
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
                + "equal or different, mean NLL of each, max |delta logit|. Exit status 1 beyond the tolerances. Default tolerances "
                + "follow the tensor types of the model and adapters: F32/F16 0.002 nats/token and 0.05 logits, BF16 0.002 and 0.2, "
                + "block-quantized types 0.01 and 0.6 (llama.cpp rounds the activations of a quantized matmul to 8 bits). When an adapter holds "
                + "quantized tensors (or with --against-f16) its F16 version also runs through llama.cpp: file size and NLL cost vs F16.")
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

    @Option(names = "--nll-tolerance", paramLabel = "NATS",
            description = "largest accepted |mean NLL difference|, nats/token (default: by the tensor types involved, see --help of panlora verify)")
    Double nllTolerance;

    @Option(names = "--logit-tolerance", paramLabel = "X",
            description = "largest accepted |logit difference| (default: by the tensor types involved)")
    Double logitTolerance;

    @Option(names = "--against-f16", negatable = true,
            description = "also run the adapters' F16 versions through llama.cpp and print the file size and the NLL cost against "
                    + "them (default: on when an adapter holds block-quantized tensors; --no-against-f16 turns it off)")
    Boolean againstF16;

    @Option(names = "--f16-source", paramLabel = "DIR|FILE",
            description = "where the F16 version comes from (one --lora only): a run directory or its checkpoint.gguf, or a "
                    + "higher-precision adapter (default: the checkpoint beside the adapter when it reproduces the file exactly)")
    Path f16Source;

    @Option(names = {"-t", "--threads"}, description = "llama.cpp's threads (default: all cores)")
    Integer threads;

    /** The default tolerances: the loosest {@link ParityTolerance} over every tensor type of the model and the adapter files. */
    static ParityTolerance defaultTolerance(Path model, List<Path> adapters) throws IOException {
        List<Path> files = new ArrayList<>();
        files.add(model);
        files.addAll(adapters);
        return ParityTolerance.forFiles(files);
    }

    /** Whether an adapter file holds a block-quantized tensor. */
    static boolean quantized(Path adapter) throws IOException {
        return AdapterGguf.tensorTypes(adapter).stream().anyMatch(GgmlType::isQuantized);
    }

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
        if (nllTolerance != null) Check.nonNegative("--nll-tolerance", nllTolerance.floatValue());
        if (logitTolerance != null) Check.nonNegative("--logit-tolerance", logitTolerance.floatValue());
        if (threads != null) Check.range("--threads", threads, 1, 4096);
        if (f16Source != null) {
            if (adapters.size() != 1) throw new IllegalArgumentException("--f16-source needs exactly one --lora, got " + adapters.size());
            if (Boolean.FALSE.equals(againstF16)) throw new IllegalArgumentException("--f16-source and --no-against-f16 contradict each other");
            if (!Files.exists(f16Source)) throw new IllegalArgumentException("--f16-source: " + f16Source + ": no such file or directory");
        }
        if (Boolean.TRUE.equals(againstF16) && adapters.isEmpty())
            throw new IllegalArgumentException("--against-f16 compares adapters with their F16 versions: give --lora");
        LlamaCpp.init();
        String text = file != null ? Files.readString(file) : SAMPLE;
        List<Path> files = adapters.stream().map(Parity.Adapter::file).toList();
        ParityTolerance tol = defaultTolerance(model, files).with(nllTolerance, logitTolerance);
        boolean against = againstF16 != null ? againstF16 : f16Source != null || anyQuantized(files);
        int th = threads == null ? 0 : threads;
        if (!against) return run(model, adapters, null, text, ctx, th, tol, System.out) ? 0 : 1;
        Path tmp = Files.createTempDirectory("panlora-verify-");
        try {
            List<F16> refs = new ArrayList<>();
            for (int i = 0; i < adapters.size(); i++) refs.add(f16Version(model, adapters.get(i).file(), f16Source, tmp.resolve(i + "-f16.gguf")));
            return run(model, adapters, refs, text, ctx, th, tol, System.out) ? 0 : 1;
        } finally {
            deleteTree(tmp);
        }
    }

    private static boolean anyQuantized(List<Path> files) throws IOException {
        for (Path f : files) if (quantized(f)) return true;
        return false;
    }

    /**
     * The F16 version of an adapter, written to out.
     *
     * @param file       the adapter
     * @param fromSource whether it was exported from the adapter's higher-precision source (then the NLL difference is the cost
     *                   of the file's type); false: converted from the file itself (only the size compares)
     * @param source     what it was made from, for the report
     */
    record F16(Path adapter, Path file, boolean fromSource, String source) {}

    /**
     * The F16 version of adapter: exported from source (a run directory or checkpoint.gguf, or an adapter GGUF) when given,
     * else from the checkpoint beside the adapter when that checkpoint reproduces the file exactly, else converted from the file.
     */
    static F16 f16Version(Path model, Path adapter, Path source, Path out) throws IOException {
        try (LlamaModel m = LlamaModel.load(model, LlamaModel.LoadOptions.cpu())) {
            if (source != null) {
                try (LoraSet set = new LoraSet(m)) {
                    String what = loadSource(source, set);
                    AdapterGguf.write(out, set, m.config(), GgmlType.F16, "panlora-f16-reference");
                    return new F16(adapter, out, true, what);
                }
            }
            Path dir = adapter.toAbsolutePath().getParent();
            if (dir != null && Files.isRegularFile(dir.resolve(Checkpoint.FILE))) {
                try (LoraSet set = new LoraSet(m)) {
                    Checkpoint.loadSlotsInto(dir, set);
                    if (AdapterGguf.reproduces(adapter, set)) {
                        AdapterGguf.write(out, set, m.config(), GgmlType.F16, "panlora-f16-reference");
                        return new F16(adapter, out, true, dir.resolve(Checkpoint.FILE) + " (it reproduces the file)");
                    }
                } catch (IOException | RuntimeException e) {
                    // not this adapter's checkpoint: fall through
                }
            }
            try (LoraSet set = new LoraSet(m)) {
                AdapterGguf.load(adapter, set, 1f);
                AdapterGguf.write(out, set, m.config(), GgmlType.F16, "panlora-f16-reference");
                return new F16(adapter, out, false, adapter + " itself");
            }
        }
    }

    /** Loads a run directory, a checkpoint.gguf or an adapter GGUF into set; returns a description. */
    private static String loadSource(Path source, LoraSet set) throws IOException {
        if (Files.isDirectory(source)) {
            Checkpoint.loadSlotsInto(source, set);
            return source.resolve(Checkpoint.FILE).toString();
        }
        String type;
        try (GgufFile f = GgufFile.open(source)) {
            type = f.getString("general.type", "");
        }
        if ("panlora.checkpoint".equals(type)) {
            Path dir = source.toAbsolutePath().getParent();
            if (!source.getFileName().toString().equals(Checkpoint.FILE))
                throw new IllegalArgumentException("--f16-source " + source + ": a checkpoint is read from its run directory (as " + Checkpoint.FILE + ")");
            Checkpoint.loadSlotsInto(dir, set);
            return source.toString();
        }
        AdapterGguf.load(source, set, 1f);
        return source.toString();
    }

    static void deleteTree(Path dir) {
        try (var s = Files.walk(dir)) {
            s.sorted(java.util.Comparator.reverseOrder()).forEach(p -> {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException e) {
                    // best effort: a temporary directory
                }
            });
        } catch (IOException e) {
            // best effort
        }
    }

    /** Compatibility: the comparison alone with explicit tolerances. */
    static boolean run(Path model, List<Parity.Adapter> adapters, String text, int ctx, int threads, double nllTol, double logitTol,
                       PrintStream out) throws IOException {
        return run(model, adapters, null, text, ctx, threads, new ParityTolerance(nllTol, logitTol), out);
    }

    /**
     * Runs the comparison and prints it; true when within the tolerances. With f16 (one per adapter, same order) it also prints
     * each adapter's size against its F16 version and llama.cpp's NLL cost against them. Also what {@code --verify} of other
     * commands calls.
     */
    static boolean run(Path model, List<Parity.Adapter> adapters, List<F16> f16, String text, int ctx, int threads, ParityTolerance tol,
                       PrintStream out) throws IOException {
        double nllTol = tol.nll(), logitTol = tol.logit();
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
        if (f16 != null && !f16.isEmpty()) printAgainstF16(model, adapters, f16, text, ctx, threads, out);
        boolean ok = r.within(nllTol, logitTol);
        out.println(ok ? "verify: PASS" : "verify: FAIL (" + (!r.tokensEqual() ? "token ids differ" : r.nllDelta() > nllTol ? "mean NLL differs" : "logits differ")
                + " beyond the tolerance)");
        return ok;
    }

    /** The size lines and the NLL cost against the F16 versions (through llama.cpp, the same window). */
    private static void printAgainstF16(Path model, List<Parity.Adapter> adapters, List<F16> f16, String text, int ctx, int threads,
                                        PrintStream out) throws IOException {
        boolean measured = f16.stream().allMatch(F16::fromSource);
        String cost;
        if (measured) {
            QuantizationCost.Result c = QuantizationCost.measure(model, adapters, f16.stream().map(F16::file).toList(), text, ctx, threads);
            cost = String.format(Locale.ROOT, "NLL cost vs F16: %+.6f nats/token", c.cost());
            for (F16 x : f16) out.printf(Locale.ROOT, "F16 version of %s: exported from %s%n", x.adapter(), x.source());
            out.printf(Locale.ROOT, "llama.cpp mean NLL: %.6f as given, %.6f with the F16 versions (%d predictions)%n", c.nll(), c.f16Nll(), c.window() - 1);
        } else {
            cost = "NLL cost vs F16: not measured (no higher-precision source of "
                    + String.join(", ", f16.stream().filter(x -> !x.fromSource()).map(x -> x.adapter().toString()).toList())
                    + ": give --f16-source RUN_DIR|ADAPTER.gguf)";
        }
        for (int i = 0; i < f16.size(); i++) {
            long q = Files.size(adapters.get(i).file()), h = Files.size(f16.get(i).file());
            String size = String.format(Locale.ROOT, "size: %.1f KB (F16: %.1f KB, %.1f %%)", q / 1024.0, h / 1024.0, 100.0 * q / h);
            out.println(f16.size() == 1 ? size + ", " + cost : adapters.get(i).file() + ": " + size);
        }
        if (f16.size() != 1) out.println(cost);
    }
}
