package io.panlora.experiment;

import io.panlora.model.LlamaModel;
import io.panlora.tokenizer.Tokenizer;
import java.io.IOException;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static io.panlora.experiment.ExperimentCatalog.*;

/** The {@code cola} experiment: Chain of LoRA against LoRA at equal rank and at the chain's total rank. Static methods only; run through {@link ExperimentCatalog#run}. */
final class ColaExperiment {
    private ColaExperiment() {}

    static Results cola(LlamaModel m, Tokenizer tok, Options o, Protocol p, Runner.Data data, List<String[]> cfg,
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
}
