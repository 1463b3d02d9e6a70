package io.panlora.cli;

import io.panlora.bindings.Native;
import io.panlora.model.Device;
import io.panlora.model.LlamaModel;
import io.panlora.model.WeightPlacement;
import picocli.CommandLine.Option;

/** Options every engine-running command takes: CPU threads and the device. */
final class CommonOptions {
    @Option(names = {"-t", "--threads"}, description = "CPU threads (default: all cores)")
    Integer threads;

    @Option(names = "--device", defaultValue = "auto", paramLabel = "cpu|cuda[:N]|auto",
            description = "where the model runs: cpu, cuda (= cuda:0), cuda:N, or auto = cuda:0 when a usable GPU is present, else cpu (default: ${DEFAULT-VALUE})")
    String device;

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

    /** Applies the thread count to the engine. */
    void apply() {
        if (threads != null) Check.range("--threads", threads, 1, io.panlora.model.LlamaModel.MAX_THREADS);
        maxMemory();
        Native.ensureLoaded();
        announceBlasFallback();
        if (threads != null) Native.setThreads(threads);
        else if (System.getProperty("panlora.threads") != null) Native.setThreads(Integer.getInteger("panlora.threads"));
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
