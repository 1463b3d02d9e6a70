package io.panlora.bindings;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Finds and loads {@code libpanlora.so} once per JVM, before any generated binding is touched.
 *
 * <p>Search order: system property {@code panlora.library} (a file), environment variable
 * {@code PANLORA_LIBRARY} (a file), system property {@code panlora.library.dir}, then {@code native/build/} in the
 * working directory and its parents and in the folders above the jar (a developer's checkout), and last the copy
 * the jar carries for this platform ({@code io/panlora/natives/<os>-<arch>/}), extracted to a per-user cache by
 * {@link NativeBundle}. The first file that exists is loaded. The CUDA backend ({@code libpanlora_cuda.so}) is
 * loaded later by the core library itself, from the core's own folder (or {@code PANLORA_CUDA_LIBRARY}); the jar's
 * copy is extracted beside the jar's core library for that reason.
 * The generated bindings look symbols up in the loader's libraries, so loading here is enough.
 *
 * <p>A property or variable that names a missing file is not an error: the search goes on with the next place.
 * Thread-safe: {@link #load()} is synchronized and loads at most once per JVM.
 */
public final class PanloraLibrary {
    private static final String FILE = System.mapLibraryName("panlora");
    private static volatile Path loaded;
    private static volatile String origin = "not loaded";

    private PanloraLibrary() {}

    /**
     * Loads the library if not yet loaded, searching in the order described above. Extracting the jar's copy writes
     * files into the natives cache folder (see {@code -Dpanlora.natives.cache}), only when they are missing or differ
     * from the jar's.
     *
     * @return the absolute path of the loaded library (the same on every later call)
     * @throws UnsatisfiedLinkError naming the places looked at when no library is found, or when the jar's copy cannot
     *                              be extracted or loaded (the message says which setting to change)
     */
    public static synchronized Path load() {
        if (loaded != null) return loaded;
        List<String> tried = new ArrayList<>();
        for (Candidate c : candidates()) {
            tried.add(c.path().toString());
            if (Files.isRegularFile(c.path())) {
                System.load(c.path().toAbsolutePath().toString());
                loaded = c.path().toAbsolutePath();
                origin = c.origin();
                return loaded;
            }
        }
        return loadFromJar(tried);
    }

    /**
     * How the loaded library was found, for diagnostics.
     *
     * @return {@code "not loaded"} before {@link #load()} succeeds; then the source, e.g. {@code "-Dpanlora.library"},
     *         {@code "PANLORA_LIBRARY"}, {@code "checkout (working directory)"} or
     *         {@code "jar io/panlora/natives/linux-x86_64/ extracted to DIR (...)"}
     */
    public static String origin() {
        return origin;
    }

    /**
     * The platform folder name of this JVM, from {@code os.name} and {@code os.arch} normalised as os-maven-plugin
     * does.
     *
     * @return e.g. {@code linux-x86_64}, {@code linux-aarch_64}, {@code osx-aarch_64}, {@code windows-x86_64}
     */
    public static String platform() {
        return NativeBundle.platform();
    }

    private static Path loadFromJar(List<String> tried) {
        String platform = NativeBundle.platform();
        String folder = NativeBundle.folder(platform);
        NativeBundle.Index index;
        try {
            index = NativeBundle.index(platform);
        } catch (IOException e) {
            throw new UnsatisfiedLinkError("panlora: cannot read the native library index of the jar: " + e.getMessage());
        }
        if (index == null) {
            List<String> carried = NativeBundle.carried();
            throw new UnsatisfiedLinkError("panlora: no native library for platform " + platform + " (os.name "
                    + System.getProperty("os.name") + ", os.arch " + System.getProperty("os.arch") + "): looked at "
                    + tried + " and the jar folder " + folder + " (this jar carries natives for "
                    + (carried.isEmpty() ? "no platform" : String.join(", ", carried)) + "); build native/ with "
                    + "ci/build-native.sh (or ./panlora, which builds on first use) and set -Dpanlora.library=PATH.");
        }
        if (index.entry(FILE) == null)
            throw new UnsatisfiedLinkError("panlora: the jar's " + folder + NativeBundle.INDEX + " does not list " + FILE);
        Path root = NativeBundle.cacheRoot();
        NativeBundle.Extracted ex;
        try {
            ex = NativeBundle.extract(index, root);
        } catch (IOException | RuntimeException e) {
            throw new UnsatisfiedLinkError("panlora: cannot extract the native library of " + folder + " to "
                    + root.resolve(index.key()) + ": " + e + "; set -Dpanlora.natives.cache=DIR (or PANLORA_NATIVES_CACHE)"
                    + " to a writable folder, or -Dpanlora.library=PATH to a built " + FILE + ".");
        }
        Path lib = ex.dir().resolve(FILE).toAbsolutePath();
        try {
            System.load(lib.toString());
        } catch (UnsatisfiedLinkError e) {
            throw new UnsatisfiedLinkError("panlora: " + lib + " (extracted from the jar's " + folder + ") cannot be loaded: "
                    + e.getMessage() + "; if that folder is on a noexec mount, set -Dpanlora.natives.cache=DIR (or "
                    + "PANLORA_NATIVES_CACHE) to another.");
        }
        loaded = lib;
        origin = "jar " + folder + " extracted to " + ex.dir() + (ex.written() > 0
                ? " (" + ex.written() + " file(s) written" + (ex.replaced() > 0 ? ", " + ex.replaced() + " replaced" : "") + ")"
                : ex.hashed() > 0 ? " (cached copy verified by hash)" : " (cached copy unchanged since verified)");
        return loaded;
    }

    private record Candidate(Path path, String origin) {}

    private static List<Candidate> candidates() {
        List<Candidate> out = new ArrayList<>();
        String prop = System.getProperty("panlora.library");
        if (prop != null && !prop.isBlank()) out.add(new Candidate(Path.of(prop), "-Dpanlora.library"));
        String env = System.getenv("PANLORA_LIBRARY");
        if (env != null && !env.isBlank()) out.add(new Candidate(Path.of(env), "PANLORA_LIBRARY"));
        String dir = System.getProperty("panlora.library.dir");
        if (dir != null && !dir.isBlank()) out.add(new Candidate(Path.of(dir).resolve(FILE), "-Dpanlora.library.dir"));
        Path cwd = Path.of("").toAbsolutePath();
        for (Path p = cwd; p != null; p = p.getParent())
            out.add(new Candidate(p.resolve("native").resolve("build").resolve(FILE), "checkout (working directory)"));
        try {
            var src = PanloraLibrary.class.getProtectionDomain().getCodeSource();
            if (src != null) {
                Path jar = Path.of(src.getLocation().toURI());
                for (Path p = jar.getParent(); p != null; p = p.getParent())
                    out.add(new Candidate(p.resolve("native").resolve("build").resolve(FILE), "checkout (above the jar)"));
            }
        } catch (Exception ignored) {
            // no code source: the other candidates stand
        }
        return out;
    }
}
