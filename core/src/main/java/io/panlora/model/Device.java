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
 *
 * <p>Creating a {@code Device} checks only the index's sign, not that the device exists; {@link #checkUsable()} does
 * that. The first call of {@link #auto()}, {@link #cudaDeviceCount()}, {@link #cudaUnavailableReason()},
 * {@link #checkUsable()} (on a CUDA device) or {@link #describe()} loads the native library and probes CUDA once for the
 * JVM's life (a GPU attached later is not seen). Instances are immutable and thread-safe.
 *
 * @param index −1 for the CPU, or a CUDA device index (0, 1, …)
 */
public record Device(int index) {
    /** The CPU. */
    public static final Device CPU = new Device(-1);

    private static final Pattern CUDA = Pattern.compile("cuda(?::(\\d{1,4}))?");

    /**
     * Checks the index's sign only.
     *
     * @param index −1 for the CPU, or a CUDA device index ≥ 0
     * @throws IllegalArgumentException if {@code index} is below −1
     */
    public Device {
        if (index < -1) throw new IllegalArgumentException("device index " + index + " is neither -1 (CPU) nor a CUDA device index");
    }

    /**
     * CUDA device {@code n}, without checking that it exists (see {@link #checkUsable()}).
     *
     * @param n the CUDA device index, ≥ 0
     * @return the device {@code cuda:n}
     * @throws IllegalArgumentException if {@code n} is negative
     */
    public static Device cuda(int n) {
        if (n < 0) throw new IllegalArgumentException("CUDA device index must be >= 0, got " + n);
        return new Device(n);
    }

    /**
     * Whether this is the CPU.
     *
     * @return true for {@link #CPU} (index −1)
     */
    public boolean isCpu() { return index < 0; }

    /**
     * Whether this is a CUDA device (usable or not).
     *
     * @return true when the index is ≥ 0
     */
    public boolean isCuda() { return index >= 0; }

    /**
     * The id the engine takes ({@code pl_model_create_on}).
     *
     * @return −1 ({@code PL_DEVICE_CPU}) for the CPU, else the CUDA device index
     */
    public int engineId() { return isCpu() ? panlora_h.PL_DEVICE_CPU() : index; }

    /**
     * The device's spec, in the form {@link #parse} reads back.
     *
     * @return {@code cpu} or {@code cuda:N}
     */
    @Override
    public String toString() { return isCpu() ? "cpu" : "cuda:" + index; }

    /**
     * Reads {@code cpu}, {@code cuda} (= cuda:0), {@code cuda:N} or {@code auto} ({@link #auto()}), case-insensitively and
     * ignoring surrounding white space. Does not check that a CUDA device is usable: see {@link #checkUsable()}. Only
     * {@code auto} probes CUDA.
     *
     * @param spec the device spec; null reads as the empty string, which is refused
     * @return the device named
     * @throws IllegalArgumentException if the spec is none of those forms ({@code N} has at most 4 digits)
     */
    public static Device parse(String spec) {
        String s = spec == null ? "" : spec.trim().toLowerCase(java.util.Locale.ROOT);
        if (s.equals("cpu")) return CPU;
        if (s.equals("auto")) return auto();
        Matcher m = CUDA.matcher(s);
        if (m.matches()) return cuda(m.group(1) == null ? 0 : Integer.parseInt(m.group(1)));
        throw new IllegalArgumentException("unknown device '" + spec + "' (cpu, cuda, cuda:N or auto)");
    }

    /**
     * The best device present: probes CUDA (once per JVM) and never throws for a missing GPU.
     *
     * @return {@code cuda:0} when a usable CUDA device is present, else {@link #CPU}
     */
    public static Device auto() {
        return cudaDeviceCount() > 0 ? cuda(0) : CPU;
    }

    /**
     * The number of usable CUDA devices, probed once per JVM (the first call loads the native library and the CUDA backend).
     *
     * @return the count; 0 when the backend library, the driver, cuBLASLt or a GPU is missing
     */
    public static int cudaDeviceCount() {
        return Probe.RESULT.count;
    }

    /**
     * Why CUDA cannot be used, from the same once-per-JVM probe as {@link #cudaDeviceCount()}.
     *
     * @return the engine's reason as one line, or empty when at least one CUDA device is usable
     */
    public static Optional<String> cudaUnavailableReason() {
        Probe p = Probe.RESULT;
        return p.count > 0 ? Optional.empty() : Optional.of(p.reason);
    }

    /**
     * Checks that this device can run a model: the CPU always can; a CUDA device must have an index below
     * {@link #cudaDeviceCount()}.
     *
     * @return this device, for chaining
     * @throws IllegalStateException naming the reason (the engine's, when CUDA is unavailable) if it cannot
     */
    public Device checkUsable() {
        if (isCpu()) return this;
        int n = cudaDeviceCount();
        if (n == 0) throw new IllegalStateException("device " + this + " asked for, but CUDA is unavailable: " + Probe.RESULT.reason);
        if (index >= n) throw new IllegalStateException("device " + this + " asked for, but there " + (n == 1 ? "is 1 CUDA device" : "are " + n + " CUDA devices"));
        return this;
    }

    /**
     * The engine's one-line description of this device.
     *
     * @return for a CUDA device its name, compute capability, memory, driver and cuBLASLt versions (at most 1023 bytes);
     *         {@code "cpu"} for the CPU
     * @throws IllegalStateException if this CUDA device is not usable ({@link #checkUsable()})
     * @throws io.panlora.bindings.PanloraException if the engine cannot describe it
     */
    public String describe() {
        if (isCpu()) return "cpu";
        checkUsable();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(1024);
            Native.check(panlora_h.pl_cuda_device_info(index, buf, buf.byteSize()), "pl_cuda_device_info");
            return buf.getString(0);
        }
    }

    /**
     * The line the CLI prints once to stderr about the device it runs on.
     *
     * @param askedExplicitly whether the user named the CPU (then no reason for the absence of CUDA is given, and CUDA is
     *                        not probed); ignored for a CUDA device
     * @return {@code device cuda:0 (NVIDIA H200, …)}, {@code device cpu}, or {@code device cpu (CUDA unavailable: …)}
     * @throws IllegalStateException if this is a CUDA device that is not usable
     */
    public String announcement(boolean askedExplicitly) {
        if (isCuda()) return "device " + this + " (" + describe() + ")";
        if (askedExplicitly) return "device cpu";
        return "device cpu (CUDA unavailable: " + cudaUnavailableReason().orElse("not probed") + ")";
    }

    /**
     * Measures the BF16 GEMM rate of this CUDA device: a square n×n×n product (cuBLASLt, F32 accumulation) timed over
     * {@code reps} runs. Blocks for the length of the benchmark.
     *
     * @param n    the matrix size (rows = columns = inner dimension); the engine checks its range
     * @param reps the number of timed runs; the engine checks its range
     * @return the measured rate in TFLOP/s
     * @throws IllegalStateException if this is the CPU or a CUDA device that is not usable
     * @throws io.panlora.bindings.PanloraException if the engine refuses the sizes or the benchmark fails
     */
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
