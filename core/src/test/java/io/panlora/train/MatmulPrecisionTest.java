package io.panlora.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.panlora.bindings.Native;
import io.panlora.bindings.PanloraException;
import io.panlora.data.ReadOptions;
import io.panlora.gguf.GgmlType;
import io.panlora.testing.SharedData;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The BF16 products of the base weights ({@link Native#setMatmul}) against the F32 reference, end to end on the real
 * stories260K base: the same LoRA run (seed, data, 40 steps) in both precisions; the loss curves stay within 0.05 nats of
 * each other at every step and the held-out losses before and after training within 0.01. Runs where the CPU has
 * AVX512-BF16; elsewhere it checks that BF16 is refused clearly and AUTO means F32.
 */
class MatmulPrecisionTest {
    @TempDir
    Path dir;

    private static final Pattern LOSS = Pattern.compile("\"loss\":\\s*([-0-9.eE]+)");

    private LoraRun.Summary run(Native.Matmul mode, Path model, Path data, String name) throws Exception {
        Native.setMatmul(mode);
        try {
            TrainConfig cfg = TrainConfig.builder().lora(8, 16f).targets("all").lr(3e-3f, LrSchedule.Kind.COSINE, 2, 0.1f).steps(40)
                    .batch(4, 128, 1).seed(5).eval(0, 4).checkpointEvery(0).build();
            return LoraRun.run(new LoraRun.Options(model, data, null, 0.1, cfg, 0, ReadOptions.defaults(), GgmlType.F32,
                    dir.resolve(name), false, null, null));
        } finally {
            Native.setMatmul(Native.Matmul.F32);
        }
    }

    private static List<Double> losses(Path metrics) throws Exception {
        List<Double> out = new ArrayList<>();
        for (String line : Files.readAllLines(metrics)) {
            Matcher m = LOSS.matcher(line);
            if (m.find()) out.add(Double.parseDouble(m.group(1)));
        }
        return out;
    }

    @Test
    void bf16TrainingFollowsTheF32LossCurve() throws Exception {
        if (!Native.cpuHasBf16()) {
            PanloraException e = assertThrows(PanloraException.class, () -> Native.setMatmul(Native.Matmul.BF16));
            assertTrue(e.getMessage().contains("AVX512-BF16"), e.getMessage());
            Native.setMatmul(Native.Matmul.AUTO);
            assertEquals(Native.Matmul.F32, Native.matmul());
            Native.setMatmul(Native.Matmul.F32);
            Assumptions.abort("this CPU has no AVX512-BF16: the BF16 path cannot run here (checked that it is refused)");
        }
        Path model = SharedData.require("stories260K.gguf");
        Path data = dir.resolve("shakespeare.txt");
        Files.writeString(data, Files.readString(SharedData.require("tinyshakespeare.txt")).substring(0, 120_000));
        LoraRun.Summary f32 = run(Native.Matmul.F32, model, data, "f32");
        LoraRun.Summary bf16 = run(Native.Matmul.BF16, model, data, "bf16");
        assertEquals(Native.Matmul.F32, Native.matmul(), "the mode is restored");
        List<Double> a = losses(f32.result().metrics()), b = losses(bf16.result().metrics());
        assertEquals(40, a.size());
        assertEquals(a.size(), b.size());
        double worst = 0;
        for (int i = 0; i < a.size(); i++) worst = Math.max(worst, Math.abs(a.get(i) - b.get(i)));
        System.out.printf("BF16 vs F32 over 40 LoRA steps on stories260K: largest loss difference %.5f; held-out before %.5f vs %.5f, after %.5f vs %.5f%n",
                worst, f32.result().valBefore(), bf16.result().valBefore(), f32.result().valAfter(), bf16.result().valAfter());
        assertTrue(worst < 0.05, "loss curves within 0.05 nats at every step: " + worst);
        assertTrue(worst > 0, "the BF16 run really ran in BF16 (its losses differ from F32's)");
        assertEquals(f32.result().valBefore(), bf16.result().valBefore(), 0.01, "held-out NLL of the base model");
        assertNotEquals(f32.result().valBefore(), bf16.result().valBefore());
        assertEquals(f32.result().valAfter(), bf16.result().valAfter(), 0.01, "held-out NLL after training");
        assertTrue(bf16.result().valAfter() < bf16.result().valBefore() - 0.5, "BF16 training lowers the held-out loss: " + bf16.result());
    }
}
