package io.panlora.testing;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Locates ../shared/data beside the checkout. A test that needs a file that is absent is skipped on a user's machine and
 * fails in CI (environment variable CI=true), where missing data means a broken set-up, not an optional test.
 */
public final class SharedData {
    private SharedData() {}

    /** The repository root: the nearest parent of the working directory holding native/include/panlora.h. */
    public static Path repoRoot() {
        for (Path p = Path.of("").toAbsolutePath(); p != null; p = p.getParent())
            if (Files.exists(p.resolve("native/include/panlora.h"))) return p;
        throw new IllegalStateException("cannot find the repository root from " + Path.of("").toAbsolutePath());
    }

    /**
     * A file of ../shared/data (or of the directory PANLORA_SHARED_DATA names, for checkouts elsewhere, e.g. git worktrees),
     * or skips the test when it is absent.
     */
    public static Path require(String name) {
        String env = System.getenv("PANLORA_SHARED_DATA");
        Path p = (env != null && !env.isBlank() ? Path.of(env) : repoRoot().resolveSibling("shared").resolve("data")).resolve(name);
        present(Files.isRegularFile(p), "shared data file " + p + " is absent");
        return p;
    }

    /** Skips the calling test when {@code ok} is false (fails it in CI), saying why. */
    public static void present(boolean ok, String what) {
        if (ok) return;
        if ("true".equalsIgnoreCase(System.getenv("CI"))) throw new AssertionError(what + " (CI=true: a missing dependency fails)");
        assumeTrue(false, what + ": skipped");
    }
}
