package io.panlora.experiment;

import io.panlora.gguf.GgmlType;
import io.panlora.lora.AdapterGguf;
import io.panlora.lora.LoraSet;
import io.panlora.model.LlamaModel;
import io.panlora.model.TokenizerLoader;
import io.panlora.tokenizer.Tokenizer;
import io.panlora.train.DatasetBatches;
import io.panlora.train.TrainConfig;
import io.panlora.train.Trainer;
import io.panlora.train.TrainingStrategy;
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
 *   <li>{@code lorasc}: LoRASC (3 cascade iterations, α = 0.5, Gaussian noise γ = 0.01) against LoRA r = 4 and against
 *       LoRA at 3r (the rank LoRASC's mixture can reach), on the test split and on shifted text (the test split of Grimm's
 *       tales);</li>
 *   <li>{@code copra-prune}: CopRA against LoRA r = 4: test loss with the adapters of every other layer switched off (the
 *       paper's pruning), what that costs each, and test loss with the k lowest-Shapley layers' adapters off (Shapley
 *       values on validation) for every k;</li>
 *   <li>{@code copra-merge}: CopRA against LoRA r = 4, two adapters per seed trained from one init (the seed's) on the
 *       two halves of the training split, averaged with weight λ ∈ {0, ¼, ½, ¾, 1}: the merged (λ = ½) test loss and
 *       the interpolation barrier.</li>
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
    private record Size(int maxChars, int blockChars, int ctx, int batch, double epochs, int evalBatches, List<Float> grid) {}

    private static Size size(String name, boolean quick) {
        List<Float> grid = List.of(3e-3f, 1e-2f, 3e-2f);
        if (quick) return new Size(16_000, 400, 64, 4, 1.3, 4, grid);
        // full: about 190 steps of 8 x 128 tokens (1.3 epochs of ~1200 windows); sized for <= 30 min on 2 shared cores
        return new Size(240_000, 2000, 128, 8, 1.3, 12, grid);
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
                case "cola" -> cola(m, tok, o, p, data, cfg, baseVal, baseTest, out);
                case "cora" -> cora(m, tok, o, sz, p, data, cfg, baseVal, baseTest, out);
                case "lorasc" -> lorasc(m, tok, o, sz, p, data, cfg, baseVal, baseTest, out);
                case "copra-prune" -> copraPrune(m, o, p, data, cfg, baseVal, baseTest, out);
                default -> copraMerge(m, tok, o, sz, splits, p, cfg, baseVal, baseTest, out);
            };
            List<Path> files = r.write(o.outDir());
            out.println();
            r.print(out);
            out.println();
            for (Path f : files) out.println("wrote " + f);
            return r;
        }
    }

    private static Results cola(LlamaModel m, Tokenizer tok, Options o, Protocol p, Runner.Data data, List<String[]> cfg,
                                double baseVal, double baseTest, PrintStream out) throws IOException {
        List<Integer> ranks = o.quick() ? List.of(2) : List.of(2, 4);
        List<Integer> links = List.of(2, 3);
        Map<String, Arm> arms = new LinkedHashMap<>();
        List<Claim> claims = new ArrayList<>();
        for (int r : ranks) {
            arms.putIfAbsent(loraName(r), Arm.lora(loraName(r), r));
            for (int mm : links) {
                int M = mm;
                String cola = colaName(M, r);
                arms.put(cola, new Arm(cola, Arm.withRank(r), Arm.variant("cola", Map.of("cola-links", Integer.toString(M))), s -> Arm.allFactors(s) / M));
                if (M <= 3) {
                    arms.putIfAbsent(loraName(M * r), Arm.lora(loraName(M * r), M * r));
                    claims.add(Claim.loss("COLA (" + M + " links, rank " + r + ") beats LoRA at the same rank and steps", Claim.Kind.BETTER,
                            cola, loraName(r), MARGIN));
                    claims.add(Claim.loss("COLA's gain is more than its extra rank: it beats LoRA at rank " + M + "·" + r, Claim.Kind.BETTER,
                            cola, loraName(M * r), MARGIN).asControl());
                }
            }
            int M = links.get(links.size() - 1);
            claims.add(new Claim("COLA (" + M + " links) costs no more per step than LoRA (rank " + r + ")", Claim.Kind.NOT_WORSE,
                    colaName(M, r), loraName(r), Claim.Metric.SECONDS_PER_STEP, COST_MARGIN, true, false));
        }
        out.println("  arms: " + String.join(", ", arms.keySet()));
        List<Results.ArmResult> res = Runner.run(m, List.copyOf(arms.values()), p, data, out);
        List<Results.ClaimResult> judged = Results.judge(res, claims);
        List<Results.Figure> figs = new ArrayList<>(common(res, judged));
        double[] x = new double[links.size() + 1];
        double[][] mean = new double[ranks.size()][x.length], sd = new double[ranks.size()][x.length];
        for (int i = 0; i < x.length; i++) x[i] = i + 1;
        for (int k = 0; k < ranks.size(); k++)
            for (int i = 0; i < x.length; i++) {
                Results.ArmResult a = find(res, i == 0 ? loraName(ranks.get(k)) : colaName(links.get(i - 1), ranks.get(k)));
                mean[k][i] = a.testMean();
                sd[k][i] = a.testSd();
            }
        figs.add(new Results.Figure("chain-length.svg", "COLA chain-length ablation (M = 1 is LoRA)", Svg.lines(
                "COLA chain-length ablation: test loss (mean ± SD over seeds) by links M (M = 1 is LoRA)", "links M", "test loss (nats/token)",
                ranks.stream().map(r -> "rank " + r).toList(), x, mean, sd)));
        List<String> notes = List.of(
                "COLA keeps every link's slots from the start (later links disabled until their knot), so its per-step cost includes the disabled slots' bookkeeping",
                "seconds per step are wall-clock on a machine shared with other jobs: treat the cost claim as indicative",
                "trainable = parameters trained at one step (one link for COLA)");
        return new Results("cola", "Chain of LoRA (arXiv 2401.04151) against LoRA at equal steps and rank, on stories260K / Tiny Shakespeare",
                cfg, baseVal, baseTest, res, judged, notes, figs);
    }

    private static Results cora(LlamaModel m, Tokenizer tok, Options o, Size sz, Protocol p, Runner.Data data, List<String[]> cfg,
                                double baseVal, double baseTest, PrintStream out) throws IOException {
        int r = p.rank();
        List<Path> basis = new ArrayList<>();
        for (String corpus : List.of("grimm-pg2591.txt", "tinystories-valid-sample.txt")) {
            Splits s = Splits.read(o.dataDir().resolve(corpus), sz.maxChars(), sz.blockChars());
            String stem = corpus.substring(0, corpus.indexOf('.') < 0 ? corpus.length() : corpus.indexOf('.'));
            Runner.Data d = Runner.prepare(s, tok, sz.ctx(), sz.batch(), sz.evalBatches(), o.outDir().resolve("basis-" + stem));
            TrainConfig c = p.config(1e-2f, p.selectionSeed()).withSteps(p.steps());
            Path f = o.outDir().resolve("basis-" + stem + ".gguf");
            try (LoraSet set = new LoraSet(m)) {
                TrainingStrategy.LORA.addSlots(set, c);
                set.attach();
                new Trainer(m, set, c, new DatasetBatches(d.train(), c.batch(), c.seed()), List.of(), null, null).run(false);
                AdapterGguf.write(f, set, m.config(), GgmlType.F32, "basis-" + stem);
            }
            basis.add(f);
            out.println("  basis adapter (LoRA r=" + r + ", lr 1e-2, " + p.steps() + " steps on " + corpus + "): " + f);
        }
        cfg.add(new String[] {"shared subspace", "top-r left singular vectors of the stacked B of two LoRA r=" + r + " adapters trained on "
                + "Grimm's tales and TinyStories (lr 1e-2, same steps, seed " + p.selectionSeed() + ")"});
        List<Arm> arms = new ArrayList<>();
        String lora = loraName(r), half = loraName(r / 2);
        arms.add(Arm.lora(lora, r));
        arms.add(Arm.lora(half, r / 2));
        List<String> subspaces = o.quick() ? List.of("shared", "principal") : List.of("shared", "principal", "minor");
        for (String sub : subspaces)
            arms.add(new Arm(coraName(1, sub), Arm.withRank(r), Arm.variant("cora", coraOptions(sub, "frozen", basis)), Arm::aOnly));
        arms.add(new Arm(coraName(1, "random"), Arm.withRank(r), Arm.variant("cora", Map.of("cora-subspace", "random")), Arm::aOnly));
        for (String sub : subspaces)
            arms.add(Arm.of(coraName(2, sub), Arm.withRank(r), Arm.variant("cora", coraOptions(sub, "init", basis))));
        List<Claim> claims = new ArrayList<>();
        for (String sub : subspaces) {
            claims.add(Claim.loss("CoRA mode 1 (" + sub + ") matches LoRA r with half the trainable parameters", Claim.Kind.MATCHES,
                    coraName(1, sub), lora, MARGIN));
            claims.add(Claim.loss("CoRA mode 1 (" + sub + ") beats LoRA r/2 (parameter-matched)", Claim.Kind.BETTER, coraName(1, sub), half, MARGIN));
        }
        for (String sub : subspaces)
            claims.add(Claim.loss("CoRA mode 2 (" + sub + ") is no worse than LoRA r", Claim.Kind.NOT_WORSE, coraName(2, sub), lora, MARGIN));
        for (String sub : subspaces)
            claims.add(Claim.loss("the " + sub + " subspace beats a random frozen B (mode 1)", Claim.Kind.BETTER, coraName(1, sub),
                    coraName(1, "random"), MARGIN).asControl());
        out.println("  arms: " + String.join(", ", arms.stream().map(Arm::name).toList()));
        List<Results.ArmResult> res = Runner.run(m, arms, p, data, out);
        List<Results.ClaimResult> judged = Results.judge(res, claims);
        List<String> notes = List.of(
                "mode 1 and mode 2 start with A = 0, so the initial model is the base; B is scaled by √Σ for principal, unscaled for minor, shared and random",
                "trainable = A only for mode 1 (B frozen), A and B otherwise; LoRA r/2 and mode 1 train the same number on square targets");
        return new Results("cora", "CoRA (arXiv 2409.02119) modes 1 and 2 against LoRA r and LoRA r/2, on stories260K / Tiny Shakespeare",
                cfg, baseVal, baseTest, res, judged, notes, common(res, judged));
    }

    private static Results lorasc(LlamaModel m, Tokenizer tok, Options o, Size sz, Protocol p, Runner.Data data0, List<String[]> cfg,
                                  double baseVal, double baseTest, PrintStream out) throws IOException {
        Path other = o.dataDir().resolve("grimm-pg2591.txt");
        Runner.Data data = data0.withShifted(Splits.read(other, sz.maxChars(), sz.blockChars()), tok, sz.ctx(), sz.batch(), sz.evalBatches(),
                o.outDir().resolve("shifted"));
        double baseShifted = Trainer.evaluate(m, data.shifted());
        cfg.add(new String[] {"shifted text", other + " (test split, same splitting rule); base model loss " + String.format(Locale.ROOT, "%.4f", baseShifted)});
        int r = p.rank(), iterations = 3;
        cfg.add(new String[] {"LoRASC", iterations + " cascade iterations of " + (p.steps() + iterations - 1) / iterations
                + " steps, slow-update α 0.5, Gaussian noise γ 0.01 · std(W), seed = the run's seed"});
        out.println("  " + cfg.get(cfg.size() - 2)[0] + ": " + cfg.get(cfg.size() - 2)[1]);
        String lora = loraName(r), wide = loraName(iterations * r), sc = "LoRASC r=" + r;
        List<Arm> arms = List.of(Arm.lora(lora, r),
                new Arm(sc, Arm.withRank(r), c -> Arm.variant("lorasc", Map.of("lorasc-every", Integer.toString((c.steps() + iterations - 1) / iterations)))
                        .apply(c), Arm::allFactors),
                Arm.lora(wide, iterations * r));
        List<Claim> claims = List.of(
                Claim.loss("LoRASC generalizes better than LoRA (test loss)", Claim.Kind.BETTER, sc, lora, MARGIN),
                new Claim("LoRASC is more robust out of distribution than LoRA (shifted-text loss)", Claim.Kind.BETTER, sc, lora,
                        Claim.Metric.SHIFTED_LOSS, MARGIN, false, false),
                Claim.loss("LoRASC's gain is more than the rank its mixture reaches: it beats LoRA at rank " + iterations + "·" + r,
                        Claim.Kind.BETTER, sc, wide, MARGIN).asControl(),
                new Claim("LoRASC costs no more per step than LoRA", Claim.Kind.NOT_WORSE, sc, lora, Claim.Metric.SECONDS_PER_STEP, COST_MARGIN, true, false));
        out.println("  arms: " + String.join(", ", arms.stream().map(Arm::name).toList()));
        List<Results.ArmResult> res = Runner.run(m, arms, p, data, out);
        List<Results.ClaimResult> judged = Results.judge(res, claims);
        List<Results.Figure> figs = new ArrayList<>(common(res, judged));
        figs.add(new Results.Figure("shifted-loss.svg", "Shifted-text loss per arm", Svg.dots("Shifted-text (Grimm) loss per arm (dots: seeds; tick: mean; bar: ± SD)",
                "shifted-text loss (nats/token)", res.stream().map(Results.ArmResult::name).toList(), res.stream().map(Results.ArmResult::shifted).toList())));
        List<String> notes = List.of("the learning rate is chosen on the task's validation split only; the shifted text is never used for selection",
                "LoRASC's noise is drawn from the run's seed: each seed's run is reproducible");
        return new Results("lorasc", "LoRASC (arXiv 2407.01491) against LoRA r and LoRA 3r, in distribution and on shifted text, on stories260K / Tiny Shakespeare",
                cfg, baseVal, baseTest, res, judged, notes, figs);
    }

    private static Results copraPrune(LlamaModel m, Options o, Protocol p, Runner.Data data, List<String[]> cfg, double baseVal, double baseTest,
                                      PrintStream out) throws IOException {
        int layers = (int) m.config().nLayer(), perms = o.quick() ? 2 : 6;
        cfg.add(new String[] {"pruning", "every other layer's adapters off (layers 1, 3, …); and the k lowest-Shapley layers' off, k = 1 … "
                + (layers - 1) + " (Shapley: " + perms + " Monte Carlo permutations on validation, seed = run seed + 1)"});
        cfg.add(new String[] {"CopRA", "defaults: p0 0.1, p1 1.0, ρ 0.75, layer mask redrawn every step, seed = the run's seed"});
        String lora = loraName(p.rank()), copra = "CopRA r=" + p.rank();
        List<Arm> arms = List.of(Arm.lora(lora, p.rank()), Arm.of(copra, Arm.withRank(p.rank()), Arm.variant("copra", Map.of())));
        Runner.Probe probe = (mm, arm, set, d, c, t) -> {
            Map<String, Double> x = new LinkedHashMap<>();
            for (int l = 0; l < layers; l++) set.setLayerEnabled(l, l % 2 == 0);
            double pruned = Trainer.evaluate(mm, d.test());
            for (int l = 0; l < layers; l++) set.setLayerEnabled(l, true);
            x.put(Runner.PRUNED, pruned);
            x.put(Runner.DEGRADATION, pruned - t);
            Shapley.Values v = Shapley.estimate(mm, set, d.validation(), perms, c.seed() + 1);
            Integer[] order = new Integer[layers];
            for (int l = 0; l < layers; l++) order[l] = l;
            java.util.Arrays.sort(order, (a, b) -> Double.compare(v.mean()[a], v.mean()[b]));
            for (int k = 1; k < layers; k++) {
                for (int l = 0; l < layers; l++) set.setLayerEnabled(l, true);
                for (int j = 0; j < k; j++) set.setLayerEnabled(order[j], false);
                x.put("lowest_shapley_pruned_k" + k, Trainer.evaluate(mm, d.test()));
            }
            for (int l = 0; l < layers; l++) set.setLayerEnabled(l, true);
            return x;
        };
        List<Claim> claims = List.of(
                new Claim("CopRA's adapter keeps more with every other layer pruned (pruned test loss)", Claim.Kind.BETTER, copra, lora,
                        Claim.Metric.PRUNED_LOSS, MARGIN, false, false),
                new Claim("pruning every other layer costs CopRA less than LoRA", Claim.Kind.BETTER, copra, lora, Claim.Metric.PRUNE_DEGRADATION,
                        MARGIN, false, false),
                Claim.loss("CopRA unpruned is no worse than LoRA", Claim.Kind.NOT_WORSE, copra, lora, MARGIN));
        out.println("  arms: " + lora + ", " + copra);
        List<Results.ArmResult> res = Runner.run(m, arms, p, data, probe, out);
        List<Results.ClaimResult> judged = Results.judge(res, claims);
        List<Results.Figure> figs = new ArrayList<>(common(res, judged));
        double[] x = new double[layers];
        double[][] mean = new double[2][layers], sd = new double[2][layers];
        for (int k = 0; k < layers; k++) x[k] = k;
        for (int a = 0; a < 2; a++)
            for (int k = 0; k < layers; k++) {
                double[] v = k == 0 ? res.get(a).test() : res.get(a).extra().get("lowest_shapley_pruned_k" + k);
                mean[a][k] = Stats.mean(Stats.finite(v));
                sd[a][k] = Stats.sd(Stats.finite(v));
            }
        figs.add(new Results.Figure("pruning.svg", "Test loss with the k lowest-Shapley layers' adapters pruned", Svg.lines(
                "Test loss (mean ± SD over seeds) with the adapters of the k lowest-Shapley layers off", "k (layers pruned)", "test loss (nats/token)",
                List.of(lora, copra), x, mean, sd)));
        List<String> notes = List.of("the pruning never changes the learning rate chosen on validation; Shapley values are estimated on validation, losses reported on test",
                "the paper prunes every other layer; the k lowest-Shapley curve is in results.json (lowest_shapley_pruned_k*) and pruning.svg");
        return new Results("copra-prune", "CopRA (arXiv 2410.22911) against LoRA under layer pruning, on stories260K / Tiny Shakespeare",
                cfg, baseVal, baseTest, res, judged, notes, figs);
    }

    private static final double[] LAMBDAS = {0, 0.25, 0.5, 0.75, 1};

    private static Results copraMerge(LlamaModel m, Tokenizer tok, Options o, Size sz, Splits splits, Protocol p0, List<String[]> cfg,
                                      double baseVal, double baseTest, PrintStream out) throws IOException {
        String[] paras = splits.train().split("\n\n");
        StringBuilder h1 = new StringBuilder(), h2 = new StringBuilder();
        for (int i = 0; i < paras.length; i++) (i < paras.length / 2 ? h1 : h2).append(paras[i]).append("\n\n");
        Runner.Data d1 = Runner.prepare(new Splits(h1.toString(), splits.validation(), splits.test()), tok, sz.ctx(), sz.batch(), sz.evalBatches(),
                o.outDir().resolve("shard1"));
        Runner.Data d2 = Runner.prepare(new Splits(h2.toString(), splits.validation(), splits.test()), tok, sz.ctx(), sz.batch(), sz.evalBatches(),
                o.outDir().resolve("shard2"));
        int steps = (int) Math.ceil(sz.epochs() * d1.trainWindows() / sz.batch());
        Protocol p = new Protocol(steps, p0.batch(), p0.ctx(), 4, p0.lrGrid(), p0.selectionSeed(), p0.seeds(), p0.evalBatches());
        for (String[] kv : cfg)
            if (kv[0].equals("training")) kv[1] = kv[1].replaceFirst("^\\d+ steps", steps + " steps") + " — per shard, see merging";
        cfg.add(new String[] {"merging", "the training split's first and second halves (by paragraph) are the shards: " + d1.trainWindows() + " and "
                + d2.trainWindows() + " windows; each adapter trains " + steps + " steps (1.3 epochs of shard 1) with the seed's init; "
                + "the learning rate is chosen on validation for the shard-1 adapter; A and B averaged separately"});
        cfg.add(new String[] {"CopRA", "defaults: p0 0.1, p1 1.0, ρ 0.75, layer mask redrawn every step, seed = the run's seed"});
        out.println("  " + cfg.get(cfg.size() - 2)[0] + ": " + cfg.get(cfg.size() - 2)[1]);
        String lora = loraName(4), copra = "CopRA r=4";
        List<Arm> arms = List.of(Arm.lora(lora, 4), Arm.of(copra, Arm.withRank(4), Arm.variant("copra", Map.of())));
        Runner.Probe probe = (mm, arm, set1, d, c, t) -> {
            List<float[]> a1 = new ArrayList<>(), b1 = new ArrayList<>();
            for (LoraSet.Slot sl : set1.slots()) { a1.add(set1.getA(sl)); b1.add(set1.getB(sl)); }
            set1.detach();
            Map<String, Double> x = new LinkedHashMap<>();
            TrainingStrategy st = arm.strategy().apply(c);
            try (LoraSet set2 = new LoraSet(mm)) {
                st.addSlots(set2, c);
                set2.attach();
                Trainer tr = new Trainer(mm, set2, c, new DatasetBatches(d2.train(), c.batch(), c.seed()), List.of(), null, null);
                for (var h : st.hooks()) tr.addHook(h);
                tr.run(false);
                List<float[]> a2 = new ArrayList<>(), b2 = new ArrayList<>();
                for (LoraSet.Slot sl : set2.slots()) { a2.add(set2.getA(sl)); b2.add(set2.getB(sl)); }
                double[] loss = new double[LAMBDAS.length];
                for (int i = 0; i < LAMBDAS.length; i++) {
                    for (int k = 0; k < set2.slots().size(); k++)
                        set2.setWeights(set2.slots().get(k), mix(a1.get(k), a2.get(k), LAMBDAS[i]), mix(b1.get(k), b2.get(k), LAMBDAS[i]));
                    loss[i] = Trainer.evaluate(mm, d.test());
                    x.put(String.format(Locale.ROOT, "path_lambda_%.2f", LAMBDAS[i]), loss[i]);
                }
                double barrier = 0;
                for (int i = 0; i < LAMBDAS.length; i++)
                    barrier = Math.max(barrier, loss[i] - ((1 - LAMBDAS[i]) * loss[0] + LAMBDAS[i] * loss[LAMBDAS.length - 1]));
                x.put(Runner.MERGED, loss[2]);
                x.put(Runner.BARRIER, barrier);
            }
            return x;
        };
        List<Claim> claims = List.of(
                new Claim("CopRA's merged adapter (two shards, one init) has lower test loss than LoRA's", Claim.Kind.BETTER, copra, lora,
                        Claim.Metric.MERGED_LOSS, MARGIN, false, false),
                new Claim("CopRA's adapters are more linearly mode-connected than LoRA's (lower interpolation barrier)", Claim.Kind.BETTER, copra, lora,
                        Claim.Metric.MERGE_BARRIER, MARGIN, false, false));
        out.println("  arms: " + lora + ", " + copra);
        List<Results.ArmResult> res = Runner.run(m, arms, p, d1, probe, out);
        List<Results.ClaimResult> judged = Results.judge(res, claims);
        List<Results.Figure> figs = new ArrayList<>(common(res, judged));
        double[][] mean = new double[2][LAMBDAS.length], sd = new double[2][LAMBDAS.length];
        for (int a = 0; a < 2; a++)
            for (int i = 0; i < LAMBDAS.length; i++) {
                double[] v = res.get(a).extra().get(String.format(Locale.ROOT, "path_lambda_%.2f", LAMBDAS[i]));
                mean[a][i] = Stats.mean(Stats.finite(v));
                sd[a][i] = Stats.sd(Stats.finite(v));
            }
        figs.add(new Results.Figure("interpolation.svg", "Test loss along the interpolation path", Svg.lines(
                "Test loss (mean ± SD over seeds) of (1−λ)·adapter(shard 1) + λ·adapter(shard 2)", "λ", "test loss (nats/token)",
                List.of(lora, copra), LAMBDAS, mean, sd)));
        List<String> notes = List.of("the table's test loss is the shard-1 adapter alone (λ = 0)",
                "the reference to compare: the paper's CLIP/DTD numbers (LoRA 71.6 → merged 65.6, CopRA 72.7 → 72.0 accuracy)");
        return new Results("copra-merge", "CopRA (arXiv 2410.22911) against LoRA when merging adapters trained on disjoint shards, on stories260K / Tiny Shakespeare",
                cfg, baseVal, baseTest, res, judged, notes, figs);
    }

    private static float[] mix(float[] x, float[] y, double lam) {
        float[] z = new float[x.length];
        for (int i = 0; i < x.length; i++) z[i] = (float) ((1 - lam) * x[i] + lam * y[i]);
        return z;
    }

    /** The figures every experiment has: test loss per arm, and the claims' intervals. */
    private static List<Results.Figure> common(List<Results.ArmResult> res, List<Results.ClaimResult> judged) {
        List<Results.ClaimResult> loss = judged.stream().filter(c -> c.claim().metric() != Claim.Metric.SECONDS_PER_STEP).toList();
        return List.of(
                new Results.Figure("test-loss.svg", "Test loss per arm", Svg.dots("Test loss per arm (dots: seeds; tick: mean; bar: ± SD)",
                        "test loss (nats/token)", res.stream().map(Results.ArmResult::name).toList(), res.stream().map(Results.ArmResult::test).toList())),
                new Results.Figure("claims.svg", "Paired differences a − b with 95% CIs", Svg.forest(
                        "Paired test-loss differences a − b, 95% CI (green held, red contradicted, grey not shown)", "a − b (nats/token)",
                        loss.stream().map(c -> c.claim().a() + " − " + c.claim().b() + (c.claim().metric() == Claim.Metric.SHIFTED_LOSS ? " (shifted)" : "")).toList(), loss.stream().map(Results.ClaimResult::diff).toList(),
                        loss.stream().map(Results.ClaimResult::verdict).toList())));
    }

    private static Results.ArmResult find(List<Results.ArmResult> res, String name) {
        for (Results.ArmResult a : res) if (a.name().equals(name)) return a;
        throw new IllegalArgumentException(name);
    }

    private static String loraName(int r) { return "LoRA r=" + r; }

    private static String colaName(int m, int r) { return "COLA M=" + m + " r=" + r; }

    private static String coraName(int mode, String sub) { return "CoRA-" + mode + " " + sub; }

    /** The cora variant's options for a subspace and mode, with the basis adapters when the subspace is shared. */
    private static Map<String, String> coraOptions(String subspace, String mode, List<Path> basis) {
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
