package io.panlora.cli;

import io.panlora.train.*;

import io.panlora.train.internal.Checkpoint;
import io.panlora.train.internal.LossPlot;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.panlora.data.Dataset;
import io.panlora.data.Packer;
import io.panlora.data.ReadOptions;
import io.panlora.gguf.GgmlType;
import io.panlora.gguf.GgufFile;
import io.panlora.gguf.GgufTensorInfo;
import io.panlora.model.LlamaModel;
import io.panlora.model.ModelWriter;
import io.panlora.model.TokenizerLoader;
import io.panlora.model.WeightTensor;
import io.panlora.testing.SharedData;
import io.panlora.tokenizer.Tokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code panlora train --full}: every weight of stories260K trains on Shakespeare, the held-out loss falls, the exported
 * GGUF reproduces the trained model, generate and perplexity load it; a killed and resumed full run ends bit-identical.
 */
class FullTrainingTest {
    @TempDir
    Path dir;

    /** Held-out loss before (step 0) and after (the last validation line) from a run's metrics.jsonl. */
    private static double[] valLosses(Path metrics) throws Exception {
        List<Double> v = new ArrayList<>();
        for (String l : Files.readAllLines(metrics))
            if (l.contains("\"val_loss\":")) v.add(Double.parseDouble(l.replaceAll(".*\"val_loss\":([-0-9.eE+]+).*", "$1")));
        assertTrue(v.size() >= 2, "validation lines in " + metrics);
        return new double[] {v.get(0), v.get(v.size() - 1)};
    }

    @Test
    void fullFineTuneOfStories260kLowersHeldOutLossAndTheExportedModelReproducesIt() throws Exception {
        Path base = SharedData.require("stories260K.gguf");
        String shakespeare = Files.readString(SharedData.require("tinyshakespeare.txt"));
        Path train = dir.resolve("train.txt"), val = dir.resolve("val.txt");
        Files.writeString(val, shakespeare.substring(0, 40_000));
        Files.writeString(train, shakespeare.substring(40_000, 340_000));
        Path run = dir.resolve("full");
        List<String> args = List.of("train", "--full", "-m", base.toString(), "--data", train.toString(), "--val", val.toString(), "-o",
                run.toString(), "--steps", "30", "--batch", "4", "--ctx", "256", "--lr", "3e-3", "--warmup", "3", "--eval-every", "10",
                "--eval-batches", "0", "--save-every", "10", "-t", "2", "--matmul", "f32"); // F32: the reload below must reproduce it
        assertEquals(0, TrainingTest.cli(dir, args), "train --full");
        Path model = run.resolve(FullRun.MODEL_FILE);
        assertTrue(Files.isRegularFile(model) && Files.isRegularFile(run.resolve(Checkpoint.FILE)) && Files.isRegularFile(run.resolve(LossPlot.FILE)),
                "model, checkpoint and plot written");
        double[] v = valLosses(run.resolve("metrics.jsonl"));
        System.out.printf("stories260K -> shakespeare, full fine-tune of 30 steps: held-out NLL %.4f -> %.4f%n", v[0], v[1]);
        // stated margin: 1.0 nat/token in 30 steps (measured 4.6885 -> 3.0444)
        assertTrue(v[0] - v[1] > 1.0, "held-out NLL " + v[0] + " -> " + v[1]);

        // the exported model, loaded afresh, scores the held-out windows as the trained model did (metrics keep 6 decimals)
        try (LlamaModel m = LlamaModel.load(model)) {
            Tokenizer tok = TokenizerLoader.fromGguf(m.gguf().orElseThrow());
            Dataset ds = Dataset.load(train, val, tok, ReadOptions.defaults(), new Packer(256, false, Packer.padIdFor(tok)), 0, 42);
            double reloaded = Trainer.evaluate(m, DatasetBatches.validation(ds, 4, 0));
            System.out.printf("exported model: held-out NLL %.7f (trained %.6f)%n", reloaded, v[1]);
            assertEquals(v[1], reloaded, 1e-5, "the exported F32 model's held-out NLL");
            // it is a whole model: the base's metadata (tokenizer included) and tensor table, every weight changed
            try (GgufFile b = GgufFile.open(base); GgufFile o = GgufFile.open(model)) {
                for (var e : b.metadata().entrySet())
                    if (!e.getKey().equals("general.name")) assertEquals(e.getValue(), o.metadata().get(e.getKey()), e.getKey());
                assertEquals(b.tensors().size(), o.tensors().size());
                for (GgufTensorInfo t : b.tensors()) {
                    GgufTensorInfo u = o.tensor(t.name());
                    assertEquals(t.type(), u.type(), t.name());
                    assertArrayEquals(t.ne(), u.ne(), t.name());
                    assertNotEquals(b.tensorData(t).asByteBuffer(), o.tensorData(u).asByteBuffer(), t.name() + " trained");
                }
            }
            // written as F16 and BF16 (--type), the model scores within the rounding of its weights
            Map<String, WeightTensor> f32 = new LinkedHashMap<>(m.weights());
            for (GgmlType t : List.of(GgmlType.F16, GgmlType.BF16)) {
                Path out = dir.resolve("model-" + t + ".gguf");
                try (GgufFile b = GgufFile.open(model)) {
                    ModelWriter.writeTrained(b, f32, out, t, "-full");
                }
                try (LlamaModel h = LlamaModel.load(out)) {
                    assertEquals(t, h.weights().get("blk.0.attn_q.weight").type());
                    assertEquals(GgmlType.F32, h.weights().get("blk.0.attn_norm.weight").type(), "norms stay F32");
                    double nll = Trainer.evaluate(h, DatasetBatches.validation(ds, 4, 0));
                    System.out.printf("exported as %s: held-out NLL %.5f%n", t, nll);
                    assertEquals(reloaded, nll, t == GgmlType.F16 ? 2e-3 : 2e-2, t + " export");
                }
            }
        }
        // perplexity and generate load it
        assertEquals(0, TrainingTest.cli(dir, List.of("perplexity", "-m", model.toString(), "-f", val.toString(), "-c", "128", "--chunks", "4")));
        assertEquals(0, TrainingTest.cli(dir, List.of("generate", "-m", model.toString(), "-p", "ROMEO:", "-n", "16", "--temp", "0")));
    }

    @Test
    void fromJavaTheExportedModelScoresExactlyAsTheTrainedOne() throws Exception {
        Path base = TrainingTest.tinyBase(dir), text = dir.resolve("data.txt");
        TrainConfig cfg = TrainConfig.builder().mode(StepEngine.Mode.FULL).lr(3e-3f, LrSchedule.Kind.COSINE, 2, 0.1f).steps(8)
                .batch(2, 32, 1).seed(5).eval(0, 4).checkpointEvery(0).build();
        FullRun.Summary s = FullRun.run(new FullRun.Options(base, text, null, 0.1, cfg, 0, null, null, dir.resolve("java"), false, null));
        assertEquals(8, s.result().steps());
        assertTrue(s.result().valAfter() < s.result().valBefore(), s.result().valBefore() + " -> " + s.result().valAfter());
        try (LlamaModel m = LlamaModel.load(s.model())) {
            Tokenizer tok = TokenizerLoader.fromGguf(m.gguf().orElseThrow());
            Dataset ds = Dataset.load(text, null, tok, ReadOptions.defaults(), new Packer(32, false, Packer.padIdFor(tok)), 0.1, 5);
            assertEquals(s.result().valAfter(), Trainer.evaluate(m, DatasetBatches.validation(ds, 2, 4)), 0.0, "bit for bit in F32");
        }
        assertFalse(Files.exists(dir.resolve("java").resolve(Checkpoint.FILE)), "--save-every 0: no checkpoint");
    }

    @Test
    void killedAndResumedFullRunGivesABitIdenticalModel() throws Exception {
        Path base = TrainingTest.tinyBase(dir);
        List<String> common = List.of("train", "--full", "-m", base.toString(), "--data", dir.resolve("data.txt").toString(), "--steps", "12",
                "--batch", "2", "--ctx", "32", "--grad-accum", "2", "--lr", "3e-3", "--save-every", "4", "--eval-every", "6",
                "--eval-batches", "2", "-t", "2");
        List<String> whole = new ArrayList<>(common);
        whole.addAll(List.of("-o", dir.resolve("whole").toString()));
        assertEquals(0, TrainingTest.cli(dir, whole));
        List<String> killed = new ArrayList<>(common);
        killed.addAll(List.of("-o", dir.resolve("killed").toString()));
        assertEquals(137, TrainingTest.cli(dir, killed, "panlora.test.haltAfterCheckpoint=8"), "the first run must be killed");
        assertFalse(Files.exists(dir.resolve("killed").resolve(FullRun.MODEL_FILE)), "a killed run exports nothing");
        List<String> resumed = new ArrayList<>(common);
        resumed.addAll(List.of("--resume", dir.resolve("killed").toString()));
        assertEquals(0, TrainingTest.cli(dir, resumed));
        assertArrayEquals(Files.readAllBytes(dir.resolve("whole").resolve(FullRun.MODEL_FILE)),
                Files.readAllBytes(dir.resolve("killed").resolve(FullRun.MODEL_FILE)), "resumed model must be bit-identical to the uninterrupted one");
        long lines = Files.readAllLines(dir.resolve("killed/metrics.jsonl")).stream().filter(l -> l.contains("\"loss\"")).count();
        assertEquals(12, lines, "metrics hold each step once");
        // a LoRA run does not take a full run's checkpoint, nor --full a LoRA one
        List<String> lora = new ArrayList<>(common.subList(0, 1));
        lora.addAll(common.subList(2, common.size()));
        lora.addAll(List.of("--resume", dir.resolve("killed").toString()));
        assertEquals(1, TrainingTest.cli(dir, lora), "a LoRA run refuses a full run's checkpoint");
    }
}
