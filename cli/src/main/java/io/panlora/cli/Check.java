package io.panlora.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * Argument checks shared by the commands. Each runs before a model is loaded or anything is written, and each failure is one
 * sentence naming the flag (or the file) and the value.
 */
final class Check {
    /** The largest LoRA rank accepted (no target linear of a supported model is wider). */
    static final int MAX_RANK = 65536;
    /** The largest context (tokens per sequence) any command accepts; the memory plan bounds it further. */
    static final int MAX_CTX = 1 << 20;

    private Check() {}

    static IllegalArgumentException bad(String flag, Object value, String what) {
        return new IllegalArgumentException(flag + " " + value + ": " + what);
    }

    static float finite(String flag, float v) {
        if (!Float.isFinite(v)) throw bad(flag, v, "must be a finite number");
        return v;
    }

    static double finite(String flag, double v) {
        if (!Double.isFinite(v)) throw bad(flag, v, "must be a finite number");
        return v;
    }

    /** A finite number in [lo, hi]. */
    static double range(String flag, double v, double lo, double hi) {
        finite(flag, v);
        if (v < lo || v > hi) throw bad(flag, fmt(v), "must be between " + fmt(lo) + " and " + fmt(hi));
        return v;
    }

    /** A finite number above 0. */
    static double positive(String flag, double v) {
        finite(flag, v);
        if (!(v > 0)) throw bad(flag, fmt(v), "must be greater than 0");
        return v;
    }

    /** A finite number, 0 or more. */
    static double nonNegative(String flag, double v) {
        finite(flag, v);
        if (v < 0) throw bad(flag, fmt(v), "must be 0 or more");
        return v;
    }

    /** An integer in [lo, hi]. */
    static long range(String flag, long v, long lo, long hi) {
        if (v < lo || v > hi) throw bad(flag, v, "must be between " + lo + " and " + hi);
        return v;
    }

    /** One of the given names (case-insensitive); returns it upper-cased. */
    static String oneOf(String flag, String v, List<String> allowed) {
        String u = v == null ? "" : v.trim().toUpperCase(Locale.ROOT);
        for (String a : allowed) if (a.equalsIgnoreCase(u)) return a;
        throw bad(flag, "'" + v + "'", "must be one of " + String.join(", ", allowed));
    }

    /** A regular, readable input file. */
    static Path inputFile(String flag, Path p) {
        if (p == null) return null;
        if (Files.isDirectory(p)) throw bad(flag, p, "is a directory, not a file");
        if (!Files.exists(p)) throw bad(flag, p, "no such file");
        if (!Files.isReadable(p)) throw bad(flag, p, "cannot be read (permission denied)");
        return p;
    }

    /** An input directory that exists. */
    static Path inputDirectory(String flag, Path p) {
        if (p == null) return null;
        if (!Files.isDirectory(p)) throw bad(flag, p, Files.exists(p) ? "is not a directory" : "no such directory");
        return p;
    }

    /** An output file: not a directory, and its parent directory exists. Nothing is created. */
    static Path outputFile(String flag, Path p) {
        if (Files.isDirectory(p)) throw bad(flag, p, "is a directory; give a file name");
        if (Files.exists(p) && !Files.isRegularFile(p)) throw bad(flag, p, "exists and is not a regular file");
        Path parent = p.toAbsolutePath().getParent();
        if (parent != null && !Files.isDirectory(parent)) throw bad(flag, p, "its directory " + parent + " does not exist");
        return p;
    }

    /** An output directory: absent (to be created later) or a directory. Nothing is created. */
    static Path outputDirectory(String flag, Path p) {
        if (Files.exists(p) && !Files.isDirectory(p)) throw bad(flag, p, "exists and is not a directory");
        return p;
    }

    /** A model preset name. */
    static String preset(String flag, String name) {
        try {
            io.panlora.model.Presets.byName(name);
        } catch (IllegalArgumentException e) {
            throw bad(flag, name, e.getMessage());
        }
        return name;
    }

    /** LoRA targets (q,k,v,o,gate,up,down | attn | ffn | all). */
    static String targets(String flag, String spec) {
        try {
            io.panlora.lora.Target.parseList(spec);
        } catch (IllegalArgumentException e) {
            throw bad(flag, spec, e.getMessage());
        }
        return spec;
    }

    /**
     * A write failure under {@code where} (an output file or run directory) that does not name its file (a full disk reports
     * just "No space left on device"): the same failure with the path in front. Other failures are returned as they are.
     */
    static IOException naming(Path where, IOException e) {
        String m = e.getMessage();
        if (m == null || m.contains(where.toString()) || e instanceof java.nio.file.FileSystemException f && f.getFile() != null) return e;
        if (!m.matches("(?s).*(No space left on device|Disk quota exceeded|Read-only file system|File too large).*")) return e;
        return new IOException(where + ": " + m, e);
    }

    /**
     * A memory size: a number of bytes with an optional K, M, G or T suffix (powers of 1024, an optional trailing B), e.g. 8G,
     * 512M, 1.5G.
     */
    static long size(String flag, String s) {
        String t = s.trim().toUpperCase(Locale.ROOT);
        if (t.endsWith("IB")) t = t.substring(0, t.length() - 2);
        else if (t.endsWith("B")) t = t.substring(0, t.length() - 1);
        long unit = 1;
        if (!t.isEmpty()) {
            switch (t.charAt(t.length() - 1)) {
                case 'K' -> unit = 1L << 10;
                case 'M' -> unit = 1L << 20;
                case 'G' -> unit = 1L << 30;
                case 'T' -> unit = 1L << 40;
                default -> { }
            }
            if (unit > 1) t = t.substring(0, t.length() - 1);
        }
        double v;
        try {
            v = Double.parseDouble(t);
        } catch (NumberFormatException e) {
            throw bad(flag, "'" + s + "'", "is not a size (a number with K, M, G or T, e.g. 8G or 512M)");
        }
        if (!Double.isFinite(v) || v <= 0 || v * unit >= 0x1p62) throw bad(flag, "'" + s + "'", "must be a size above 0 and below 4 EiB");
        return (long) (v * unit);
    }

    static String fmt(double v) {
        return v == Math.rint(v) && Math.abs(v) < 1e15 ? Long.toString((long) v) : Double.toString(v);
    }

    /** Bytes as a short human figure: 1.5 GiB, 300 MiB. */
    static String bytes(double b) {
        if (b >= 1L << 40) return String.format(Locale.ROOT, "%.1f TiB", b / (1L << 40));
        if (b >= 1L << 30) return String.format(Locale.ROOT, "%.1f GiB", b / (1L << 30));
        if (b >= 1L << 20) return String.format(Locale.ROOT, "%.0f MiB", b / (1L << 20));
        return String.format(Locale.ROOT, "%.0f KiB", b / 1024);
    }
}
