package io.panlora.bindings;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.LinkOption;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The native libraries carried inside the bindings jar, and their extraction to a per-user cache.
 *
 * <p>Layout: {@code io/panlora/natives/<os>-<arch>/} holds the libraries built for that platform and
 * {@code natives.sha256}, one line per file in sha256sum's format ({@code <64 hex>  <file name>}); the folder names
 * follow os-maven-plugin's normalisation (linux-x86_64, linux-aarch_64, osx-aarch_64, windows-x86_64, …), as netty,
 * gRPC and protobuf name theirs. {@code ci/stage-natives.sh} writes them at build time.
 *
 * <p>Extraction ({@link #extract}): every listed file goes to
 * {@code <cache>/<16 hex digits of the index's FNV-1a hash>/} (see {@link Index}), where {@code <cache>} is
 * {@code -Dpanlora.natives.cache}, else {@code PANLORA_NATIVES_CACHE}, else
 * {@code $XDG_CACHE_HOME/panlora/natives} (an absolute XDG_CACHE_HOME), else {@code ~/.cache/panlora/natives}
 * ({@code ~/Library/Caches/panlora/natives} on macOS, {@code %LOCALAPPDATA%\panlora\natives} on Windows). A file
 * already there is used when its SHA-256 matches the index (or it is unchanged since it was verified), and is otherwise
 * replaced; each file is written to a
 * temporary file in the same folder, checked against the index and renamed over its name, so JVMs extracting at the
 * same time never see a partial file. All files land in one folder, so the core library finds its CUDA backend
 * beside itself.
 */
final class NativeBundle {
    static final String ROOT = "io/panlora/natives/";
    static final String INDEX = "natives.sha256";
    private static final String[] KNOWN_OS = {"linux", "osx", "windows", "freebsd"};
    private static final String[] KNOWN_ARCH = {"x86_64", "aarch_64", "x86_32", "arm_32", "ppcle_64", "ppc_64",
            "s390_64", "riscv64", "loongarch_64"};
    /** Temporary files older than this are left-overs of a JVM that died while extracting. */
    private static final long STALE_TMP_MILLIS = 3_600_000;

    /** One file of a platform's index. */
    record Entry(String sha256, String file) {}

    /**
     * A platform's index as found in the jar: its entries and the cache folder's name, 16 hex digits of a 64-bit
     * FNV-1a hash of the index (which is the files' SHA-256s and names), so every build gets its own folder. FNV
     * rather than SHA-256 again: the JDK's MessageDigest costs ~30 ms to set up in a JVM that has just started, and a
     * verified cached copy should cost nothing of the kind; the files themselves are always checked against the
     * SHA-256s the index lists.
     */
    record Index(String platform, List<Entry> entries, String key) {
        /** The entry of the file named {@code file} (e.g. the core library, {@code libpanlora.so}), or null. */
        Entry entry(String file) {
            for (Entry e : entries)
                if (e.file().equals(file)) return e;
            return null;
        }
    }

    /**
     * What an extraction did: the folder, how many files were written (and of those, how many replaced a damaged or
     * foreign copy), and how many cached copies had to be hashed because they changed since they were last verified.
     */
    record Extracted(Path dir, int written, int replaced, int hashed) {}

    private NativeBundle() {}

    /** This JVM's platform folder name, e.g. {@code linux-x86_64}. */
    static String platform() {
        return platform(System.getProperty("os.name", ""), System.getProperty("os.arch", ""));
    }

    /** The platform folder name of an {@code os.name} and {@code os.arch}, normalised as os-maven-plugin does. */
    static String platform(String osName, String osArch) {
        return os(osName) + "-" + arch(osArch);
    }

    static String os(String osName) {
        String s = clean(osName);
        if (s.startsWith("linux")) return "linux";
        if (s.startsWith("macosx") || s.startsWith("osx") || s.startsWith("darwin") || s.startsWith("mac")) return "osx";
        if (s.startsWith("windows")) return "windows";
        if (s.startsWith("freebsd")) return "freebsd";
        if (s.startsWith("openbsd")) return "openbsd";
        if (s.startsWith("netbsd")) return "netbsd";
        if (s.startsWith("solaris") || s.startsWith("sunos")) return "sunos";
        if (s.startsWith("aix")) return "aix";
        return s.isEmpty() ? "unknown" : s;
    }

    static String arch(String osArch) {
        String s = clean(osArch);
        switch (s) {
            case "x8664", "amd64", "em64t", "x64": return "x86_64";
            case "x8632", "x86", "i386", "i486", "i586", "i686", "ia32", "x32": return "x86_32";
            case "aarch64", "arm64": return "aarch_64";
            case "arm", "arm32": return "arm_32";
            case "ppc64le": return "ppcle_64";
            case "ppc64": return "ppc_64";
            case "s390x": return "s390_64";
            case "riscv64": return "riscv64";
            case "loongarch64": return "loongarch_64";
            default:
                if (s.startsWith("armv")) return "arm_32";
                return s.isEmpty() ? "unknown" : s;
        }
    }

    /** Lower case, letters and digits only (no regular expression: this runs while the JVM is starting). */
    private static String clean(String v) {
        if (v == null) return "";
        StringBuilder sb = new StringBuilder(v.length());
        for (char c : v.toLowerCase(Locale.ROOT).toCharArray())
            if (c >= 'a' && c <= 'z' || c >= '0' && c <= '9') sb.append(c);
        return sb.toString();
    }

    /** The jar's resource folder of a platform. */
    static String folder(String platform) {
        return ROOT + platform + "/";
    }

    /** The platforms this jar (the classes' own class loader) carries natives for, among the usual names. */
    static List<String> carried() {
        List<String> out = new ArrayList<>();
        for (String os : KNOWN_OS)
            for (String arch : KNOWN_ARCH) {
                String p = os + "-" + arch;
                if (resourceUrl(folder(p) + INDEX) != null) out.add(p);
            }
        return out;
    }

    /** The index of a platform, or null when the jar has none for it. */
    static Index index(String platform) throws IOException {
        byte[] raw;
        try (InputStream in = resource(folder(platform) + INDEX)) {
            if (in == null) return null;
            raw = in.readAllBytes();
        }
        return parse(platform, raw);
    }

    /** Parses an index's bytes: sha256sum lines of plain file names (no folders); '#' lines and blank lines skipped. */
    static Index parse(String platform, byte[] raw) throws IOException {
        List<Entry> entries = new ArrayList<>();
        for (String line : new String(raw, StandardCharsets.UTF_8).split("\n")) {
            String l = line.strip();
            if (l.isEmpty() || l.startsWith("#")) continue;
            Entry e = line(l);
            if (e == null) throw new IOException("the jar's " + folder(platform) + INDEX + " has a malformed line: '" + l + "'");
            entries.add(e);
        }
        if (entries.isEmpty()) throw new IOException("the jar's " + folder(platform) + INDEX + " lists no file");
        long h = 0xcbf29ce484222325L; // FNV-1a, 64 bits
        for (byte b : raw) h = (h ^ (b & 0xff)) * 0x100000001b3L;
        String hex = Long.toHexString(h);
        return new Index(platform, List.copyOf(entries), "0".repeat(16 - hex.length()) + hex);
    }

    /** One sha256sum line ({@code <64 lower-case hex> <space or *><file name>}), or null when malformed. */
    private static Entry line(String l) {
        if (l.length() < 67 || l.charAt(64) != ' ' || (l.charAt(65) != ' ' && l.charAt(65) != '*')) return null;
        for (int i = 0; i < 64; i++) {
            char c = l.charAt(i);
            if (!(c >= '0' && c <= '9' || c >= 'a' && c <= 'f')) return null;
        }
        String name = l.substring(66);
        for (int i = 0; i < name.length(); i++) {
            char c = name.charAt(i);
            boolean ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '+'
                    || c == '-' || c == '.' && i > 0;
            if (!ok) return null; // no folders, no hidden files, nothing odd
        }
        return new Entry(l.substring(0, 64), name);
    }

    /** The cache root: the property, the variable, then the platform's per-user cache folder. */
    static Path cacheRoot() {
        String prop = System.getProperty("panlora.natives.cache");
        if (prop != null && !prop.isBlank()) return Path.of(prop).toAbsolutePath();
        String env = System.getenv("PANLORA_NATIVES_CACHE");
        if (env != null && !env.isBlank()) return Path.of(env).toAbsolutePath();
        String os = os(System.getProperty("os.name", ""));
        Path home = Path.of(System.getProperty("user.home", "."));
        if (os.equals("windows")) {
            String local = System.getenv("LOCALAPPDATA");
            return (local != null && !local.isBlank() ? Path.of(local) : home.resolve("AppData").resolve("Local"))
                    .resolve("panlora").resolve("natives");
        }
        if (os.equals("osx")) return home.resolve("Library").resolve("Caches").resolve("panlora").resolve("natives");
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path base = xdg != null && !xdg.isBlank() && Path.of(xdg).isAbsolute() ? Path.of(xdg) : home.resolve(".cache");
        return base.resolve("panlora").resolve("natives");
    }

    /**
     * Makes every file of the index present and verified in {@code root/<key>/}: a cached copy is kept when its SHA-256
     * matches the index, and is otherwise written afresh (temporary file, hash check, atomic rename). Hashing the
     * 13 MB CUDA backend in a JVM that has just started takes about 200 ms, so a verified copy is recorded in
     * {@code .verified} with its size, modification and change times and file key (inode): a copy whose record still
     * matches is not hashed again. Any write to a file changes its change time, so a damaged copy is hashed, found
     * wrong and replaced.
     */
    static Extracted extract(Index index, Path root) throws IOException {
        Path dir = root.resolve(index.key());
        createPrivateDirectories(dir);
        Map<String, String> stamps = readStamps(dir);
        int written = 0, replaced = 0, hashed = 0;
        boolean restamp = false;
        for (Entry e : index.entries()) {
            Path target = dir.resolve(e.file());
            BasicFileAttributes attrs = attributes(target);
            if (attrs != null && attrs.isRegularFile()) {
                if (stamp(e, target, attrs).equals(stamps.get(e.file()))) continue;
                hashed++;
                restamp = true;
                if (e.sha256().equals(hashOf(target))) continue;
            }
            writeVerified(index.platform(), e, dir, target);
            written++;
            if (attrs != null) replaced++;
            restamp = true;
        }
        if (restamp) writeStamps(index, dir);
        if (written > 0) removeStaleTemporaries(dir);
        return new Extracted(dir, written, replaced, hashed);
    }

    static final String STAMPS = ".verified";

    private static BasicFileAttributes attributes(Path p) {
        try {
            return Files.readAttributes(p, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        } catch (IOException e) {
            return null;
        }
    }

    /** One line of .verified: what a verified file looked like (hash, size, times to the nanosecond, inode). */
    private static String stamp(Entry e, Path p, BasicFileAttributes a) {
        Object ctime = null;
        try {
            ctime = Files.getAttribute(p, "unix:ctime", LinkOption.NOFOLLOW_LINKS);
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException notUnix) {
            // no change time: size, modification time and file key stand
        }
        long ct = ctime instanceof FileTime t ? t.to(TimeUnit.NANOSECONDS) : -1;
        return e.sha256() + " " + a.size() + " " + a.lastModifiedTime().to(TimeUnit.NANOSECONDS) + " " + ct + " "
                + a.fileKey() + " " + e.file();
    }

    private static Map<String, String> readStamps(Path dir) {
        Map<String, String> out = new HashMap<>();
        try {
            for (String line : Files.readAllLines(dir.resolve(STAMPS), StandardCharsets.UTF_8)) {
                int sp = line.lastIndexOf(' ');
                if (sp > 0) out.put(line.substring(sp + 1), line);
            }
        } catch (IOException | java.io.UncheckedIOException absentOrUnreadable) {
            // every file is hashed
        }
        return out;
    }

    /** Records the files as verified now (each was hashed or written by this call, or matched its record). */
    private static void writeStamps(Index index, Path dir) {
        StringBuilder sb = new StringBuilder();
        for (Entry e : index.entries()) {
            Path p = dir.resolve(e.file());
            BasicFileAttributes a = attributes(p);
            if (a != null) sb.append(stamp(e, p, a)).append('\n');
        }
        try {
            Path tmp = Files.createTempFile(dir, STAMPS + ".", ".tmp");
            try {
                Files.writeString(tmp, sb, StandardCharsets.UTF_8);
                try {
                    Files.move(tmp, dir.resolve(STAMPS), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                } catch (AtomicMoveNotSupportedException ex) {
                    Files.move(tmp, dir.resolve(STAMPS), StandardCopyOption.REPLACE_EXISTING);
                }
            } finally {
                Files.deleteIfExists(tmp);
            }
        } catch (IOException ignored) {
            // without a record the next start hashes again
        }
    }

    private static void writeVerified(String platform, Entry e, Path dir, Path target) throws IOException {
        Path tmp = Files.createTempFile(dir, "." + e.file() + ".", ".tmp");
        try {
            MessageDigest md = sha256();
            try (InputStream in = resource(folder(platform) + e.file());
                 OutputStream out = new DigestOutputStream(Files.newOutputStream(tmp), md)) {
                if (in == null) throw new IOException("the jar's " + folder(platform) + INDEX + " lists " + e.file()
                        + ", which the jar does not hold");
                in.transferTo(out);
            }
            String got = hex(md.digest());
            if (!got.equals(e.sha256()))
                throw new IOException("the jar's " + folder(platform) + e.file() + " has SHA-256 " + got + ", not the "
                        + e.sha256() + " its " + INDEX + " lists (a damaged jar)");
            try {
                Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwx------"));
            } catch (UnsupportedOperationException notPosix) {
                // Windows: the ACLs of the user's folder stand
            }
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException ex) {
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    private static void createPrivateDirectories(Path dir) throws IOException {
        if (Files.isDirectory(dir)) return;
        if (FileSystems.getDefault().supportedFileAttributeViews().contains("posix"))
            Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        else Files.createDirectories(dir);
    }

    /** Deletes temporary files that a JVM which died while extracting left behind (best effort). */
    private static void removeStaleTemporaries(Path dir) {
        long cutoff = System.currentTimeMillis() - STALE_TMP_MILLIS;
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, ".*.tmp")) {
            for (Path p : ds) {
                FileTime t = Files.getLastModifiedTime(p);
                if (t.toMillis() < cutoff) Files.deleteIfExists(p);
            }
        } catch (IOException ignored) {
            // left-overs only cost space
        }
    }

    /** The SHA-256 of a file, lower-case hex. */
    static String hashOf(Path file) throws IOException {
        MessageDigest md = sha256();
        byte[] buf = new byte[1 << 16];
        try (InputStream in = Files.newInputStream(file)) {
            for (int n; (n = in.read(buf)) > 0; ) md.update(buf, 0, n);
        }
        return hex(md.digest());
    }

    private static java.net.URL resourceUrl(String name) {
        ClassLoader cl = NativeBundle.class.getClassLoader();
        return cl != null ? cl.getResource(name) : ClassLoader.getSystemResource(name);
    }

    private static InputStream resource(String name) {
        ClassLoader cl = NativeBundle.class.getClassLoader();
        return cl != null ? cl.getResourceAsStream(name) : ClassLoader.getSystemResourceAsStream(name);
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JDK", e);
        }
    }

    private static String hex(byte[] b) {
        return HexFormat.of().formatHex(b);
    }
}
