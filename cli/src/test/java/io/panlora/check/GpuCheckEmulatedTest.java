package io.panlora.check;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.panlora.testing.SharedData;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code panlora gpu-check --quick} against the CUDA backend emulated on the CPU (native/tests/cudaemu: the backend's own
 * sources, its kernels run as fibers, an emulated cuBLASLt), in a child JVM whose environment points the engine at the
 * emulated library. So the Java side of CUDA — device selection, the weight placements, LoRA training on the device,
 * adapter export read back on the CPU, FULL-mode gradients — runs in every CI build, though no GPU is there. The child
 * must report the emulated device and pass every check it runs. Skipped on a user's machine where the emulation was not
 * built; fails in CI.
 */
class GpuCheckEmulatedTest {
    @TempDir
    Path dir;

    @Test
    void gpuCheckPassesOnTheEmulatedBackend() throws Exception {
        Path model = SharedData.require("stories260K.gguf"), text = SharedData.require("tinyshakespeare.txt");
        Path build = SharedData.repoRoot().resolve("native/build");
        Path backend = build.resolve("libpanlora_cuda_emu.so"), cublas = build.resolve("emu/libcublasLt.so.13");
        SharedData.present(Files.isRegularFile(backend) && Files.isRegularFile(cublas),
                "the CPU emulation of the CUDA backend is not built (" + backend + ", " + cublas + "; ci/build-native.sh builds it on x86-64 Linux)");
        List<String> cmd = List.of(ProcessHandle.current().info().command().orElse("java"), "--enable-native-access=ALL-UNNAMED",
                "-Dpanlora.library.dir=" + System.getProperty("panlora.library.dir"), "-cp", System.getProperty("java.class.path"),
                "io.panlora.cli.Main", "gpu-check", "--quick", "--steps", "8", "-t", "1", "-m", model.toString(), "--data", text.toString(),
                "-o", dir.toString());
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        pb.environment().put("PANLORA_CUDA_LIBRARY", backend.toString());
        pb.environment().put("PANLORA_CUBLAS_DIR", cublas.getParent().toString());
        pb.environment().put("PLC_EMU_PROTECT", "0"); // the guard's faults would be the JVM's; test_cuda_emu runs with it
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(600, TimeUnit.SECONDS), out);
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.contains("cudaemu (CPU emulation"), "the child ran on the emulated device: " + out);
        Matcher m = Pattern.compile("(\\d+) passed, (\\d+) failed").matcher(out);
        assertTrue(m.find(), out);
        assertEquals(0, Integer.parseInt(m.group(2)), out);
        // logits, nll, kv-decode in two placements, train-bf16/f32, train-loss-falls, adapter-on-cpu, FULL gradients
        assertTrue(Integer.parseInt(m.group(1)) >= 10, out);
        for (String name : List.of("PASS logits-bf16", "PASS nll-f32", "PASS kv-decode-bf16", "PASS train-bf16", "PASS train-f32",
                "PASS adapter-on-cpu", "PASS full-grad-f32"))
            assertTrue(out.contains(name), name + " missing: " + out);
    }
}
