package io.panlora.bindings;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Finds and loads {@code libpanlora.so} once per JVM, before any generated binding is touched.
 *
 * <p>Search order: system property {@code panlora.library} (a file), environment variable
 * {@code PANLORA_LIBRARY} (a file), system property {@code panlora.library.dir}, then
 * {@code native/build/} in the working directory and its parents, then beside the jar.
 * The generated bindings look symbols up in the loader's libraries, so loading here is enough.
 */
public final class PanloraLibrary {
    private static final String FILE = System.mapLibraryName("panlora");
    private static volatile Path loaded;

    private PanloraLibrary() {}

    /** Loads the library if not yet loaded; returns its path. Throws with the places looked at when absent. */
    public static synchronized Path load() {
        if (loaded != null) return loaded;
        List<Path> tried = new ArrayList<>();
        for (Path p : candidates()) {
            tried.add(p);
            if (Files.isRegularFile(p)) {
                System.load(p.toAbsolutePath().toString());
                loaded = p.toAbsolutePath();
                return loaded;
            }
        }
        throw new UnsatisfiedLinkError("panlora: native library " + FILE + " not found; looked at " + tried
                + ". Build it with ci/build.sh (or ./panlora, which builds on first use), or set -Dpanlora.library=PATH.");
    }

    private static List<Path> candidates() {
        List<Path> out = new ArrayList<>();
        String prop = System.getProperty("panlora.library");
        if (prop != null && !prop.isBlank()) out.add(Path.of(prop));
        String env = System.getenv("PANLORA_LIBRARY");
        if (env != null && !env.isBlank()) out.add(Path.of(env));
        String dir = System.getProperty("panlora.library.dir");
        if (dir != null && !dir.isBlank()) out.add(Path.of(dir).resolve(FILE));
        Path cwd = Path.of("").toAbsolutePath();
        for (Path p = cwd; p != null; p = p.getParent()) out.add(p.resolve("native").resolve("build").resolve(FILE));
        try {
            var src = PanloraLibrary.class.getProtectionDomain().getCodeSource();
            if (src != null) {
                Path jar = Path.of(src.getLocation().toURI());
                for (Path p = jar.getParent(); p != null; p = p.getParent())
                    out.add(p.resolve("native").resolve("build").resolve(FILE));
            }
        } catch (Exception ignored) {
            // no code source: the other candidates stand
        }
        return out;
    }
}
