package io.panlora.bindings;

import io.panlora.bindings.gen.panlora_h;
import java.lang.foreign.MemorySegment;

/**
 * The hand-written layer over the generated bindings: loads the library and turns status codes into
 * {@link PanloraException}s carrying {@code pl_last_error()}.
 */
public final class Native {
    static {
        PanloraLibrary.load();
    }

    private Native() {}

    /** Makes sure the library is loaded (idempotent). */
    public static void ensureLoaded() {
        // the static initializer did the work
    }

    /** Throws a {@link PanloraException} naming {@code what} unless {@code status} is PL_OK. */
    public static void check(int status, String what) {
        if (status != panlora_h.PL_OK()) {
            throw new PanloraException(status, what + ": " + lastError() + " [" + PanloraException.statusName(status) + "]");
        }
    }

    /** This thread's last native error message. */
    public static String lastError() {
        MemorySegment s = panlora_h.pl_last_error();
        return s.equals(MemorySegment.NULL) ? "" : s.reinterpret(Long.MAX_VALUE).getString(0);
    }

    /** The build description (backends, SIMD, BLAS). */
    public static String buildInfo() {
        return panlora_h.pl_build_info().reinterpret(Long.MAX_VALUE).getString(0);
    }

    /**
     * Why the engine runs its own GEMM although {@code PANLORA_GEMM=openblas} asked for OpenBLAS (not installed, or no
     * {@code cblas_sgemm} in the library named), as one sentence from {@link #buildInfo()}'s blas field; null when
     * nothing was asked for or OpenBLAS was loaded. The library prints nothing itself; callers show this once.
     */
    public static String blasFallback() {
        String info = buildInfo();
        int at = info.indexOf("; blas=none (");
        if (at < 0 || !info.endsWith(")")) return null;
        return info.substring(at + "; blas=none (".length(), info.length() - 1);
    }

    /** Sets the engine's CPU thread count. */
    public static void setThreads(int n) {
        check(panlora_h.pl_set_num_threads(n), "pl_set_num_threads");
    }

    /** The engine's CPU thread count. */
    public static int threads() {
        return panlora_h.pl_get_num_threads();
    }
}
