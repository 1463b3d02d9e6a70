package io.panlora.bindings;

import io.panlora.bindings.gen.panlora_h;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The hand-written layer over the generated bindings: loads the library and turns status codes into
 * {@link PanloraException}s carrying {@code pl_last_error()}.
 *
 * <p>Touching this class loads the engine library through {@link PanloraLibrary#load()}; if it cannot be found,
 * class initialization fails with an {@link UnsatisfiedLinkError} (and later uses with
 * {@link NoClassDefFoundError}). The methods are thread-safe; error messages are per thread.
 */
public final class Native {
    static {
        PanloraLibrary.load();
    }

    private Native() {}

    /**
     * Makes sure the library is loaded (idempotent; the work happens in this class's initializer).
     *
     * @throws UnsatisfiedLinkError if the library cannot be found or loaded (first use only)
     */
    public static void ensureLoaded() {
        // the static initializer did the work
    }

    /**
     * Throws a {@link PanloraException} naming {@code what} unless {@code status} is PL_OK (0). Call it right after
     * the native call, on the same thread, so {@link #lastError()} still holds that call's message.
     *
     * @param status the status code a native call returned
     * @param what   what was being done, for the message (e.g. {@code "pl_lora_create"})
     * @throws PanloraException with message {@code "WHAT: LAST_ERROR [STATUS_NAME]"} when {@code status} is not 0
     */
    public static void check(int status, String what) {
        if (status != panlora_h.PL_OK()) {
            throw new PanloraException(status, what + ": " + lastError() + " [" + PanloraException.statusName(status) + "]");
        }
    }

    /**
     * This thread's last native error message ({@code pl_last_error()}).
     *
     * @return the message of the last failed engine call on this thread; empty after a call that succeeded or when
     *         the engine reports none
     */
    public static String lastError() {
        MemorySegment s = panlora_h.pl_last_error();
        return s.equals(MemorySegment.NULL) ? "" : s.reinterpret(Long.MAX_VALUE).getString(0);
    }

    /**
     * The build description ({@code pl_build_info()}).
     *
     * @return one line naming the backends, the SIMD levels detected and the BLAS in use (its last field,
     *         {@code blas=...})
     */
    public static String buildInfo() {
        return panlora_h.pl_build_info().reinterpret(Long.MAX_VALUE).getString(0);
    }

    /**
     * Why the engine runs its own GEMM although {@code PANLORA_GEMM=openblas} asked for OpenBLAS (not installed, or no
     * {@code cblas_sgemm} in the library named), as one sentence from {@link #buildInfo()}'s blas field; null when
     * nothing was asked for or OpenBLAS was loaded. The library prints nothing itself; callers show this once.
     *
     * @return the reason as one sentence, or null
     */
    public static String blasFallback() {
        String info = buildInfo();
        int at = info.indexOf("; blas=none (");
        if (at < 0 || !info.endsWith(")")) return null;
        return info.substring(at + "; blas=none (".length(), info.length() - 1);
    }

    /**
     * Sets the engine's CPU thread count, the process-wide default (a model may override it with its own). Results
     * are deterministic for a given count.
     *
     * @param n the number of threads, 1 or more
     * @throws PanloraException if {@code n} is out of range
     */
    public static void setThreads(int n) {
        check(panlora_h.pl_set_num_threads(n), "pl_set_num_threads");
    }

    /**
     * The engine's process-wide CPU thread count.
     *
     * @return the number of threads, 1 or more
     */
    public static int threads() {
        return panlora_h.pl_get_num_threads();
    }

    /** The precision of the frozen base weights' products on the CPU (see {@link #setMatmul}). */
    public enum Matmul {
        /** F32 products: the reference (the engine's default). */
        F32,
        /** Weights and activations rounded to BF16, products summed in F32 (AVX512-BF16 CPUs only). */
        BF16,
        /** BF16 where the CPU has AVX512-BF16, else F32. */
        AUTO;

        /**
         * The mode of a name, case-insensitive.
         *
         * @param name {@code f32}, {@code bf16} or {@code auto}
         * @return the mode
         * @throws IllegalArgumentException for another name
         */
        public static Matmul parse(String name) {
            for (Matmul m : values()) if (m.name().equalsIgnoreCase(name.trim())) return m;
            throw new IllegalArgumentException("matmul precision must be f32, bf16 or auto, got '" + name + "'");
        }
    }

    /**
     * Sets the process-wide precision of the base weights' linear layers with more than 4 tokens (prompt processing, NLL,
     * the training forward and input gradient, the output projection included). LoRA factors, dense deltas, weight
     * gradients, attention, the optimizer and decoding stay F32.
     *
     * @param mode the precision
     * @throws PanloraException for {@link Matmul#BF16} on a CPU without AVX512-BF16
     */
    public static void setMatmul(Matmul mode) {
        check(panlora_h.pl_set_matmul(mode.ordinal()), "pl_set_matmul");
    }

    /**
     * The precision in effect ({@link Matmul#AUTO} resolved for this CPU).
     *
     * @return {@link Matmul#F32} or {@link Matmul#BF16}
     */
    public static Matmul matmul() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = a.allocate(ValueLayout.JAVA_INT);
            check(panlora_h.pl_get_matmul(m), "pl_get_matmul");
            return Matmul.values()[m.get(ValueLayout.JAVA_INT, 0)];
        }
    }

    /**
     * Whether this CPU can run the BF16 products (AVX512-BF16 with AVX512-BW and -VL).
     *
     * @return true if {@link Matmul#BF16} can be set
     */
    public static boolean cpuHasBf16() {
        return panlora_h.pl_cpu_has_bf16() != 0;
    }
}
