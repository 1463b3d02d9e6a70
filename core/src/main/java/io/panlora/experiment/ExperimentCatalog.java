package io.panlora.experiment;

import io.panlora.model.LlamaModel;
import io.panlora.model.TokenizerLoader;
import io.panlora.tokenizer.Tokenizer;
import io.panlora.train.Trainer;
import io.panlora.prune.Shapley;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The named experiments, one per claim of the seed papers, on the pretrained stories260K base and the shared corpora:
 * <ul>
 *   <li>{@code cola}: Chain of LoRA (COLA) at low rank r ∈ {2, 4} (r = 2 only with {@code quick}) against LoRA r and
 *       against LoRA at rank M·r (the extra rank a chain accumulates), for M = 2, 3 (the chain-length ablation is
 *       M = 1, 2, 3 at each rank); also seconds per step for the "no extra cost" claim;</li>
 *   <li>{@code cora}: CoRA modes 1 (B frozen) and 2 (B as init) in the shared, principal and minor subspaces against LoRA r
 *       and LoRA r/2 (the same trainable parameters as mode 1), with a random orthonormal frozen B as the control (no minor arms with
 *       {@code quick}); the
 *       shared subspace comes from two LoRA adapters trained first on other corpora (Grimm's tales, TinyStories);</li>
 *   <li>{@code lorasc}: LoRASC (3 cascade iterations, α = 0.5, Gaussian noise γ = 0.01) against LoRA r = 4 in an
 *       over-fitting regime (every 8th block of the training split, 8 epochs, the validation loss every 25 steps: best and
 *       final), with its ablations α = 1, γ = 0 and γ = 0.05 and LoRA at 3r (the rank LoRASC's mixture can reach) as
 *       controls; test loss, over-fitting (final − best validation), robustness out of distribution (the test split of
 *       Grimm's tales; the self-instruct user-oriented tasks as Alpaca records, output NLL) and stability across the
 *       learning-rate grid (LoRA and LoRASC with every test seed at each rate);</li>
 *   <li>{@code copra-prune}: CopRA against LoRA r = 4: test loss with the adapters of every other layer switched off (the
 *       paper's pruning), what that costs each, and test loss with the k lowest-Shapley layers' adapters off (Shapley
 *       values on validation) for every k;</li>
 *   <li>{@code copra-merge}: CopRA against LoRA r = 4, three adapters per seed trained from one init (the seed's) at the
 *       same steps and learning rate on three corpora (Tiny Shakespeare, Grimm's tales, TinyStories), merged by averaging A
 *       and B: for each pair the loss barrier along (1−λ)·X + λ·Y, λ = 0, 0.1, …, 1, and the 1:1:1 and 1:2 merges' loss
 *       on each corpus minus that corpus's own adapter's, each on the corpora's own test splits.</li>
 * </ul>
 * Task corpus: Tiny Shakespeare, split by {@link Splits}. Each experiment prints its configuration, the per-arm table and
 * the claims' verdicts ({@link Claim} states the rule), and writes {@code results.json}, {@code results.md} and its figures
 * (SVG) into the output directory. Static methods only.
 */
public final class ExperimentCatalog {
    private ExperimentCatalog() {}

    /** The experiments' names. */
    public static final List<String> NAMES = List.of("cola", "cora", "lorasc", "copra-prune", "copra-merge");

    /** The equivalence / non-inferiority margin δ of the loss claims, in nats per token (about 1 % in perplexity). */
    public static final double MARGIN = 0.01;

    /** The relative margin of the cost claims: 10 % of the reference arm's seconds per step. */
    public static final double COST_MARGIN = 0.10;

    /**
     * What to run.
     *
     * @param model   the base model's GGUF file (stories260K)
     * @param dataDir the shared data directory holding {@code tinyshakespeare.txt}, {@code grimm-pg2591.txt} and
     *                {@code tinystories-valid-sample.txt}
     * @param seeds   the number of paired test seeds, at least 1
     * @param quick   fewer steps, a smaller corpus and fewer arms: the size the tests run
     * @param outDir  where the results go (created if missing)
     * @param load    where the model runs; null for the CPU with the engine's default thread count
     */
    public record Options(Path model, Path dataDir, int seeds, boolean quick, Path outDir, LlamaModel.LoadOptions load) {
        /** Puts the CPU in for a null {@code load}. */
        public Options {
            if (load == null) load = LlamaModel.LoadOptions.cpu();
            if (seeds < 1) throw new IllegalArgumentException("--seeds must be at least 1, got " + seeds);
        }
    }

    /** The sizes of a run. */
    record Size(int maxChars, int blockChars, int ctx, int batch, double epochs, int evalBatches, List<Float> grid) {}

    static Size size(String name, boolean quick) {
        List<Float> grid = List.of(3e-3f, 1e-2f, 3e-2f);
        // copra-prune trains longer, so that CopRA's all-layer phase (the last 25 % of the steps) converges; lorasc trains 8 epochs
        // on 1/8 of the training split (its over-fitting regime: LorascExperiment.KEEP)
        double epochs = name.equals("copra-prune") ? 3.0 : name.equals("lorasc") ? 8.0 : 1.3;
        if (quick) return new Size(16_000, 400, 64, 4, name.equals("copra-prune") ? 2.0 : name.equals("lorasc") ? 8.0 : 1.3, 4, grid);
        // full: about 190 steps of 8 x 128 tokens (1.3 epochs of ~1200 windows); sized for <= 30 min on 2 shared cores
        return new Size(240_000, 2000, 128, 8, epochs, 12, grid);
    }

    /**
     * Runs an experiment: prints its configuration, progress, table and claims on {@code out}, writes the results.
     *
     * @param name the experiment, one of {@link #NAMES}
     * @param o    the options
     * @param out  where the report goes
     * @return the results (already written)
     * @throws IOException if a file cannot be read or written
     * @throws IllegalArgumentException if the name is unknown
     */
    public static Results run(String name, Options o, PrintStream out) throws IOException {
        if (!NAMES.contains(name)) throw new IllegalArgumentException("unknown experiment '" + name + "' (" + String.join(", ", NAMES) + ")");
        Size sz = size(name, o.quick());
        Files.createDirectories(o.outDir());
        try (LlamaModel m = LlamaModel.load(o.model(), o.load())) {
            Tokenizer tok = TokenizerLoader.fromGguf(m.gguf().orElseThrow());
            Path corpus = o.dataDir().resolve("tinyshakespeare.txt");
            Splits splits = Splits.read(corpus, sz.maxChars(), sz.blockChars());
            Runner.Data data = Runner.prepare(splits, tok, sz.ctx(), sz.batch(), sz.evalBatches(), o.outDir().resolve("splits"));
            int steps = (int) Math.ceil(sz.epochs() * data.trainWindows() / sz.batch());
            int rank = name.equals("cola") ? 2 : 4; // copra-prune, cora, lorasc: r = 4
            Protocol p = new Protocol(steps, sz.batch(), sz.ctx(), rank, sz.grid(), 1000, Protocol.seeds(o.seeds()), sz.evalBatches());
            List<String[]> cfg = new ArrayList<>();
            cfg.add(new String[] {"base", o.model().toString()});
            cfg.add(new String[] {"task corpus", corpus + " (first " + sz.maxChars() + " characters; blocks of >= " + sz.blockChars()
                    + " characters, block k: k mod 10 = 8 validation, = 9 test, else train; seed-independent)"});
            cfg.add(new String[] {"split sizes", String.format(Locale.ROOT, "train %d windows of %d tokens; validation %d and test %d batches of %d",
                    data.trainWindows(), sz.ctx(), data.validation().size(), data.test().size(), sz.batch())});
            cfg.add(new String[] {"training", String.format(Locale.ROOT, "%d steps of %d x %d tokens (%.2f epochs), all targets, alpha = 2r, cosine, "
                    + "5%% warm-up, floor 10%%, AdamW no decay, clip 1", steps, sz.batch(), sz.ctx(), (double) steps * sz.batch() / data.trainWindows())});
            cfg.add(new String[] {"lr selection", "grid " + sz.grid().stream().map(Runner::fmtLr).toList() + ", one run per rate with seed "
                    + p.selectionSeed() + ", lowest validation loss wins (per arm); a best rate at an edge extends the grid by ×3 that way (at most "
                    + Runner.EXTEND + " times)"});
            cfg.add(new String[] {"test", o.seeds() + " paired seeds " + p.seeds() + " per arm at its chosen rate; same seed = same data order and init"});
            cfg.add(new String[] {"claim rule", "95% t-interval of the mean paired difference a−b (t table df 1-30, normal beyond); BETTER: CI < 0; "
                    + "MATCHES: CI inside ±" + MARGIN + " nats; NOT_WORSE: CI < +" + MARGIN + " nats (cost: +" + (int) (100 * COST_MARGIN) + "% of b's s/step)"});
            cfg.add(new String[] {"mode", o.quick() ? "quick (small corpus, few steps: a smoke test, not evidence)" : "full"});
            cfg.add(new String[] {"threads", o.load().threads() == 0 ? "engine default" : Integer.toString(o.load().threads())});
            out.println("experiment " + name);
            for (String[] kv : cfg) out.println("  " + kv[0] + ": " + kv[1]);
            double baseVal = Trainer.evaluate(m, data.validation()), baseTest = Trainer.evaluate(m, data.test());
            out.printf(Locale.ROOT, "  base model: validation %.4f, test %.4f%n", baseVal, baseTest);
            Results r = switch (name) {
                case "cola" -> ColaExperiment.cola(m, tok, o, p, data, cfg, baseVal, baseTest, out);
                case "cora" -> CoraExperiment.cora(m, tok, o, sz, p, data, cfg, baseVal, baseTest, out);
                case "lorasc" -> LorascExperiment.lorasc(m, tok, o, sz, p, data, cfg, baseVal, baseTest, out);
                case "copra-prune" -> CopraPruneExperiment.copraPrune(m, o, p, data, cfg, baseVal, baseTest, out);
                default -> CopraMergeExperiment.copraMerge(m, tok, o, sz, data, p, cfg, baseVal, baseTest, out);
            };
            List<Path> files = r.write(o.outDir());
            out.println();
            r.print(out);
            out.println();
            for (Path f : files) out.println("wrote " + f);
            return r;
        }
    }

    /** The figures every experiment has: test loss per arm, and the claims' intervals. */
    static List<Results.Figure> common(List<Results.ArmResult> res, List<Results.ClaimResult> judged) {
        List<Results.ClaimResult> loss = judged.stream().filter(c -> c.claim().metric() != Claim.Metric.SECONDS_PER_STEP).toList();
        return List.of(
                new Results.Figure("test-loss.svg", "Test loss per arm", Svg.dots("Test loss per arm (dots: seeds; tick: mean; bar: ± SD)",
                        "test loss (nats/token)", res.stream().map(Results.ArmResult::name).toList(), res.stream().map(Results.ArmResult::test).toList())),
                new Results.Figure("claims.svg", "Paired differences a − b with 95% CIs", Svg.forest(
                        "Paired differences a − b of each claim's metric, 95% CI (green held, red contradicted, grey not shown)", "a − b",
                        loss.stream().map(c -> c.claim().a() + " − " + c.claim().b() + metricLabel(c.claim())).toList(), loss.stream().map(Results.ClaimResult::diff).toList(),
                        loss.stream().map(Results.ClaimResult::verdict).toList())));
    }

    /** A short label of a claim's metric for the forest plot's rows ("" for the test loss). */
    static String metricLabel(Claim c) {
        return switch (c.metric()) {
            case TEST_LOSS -> "";
            case SHIFTED_LOSS -> " (shifted text)";
            case PRUNED_LOSS -> " (pruned)";
            case PRUNE_DEGRADATION -> " (pruning cost)";
            case MERGED_LOSS -> " (merged)";
            case MERGE_BARRIER -> " (barrier)";
            case SECONDS_PER_STEP -> " (s/step)";
            case MEASURED -> " [" + c.measure() + "]";
        };
    }

    static Results.ArmResult find(List<Results.ArmResult> res, String name) {
        for (Results.ArmResult a : res) if (a.name().equals(name)) return a;
        throw new IllegalArgumentException(name);
    }

    static String loraName(int r) { return "LoRA r=" + r; }

    static String colaName(int m, int r) { return "COLA M=" + m + " r=" + r; }

    static String coraName(int mode, String sub) { return "CoRA-" + mode + " " + sub; }

    /** The cora variant's options for a subspace and mode, with the basis adapters when the subspace is shared. */
    static Map<String, String> coraOptions(String subspace, String mode, List<Path> basis) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("cora-subspace", subspace);
        m.put("cora-mode", mode);
        if (subspace.equals("shared")) {
            StringBuilder b = new StringBuilder();
            for (Path p : basis) b.append(b.isEmpty() ? "" : ",").append(p);
            m.put("cora-basis", b.toString());
        }
        return m;
    }
}
