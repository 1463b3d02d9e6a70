package io.panlora.fuzz;

import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

import java.io.PrintWriter;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;
import org.junit.platform.launcher.listeners.TestExecutionSummary;

/**
 * Runs one fuzz-test class through the JUnit Platform in this JVM, for ci/fuzz.sh: with {@code JAZZER_FUZZ=1} in the
 * environment Jazzer fuzzes the class's single {@code @FuzzTest} (one per JVM is all Jazzer allows) for
 * {@code -Djazzer.max_duration}; without it the seeds are replayed, as in {@code mvn test}. Exit status 0 when the test
 * passed, 1 when it failed (a finding), 2 when nothing ran.
 *
 * <p>Usage: {@code java -cp <test classpath> io.panlora.fuzz.FuzzMain io.panlora.fuzz.GgufFuzzTest}
 */
public final class FuzzMain {
    private FuzzMain() {}

    public static void main(String[] args) throws Exception {
        if (args.length != 1) {
            System.err.println("usage: FuzzMain <fuzz test class>");
            System.exit(2);
        }
        LauncherDiscoveryRequest request = LauncherDiscoveryRequestBuilder.request()
                .selectors(selectClass(Class.forName(args[0])))
                .build();
        Launcher launcher = LauncherFactory.create();
        SummaryGeneratingListener listener = new SummaryGeneratingListener();
        launcher.execute(request, listener);
        TestExecutionSummary summary = listener.getSummary();
        PrintWriter out = new PrintWriter(System.out, true);
        summary.printFailuresTo(out, 40);
        out.printf("fuzz-main: %s: %d test(s) run, %d succeeded, %d failed, %d aborted%n", args[0],
                summary.getTestsStartedCount(), summary.getTestsSucceededCount(), summary.getTestsFailedCount(),
                summary.getTestsAbortedCount());
        out.flush();
        // Jazzer may leave non-daemon threads behind: leave with the status instead of waiting for them.
        System.exit(summary.getTestsStartedCount() == 0 ? 2 : summary.getTotalFailureCount() > 0 ? 1 : 0);
    }
}
