package io.panlora.bindings;

import io.panlora.bindings.gen.panlora_h;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The tiny program {@link NativesJarTest} runs in child JVMs with only the bindings jar on the class path: loads the
 * engine the way an application would and prints what it got, one {@code key=value} a line. With
 * {@code -Dpanlora.test.startAt=FILE} it waits for FILE to exist first, so that several children load at once.
 */
public final class NativesChild {
    private NativesChild() {}

    public static void main(String[] args) throws Exception {
        String startAt = System.getProperty("panlora.test.startAt");
        if (startAt != null) {
            System.out.println("waiting=" + startAt);
            System.out.flush();
            long deadline = System.nanoTime() + 60_000_000_000L;
            while (!Files.exists(Path.of(startAt)) && System.nanoTime() < deadline) Thread.onSpinWait();
        }
        long t0 = System.nanoTime();
        Path lib = PanloraLibrary.load();
        long t1 = System.nanoTime();
        System.out.println("loaded=" + lib);
        System.out.println("origin=" + PanloraLibrary.origin());
        System.out.printf("millis=%.1f%n", (t1 - t0) / 1e6);
        System.out.println("api=" + panlora_h.pl_api_version());
        System.out.println("info=" + Native.buildInfo());
        try (Arena arena = Arena.ofConfined()) {
            var n = arena.allocate(ValueLayout.JAVA_INT);
            int rc = panlora_h.pl_cuda_device_count(n);
            System.out.println("cuda=" + rc + " " + n.get(ValueLayout.JAVA_INT, 0) + " " + Native.lastError());
        }
    }
}
