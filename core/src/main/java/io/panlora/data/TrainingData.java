package io.panlora.data;

import java.nio.file.Path;
import java.util.List;

/**
 * The examples read from one file.
 *
 * @param source          the file
 * @param layout          how the examples become windows
 * @param examples        the examples, in file order
 * @param badLines        how many lines were skipped as malformed (only with skipBadLines)
 * @param badLineReports  the messages of the first few skipped lines ("file:line: problem")
 */
public record TrainingData(Path source, Layout layout, List<Example> examples, int badLines, List<String> badLineReports) {

    /** How examples are cut into training windows. */
    public enum Layout {
        /** Continuous text: each example's token stream is cut into consecutive windows. */
        TOKEN_STREAM,
        /** Separate records: one example per window (truncated), or several packed together. */
        EXAMPLES
    }

    /** Copies the lists. */
    public TrainingData {
        examples = List.copyOf(examples);
        badLineReports = List.copyOf(badLineReports);
    }

    /** Examples read from memory rather than a file (source may be a descriptive name). */
    public static TrainingData of(Path source, Layout layout, List<Example> examples) {
        return new TrainingData(source, layout, examples, 0, List.of());
    }

    /** The total number of tokens. */
    public long tokenCount() {
        long n = 0;
        for (Example e : examples) n += e.length();
        return n;
    }

    /** The total number of target tokens. */
    public long targetCount() {
        long n = 0;
        for (Example e : examples) n += e.targetCount();
        return n;
    }
}
