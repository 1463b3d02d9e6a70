package io.panlora.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.panlora.gguf.GgmlType;
import io.panlora.lora.AdapterGguf;
import io.panlora.lora.LoraSet;
import io.panlora.model.LlamaModel;
import io.panlora.tensor.LowRank;
import io.panlora.testing.SharedData;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A run started from an existing adapter ({@link LoraRun.Options#initAdapter()}, {@link LoraInit#fromAdapter}): the slots
 * reproduce the file's update exactly whatever the run's alpha, the run's first validation equals the adapter's loss, and a
 * file of another rank or other targets is refused naming the module.
 */
class InitAdapterTest {
    @TempDir
    static Path dir;
    static Path base, data, first;

    static TrainConfig cfg(int rank, float alpha, String targets, int steps) {
        return TrainConfig.builder().lora(rank, alpha).targets(targets).lr(2e-3f, LrSchedule.Kind.COSINE, 0, 0f).steps(steps)
                .batch(2, 64, 1).seed(3).eval(0, 4).checkpointEvery(0).build();
    }

    static LoraRun.Options options(TrainConfig c, Path out) {
        return new LoraRun.Options(base, data, null, 0.1, c, 0, null, GgmlType.F32, out, false, null);
    }

    @BeforeAll
    static void trainFirst() throws Exception {
        base = SharedData.require("stories260K.gguf");
        data = dir.resolve("stories.txt");
        Files.writeString(data, Files.readString(SharedData.require("tinystories-valid-sample.txt")).substring(0, 40_000));
        first = LoraRun.run(options(cfg(4, 8f, "q,v", 8), dir.resolve("first"))).adapter();
    }

    /** Each module's dense update s·B·A, keyed blk.N.target. */
    static Map<String, float[]> updates(LoraSet set) {
        Map<String, float[]> out = new HashMap<>();
        for (LoraSet.Slot s : set.slots()) {
            float[] d = new float[(int) (s.out() * s.in())];
            LowRank.addProduct(d, set.getB(s), set.getA(s), (int) s.out(), (int) s.in(), s.rank(), set.scale(s));
            out.merge("blk." + s.layer() + "." + s.target().gguf, d, (x, y) -> { for (int i = 0; i < x.length; i++) x[i] += y[i]; return x; });
        }
        return out;
    }

    @Test
    void slotsReproduceTheFilesUpdateWhateverTheRunsAlpha() throws Exception {
        try (LlamaModel m = LlamaModel.load(base); LoraSet file = new LoraSet(m); LoraSet run = new LoraSet(m)) {
            AdapterGguf.load(first, file, 1f);
            TrainingStrategy.LORA.addSlots(run, cfg(4, 2f, "q,v", 1)); // scale 0.5: the file's is 2
            assertEquals(2 * (int) m.config().nLayer(), LoraInit.fromAdapter(run, first));
            Map<String, float[]> want = updates(file), got = updates(run);
            assertEquals(want.keySet(), got.keySet());
            for (var e : want.entrySet()) {
                float[] w = e.getValue(), g = got.get(e.getKey());
                double max = 0;
                for (float v : w) max = Math.max(max, Math.abs(v));
                assertTrue(max > 0, e.getKey() + ": the trained update is not zero");
                for (int i = 0; i < w.length; i++) assertEquals(w[i], g[i], 1e-6 * max + 1e-9, e.getKey() + "[" + i + "]");
            }
        }
    }

    @Test
    void aRunStartsWhereTheAdapterLeftOff() throws Exception {
        LoraRun.Summary fresh = LoraRun.run(options(cfg(4, 8f, "q,v", 2), dir.resolve("fresh")));
        LoraRun.Summary cont = LoraRun.run(options(cfg(4, 8f, "q,v", 2), dir.resolve("cont")).withInitAdapter(first));
        // the same validation windows (same seed and fraction): the continued run starts at the adapter's loss, below the base's
        double adapterLoss;
        try (LlamaModel m = LlamaModel.load(base); LoraSet set = new LoraSet(m)) {
            AdapterGguf.load(first, set, 1f);
            set.attach();
            var ds = LoraRun.read(data, null, 0.1, cfg(4, 8f, "q,v", 2), io.panlora.data.ReadOptions.defaults(),
                    io.panlora.model.TokenizerLoader.fromGguf(m.gguf().orElseThrow()), m.config(), null);
            adapterLoss = Trainer.evaluate(m, DatasetBatches.validation(ds, 2, 4));
        }
        assertEquals(adapterLoss, cont.result().valBefore(), 1e-5);
        assertNotEquals(fresh.result().valBefore(), cont.result().valBefore());
        assertTrue(cont.result().valBefore() < fresh.result().valBefore(), "the adapter had lowered the loss");
    }

    @Test
    void anotherRankOrOtherTargetsAreRefusedNamingTheModule() {
        var rank = assertThrows(IllegalArgumentException.class,
                () -> LoraRun.run(options(cfg(8, 16f, "q,v", 1), dir.resolve("rank")).withInitAdapter(first)));
        assertTrue(rank.getMessage().contains("has rank 4, the run trains rank 8"), rank.getMessage());
        var targets = assertThrows(IllegalArgumentException.class,
                () -> LoraRun.run(options(cfg(4, 8f, "q", 1), dir.resolve("targets")).withInitAdapter(first)));
        assertTrue(targets.getMessage().contains("attn_v, which this run does not train"), targets.getMessage());
    }
}
