package io.panlora.cli;

import io.panlora.bindings.Native;
import io.panlora.model.Device;
import io.panlora.model.LlamaModel;
import io.panlora.model.WeightPlacement;
import picocli.CommandLine.Option;

/** Options every engine-running command takes: CPU threads, the matmul precision and the device. */
final class CommonOptions {
    @Option(names = {"-t", "--threads"}, description = "CPU threads (default: all cores)")
    Integer threads;

    @Option(names = "--device", defaultValue = "auto", paramLabel = "cpu|cuda[:N]|auto",
            description = "where the model runs: cpu, cuda (= cuda:0), cuda:N, or auto = cuda:0 when a usable GPU is present, else cpu (default: ${DEFAULT-VALUE})")
    String device;

    @Option(names = "--matmul", paramLabel = "f32|bf16|auto",
            description = "precision of the base weights' products on the CPU: f32 (the reference), bf16 (AVX512-BF16: weights and "
                    + "activations rounded to BF16, sums in F32), auto = bf16 where the CPU has AVX512-BF16, else f32 (default: auto for "
                    + "train and bench, f32 for the commands whose numbers are compared with llama.cpp's); decoding, LoRA factors, "
                    + "gradients and the optimizer stay F32")
    String matmul;

    /** The precision when --matmul is not given: F32 unless the command says otherwise ({@link #defaultMatmul}). */
    private Native.Matmul matmulDefault = Native.Matmul.F32;

    /** Sets the precision used when --matmul is not given (train and bench: AUTO); call before {@link #apply}. */
    CommonOptions defaultMatmul(Native.Matmul m) {
        matmulDefault = m;
        return this;
    }

    @Option(names = "--max-memory", paramLabel = "SIZE",
            description = "refuse to start when the planned memory exceeds SIZE (e.g. 8G, 512M; default: MemAvailable of /proc/meminfo)")
    String maxMemory;

    @Option(names = "--check-tensors", description = "check every base weight for NaN or infinite values before loading (as llama.cpp's --check-tensors)")
    boolean checkTensors;

    private Device resolved;

    /** --max-memory in bytes, or null. */
    Long maxMemory() {
        return maxMemory == null ? null : Check.size("--max-memory", maxMemory);
    }

    /** With --check-tensors, refuses a model file holding a non-finite weight, naming the file and the tensor. */
    void checkTensors(java.nio.file.Path model) throws java.io.IOException {
        if (checkTensors) TensorCheck.requireFinite(model);
    }

    /** Applies the thread count and the matmul precision to the engine. */
    void apply() {
        if (threads != null) Check.range("--threads", threads, 1, io.panlora.model.LlamaModel.MAX_THREADS);
        maxMemory();
        Native.ensureLoaded();
        announceBlasFallback();
        if (threads != null) Native.setThreads(threads);
        else if (System.getProperty("panlora.threads") != null) Native.setThreads(Integer.getInteger("panlora.threads"));
        Native.Matmul mode = matmul == null ? matmulDefault : Native.Matmul.parse(matmul);
        if (mode == Native.Matmul.BF16 && !Native.cpuHasBf16())
            throw new IllegalArgumentException("--matmul bf16 needs a CPU with AVX512-BF16 (this one has none); use f32 or auto");
        Native.setMatmul(mode);
        matmulSet = true;
        announceMatmul(mode);
    }

    /** Whether a command of this process set the matmul precision (and {@link #endCommand} should put the default back). */
    private static boolean matmulSet;

    /**
     * Ends a command's process-wide engine settings: the matmul precision goes back to the engine's default (F32), so a
     * command run in process (tests, an embedding program) leaves no precision behind for the next one or for library calls.
     */
    static synchronized void endCommand() {
        if (!matmulSet) return;
        matmulSet = false;
        Native.setMatmul(Native.Matmul.F32);
    }

    private static boolean matmulAnnounced;

    /** One line on stderr, once per run, when the base weights' products run in BF16 (and how to get F32). */
    static synchronized void announceMatmul(Native.Matmul asked) {
        if (matmulAnnounced) return;
        matmulAnnounced = true;
        if (Native.matmul() == Native.Matmul.BF16)
            System.err.println("panlora: matmul bf16 on the CPU (AVX512-BF16" + (asked == Native.Matmul.AUTO ? ", --matmul auto" : "")
                    + "; --matmul f32 for the F32 reference)");
    }

    private static boolean blasAnnounced;

    /** With PANLORA_GEMM=openblas and no loadable OpenBLAS: one line on stderr, once per run, saying why and what runs instead. */
    static synchronized void announceBlasFallback() {
        if (blasAnnounced) return;
        blasAnnounced = true;
        String why = Native.blasFallback();
        if (why != null) System.err.println("panlora: " + why);
    }

    /**
     * The device of --device, checked and announced once on stderr ({@code panlora: device cuda:0 (…)} or
     * {@code panlora: device cpu (CUDA unavailable: …)}). A CUDA device asked for explicitly without a usable GPU is an error
     * naming the reason.
     */
    Device device() {
        if (resolved == null) {
            Device d = Device.parse(device);
            boolean explicit = !device.trim().equalsIgnoreCase("auto");
            d.checkUsable();
            System.err.println("panlora: " + d.announcement(explicit));
            resolved = d;
        }
        return resolved;
    }

    /** The device with a weight placement (null: AUTO) and -t as the model's own thread count (0 without -t). */
    LlamaModel.LoadOptions load(WeightPlacement placement) {
        return new LlamaModel.LoadOptions(device(), placement == null ? WeightPlacement.AUTO : placement, threads == null ? 0 : threads);
    }
}
