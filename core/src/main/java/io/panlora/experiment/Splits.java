package io.panlora.experiment;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Fixed train / validation / test splits of a plain-text corpus, independent of any seed: the text (optionally cut to
 * its first {@code maxChars} characters, at a paragraph boundary) is cut into paragraphs at blank lines, consecutive
 * paragraphs are grouped into blocks of at least {@code blockChars} characters, and block {@code k} goes to validation
 * when {@code k mod 10 = 8}, to test when {@code k mod 10 = 9}, and to training otherwise (80 / 10 / 10 by blocks, spread
 * over the whole text).
 *
 * @param train      the training text
 * @param validation the validation text (learning-rate selection)
 * @param test       the test text (the reported numbers)
 */
public record Splits(String train, String validation, String test) {
    /**
     * Checks that every part is present.
     *
     * @throws IllegalArgumentException if a part is empty
     * @throws NullPointerException if a part is null
     */
    public Splits {
        if (train.isEmpty() || validation.isEmpty() || test.isEmpty())
            throw new IllegalArgumentException("a split is empty (train " + train.length() + ", validation " + validation.length()
                    + ", test " + test.length() + " characters): give a longer text or smaller blocks");
    }

    /**
     * Splits a text as the class comment says.
     *
     * @param text       the corpus
     * @param maxChars   use only the text's first this many characters (cut at the last paragraph break before), or
     *                   {@code <= 0} for all of it
     * @param blockChars the least characters of a block, at least 1
     * @return the splits
     * @throws IllegalArgumentException if {@code blockChars < 1} or a split comes out empty (fewer than 10 blocks)
     */
    public static Splits of(String text, int maxChars, int blockChars) {
        if (blockChars < 1) throw new IllegalArgumentException("blockChars must be at least 1, got " + blockChars);
        String t = text.replace("\r\n", "\n");
        if (maxChars > 0 && t.length() > maxChars) {
            int cut = t.lastIndexOf("\n\n", maxChars);
            t = t.substring(0, cut > 0 ? cut : maxChars);
        }
        List<String> blocks = new ArrayList<>();
        StringBuilder cur = new StringBuilder();
        for (String para : t.split("\n\\s*\n")) {
            if (para.isBlank()) continue;
            if (!cur.isEmpty()) cur.append("\n\n");
            cur.append(para.strip());
            if (cur.length() >= blockChars) { blocks.add(cur.toString()); cur.setLength(0); }
        }
        if (!cur.isEmpty()) blocks.add(cur.toString());
        StringBuilder tr = new StringBuilder(), va = new StringBuilder(), te = new StringBuilder();
        for (int k = 0; k < blocks.size(); k++) {
            StringBuilder to = k % 10 == 8 ? va : k % 10 == 9 ? te : tr;
            to.append(blocks.get(k)).append("\n\n");
        }
        return new Splits(tr.toString(), va.toString(), te.toString());
    }

    /**
     * Reads a text file and splits it (see {@link #of(String, int, int)}).
     *
     * @param file       a plain-text file (UTF-8)
     * @param maxChars   the most characters used from its start, or {@code <= 0} for all
     * @param blockChars the least characters of a block
     * @return the splits
     * @throws IOException if the file cannot be read
     */
    public static Splits read(Path file, int maxChars, int blockChars) throws IOException {
        return of(Files.readString(file), maxChars, blockChars);
    }

    /**
     * Writes the three parts as {@code train.txt}, {@code validation.txt} and {@code test.txt}.
     *
     * @param dir the directory, created if missing
     * @return the three files: train, validation, test
     * @throws IOException if a file cannot be written
     */
    public List<Path> write(Path dir) throws IOException {
        Files.createDirectories(dir);
        Path a = dir.resolve("train.txt"), b = dir.resolve("validation.txt"), c = dir.resolve("test.txt");
        Files.writeString(a, train);
        Files.writeString(b, validation);
        Files.writeString(c, test);
        return List.of(a, b, c);
    }
}
