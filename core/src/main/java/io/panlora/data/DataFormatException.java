package io.panlora.data;

import java.io.IOException;
import java.nio.file.Path;

/** Training data that cannot be used; the message names the file and, where known, the line. */
public final class DataFormatException extends IOException {
    private final Path file;
    private final long line;

    /** A problem at a 1-based line of a file ({@code line <= 0}: the file as a whole). */
    public DataFormatException(Path file, long line, String problem) {
        super(line > 0 ? file + ":" + line + ": " + problem : file + ": " + problem);
        this.file = file;
        this.line = line;
    }

    /** The file the problem is in. */
    public Path file() {
        return file;
    }

    /** The 1-based line, or 0 when the problem concerns the whole file. */
    public long line() {
        return line;
    }
}
