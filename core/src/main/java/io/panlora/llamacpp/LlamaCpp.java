package io.panlora.llamacpp;

import io.panlora.bindings.LlamaCppLibrary;
import io.panlora.bindings.llama.llama_h;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.Map;

/**
 * The bridge to llama.cpp (built from source by {@code native/llama.cpp/build.sh}): library loading, backend
 * initialisation, and llama.cpp's log. The log is kept, not printed: the last warning and error lines become the message
 * of a {@link LlamaCppException} when a call fails. A caller that wants every line sets a sink ({@link #setLogSink}); the CLI
 * sets one printing to stderr under {@code PANLORA_LLAMA_LOG=1}.
 *
 * <p>The bridge uses the llama.cpp release the bindings were generated from
 * ({@link io.panlora.bindings.LlamaCppLibrary#TAG}), found as {@link io.panlora.bindings.LlamaCppLibrary} describes
 * (system property {@code panlora.llama.dir}, {@code PANLORA_LLAMA_DIR}, then the build script's cache). The log is
 * process-wide: calls made from several threads at once may see each other's lines in their failure messages.
 */
public final class LlamaCpp {
    private static final int LOG_WARN = 3, LOG_ERROR = 4, LOG_CONT = 5; // ggml_log_level
    private static final int KEEP = 16;
    private static final Deque<String> RECENT = new ArrayDeque<>();
    private static final StringBuilder PARTIAL = new StringBuilder();
    private static volatile java.util.function.Consumer<String> sink;
    private static volatile boolean ready;
    private static int lastLevel;

    private LlamaCpp() {}

    /**
     * Whether llama.cpp has been built on this machine (nothing is loaded), for example to skip the bridge's features or
     * tests when it has not.
     *
     * @return true when a build directory with {@code BUILD-INFO} and {@code lib/libllama.so} is found, or the library is
     *         already loaded
     */
    public static boolean available() {
        return LlamaCppLibrary.available();
    }

    /**
     * Loads and initialises llama.cpp once: loads {@code libllama}, routes its log here and calls
     * {@code llama_backend_init}. Later calls only return the directory. Every entry point of this package that needs the
     * library ({@link LlamaCppModel#load}, {@link LlamaCppSampler}) calls it first; thread-safe.
     *
     * @return the build directory the library was loaded from
     * @throws LlamaCppException if llama.cpp is not built (the message names the places looked at and how to build it) or
     *                           the library cannot be loaded
     */
    public static synchronized Path init() {
        Path dir;
        try {
            dir = LlamaCppLibrary.load();
        } catch (UnsatisfiedLinkError e) {
            throw new LlamaCppException(e.getMessage());
        }
        if (!ready) {
            try {
                var handle = MethodHandles.lookup().findStatic(LlamaCpp.class, "onLog",
                        MethodType.methodType(void.class, int.class, MemorySegment.class, MemorySegment.class));
                MemorySegment stub = Linker.nativeLinker().upcallStub(handle,
                        FunctionDescriptor.ofVoid(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.ADDRESS), Arena.global());
                llama_h.llama_log_set(stub, MemorySegment.NULL);
            } catch (ReflectiveOperationException e) {
                throw new IllegalStateException(e);
            }
            llama_h.llama_backend_init();
            ready = true;
        }
        return dir;
    }

    /**
     * Gives every piece of llama.cpp's log, as it comes, to {@code s} too (null: none, the default). Pieces are as llama.cpp
     * passes them: usually a line with its newline, sometimes part of one, of any level. The sink is called on whatever
     * thread llama.cpp logs from, inside a native upcall, so it must be quick, thread-safe and must not throw (an exception
     * escaping an upcall ends the JVM).
     *
     * @param s the sink, or null to stop passing the log on
     */
    public static void setLogSink(java.util.function.Consumer<String> s) {
        sink = s;
    }

    /**
     * tag, commit, source and backends of the build in use, read from its {@code BUILD-INFO} (nothing is loaded).
     *
     * @return the file's key=value lines in file order (keys such as {@code tag}, {@code commit}, {@code source},
     *         {@code cuda}); empty when llama.cpp is not built; a single {@code error} entry when the file cannot be read
     */
    public static Map<String, String> buildInfo() {
        return LlamaCppLibrary.buildInfo();
    }

    private static void onLog(int level, MemorySegment text, MemorySegment user) {
        String s = text.equals(MemorySegment.NULL) ? "" : text.reinterpret(1 << 20).getString(0);
        var out = sink;
        if (out != null) out.accept(s);
        synchronized (RECENT) {
            if (level != LOG_CONT) lastLevel = level;
            if (lastLevel != LOG_WARN && lastLevel != LOG_ERROR) return;
            PARTIAL.append(s);
            int nl;
            while ((nl = PARTIAL.indexOf("\n")) >= 0) {
                String line = PARTIAL.substring(0, nl).strip();
                PARTIAL.delete(0, nl + 1);
                if (line.isEmpty()) continue;
                RECENT.addLast(line);
                while (RECENT.size() > KEEP) RECENT.removeFirst();
            }
        }
    }

    /** Forgets the kept log lines (before a call whose failure is to be explained). */
    static void clearLog() {
        synchronized (RECENT) {
            RECENT.clear();
            PARTIAL.setLength(0);
        }
    }

    /** An exception for a failed call: what failed, and the warnings and errors llama.cpp logged since clearLog. */
    static LlamaCppException failure(String what) {
        String log;
        synchronized (RECENT) {
            log = String.join("; ", RECENT);
            RECENT.clear();
        }
        return new LlamaCppException("llama.cpp: " + what + (log.isEmpty() ? "" : " (" + log + ")"));
    }
}
