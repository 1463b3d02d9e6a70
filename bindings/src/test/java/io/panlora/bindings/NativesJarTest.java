package io.panlora.bindings;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarEntry;
import java.util.jar.JarOutputStream;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The natives inside the jar, as an application sees them: child JVMs with nothing on the class path but the bindings
 * jar (packed here from the module's output, natives included) and a tiny main ({@link NativesChild}), run in a working
 * directory outside the checkout, with a private HOME / XDG_CACHE_HOME and none of the explicit locations set, so the
 * only way to the engine is extraction from the jar. Checks the extraction, its reuse, concurrent extraction, the
 * replacement of a damaged cached copy, that explicit locations still win, and the unsupported-platform error.
 */
class NativesJarTest {
    @TempDir
    static Path tmp;

    static NativeBundle.Index index;
    static Path jar;          // the bindings jar with natives
    static Path jarNoNatives; // the same without io/panlora/natives/
    static Path childClasses; // NativesChild.class alone
    static Path work;         // working directory of the children, outside the checkout

    @BeforeAll
    static void packJars() throws Exception {
        String platform = NativeBundle.platform();
        index = NativeBundle.index(platform);
        assertNotNull(index, "the module's output holds no " + NativeBundle.folder(platform) + NativeBundle.INDEX
                + ": ci/stage-natives.sh (Maven's process-resources phase of bindings) stages native/build; build it first");
        Path classes = Path.of(PanloraLibrary.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        jar = tmp.resolve("jar").resolve("panlora-bindings.jar");
        jarNoNatives = tmp.resolve("jar-bare").resolve("panlora-bindings.jar");
        pack(classes, jar, false);
        pack(classes, jarNoNatives, true);
        childClasses = tmp.resolve("cp");
        Path cls = childClasses.resolve("io/panlora/bindings/NativesChild.class");
        Files.createDirectories(cls.getParent());
        try (InputStream in = NativesChild.class.getResourceAsStream("NativesChild.class")) {
            Files.copy(in, cls);
        }
        work = Files.createDirectories(tmp.resolve("work"));
        System.out.printf("NativesJarTest: bindings jar with natives %d bytes (without: %d); %s lists %s%n", Files.size(jar),
                Files.size(jarNoNatives), NativeBundle.folder(platform) + NativeBundle.INDEX,
                index.entries().stream().map(NativeBundle.Entry::file).toList());
    }

    /** Packs a classes folder (or copies a jar) into a jar, optionally without the natives. */
    static void pack(Path classes, Path out, boolean withoutNatives) throws IOException {
        Files.createDirectories(out.getParent());
        if (Files.isRegularFile(classes)) { // already a jar (tests run against the packaged module)
            assertFalse(withoutNatives, "a jar without natives is built from a classes folder only");
            Files.copy(classes, out);
            return;
        }
        try (JarOutputStream jos = new JarOutputStream(Files.newOutputStream(out)); Stream<Path> walk = Files.walk(classes)) {
            for (Path p : walk.sorted().toList()) {
                String name = classes.relativize(p).toString().replace('\\', '/');
                if (name.isEmpty()) continue;
                if (withoutNatives && name.startsWith("io/panlora/natives")) continue;
                if (Files.isDirectory(p)) {
                    jos.putNextEntry(new JarEntry(name + "/"));
                } else {
                    jos.putNextEntry(new JarEntry(name));
                    Files.copy(p, jos);
                }
                jos.closeEntry();
            }
        }
    }

    record Run(int exit, String out, String err, Map<String, String> values) {
        String get(String key) {
            return values.getOrDefault(key, "");
        }

        String describe() {
            return "exit " + exit + "\nstdout:\n" + out + "\nstderr:\n" + err;
        }
    }

    /** The child JVM's command line: properties, the class path of the jar and the child's class, the main class. */
    static List<String> command(Path theJar, List<String> props) {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("--enable-native-access=ALL-UNNAMED");
        cmd.addAll(props);
        cmd.add("-cp");
        cmd.add(theJar + java.io.File.pathSeparator + childClasses);
        cmd.add(NativesChild.class.getName());
        return cmd;
    }

    static ProcessBuilder builder(Path theJar, Map<String, String> env, List<String> props) {
        ProcessBuilder pb = new ProcessBuilder(command(theJar, props)).directory(work.toFile());
        Map<String, String> e = pb.environment();
        for (String k : List.of("PANLORA_LIBRARY", "PANLORA_NATIVES_CACHE", "PANLORA_CUDA_LIBRARY", "XDG_CACHE_HOME",
                "PANLORA_GEMM", "JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS"))
            e.remove(k);
        e.putAll(env);
        return pb;
    }

    static Run run(Path theJar, Map<String, String> env, List<String> props) throws Exception {
        Process p = builder(theJar, env, props).start();
        return finish(p);
    }

    static Run finish(Process p) throws Exception {
        var err = new java.util.concurrent.CompletableFuture<String>();
        Thread t = Thread.ofVirtual().start(() -> {
            try {
                err.complete(new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8));
            } catch (IOException e) {
                err.complete(e.toString());
            }
        });
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "child JVM timed out");
        t.join();
        return new Run(p.exitValue(), out, err.get(), parse(out));
    }

    static Map<String, String> parse(String out) {
        Map<String, String> m = new LinkedHashMap<>();
        for (String line : out.split("\n")) {
            int eq = line.indexOf('=');
            if (eq > 0) m.put(line.substring(0, eq), line.substring(eq + 1));
        }
        return m;
    }

    static Map<String, String> xdg(Path cache) {
        Map<String, String> env = new HashMap<>();
        env.put("XDG_CACHE_HOME", cache.toString());
        env.put("HOME", tmp.resolve("nohome").toString());
        return env;
    }

    /** -Duser.home too: the JVM takes it from the password database, not from HOME. */
    static List<String> home(Path home) {
        return List.of("-Duser.home=" + home);
    }

    /** Asserts every file of the index sits verified in dir, with no temporary file left beside them. */
    static void assertVerified(Path dir) throws IOException {
        for (NativeBundle.Entry e : index.entries()) {
            Path f = dir.resolve(e.file());
            assertTrue(Files.isRegularFile(f), f + " extracted");
            assertEquals(e.sha256(), NativeBundle.hashOf(f), f + " matches the index");
        }
        try (Stream<Path> s = Files.list(dir)) {
            List<String> extra = s.map(p -> p.getFileName().toString())
                    .filter(n -> !n.equals(NativeBundle.STAMPS) && index.entries().stream().noneMatch(e -> e.file().equals(n)))
                    .toList();
            assertEquals(List.of(), extra, "nothing but the indexed files and their record in " + dir);
        }
    }

    static boolean hasCuda() {
        return index.entries().stream().anyMatch(e -> e.file().equals(System.mapLibraryName("panlora_cuda")));
    }

    @Test
    void extractsToTheXdgCacheLoadsAndThenReusesTheVerifiedCopy() throws Exception {
        Path cache = tmp.resolve("xdg1");
        Path dir = cache.resolve("panlora").resolve("natives").resolve(index.key());
        Run first = run(jar, xdg(cache), home(tmp.resolve("home1")));
        assertEquals(0, first.exit(), first.describe());
        assertEquals(dir.resolve(System.mapLibraryName("panlora")).toString(), first.get("loaded"), first.describe());
        assertTrue(first.get("origin").startsWith("jar " + NativeBundle.folder(NativeBundle.platform()) + " extracted to " + dir),
                first.describe());
        assertTrue(first.get("origin").endsWith("(" + index.entries().size() + " file(s) written)"), first.describe());
        assertTrue(first.get("info").startsWith("panlora api " + first.get("api") + "; backends: cpu"), first.describe());
        Native.ensureLoaded(); // this JVM's engine (native/build), for the version of this build
        assertEquals(String.valueOf(io.panlora.bindings.gen.panlora_h.pl_api_version()), first.get("api"),
                "the extracted engine's version is this build's");
        assertVerified(dir);
        assertFalse(Files.exists(tmp.resolve("home1")), "nothing written to the home folder when XDG_CACHE_HOME is set");
        if (hasCuda()) // the core found the CUDA backend beside itself: whatever the reason for no GPU, it is not a missing backend
            assertFalse(first.get("cuda").contains("no CUDA backend"), first.describe());

        Run second = run(jar, xdg(cache), home(tmp.resolve("home1")));
        assertEquals(0, second.exit(), second.describe());
        assertEquals(first.get("loaded"), second.get("loaded"));
        assertTrue(second.get("origin").endsWith("(cached copy unchanged since verified)"), second.describe());

        Files.delete(dir.resolve(NativeBundle.STAMPS)); // no record: every copy is hashed, found good and kept
        Run third = run(jar, xdg(cache), home(tmp.resolve("home1")));
        assertEquals(0, third.exit(), third.describe());
        assertTrue(third.get("origin").endsWith("(cached copy verified by hash)"), third.describe());
        assertTrue(Files.isRegularFile(dir.resolve(NativeBundle.STAMPS)), "the record is written again");
        System.out.printf("NativesJarTest: load with extraction %s ms, from the cache %s ms (hashing every copy: %s ms)%n",
                first.get("millis"), second.get("millis"), third.get("millis"));
    }

    @Test
    void withoutXdgCacheHomeTheCacheIsUnderHome() throws Exception {
        Path home = tmp.resolve("home2");
        Map<String, String> env = new HashMap<>();
        env.put("HOME", home.toString());
        Run r = run(jar, env, home(home));
        assertEquals(0, r.exit(), r.describe());
        Path dir = home.resolve(".cache").resolve("panlora").resolve("natives").resolve(index.key());
        assertEquals(dir.resolve(System.mapLibraryName("panlora")).toString(), r.get("loaded"), r.describe());
        assertVerified(dir);
    }

    @Test
    void theCacheFolderCanBeChosen() throws Exception {
        Path chosen = tmp.resolve("chosen");
        Map<String, String> env = xdg(tmp.resolve("xdg-unused"));
        env.put("PANLORA_NATIVES_CACHE", chosen.toString());
        Run r = run(jar, env, home(tmp.resolve("home3")));
        assertEquals(0, r.exit(), r.describe());
        assertEquals(chosen.resolve(index.key()).resolve(System.mapLibraryName("panlora")).toString(), r.get("loaded"));
        Path prop = tmp.resolve("chosen-prop");
        Run p = run(jar, env, List.of("-Dpanlora.natives.cache=" + prop, "-Duser.home=" + tmp.resolve("home3")));
        assertEquals(0, p.exit(), p.describe());
        assertEquals(prop.resolve(index.key()).resolve(System.mapLibraryName("panlora")).toString(), p.get("loaded"),
                "the property wins over the variable");
        assertFalse(Files.exists(tmp.resolve("xdg-unused")));
    }

    @Test
    void concurrentChildrenExtractTheSameCopy() throws Exception {
        Path cache = tmp.resolve("xdg-concurrent");
        Path go = tmp.resolve("go-concurrent");
        int n = 3;
        List<Process> ps = new ArrayList<>();
        for (int i = 0; i < n; i++)
            ps.add(builder(jar, xdg(cache), List.of("-Dpanlora.test.startAt=" + go, "-Duser.home=" + tmp.resolve("home4")))
                    .start());
        // every child is in its main, spinning on the start file, before it is created
        List<BufferedReader> readers = new ArrayList<>();
        for (Process p : ps) {
            BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            assertEquals("waiting=" + go, r.readLine());
            readers.add(r);
        }
        Files.createFile(go);
        List<Run> runs = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            StringBuilder out = new StringBuilder();
            for (String line; (line = readers.get(i).readLine()) != null; ) out.append(line).append('\n');
            Process p = ps.get(i);
            assertTrue(p.waitFor(120, TimeUnit.SECONDS));
            String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
            runs.add(new Run(p.exitValue(), out.toString(), err, parse(out.toString())));
        }
        Path dir = cache.resolve("panlora").resolve("natives").resolve(index.key());
        int wrote = 0;
        for (Run r : runs) {
            assertEquals(0, r.exit(), r.describe());
            assertEquals(dir.resolve(System.mapLibraryName("panlora")).toString(), r.get("loaded"), r.describe());
            if (r.get("origin").contains("written")) wrote++;
        }
        assertTrue(wrote >= 1, "at least one child extracted");
        System.out.printf("NativesJarTest: %d concurrent children, %d of them wrote files%n", n, wrote);
        assertVerified(dir);
    }

    @Test
    void aDamagedCachedCopyIsReplaced() throws Exception {
        Path cache = tmp.resolve("xdg-damaged");
        Path dir = cache.resolve("panlora").resolve("natives").resolve(index.key());
        Run first = run(jar, xdg(cache), home(tmp.resolve("home5")));
        assertEquals(0, first.exit(), first.describe());
        assertVerified(dir);
        // the core library overwritten with garbage (unloadable), the CUDA backend truncated (the core would only fail on it later)
        Path core = dir.resolve(System.mapLibraryName("panlora"));
        byte[] garbage = new byte[(int) Files.size(core)];
        java.util.Arrays.fill(garbage, (byte) 0x5a);
        Files.write(core, garbage);
        int damaged = 1;
        if (hasCuda()) {
            Path cuda = dir.resolve(System.mapLibraryName("panlora_cuda"));
            try (var ch = java.nio.channels.FileChannel.open(cuda, java.nio.file.StandardOpenOption.WRITE)) {
                ch.truncate(ch.size() / 2);
            }
            damaged++;
        }
        assertNotEquals(index.entries().getFirst().sha256(), NativeBundle.hashOf(core));
        Run again = run(jar, xdg(cache), home(tmp.resolve("home5")));
        assertEquals(0, again.exit(), again.describe());
        assertTrue(again.get("origin").endsWith("(" + damaged + " file(s) written, " + damaged + " replaced)"), again.describe());
        assertVerified(dir);
        Run after = run(jar, xdg(cache), home(tmp.resolve("home5")));
        assertTrue(after.get("origin").endsWith("(cached copy unchanged since verified)"), after.describe());
    }

    @Test
    void aCopyDamagedInPlaceWithItsSizeAndTimeKeptIsStillFound() throws Exception {
        Path cache = tmp.resolve("xdg-sneaky");
        Path dir = cache.resolve("panlora").resolve("natives").resolve(index.key());
        Run first = run(jar, xdg(cache), home(tmp.resolve("home6")));
        assertEquals(0, first.exit(), first.describe());
        Path last = dir.resolve(index.entries().getLast().file());
        var mtime = Files.getLastModifiedTime(last);
        try (var ch = java.nio.channels.FileChannel.open(last, java.nio.file.StandardOpenOption.WRITE)) {
            ch.write(java.nio.ByteBuffer.wrap(new byte[] {1, 2, 3, 4}), ch.size() / 2); // same size, one word changed
        }
        Files.setLastModifiedTime(last, mtime); // and the modification time put back
        assertNotEquals(index.entries().getLast().sha256(), NativeBundle.hashOf(last));
        Run again = run(jar, xdg(cache), home(tmp.resolve("home6")));
        assertEquals(0, again.exit(), again.describe());
        assertTrue(again.get("origin").endsWith("(1 file(s) written, 1 replaced)"), again.describe());
        assertVerified(dir);
    }

    @Test
    void explicitLocationsStillWin() throws Exception {
        Path built = PanloraLibrary.load(); // this JVM's library: native/build, through surefire's -Dpanlora.library.dir
        Path cache = tmp.resolve("xdg-explicit");
        Run prop = run(jar, xdg(cache), List.of("-Dpanlora.library=" + built));
        assertEquals(0, prop.exit(), prop.describe());
        assertEquals(built.toString(), prop.get("loaded"));
        assertEquals("-Dpanlora.library", prop.get("origin"));

        Map<String, String> env = xdg(cache);
        env.put("PANLORA_LIBRARY", built.toString());
        Run var = run(jar, env, List.of());
        assertEquals(0, var.exit(), var.describe());
        assertEquals("PANLORA_LIBRARY", var.get("origin"));

        Run dir = run(jar, xdg(cache), List.of("-Dpanlora.library.dir=" + built.getParent()));
        assertEquals(0, dir.exit(), dir.describe());
        assertEquals("-Dpanlora.library.dir", dir.get("origin"));
        assertFalse(Files.exists(cache), "nothing extracted when an explicit location is given");
    }

    @Test
    void anUnsupportedPlatformIsOneSentenceNamingItAndTheFolders() throws Exception {
        Run r = run(jar, xdg(tmp.resolve("xdg-riscv")), List.of("-Dos.arch=riscv64"));
        assertNotEquals(0, r.exit(), r.describe());
        String host = NativeBundle.platform();
        String expected = "panlora: no native library for platform " + NativeBundle.os(System.getProperty("os.name"))
                + "-riscv64 (os.name " + System.getProperty("os.name") + ", os.arch riscv64): looked at [";
        assertTrue(r.err().contains(expected), r.describe());
        assertTrue(r.err().contains("and the jar folder io/panlora/natives/" + NativeBundle.os(System.getProperty("os.name"))
                + "-riscv64/ (this jar carries natives for " + host + ")"), r.describe());
        assertTrue(r.err().contains(work.resolve("native/build").resolve(System.mapLibraryName("panlora")).toString()),
                "the folders looked at are named: " + r.describe());

        Run bare = run(jarNoNatives, xdg(tmp.resolve("xdg-bare")), List.of());
        assertNotEquals(0, bare.exit(), bare.describe());
        assertTrue(bare.err().contains("no native library for platform " + host) && bare.err().contains("(this jar carries natives for no platform)"),
                bare.describe());
    }

    @Test
    void platformNamesFollowTheUsualNormalisation() {
        assertEquals("linux-x86_64", NativeBundle.platform("Linux", "amd64"));
        assertEquals("linux-x86_64", NativeBundle.platform("Linux", "x86_64"));
        assertEquals("linux-aarch_64", NativeBundle.platform("Linux", "aarch64"));
        assertEquals("linux-x86_32", NativeBundle.platform("Linux", "i386"));
        assertEquals("linux-ppcle_64", NativeBundle.platform("Linux", "ppc64le"));
        assertEquals("linux-s390_64", NativeBundle.platform("Linux", "s390x"));
        assertEquals("linux-riscv64", NativeBundle.platform("Linux", "riscv64"));
        assertEquals("osx-aarch_64", NativeBundle.platform("Mac OS X", "aarch64"));
        assertEquals("osx-x86_64", NativeBundle.platform("Mac OS X", "x86_64"));
        assertEquals("windows-x86_64", NativeBundle.platform("Windows 11", "amd64"));
        assertEquals("freebsd-x86_64", NativeBundle.platform("FreeBSD", "amd64"));
    }

    @Test
    void theIndexAcceptsSha256sumLinesOnly() throws IOException {
        String h = "0123456789abcdef".repeat(4);
        var ok = NativeBundle.parse("linux-x86_64", (h + "  libpanlora.so\n# comment\n\n" + h + " *libpanlora_cuda.so\n")
                .getBytes(StandardCharsets.UTF_8));
        assertEquals(List.of("libpanlora.so", "libpanlora_cuda.so"), ok.entries().stream().map(NativeBundle.Entry::file).toList());
        assertTrue(ok.key().matches("[0-9a-f]{16}"), ok.key());
        var other = NativeBundle.parse("linux-x86_64", (h.replace('a', 'b') + "  libpanlora.so\n").getBytes(StandardCharsets.UTF_8));
        assertNotEquals(ok.key(), other.key(), "another build, another folder");
        for (String bad : List.of(h + "  ../libpanlora.so", h + "  a/libpanlora.so", h + "  .hidden", "abc  libpanlora.so",
                h.toUpperCase() + "  libpanlora.so", h + "libpanlora.so", ""))
            assertThrows(IOException.class, () -> NativeBundle.parse("linux-x86_64", bad.getBytes(StandardCharsets.UTF_8)), bad);
    }

    @Test
    void theStagedIndexMatchesTheStagedFiles() throws Exception {
        Path classes = Path.of(PanloraLibrary.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        if (!Files.isDirectory(classes)) return; // a packaged jar: the child runs above check the same through extraction
        Path folder = classes.resolve(NativeBundle.folder(NativeBundle.platform()));
        assertEquals(System.mapLibraryName("panlora"), index.entries().getFirst().file(), "the core library first");
        for (NativeBundle.Entry e : index.entries())
            assertEquals(e.sha256(), NativeBundle.hashOf(folder.resolve(e.file())), e.file());
    }
}
