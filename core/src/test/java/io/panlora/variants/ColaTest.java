package io.panlora.variants;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.panlora.data.ReadOptions;
import io.panlora.gguf.GgmlType;
import io.panlora.gguf.GgufFile;
import io.panlora.lora.LoraSet;
import io.panlora.model.LlamaConfig;
import io.panlora.model.LlamaModel;
import io.panlora.model.ModelInit;
import io.panlora.testing.SharedData;
import io.panlora.train.BatchSource;
import io.panlora.train.LoraRun;
import io.panlora.train.LrSchedule;
import io.panlora.train.TrainConfig;
import io.panlora.train.Trainer;
import io.panlora.variants.cola.ColaChain;
import io.panlora.variants.cola.ColaConfig;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Chain of LoRA: link boundaries, knots that leave the model function unchanged, training and export. */
class ColaTest {
    @TempDir
    Path dir;

    @Test
    void linksSplitTheRunEvenly() {
        ColaConfig c = new ColaConfig(3);
        assertEquals(0, c.linkStart(0, 30));
        assertEquals(10, c.linkStart(1, 30));
        assertEquals(20, c.linkStart(2, 30));
        assertEquals(0, c.linkOf(9, 30));
        assertEquals(1, c.linkOf(10, 30));
        assertEquals(2, c.linkOf(29, 30));
    }

    @Test
    void aKnotLeavesTheModelFunctionUnchanged() {
        LlamaConfig c = new LlamaConfig("llama", 40, 32, 2, 4, 2, 8, 64, 8, 8, 10000f, 1f, 1e-5f, LlamaConfig.ROPE_NORMAL);
        Arena arena = Arena.ofShared();
        try (LlamaModel m = LlamaModel.fromWeights(c, ModelInit.randomWeights(c, GgmlType.Q8_0, 1, false, arena), arena);
             LoraSet set = new LoraSet(m)) {
            ColaChain chain = new ColaChain(new ColaConfig(3));
            TrainConfig cfg = TrainConfig.builder().lora(4, 8f).targets("all").steps(9).batch(1, 8, 1).build();
            chain.addSlots(set, cfg);
            set.attach();
            SplittableRandom r = new SplittableRandom(2);
            for (LoraSet.Slot s : set.slots().subList(0, set.slots().size() / 3)) { // link 0 has learned something
                float[] b = new float[(int) s.bLength()];
                for (int i = 0; i < b.length; i++) b[i] = (float) r.nextGaussian() * 0.1f;
                set.setWeights(s, null, b);
            }
            int[][] tok = {{1, 2, 3, 4, 5, 6, 7, 8}};
            float[] before = m.logits(tok);
            Trainer t = new Trainer(m, set, cfg, null, List.of(), null, null);
            chain.beforeStep(t, 3); // steps 3..5 are link 1: knot
            assertEquals(1, chain.currentLink());
            assertArrayEquals(before, m.logits(tok), "tying the knot must not change the model");
            chain.beforeStep(t, 6);
            assertEquals(2, chain.currentLink());
            assertArrayEquals(before, m.logits(tok));
        }
    }

    @Test
    void chainTrainsAndExportsTheSumOfItsLinks() throws Exception {
        Path model = SharedData.require("stories260K.gguf");
        Path data = dir.resolve("shakespeare.txt");
        Files.writeString(data, Files.readString(SharedData.require("tinyshakespeare.txt")).substring(0, 120_000));
        TrainConfig cfg = TrainConfig.builder().lora(8, 16f).targets("q,k,v,o").lr(3e-3f, LrSchedule.Kind.COSINE, 2, 0.1f).steps(30)
                .batch(4, 128, 1).seed(5).eval(0, 4).checkpointEvery(0).build();
        LoraRun.Summary s = LoraRun.run(new LoraRun.Options(model, data, null, 0.1, cfg, 0, ReadOptions.defaults(), GgmlType.F32,
                dir.resolve("run"), false, null, new ColaChain(new ColaConfig(3))));
        assertTrue(s.result().valAfter() < s.result().valBefore() - 0.5, "COLA training lowers held-out loss: " + s.result());
        try (GgufFile f = GgufFile.open(s.adapter())) {
            assertEquals(24, f.tensor("blk.0.attn_q.weight.lora_b").ne()[0], "three links of rank 8 export as rank 24");
        }
        // the exported sum of links reproduces the trained model's held-out loss
        try (LlamaModel m = LlamaModel.load(model); LoraSet set = new LoraSet(m)) {
            io.panlora.lora.AdapterGguf.load(s.adapter(), set, 1f);
            set.attach();
            var tok = io.panlora.model.TokenizerLoader.fromGguf(m.gguf().orElseThrow());
            var ds = io.panlora.data.Dataset.load(data, null, tok, ReadOptions.defaults(),
                    new io.panlora.data.Packer(128, false, io.panlora.data.Packer.padIdFor(tok)), 0.1, 5);
            List<BatchSource.Batch> val = io.panlora.train.DatasetBatches.validation(ds, 4, 4);
            assertEquals(s.result().valAfter(), Trainer.evaluate(m, val), 1e-4);
        }
    }
}
