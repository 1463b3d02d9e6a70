package io.panlora.cli;

import io.panlora.bindings.Native;
import io.panlora.check.GpuCheck;
import io.panlora.model.Device;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code panlora gpu-check}: a CUDA device against the CPU on stories260K (logits, NLL, KV decoding, LoRA training, the
 * exported adapter, the variants, FULL-mode gradients, Shapley pruning). Needs only the jars, the native libraries and the two
 * data files; prints PASS/FAIL lines and {@code N passed, N failed}. Exit status 0 when all pass, 1 on any failure, 2 when
 * there is no usable CUDA device.
 */
@Command(name = "gpu-check", mixinStandardHelpOptions = true,
        description = "Check a CUDA device against the CPU (logits, NLL, KV cache, LoRA training, adapter export, variants, FULL gradients, "
                + "Shapley pruning) on stories260K. Exit 0: all passed; 1: a check failed; 2: no usable CUDA device.")
final class GpuCheckCommand implements Callable<Integer> {
    @Option(names = "--device", defaultValue = "cuda", paramLabel = "cuda[:N]", description = "the CUDA device to check (default: ${DEFAULT-VALUE})")
    String device;

    @Option(names = "--steps", defaultValue = "30", description = "LoRA steps of the CPU/GPU training comparison (default: ${DEFAULT-VALUE})")
    int steps;

    @Option(names = {"-m", "--model"}, description = "small GGUF model (default: shared/data/stories260K.gguf beside or in the repository)")
    Path model;

    @Option(names = "--data", description = "training text (default: shared/data/tinyshakespeare.txt beside or in the repository)")
    Path data;

    @Option(names = {"-o", "--work-dir"}, description = "where the exported adapters and runs go (default: a new temporary directory)")
    Path work;

    @Option(names = "--quick", description = "logits, NLL, KV cache, training, the adapter on the CPU and FULL gradients only: no Shapley ranking, "
            + "no variants (for slow devices, such as the CUDA backend emulated on the CPU)")
    boolean quick;

    @Option(names = {"-t", "--threads"}, description = "CPU threads of the CPU reference (default: up to 4; a 260K-parameter model gains nothing from more)")
    Integer threads;

    @Override
    public Integer call() throws Exception {
        Native.ensureLoaded();
        CommonOptions.announceBlasFallback();
        Native.setThreads(threads != null ? threads : Math.min(4, Runtime.getRuntime().availableProcessors()));
        Device d = Device.parse(device);
        if (d.isCpu()) throw new IllegalArgumentException("--device must be cuda or cuda:N: gpu-check compares a CUDA device with the CPU");
        if (Device.cudaDeviceCount() == 0) {
            System.out.println("gpu-check: no CUDA device: " + Device.cudaUnavailableReason().orElse("unknown reason"));
            return 2;
        }
        d.checkUsable();
        System.out.println("gpu-check: device " + d + " (" + d.describe() + "); engine: " + Native.buildInfo() + "; CPU threads " + Native.threads());
        Path m = model != null ? model : shared("stories260K.gguf", "--model");
        Path t = data != null ? data : shared("tinyshakespeare.txt", "--data");
        if (!Files.isRegularFile(m)) throw new IllegalArgumentException(m + ": no such model file");
        if (!Files.isRegularFile(t)) throw new IllegalArgumentException(t + ": no such text file");
        Path w = work != null ? work : Files.createTempDirectory("panlora-gpu-check");
        GpuCheck.Outcome r = GpuCheck.run(new GpuCheck.Options(m, t, d, steps, w, System.out, quick));
        return r.ok() ? 0 : 1;
    }

    private static Path shared(String name, String flag) {
        Path p = GpuCheck.findSharedData(name);
        if (p == null)
            throw new IllegalArgumentException("cannot find shared/data/" + name + " beside or in the repository (from panlora.home, the working "
                    + "directory and the jar's directory); give " + flag);
        return p;
    }
}
