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

    /** Whether llama.cpp has been built on this machine (nothing is loaded). */
    public static boolean available() {
        return LlamaCppLibrary.available();
    }

    /** Loads and initialises llama.cpp once; throws {@link LlamaCppException} saying how to build it when it is absent. */
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

    /** Gives every piece of llama.cpp's log, as it comes, to {@code s} too (null: none, the default). */
    public static void setLogSink(java.util.function.Consumer<String> s) {
        sink = s;
    }

    /** tag, commit, source and backends of the build in use. */
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
