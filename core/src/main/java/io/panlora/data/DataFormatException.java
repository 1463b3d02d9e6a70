package io.panlora.data;

import java.io.IOException;
import java.nio.file.Path;

/**
 * Training data that cannot be used; the message names the file and, where known, the line, as
 * {@code "file:line: problem"} or {@code "file: problem"}. Thrown by {@link DataReader} for malformed
 * JSONL lines, invalid UTF-8, empty files and files that leave nothing to train on.
 */
public final class DataFormatException extends IOException {
    /** The file the problem is in. */
    private final Path file;
    /** The 1-based line of the problem, or {@code <= 0} for the file as a whole. */
    private final long line;

    /**
     * A problem at a 1-based line of a file ({@code line <= 0}: the file as a whole).
     *
     * @param file    the data file; used in the message
     * @param line    the 1-based line number, or 0 (any value {@code <= 0}) when the problem concerns the
     *                whole file
     * @param problem what is wrong, without the file name or line
     */
    public DataFormatException(Path file, long line, String problem) {
        super(line > 0 ? file + ":" + line + ": " + problem : file + ": " + problem);
        this.file = file;
        this.line = line;
    }

    /**
     * The file the problem is in.
     *
     * @return the file given to the constructor
     */
    public Path file() {
        return file;
    }

    /**
     * Where in the file the problem is.
     *
     * @return the 1-based line, or the value {@code <= 0} (normally 0) given when the problem concerns the
     *         whole file
     */
    public long line() {
        return line;
    }
}
