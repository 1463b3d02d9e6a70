package io.panlora.data;

import java.nio.file.Path;
import java.util.List;

/**
 * The examples read from one file, as {@link DataReader} returns them; {@link Packer#pack} cuts them
 * into windows. Immutable (the lists are copied; the examples' arrays are shared).
 *
 * @param source          the file (or a descriptive name for data made in memory)
 * @param layout          how the examples become windows
 * @param examples        the examples, in file order
 * @param badLines        how many lines were skipped as malformed (only with skipBadLines)
 * @param badLineReports  the messages of the first few skipped lines ("file:line: problem"), at most
 *                        {@link ReadOptions#reportedBadLines()} of them
 */
public record TrainingData(Path source, Layout layout, List<Example> examples, int badLines, List<String> badLineReports) {

    /** How examples are cut into training windows. */
    public enum Layout {
        /** Continuous text: each example's token stream is cut into consecutive windows. */
        TOKEN_STREAM,
        /** Separate records: one example per window (truncated), or several packed together. */
        EXAMPLES
    }

    /**
     * Copies the lists into unmodifiable ones.
     *
     * @throws NullPointerException if a list or any of its elements is null
     */
    public TrainingData {
        examples = List.copyOf(examples);
        badLineReports = List.copyOf(badLineReports);
    }

    /**
     * Data with no bad lines, e.g. examples made in memory (source may then be a descriptive name).
     *
     * @param source   the file or a name for the data
     * @param layout   how the examples become windows
     * @param examples the examples, in order; not null
     * @return the data, with {@code badLines} 0 and no reports
     */
    public static TrainingData of(Path source, Layout layout, List<Example> examples) {
        return new TrainingData(source, layout, examples, 0, List.of());
    }

    /**
     * The total number of tokens, before packing or truncation.
     *
     * @return the sum of the examples' lengths
     */
    public long tokenCount() {
        long n = 0;
        for (Example e : examples) n += e.length();
        return n;
    }

    /**
     * The total number of target tokens, before packing or truncation.
     *
     * @return the sum of the examples' target counts
     */
    public long targetCount() {
        long n = 0;
        for (Example e : examples) n += e.targetCount();
        return n;
    }
}
