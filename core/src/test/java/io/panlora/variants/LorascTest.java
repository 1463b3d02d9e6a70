package io.panlora.variants;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.panlora.data.ReadOptions;
import io.panlora.gguf.GgmlType;
import io.panlora.lora.AdapterGguf;
import io.panlora.lora.LoraSet;
import io.panlora.lora.Target;
import io.panlora.model.LlamaConfig;
import io.panlora.model.LlamaModel;
import io.panlora.model.ModelInit;
import io.panlora.model.TokenizerLoader;
import io.panlora.model.WeightKind;
import io.panlora.testing.SharedData;
import io.panlora.train.DatasetBatches;
import io.panlora.train.LoraRun;
import io.panlora.train.LrSchedule;
import io.panlora.train.StepEngine;
import io.panlora.train.TrainConfig;
import io.panlora.train.Trainer;
import io.panlora.variants.lorasc.LorascCascade;
import io.panlora.variants.lorasc.LorascConfig;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The engine's dense corrections and LoRASC's cascade. */
class LorascTest {
    @TempDir
    Path dir;

    @Test
    void aDenseCorrectionActsLikeTheEquivalentFrozenSlotForwardAndBackward() {
        LlamaConfig c = new LlamaConfig("llama", 40, 32, 2, 4, 2, 8, 64, 8, 8, 10000f, 1f, 1e-5f, LlamaConfig.ROPE_NORMAL);
        Arena arena = Arena.ofShared();
        SplittableRandom r = new SplittableRandom(4);
        try (LlamaModel m = LlamaModel.fromWeights(c, ModelInit.randomWeights(c, GgmlType.Q8_0, 1, false, arena), arena);
             LoraSet set = new LoraSet(m)) {
            LoraSet.Slot trained = set.addSlot(0, Target.ATTN_V, 2, 1f); // below the correction: its gradient crosses it
            LoraSet.Slot frozen = set.addSlot(1, Target.FFN_UP, 3, 0.7f);
            float[] a = new float[(int) frozen.aLength()], b = new float[(int) frozen.bLength()];
            for (int i = 0; i < a.length; i++) a[i] = (float) r.nextGaussian() * 0.3f;
            for (int i = 0; i < b.length; i++) b[i] = (float) r.nextGaussian() * 0.3f;
            float[] ta = new float[(int) trained.aLength()], tb = new float[(int) trained.bLength()];
            for (int i = 0; i < ta.length; i++) ta[i] = (float) r.nextGaussian() * 0.3f;
            for (int i = 0; i < tb.length; i++) tb[i] = (float) r.nextGaussian() * 0.3f;
            set.setWeights(trained, ta, tb);
            set.setWeights(frozen, a, b);
            set.setFlags(frozen, 0.7f, false, false, true);
            set.attach();
            int[][] tok = {{1, 2, 3, 4, 5, 6, 7, 8}}, tgt = {{2, 3, 4, 5, 6, 7, 8, 9}};
            float[] withSlot = m.logits(tok);
            float[] gradSlot;
            try (StepEngine e = new StepEngine(m, 1, 8, StepEngine.Mode.LORA, false)) {
                e.zeroGrad();
                e.accumulate(tok, tgt, 1f);
                gradSlot = set.gradA(trained);
            }
            // the same update as a dense Δ = 0.7·B·A
            MemorySegment delta = arena.allocate(ValueLayout.JAVA_FLOAT, frozen.out() * frozen.in());
            for (int o = 0; o < frozen.out(); o++)
                for (int i = 0; i < frozen.in(); i++) {
                    double d = 0;
                    for (int j = 0; j < 3; j++) d += b[o * 3 + j] * a[j * (int) frozen.in() + i];
                    delta.setAtIndex(ValueLayout.JAVA_FLOAT, o * frozen.in() + i, (float) (0.7 * d));
                }
            set.setFlags(frozen, 0.7f, false, false, false);
            m.setDelta(WeightKind.FFN_UP, 1, delta);
            float[] withDelta = m.logits(tok);
            for (int i = 0; i < withSlot.length; i++) assertEquals(withSlot[i], withDelta[i], 1e-4, "logit " + i);
            try (StepEngine e = new StepEngine(m, 1, 8, StepEngine.Mode.LORA, false)) {
                e.zeroGrad();
                e.accumulate(tok, tgt, 1f);
                float[] gradDelta = set.gradA(trained);
                for (int i = 0; i < gradSlot.length; i++) assertEquals(gradSlot[i], gradDelta[i], 1e-4 * (1 + Math.abs(gradSlot[i])), "dA " + i);
            }
            m.setDelta(WeightKind.FFN_UP, 1, null);
            set.setFlags(frozen, 0.7f, false, false, true);
            assertArrayEquals(withSlot, m.logits(tok), "clearing the correction restores the model");
        }
    }

    @Test
    void cascadeTrainsAndItsFoldedExportReproducesTheModel() throws Exception {
        Path model = SharedData.require("stories260K.gguf");
        Path data = dir.resolve("shakespeare.txt");
        Files.writeString(data, Files.readString(SharedData.require("tinyshakespeare.txt")).substring(0, 120_000));
        TrainConfig cfg = TrainConfig.builder().lora(4, 8f).targets("q,v").lr(3e-3f, LrSchedule.Kind.COSINE, 2, 0.1f).steps(24)
                .batch(4, 128, 1).seed(5).eval(0, 4).checkpointEvery(0).build();
        LorascCascade cascade = new LorascCascade(new LorascConfig(8, 0.5, 0.01, 5));
        LoraRun.Summary s = LoraRun.run(new LoraRun.Options(model, data, null, 0.1, cfg, 0, ReadOptions.defaults(), GgmlType.F32,
                dir.resolve("run"), false, null, cascade));
        assertEquals(2, cascade.iteration(), "three iterations of 8 steps: two ended before the last");
        assertTrue(s.result().valAfter() < s.result().valBefore() - 0.3, "LoRASC lowers held-out loss: " + s.result());
        try (LlamaModel m = LlamaModel.load(model); LoraSet set = new LoraSet(m)) {
            AdapterGguf.load(s.adapter(), set, 1f);
            set.attach();
            var tok = TokenizerLoader.fromGguf(m.gguf().orElseThrow());
            var ds = io.panlora.data.Dataset.load(data, null, tok, ReadOptions.defaults(),
                    new io.panlora.data.Packer(128, false, io.panlora.data.Packer.padIdFor(tok)), 0.1, 5);
            assertEquals(s.result().valAfter(), Trainer.evaluate(m, DatasetBatches.validation(ds, 4, 4)), 2e-3,
                    "the exported slow + fast update reproduces the trained model");
        }
    }
}
