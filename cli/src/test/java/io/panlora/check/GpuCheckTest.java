package io.panlora.check;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.panlora.bindings.Native;
import io.panlora.model.Device;
import io.panlora.testing.SharedData;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The GPU self-test: without a GPU it runs against the CPU itself (every check must pass: this tests the check, its
 * tolerances and the loss-drop threshold); with one, the real thing on cuda:0.
 */
class GpuCheckTest {
    @TempDir
    Path dir;

    private static String run(Device d, Path dir, int expectedFailures) throws Exception {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        GpuCheck.Outcome r = GpuCheck.run(new GpuCheck.Options(SharedData.require("stories260K.gguf"), SharedData.require("tinyshakespeare.txt"),
                d, 30, dir, new PrintStream(buf, true, StandardCharsets.UTF_8)));
        String out = buf.toString(StandardCharsets.UTF_8);
        assertEquals(expectedFailures, r.failed(), out);
        return out;
    }

    @Test
    void theCheckPassesComparingTheCpuWithItself() throws Exception {
        SharedData.require("stories260K.gguf");
        int threads = Native.threads();
        String out;
        try {
            Native.setThreads(1); // a 260K-parameter model gains nothing from threads, and loses much on a busy 2-core machine
            out = run(Device.CPU, dir, 0);
        } finally {
            Native.setThreads(threads);
        }
        for (String name : new String[] {"logits-bf16", "logits-f32", "nll-bf16", "nll-f32", "kv-decode-bf16", "kv-decode-f32", "train-bf16",
                "train-f32", "train-loss-falls", "adapter-on-cpu", "shapley-ranking", "variant-copra", "variant-cola", "variant-cora",
                "variant-lorasc", "full-grad-f32"})
            assertTrue(out.contains("PASS " + name + ": "), name + " missing:\n" + out);
        String last = out.strip().lines().reduce((a, b) -> b).orElseThrow();
        // 12 checks, then one per registered variant besides lora (the four built-ins, and any plug-in on the class path)
        int checks = 12 + io.panlora.variants.Variants.all().size() - 1;
        assertEquals(checks + " passed, 0 failed", last, out);
    }

    @Test
    void onACudaDeviceEveryCheckPasses() throws Exception {
        assumeTrue(Device.cudaDeviceCount() > 0, "no CUDA device: " + Device.cudaUnavailableReason().orElse(""));
        System.out.println(run(Device.cuda(0), dir, 0));
    }
}
