package io.panlora.experiment;

import io.panlora.gguf.GgmlType;
import io.panlora.lora.AdapterGguf;
import io.panlora.lora.LoraSet;
import io.panlora.model.LlamaModel;
import io.panlora.tokenizer.Tokenizer;
import io.panlora.train.DatasetBatches;
import io.panlora.train.TrainConfig;
import io.panlora.train.Trainer;
import io.panlora.train.TrainingStrategy;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static io.panlora.experiment.ExperimentCatalog.*;

/** The {@code cora} experiment: CoRA modes 1 and 2 in several subspaces against LoRA r and r/2. Static methods only; run through {@link ExperimentCatalog#run}. */
final class CoraExperiment {
    private CoraExperiment() {}

    static Results cora(LlamaModel m, Tokenizer tok, Options o, Size sz, Protocol p, Runner.Data data, List<String[]> cfg,
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
}
