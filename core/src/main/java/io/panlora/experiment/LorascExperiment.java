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

import static io.panlora.experiment.ExperimentCatalog.*;

/** The {@code lorasc} experiment: LoRASC against LoRA in and out of distribution. Static methods only; run through {@link ExperimentCatalog#run}. */
final class LorascExperiment {
    private LorascExperiment() {}

    static Results lorasc(LlamaModel m, Tokenizer tok, Options o, Size sz, Protocol p, Runner.Data data0, List<String[]> cfg,
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
}
