package io.panlora.cli;

import io.panlora.bindings.Native;
import picocli.CommandLine.Option;

/** Options every engine-running command takes. */
final class CommonOptions {
    @Option(names = {"-t", "--threads"}, description = "CPU threads (default: all cores)")
    Integer threads;

    /** Applies the thread count to the engine. */
    void apply() {
        Native.ensureLoaded();
        if (threads != null) Native.setThreads(threads);
        else if (System.getProperty("panlora.threads") != null) Native.setThreads(Integer.getInteger("panlora.threads"));
    }
}
