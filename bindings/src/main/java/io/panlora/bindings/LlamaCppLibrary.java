package io.panlora.bindings;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Finds and loads llama.cpp's {@code libllama.so} (built from source by {@code native/llama.cpp/build.sh} into a per-machine
 * cache) once per JVM, before any binding in {@code io.panlora.bindings.llama} is touched. Its ggml libraries are found
 * through the library's run path ($ORIGIN).
 *
 * <p>Where: system property {@code panlora.llama.dir}, environment variable {@code PANLORA_LLAMA_DIR}, then the build
 * script's cache: {@code $PANLORA_LLAMA_CACHE}, else {@code $XDG_CACHE_HOME/panlora}, else {@code ~/.cache/panlora}, each
 * followed by {@code llama.cpp-<TAG>}. A directory counts when it holds {@code BUILD-INFO} and {@code lib/libllama.so}.
 * The first directory that counts is used.
 *
 * <p>Thread-safe: {@link #load()} is synchronized and loads at most once per JVM.
 */
public final class LlamaCppLibrary {
    /** The llama.cpp release the bindings were generated from and the build script pins. */
    public static final String TAG = "v0.4.0";
    /** How to build it, for messages. */
    public static final String BUILD_HINT = "run native/llama.cpp/build.sh (from the repository root) to build it";

    private static volatile Path loaded;

    private LlamaCppLibrary() {}

    /**
     * Loads libllama once (later calls return the same directory).
     *
     * @return the absolute build directory (holding {@code BUILD-INFO} and {@code lib/})
     * @throws UnsatisfiedLinkError naming the places looked at when no build is found, or from
     *                              {@link System#load} when the library cannot be loaded
     */
    public static synchronized Path load() {
        if (loaded != null) return loaded;
        Path dir = find();
        if (dir == null)
            throw new UnsatisfiedLinkError("llama.cpp " + TAG + " is not built: no build found in " + candidates() + "; " + BUILD_HINT);
        System.load(dir.resolve("lib").resolve(System.mapLibraryName("llama")).toAbsolutePath().toString());
        loaded = dir.toAbsolutePath();
        return loaded;
    }

    /**
     * Whether a build is present; nothing is loaded.
     *
     * @return true when the library is already loaded or {@link #find()} finds a build
     */
    public static boolean available() {
        return loaded != null || find() != null;
    }

    /**
     * The build directory, searched in the order described above; nothing is loaded.
     *
     * @return the first directory holding {@code BUILD-INFO} and {@code lib/libllama.so} (as found, not made
     *         absolute), or null when none is present
     */
    public static Path find() {
        for (Path d : candidates())
            if (Files.isRegularFile(d.resolve("BUILD-INFO")) && Files.isRegularFile(d.resolve("lib").resolve(System.mapLibraryName("llama"))))
                return d;
        return null;
    }

    /**
     * The key=value lines of the build's BUILD-INFO (tag, commit, source, cuda...), of the loaded build or else of
     * the one {@link #find()} finds.
     *
     * @return a new modifiable map in file order, keys and values trimmed (lines without {@code =} skipped); empty
     *         when not built; a single {@code error} entry naming the file when it cannot be read
     */
    public static Map<String, String> buildInfo() {
        Map<String, String> out = new LinkedHashMap<>();
        Path d = loaded != null ? loaded : find();
        if (d == null) return out;
        try {
            for (String line : Files.readAllLines(d.resolve("BUILD-INFO"))) {
                int eq = line.indexOf('=');
                if (eq > 0) out.put(line.substring(0, eq).trim(), line.substring(eq + 1).trim());
            }
        } catch (IOException e) {
            out.put("error", d.resolve("BUILD-INFO") + ": " + e.getMessage());
        }
        return out;
    }

    static List<Path> candidates() {
        List<Path> out = new ArrayList<>();
        String prop = System.getProperty("panlora.llama.dir");
        if (prop != null && !prop.isBlank()) out.add(Path.of(prop));
        String env = System.getenv("PANLORA_LLAMA_DIR");
        if (env != null && !env.isBlank()) out.add(Path.of(env));
        String cache = System.getenv("PANLORA_LLAMA_CACHE");
        if (cache == null || cache.isBlank()) {
            String xdg = System.getenv("XDG_CACHE_HOME");
            cache = (xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache")).resolve("panlora").toString();
        }
        out.add(Path.of(cache).resolve("llama.cpp-" + TAG));
        return out;
    }
}
