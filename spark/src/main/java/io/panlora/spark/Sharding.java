package io.panlora.spark;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * Cuts data into shards, deterministically: the same file, shard count, mode and validation fraction always give the same
 * bytes (so a retried task trains on exactly what its checkpoint was made from). The unit of cutting is a JSONL record (a
 * non-blank line of a {@code .jsonl} file, or of a file whose first non-blank line is a JSON object), else a paragraph of
 * plain text (lines up to a blank line), or a line when the text has too few paragraphs. Each shard keeps the tail of its
 * units (a {@code validationFraction} share, at least one unit when the share is above 0) for validation. Static methods only.
 */
public final class Sharding {
    private Sharding() {}

    /** How units are dealt to shards. */
    public enum Mode {
        /** Shard i takes the i-th contiguous run of units: different parts of the data, as different sites would hold. */
        CONTIGUOUS,
        /** Unit j goes to shard j mod K: every shard samples the whole data. */
        INTERLEAVED;

        /**
         * Reads a mode name, case-insensitive.
         *
         * @param s {@code contiguous} or {@code interleaved}
         * @return the mode
         * @throws IllegalArgumentException for any other name
         */
        public static Mode parse(String s) {
            try {
                return valueOf(s.trim().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("unknown split '" + s + "' (contiguous, interleaved)");
            }
        }
    }

    /**
     * A file's units and how they are joined again.
     *
     * @param units     the units, in file order, without separators
     * @param separator what joins two units in a shard file ({@code "\n"} or {@code "\n\n"})
     * @param extension {@code .jsonl} or {@code .txt}
     */
    record Units(List<String> units, String separator, String extension) {}

    /**
     * Splits one data file into {@code k} shards.
     *
     * @param data               the data file (plain text or JSONL)
     * @param k                  the number of shards, at least 1
     * @param mode               how units are dealt
     * @param validationFraction the share of each shard's units kept for validation, in [0, 0.9]
     * @return the shards {@code shard-0 … shard-(k−1)}
     * @throws IOException              if the file cannot be read
     * @throws IllegalArgumentException if {@code k < 1}, the fraction is out of range, or a shard would have no training unit
     */
    public static List<Shard> split(Path data, int k, Mode mode, double validationFraction) throws IOException {
        if (k < 1) throw new IllegalArgumentException("--shards must be at least 1, got " + k);
        checkFraction(validationFraction);
        Units u = units(data, validationFraction > 0 ? 2 * k : k);
        int n = u.units().size();
        List<Shard> out = new ArrayList<>(k);
        for (int i = 0; i < k; i++) {
            List<String> mine = new ArrayList<>();
            if (mode == Mode.CONTIGUOUS) mine.addAll(u.units().subList((int) ((long) i * n / k), (int) ((long) (i + 1) * n / k)));
            else for (int j = i; j < n; j += k) mine.add(u.units().get(j));
            if (mine.isEmpty() || validationFraction > 0 && mine.size() < 2)
                throw new IllegalArgumentException(data + ": shard " + i + " would be empty: " + n + " units (" + unitName(u)
                        + ") for " + k + " shards" + (validationFraction > 0 ? ", each keeping one for validation" : ""));
            out.add(shard("shard-" + i, mine, u, validationFraction, data));
        }
        return out;
    }

    /**
     * One shard per named dataset: each file's tail (its validation fraction) is its validation part.
     *
     * @param files              the datasets, at least one
     * @param validationFraction the share of each file's units kept for validation, in [0, 0.9]
     * @return one shard per file, named after the file (without extension; made unique with a suffix)
     * @throws IOException              if a file cannot be read
     * @throws IllegalArgumentException if no file is given, the fraction is out of range, or a file has no training unit
     */
    public static List<Shard> named(List<Path> files, double validationFraction) throws IOException {
        if (files.isEmpty()) throw new IllegalArgumentException("give at least one dataset");
        checkFraction(validationFraction);
        List<Shard> out = new ArrayList<>();
        Set<String> names = new HashSet<>();
        for (Path f : files) {
            Units u = units(f, validationFraction > 0 ? 2 : 1);
            if (validationFraction > 0 && u.units().size() < 2)
                throw new IllegalArgumentException(f + ": one unit of data cannot be both trained on and validated on");
            String name = f.getFileName().toString().replaceFirst("\\.[^.]*$", "").replaceAll("[^A-Za-z0-9_.-]", "_");
            String unique = name;
            for (int i = 2; !names.add(unique); i++) unique = name + "-" + i;
            out.add(shard(unique, u.units(), u, validationFraction, f));
        }
        return out;
    }

    /**
     * The whole data as one shard (for sweeps): validation from a separate file, or the tail of the data.
     *
     * @param data               the training data
     * @param validation         a validation file of the same format, or null to keep the tail of {@code data}
     * @param validationFraction without a validation file: the share of units kept for validation, in [0, 0.9]
     * @return the shard, named {@code data}
     * @throws IOException              if a file cannot be read
     * @throws IllegalArgumentException if the fraction is out of range, nothing is left to train on, or the validation file is
     *                                  empty or of another format than the data
     */
    public static Shard whole(Path data, Path validation, double validationFraction) throws IOException {
        if (validation == null) return named(List.of(data), validationFraction).getFirst().renamed("data");
        Units u = units(data, 1), v = units(validation, 1);
        if (!v.extension().equals(u.extension()))
            throw new IllegalArgumentException(validation + ": the validation file is " + (v.extension().equals(".jsonl") ? "JSONL" : "plain text")
                    + ", the data is not");
        return new Shard("data", u.extension(), join(u.units(), u.separator()), Files.readAllBytes(validation), u.units().size());
    }

    /** The units of a file: JSONL records, else paragraphs, else (fewer than {@code wanted} paragraphs) lines. */
    static Units units(Path file, int wanted) throws IOException {
        String text = Files.readString(file, StandardCharsets.UTF_8).replace("\r\n", "\n");
        List<String> lines = text.lines().filter(l -> !l.isBlank()).toList();
        if (lines.isEmpty()) throw new IllegalArgumentException(file + ": the file holds no data");
        boolean jsonl = file.getFileName().toString().endsWith(".jsonl") || lines.getFirst().stripLeading().startsWith("{");
        if (jsonl) return new Units(lines, "\n", ".jsonl");
        List<String> paragraphs = new ArrayList<>();
        for (String p : text.split("\n[ \t]*\n"))
            if (!p.isBlank()) paragraphs.add(p.strip());
        return paragraphs.size() >= wanted ? new Units(paragraphs, "\n\n", ".txt") : new Units(lines, "\n", ".txt");
    }

    private static Shard shard(String name, List<String> mine, Units u, double validationFraction, Path source) {
        int v = validationFraction > 0 ? Math.max(1, (int) Math.round(validationFraction * mine.size())) : 0;
        if (v >= mine.size()) v = mine.size() - 1;
        if (mine.size() - v < 1) throw new IllegalArgumentException(source + ": " + name + " has no unit to train on");
        List<String> train = mine.subList(0, mine.size() - v), val = mine.subList(mine.size() - v, mine.size());
        return new Shard(name, u.extension(), join(train, u.separator()), join(val, u.separator()), train.size());
    }

    private static byte[] join(List<String> units, String separator) {
        return units.isEmpty() ? new byte[0] : (String.join(separator, units) + "\n").getBytes(StandardCharsets.UTF_8);
    }

    private static String unitName(Units u) {
        return u.extension().equals(".jsonl") ? "JSONL records" : u.separator().length() == 2 ? "paragraphs" : "lines";
    }

    private static void checkFraction(double f) {
        if (!(f >= 0 && f <= 0.9)) throw new IllegalArgumentException("--val-fraction must be in [0, 0.9], got " + f);
    }
}
