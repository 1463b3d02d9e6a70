package io.panlora.variants;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.panlora.data.ReadOptions;
import io.panlora.gguf.GgmlType;
import io.panlora.lora.LoraSet;
import io.panlora.testing.SharedData;
import io.panlora.train.LoraRun;
import io.panlora.train.LrSchedule;
import io.panlora.train.TrainConfig;
import io.panlora.variants.copra.CopraConfig;
import io.panlora.variants.copra.CopraSchedule;
import io.panlora.prune.Shapley;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** CopRA: the progressive schedule, the mask draws, training through masks, and Shapley values. */
class CopraTest {
    @TempDir
    Path dir;

    @Test
    void probabilityRisesLinearlyThenHolds() {
        CopraConfig c = CopraConfig.defaults(1);
        assertEquals(0.1, c.probability(0, 100), 1e-12);
        assertEquals(0.1 + 0.9 * 30 / 75.0, c.probability(30, 100), 1e-12);
        assertEquals(1.0, c.probability(75, 100), 1e-12);
        assertEquals(1.0, c.probability(99, 100), 1e-12);
    }

    @Test
    void masksFollowTheProbabilityAndNeverDropEveryLayer() {
        CopraSchedule s = new CopraSchedule(CopraConfig.defaults(7));
        int layers = 6, n = 4000, active = 0;
        for (int i = 0; i < n; i++) {
            boolean[] m = s.drawMask(layers, 0, 100); // p = 0.1: all-off draws are redrawn
            int on = 0;
            for (boolean b : m) on += b ? 1 : 0;
            assertTrue(on >= 1);
            active += on;
        }
        // E[active | at least one] = 6·0.1 / (1 − 0.9⁶) ≈ 1.281
        assertEquals(6 * 0.1 / (1 - Math.pow(0.9, 6)), active / (double) n, 0.05);
        boolean[] full = s.drawMask(layers, 80, 100);
        for (boolean b : full) assertTrue(b, "p = 1 after the first 75 % of the run");
        // the RNG state round-trips: the same draws after restore
        long[] st = s.state();
        boolean[] a = s.drawMask(layers, 10, 100);
        s.restore(st);
        assertArrayEquals(a, s.drawMask(layers, 10, 100));
    }

    @Test
    void trainsOnStoriesAndShapleyValuesAddUpToTheAdaptersEffect() throws Exception {
        Path model = SharedData.require("stories260K.gguf");
        Path data = dir.resolve("shakespeare.txt");
        Files.writeString(data, Files.readString(SharedData.require("tinyshakespeare.txt")).substring(0, 120_000));
        TrainConfig cfg = TrainConfig.builder().lora(8, 16f).targets("all").lr(3e-3f, LrSchedule.Kind.COSINE, 2, 0.1f).steps(30)
                .batch(4, 128, 1).seed(5).eval(0, 4).checkpointEvery(0).build();
        CopraSchedule copra = new CopraSchedule(new CopraConfig(0.1, 1.0, 0.75, 5, 3));
        LoraRun.Summary s = LoraRun.run(new LoraRun.Options(model, data, null, 0.1, cfg, 0, ReadOptions.defaults(), GgmlType.F32,
                dir.resolve("run"), false, null, copra));
        assertTrue(s.result().valAfter() < s.result().valBefore() - 0.5, "CopRA training lowers held-out loss: " + s.result());
        Shapley.Values v = copra.shapley();
        double total = 0;
        for (double x : v.mean()) total += x;
        // efficiency: along every permutation the marginal gains add up to loss(none) − loss(all)
        assertEquals(v.lossNone() - v.lossAll(), total, 1e-9);
        assertEquals(s.result().valAfter(), v.lossAll(), 1e-9, "with every layer on, the loss is the trained adapter's");
        assertTrue(Files.readString(dir.resolve("run/shapley.json")).contains("\"layers\""));
    }

    @Test
    void shapleyLeavesTheMaskAsItFoundIt() throws Exception {
        Path model = SharedData.require("stories260K.gguf");
        try (var m = io.panlora.model.LlamaModel.load(model); LoraSet set = new LoraSet(m)) {
            io.panlora.train.LoraInit.addStandard(set, 4, 1f, io.panlora.lora.Target.parseList("q,v"), 1);
            set.attach();
            set.setLayerEnabled(2, false);
            int[][] tok = {{1, 403, 407, 261, 378, 2, 5, 9}};
            int[][] tgt = {{403, 407, 261, 378, 2, 5, 9, -1}};
            Shapley.estimate(m, set, java.util.List.of(new io.panlora.train.BatchSource.Batch(tok, tgt)), 2, 1);
            for (int l = 0; l < 5; l++) assertEquals(l != 2, set.layerEnabled(l));
        }
    }
}
