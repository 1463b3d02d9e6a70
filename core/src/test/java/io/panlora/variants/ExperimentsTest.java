package io.panlora.variants;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.panlora.testing.SharedData;
import io.panlora.train.LrSchedule;
import io.panlora.train.TrainConfig;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The variant comparison harness runs end to end (a few steps; the figures themselves are a benchmark). */
class ExperimentsTest {
    @TempDir
    Path dir;

    @Test
    void everyComparisonRuns() throws Exception {
        Path model = SharedData.require("stories260K.gguf");
        Path text = dir.resolve("train.txt");
        Files.writeString(text, Files.readString(SharedData.require("tinyshakespeare.txt")).substring(0, 60_000));
        TrainConfig cfg = TrainConfig.builder().lora(4, 8f).targets("q,v").lr(3e-3f, LrSchedule.Kind.COSINE, 1, 0.1f).steps(3)
                .batch(2, 64, 1).seed(1).eval(0, 2).checkpointEvery(0).build();
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        Experiments.run(new Experiments.Setup(model, text, SharedData.require("grimm-pg2591.txt"), cfg, 1, dir.resolve("work")),
                new PrintStream(buf, true, StandardCharsets.UTF_8));
        String out = buf.toString(StandardCharsets.UTF_8);
        for (String want : new String[] {"LoRA ", "COLA", "CoRA mode 1", "CoRA mode 2", "LoRASC", "CopRA", "barrier", "k=4"})
            assertTrue(out.contains(want), "missing '" + want + "' in:\n" + out);
        assertTrue(!out.contains("NaN"), out);
    }
}
