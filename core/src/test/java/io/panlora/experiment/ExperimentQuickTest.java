package io.panlora.experiment;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.panlora.testing.SharedData;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The quick size of every experiment, end to end on the real stories260K base: files written, every arm and claim present. */
class ExperimentQuickTest {
    @TempDir
    Path dir;

    private Results run(String name, String... files) throws Exception {
        Path model = SharedData.require("stories260K.gguf");
        for (String f : files) SharedData.require(f);
        Path data = model.getParent();
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        Results r;
        try (PrintStream ps = new PrintStream(buf, true, StandardCharsets.UTF_8)) {
            r = ExperimentCatalog.run(name, new ExperimentCatalog.Options(model, data, 2, true, dir, null), ps);
        }
        String text = buf.toString(StandardCharsets.UTF_8);
        System.out.println(text);
        for (String f : new String[] {"results.json", "results.md", "test-loss.svg", "claims.svg", "test-loss.png", "claims.png"})
            assertTrue(Files.size(dir.resolve(f)) > 0, f);
        assertTrue(text.contains("at this scale"), text);
        for (Results.ArmResult a : r.arms()) {
            assertEquals(2, a.test().length);
            assertTrue(Double.isFinite(a.testMean()) && a.testMean() < r.baseTest() + 0.5, a.name() + " " + a.testMean());
        }
        for (Results.ClaimResult c : r.claims()) assertEquals(2, c.diff().n(), c.line());
        assertTrue(Files.readString(dir.resolve("results.json")).contains("\"verdict\""));
        return r;
    }

    @Test
    void cola() throws Exception {
        Results r = run("cola", "tinyshakespeare.txt");
        assertTrue(Files.size(dir.resolve("chain-length.svg")) > 0);
        assertEquals(5, r.arms().size()); // LoRA 2, COLA 2 and 3 links, LoRA 4 and 6
    }

    @Test
    void lorasc() throws Exception {
        Results r = run("lorasc", "tinyshakespeare.txt", "grimm-pg2591.txt", "selfinstruct-user-oriented.jsonl");
        assertEquals(6, r.arms().size()); // LoRA r, LoRASC, LoRASC α=1, γ=0, γ=0.05, LoRA 3r
        for (String f : new String[] {"shifted-loss", "ood-selfinstruct", "validation-curve", "lr-selection", "lr-stability"}) {
            assertTrue(Files.size(dir.resolve(f + ".svg")) > 0, f);
            assertTrue(Files.size(dir.resolve(f + ".png")) > 0, f);
        }
        assertTrue(Files.size(dir.resolve("selfinstruct-alpaca.jsonl")) > 0);
        for (Results.ArmResult a : r.arms()) {
            assertTrue(Double.isFinite(Stats.mean(a.shifted())), a.name());
            for (String k : new String[] {"val_best", "val_final", "overfit", "ood_selfinstruct"})
                for (double v : a.extra().get(k)) assertTrue(Double.isFinite(v), a.name() + " " + k);
            for (int k = 0; k < 2; k++) {
                double best = a.extra().get("val_best")[k], fin = a.extra().get("val_final")[k];
                assertTrue(best <= fin + 1e-9, a.name() + ": best " + best + " > final " + fin);
                // the final check is the run's own validation loss
                assertEquals(a.validation()[k], fin, 1e-6, a.name());
                assertTrue(a.extra().get("val_best_step")[k] >= 1, a.name());
            }
            assertTrue(a.extra().keySet().stream().filter(x -> x.startsWith("val_step_")).count() >= 2, a.extra().keySet().toString());
        }
        // the paired stability over the grid: LoRA and LoRASC only
        for (String name : new String[] {"LoRA r=4", "LoRASC r=4"}) {
            double[] spread = r.arm(name).extra().get("lr_spread");
            assertEquals(2, spread.length);
            for (int k = 0; k < 2; k++) {
                boolean diverged = r.arm(name).extra().get("lr_grid_diverged")[k] > 0;
                assertTrue(diverged || spread[k] >= 0, name);
                assertTrue(diverged || r.arm(name).extra().get("overfit_grid")[k] >= 0, name);
            }
        }
        assertTrue(Files.readString(dir.resolve("results.md")).contains("| overfit |"));
    }

    @Test
    void copraPrune() throws Exception {
        Results r = run("copra-prune", "tinyshakespeare.txt");
        assertEquals(2, r.arms().size());
        assertTrue(Files.size(dir.resolve("pruning.svg")) > 0);
        for (Results.ArmResult a : r.arms()) {
            assertTrue(Double.isFinite(Stats.mean(a.values(Claim.Metric.PRUNED_LOSS))), a.name());
            assertTrue(a.extra().containsKey("lowest_shapley_pruned_k4"), a.extra().keySet().toString());
            // exact Shapley values are efficient: they sum to the loss the whole adapter removes on validation
            double sum = 0;
            for (int l = 0; l < 5; l++) sum += a.extra().get("shapley_layer" + l)[0];
            assertTrue(sum > 0, "the adapters lower the validation loss: " + sum);
            assertTrue(Double.isFinite(a.extra().get("magnitude50_cost")[0]), a.name());
            assertTrue(Double.isFinite(a.extra().get("shapley_cv")[0]), a.name());
        }
        assertTrue(Files.size(dir.resolve("shapley.png")) > 0);
        assertTrue(Files.readString(dir.resolve("results.md")).contains("| magnitude50_cost |"));
    }

    @Test
    void copraMerge() throws Exception {
        Results r = run("copra-merge", "tinyshakespeare.txt", "grimm-pg2591.txt", "tinystories-valid-sample.txt");
        assertEquals(2, r.arms().size());
        for (String f : new String[] {"interpolation.svg", "interpolation.png", "barrier.png", "merge-gaps.png"})
            assertTrue(Files.size(dir.resolve(f)) > 0, f);
        for (Results.ArmResult a : r.arms()) {
            Map<String, double[]> x = a.extra();
            for (String pair : new String[] {"S-G", "S-T", "G-T"}) {
                assertEquals(11, x.keySet().stream().filter(k -> k.matches("path_" + pair + "_\\d\\.\\d\\d")).count(), pair);
                for (double b : x.get("barrier_" + pair)) assertTrue(b >= -1e-9, a.name() + " barrier " + pair + " " + b);
            }
            for (int s = 0; s < 2; s++) {
                // λ = 0 of S-G is the Shakespeare adapter written back into the set: the run's own test loss
                assertEquals(a.test()[s], x.get("own_shakespeare")[s], 0);
                assertEquals(a.test()[s], x.get("path_S-G_0.00_shakespeare")[s], 1e-5);
                // λ = 1 is the Grimm adapter, scored in its own set right after training
                assertEquals(x.get("own_grimm")[s], x.get("path_S-G_1.00_grimm")[s], 1e-5);
                assertEquals(x.get("own_tinystories")[s], x.get("path_G-T_1.00_tinystories")[s], 1e-5);
            }
            for (String k : new String[] {"gap111_shakespeare", "gap111_grimm", "gap111_tinystories", "gap111_mean", "gap12_mean",
                    "gap12_S1G2_shakespeare", "gap12_G2T1_tinystories", "gap11_mean", "own_mean"})
                for (double v : x.get(k)) assertTrue(Double.isFinite(v), a.name() + " " + k);
            assertEquals(Stats.mean(x.get("barrier_mean")), Stats.mean(a.values(Claim.Metric.MERGE_BARRIER)), 0);
        }
        assertEquals(6, r.claims().size());
    }

    @Test
    void cora() throws Exception {
        Results r = run("cora", "tinyshakespeare.txt", "grimm-pg2591.txt", "tinystories-valid-sample.txt");
        assertEquals(7, r.arms().size()); // LoRA r and r/2, mode 1 shared/principal/random, mode 2 shared/principal
        assertTrue(Files.size(dir.resolve("basis-grimm-pg2591.gguf")) > 0);
        // mode 1 trains A only: half of LoRA r's parameters on square targets, never more than LoRA r's
        assertTrue(r.arm("CoRA-1 principal").trainable() < r.arm("LoRA r=4").trainable());
    }
}
