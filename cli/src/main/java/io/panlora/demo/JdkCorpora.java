package io.panlora.demo;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

/**
 * Two real text corpora that every machine with a JDK has, so the demo needs no network and no data files:
 * the JDK's tool manuals (English technical prose, troff markup stripped) for pretraining the base, and the
 * JDK's legal notices (licence texts, deduplicated) as a different domain to fine-tune towards.
 */
public final class JdkCorpora {
    private JdkCorpora() {}

    /** ../shared/data beside the checkout (from panlora.home or the working directory), or null when absent. */
    public static Path sharedData() {
        Path start = Path.of(System.getProperty("panlora.home", "")).toAbsolutePath();
        for (Path p = start; p != null; p = p.getParent()) {
            Path d = p.resolveSibling("shared").resolve("data");
            if (Files.exists(p.resolve("native/include/panlora.h")) && Files.isDirectory(d)) return d;
        }
        return null;
    }

    /** The running JDK's home. */
    public static Path javaHome() {
        return Path.of(System.getProperty("java.home"));
    }

    /** The manuals as plain text; falls back to the javadoc comments of src.zip's java.base/java/util when absent. */
    public static String manuals(Path home) throws IOException {
        StringBuilder sb = new StringBuilder();
        Path man = home.resolve("man").resolve("man1");
        if (Files.isDirectory(man)) {
            try (Stream<Path> s = Files.list(man)) {
                for (Path p : s.filter(f -> f.toString().endsWith(".1")).sorted().toList())
                    sb.append(stripTroff(Files.readString(p, StandardCharsets.UTF_8))).append("\n\n");
            }
        }
        if (sb.length() < 200_000) sb.append(javadocProse(home.resolve("lib").resolve("src.zip"), 600_000));
        if (sb.length() < 100_000)
            throw new IOException("the JDK at " + home + " has neither man pages nor lib/src.zip to pretrain the demo's base model on");
        return sb.toString();
    }

    /** The legal notices, each distinct text once, in path order. */
    public static String legal(Path home) throws IOException {
        Path dir = home.resolve("legal");
        if (!Files.isDirectory(dir)) throw new IOException("the JDK at " + home + " has no legal/ directory to fine-tune the demo on");
        List<Path> files;
        try (Stream<Path> s = Files.walk(dir)) {
            files = s.filter(Files::isRegularFile).sorted().toList();
        }
        Set<String> seen = new HashSet<>();
        StringBuilder sb = new StringBuilder();
        for (Path p : files) {
            byte[] b = Files.readAllBytes(p);
            if (!seen.add(sha256(b))) continue;
            sb.append(new String(b, StandardCharsets.UTF_8).replace("\r\n", "\n")).append("\n\n");
        }
        return sb.toString();
    }

    /** Troff (man) markup to plain text: requests dropped, font escapes removed, common escapes decoded. */
    static String stripTroff(String s) {
        StringBuilder out = new StringBuilder();
        for (String line : s.split("\n")) {
            if (line.startsWith(".") || line.startsWith("'")) {
                if (line.startsWith(".SH") || line.startsWith(".SS")) out.append('\n').append(unescape(line.substring(3).trim().replace("\"", ""))).append('\n');
                else if (line.startsWith(".PP") || line.startsWith(".TP") || line.startsWith(".IP")) out.append('\n');
                continue;
            }
            String t = unescape(line);
            if (t.equals("T{") || t.startsWith("T}")) continue; // tbl cell delimiters
            out.append(t.replace("T{", "").replace("T}", "")).append('\n');
        }
        return out.toString().replaceAll("\n{3,}", "\n\n");
    }

    /** Troff escapes of one line: fonts dropped, named characters decoded. */
    static String unescape(String line) {
        return line.replaceAll("\\\\f\\[[A-Z]*\\]|\\\\f[BIRPV]", "")
                .replace("\\(aq", "'").replace("\\(at", "@").replace("\\(em", "--").replace("\\(en", "-")
                .replace("\\(lq", "\"").replace("\\(rq", "\"").replace("\\(ti", "~").replace("\\(ha", "^").replace("\\(rs", "\\")
                .replace("\\[aq]", "'").replace("\\[at]", "@").replace("\\[em]", "--").replace("\\[en]", "-")
                .replace("\\[lq]", "\"").replace("\\[rq]", "\"").replace("\\[ti]", "~").replace("\\[ha]", "^").replace("\\[rs]", "\\")
                .replace("\\-", "-").replace("\\ ", " ").replace("\\&", "").replace("\\e", "\\")
                .replaceAll("\\\\\\([a-z]{2}|\\\\\\[[a-z]{2}\\]", "");
    }

    /** Javadoc comment text from java/util sources of src.zip, up to max characters. */
    static String javadocProse(Path srcZip, int max) throws IOException {
        if (!Files.isRegularFile(srcZip)) return "";
        StringBuilder sb = new StringBuilder();
        try (ZipFile z = new ZipFile(srcZip.toFile())) {
            List<ZipEntry> entries = new ArrayList<>();
            z.stream().filter(e -> e.getName().startsWith("java.base/java/util/") && e.getName().endsWith(".java")).forEach(entries::add);
            entries.sort((a, b) -> a.getName().compareTo(b.getName()));
            for (ZipEntry e : entries) {
                String src;
                try (InputStream in = z.getInputStream(e)) {
                    src = new String(in.readAllBytes(), StandardCharsets.UTF_8);
                }
                for (String line : src.split("\n")) {
                    String t = line.trim();
                    if (t.startsWith("* ") && !t.startsWith("* @") && !t.contains("Copyright")) sb.append(t.substring(2).replaceAll("<[^>]+>", "")).append('\n');
                }
                if (sb.length() > max) break;
            }
        }
        return sb.toString();
    }

    private static String sha256(byte[] b) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
