package io.panlora.model;

import io.panlora.bindings.Native;
import io.panlora.bindings.gen.panlora_h;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Where a model runs: the CPU, or CUDA device {@code index}. The engine's id is {@link #engineId()} ({@code PL_DEVICE_CPU} = −1
 * for the CPU). Whether CUDA is usable is asked once per JVM ({@code pl_cuda_device_count}); when it is not, the engine's
 * one-sentence reason is kept ({@link #cudaUnavailableReason()}).
 */
public record Device(int index) {
    /** The CPU. */
    public static final Device CPU = new Device(-1);

    private static final Pattern CUDA = Pattern.compile("cuda(?::(\\d{1,4}))?");

    public Device {
        if (index < -1) throw new IllegalArgumentException("device index " + index + " is neither -1 (CPU) nor a CUDA device index");
    }

    /** CUDA device n (n ≥ 0). */
    public static Device cuda(int n) {
        if (n < 0) throw new IllegalArgumentException("CUDA device index must be >= 0, got " + n);
        return new Device(n);
    }

    public boolean isCpu() { return index < 0; }

    public boolean isCuda() { return index >= 0; }

    /** The id the engine takes ({@code pl_model_create_on}): −1 for the CPU, else the CUDA index. */
    public int engineId() { return isCpu() ? panlora_h.PL_DEVICE_CPU() : index; }

    /** {@code cpu} or {@code cuda:N}, as {@link #parse} reads it. */
    @Override
    public String toString() { return isCpu() ? "cpu" : "cuda:" + index; }

    /**
     * Reads {@code cpu}, {@code cuda} (= cuda:0), {@code cuda:N} or {@code auto} ({@link #auto()}), case-insensitively. Does not
     * check that a CUDA device is usable: see {@link #checkUsable()}.
     */
    public static Device parse(String spec) {
        String s = spec == null ? "" : spec.trim().toLowerCase(java.util.Locale.ROOT);
        if (s.equals("cpu")) return CPU;
        if (s.equals("auto")) return auto();
        Matcher m = CUDA.matcher(s);
        if (m.matches()) return cuda(m.group(1) == null ? 0 : Integer.parseInt(m.group(1)));
        throw new IllegalArgumentException("unknown device '" + spec + "' (cpu, cuda, cuda:N or auto)");
    }

    /** cuda:0 when a usable CUDA device is present, else the CPU. */
    public static Device auto() {
        return cudaDeviceCount() > 0 ? cuda(0) : CPU;
    }

    /** Usable CUDA devices (0 when the backend library, the driver, cuBLASLt or a GPU is missing). */
    public static int cudaDeviceCount() {
        return Probe.RESULT.count;
    }

    /** Why CUDA cannot be used (one sentence from the engine), or empty when a device is usable. */
    public static Optional<String> cudaUnavailableReason() {
        Probe p = Probe.RESULT;
        return p.count > 0 ? Optional.empty() : Optional.of(p.reason);
    }

    /** Throws an {@link IllegalStateException} naming the reason unless this device can run a model. */
    public Device checkUsable() {
        if (isCpu()) return this;
        int n = cudaDeviceCount();
        if (n == 0) throw new IllegalStateException("device " + this + " asked for, but CUDA is unavailable: " + Probe.RESULT.reason);
        if (index >= n) throw new IllegalStateException("device " + this + " asked for, but there " + (n == 1 ? "is 1 CUDA device" : "are " + n + " CUDA devices"));
        return this;
    }

    /** The engine's one-line description of a CUDA device (name, compute capability, memory, driver, cuBLASLt); "cpu" for the CPU. */
    public String describe() {
        if (isCpu()) return "cpu";
        checkUsable();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(1024);
            Native.check(panlora_h.pl_cuda_device_info(index, buf, buf.byteSize()), "pl_cuda_device_info");
            return buf.getString(0);
        }
    }

    /** The line the CLI prints once to stderr: {@code device cuda:0 (NVIDIA H200, …)} or {@code device cpu (CUDA unavailable: …)}. */
    public String announcement(boolean askedExplicitly) {
        if (isCuda()) return "device " + this + " (" + describe() + ")";
        if (askedExplicitly) return "device cpu";
        return "device cpu (CUDA unavailable: " + cudaUnavailableReason().orElse("not probed") + ")";
    }

    /** Measured BF16 GEMM rate of this CUDA device (cuBLASLt, n×n×n, F32 accumulation), TFLOP/s. */
    public double benchGemmTflops(long n, int reps) {
        if (isCpu()) throw new IllegalStateException("the BF16 GEMM benchmark runs on a CUDA device, not the CPU");
        checkUsable();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ValueLayout.JAVA_DOUBLE);
            Native.check(panlora_h.pl_cuda_bench_gemm(index, n, reps, out), "pl_cuda_bench_gemm on " + this);
            return out.get(ValueLayout.JAVA_DOUBLE, 0);
        }
    }

    /** The one probe of CUDA per JVM (the engine loads its backend once too). */
    private record Probe(int count, String reason) {
        static final Probe RESULT = run();

        private static Probe run() {
            Native.ensureLoaded();
            try (Arena a = Arena.ofConfined()) {
                MemorySegment n = a.allocate(ValueLayout.JAVA_INT);
                int rc = panlora_h.pl_cuda_device_count(n);
                // read at once: the message is thread-local and the next call may clear it; kept to one line for the CLI
                String why = Native.lastError().replaceAll("\\s*\\R\\s*", " ").trim();
                if (rc != panlora_h.PL_OK()) return new Probe(0, why.isBlank() ? "pl_cuda_device_count failed" : why);
                int count = n.get(ValueLayout.JAVA_INT, 0);
                if (count > 0) return new Probe(count, "");
                return new Probe(0, why.isBlank() ? "no usable CUDA device was found" : why);
            }
        }
    }
}
