package io.panlora.spark;

import java.io.IOException;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Objects;

/**
 * The data of one training task: its training part and its validation part, as the bytes of two files of one format. The
 * driver makes shards ({@link Sharding}) and ships each to its task inside the task, so the data need not be on storage the
 * executors share; only the base model must be.
 *
 * @param name       a short name for tables and file names ({@code shard-0}, or a named dataset's file name)
 * @param extension  the files' extension: {@code .jsonl} for JSONL records, {@code .txt} for plain text
 * @param train      the training part, UTF-8; not empty
 * @param validation the validation part, UTF-8; may be empty (no validation)
 * @param units      how many units (JSONL records, paragraphs or lines) the training part holds
 */
public record Shard(String name, String extension, byte[] train, byte[] validation, int units) implements Serializable {
    private static final long serialVersionUID = 1L;

    /**
     * Checks the parts.
     *
     * @throws IllegalArgumentException if the training part is empty or the extension is neither {@code .jsonl} nor
     *                                  {@code .txt}
     */
    public Shard {
        Objects.requireNonNull(name, "name");
        if (!extension.equals(".jsonl") && !extension.equals(".txt"))
            throw new IllegalArgumentException("a shard is .jsonl or .txt, not " + extension);
        if (train.length == 0 || units < 1) throw new IllegalArgumentException(name + ": the shard has no training data");
    }

    /**
     * Whether the shard has validation data.
     *
     * @return true when the validation part is not empty
     */
    public boolean hasValidation() {
        return validation.length > 0;
    }

    /**
     * Writes the training part as {@code <dir>/<name>.train<ext>}.
     *
     * @param dir an existing directory
     * @return the file written
     * @throws IOException if it cannot be written
     */
    public Path writeTrain(Path dir) throws IOException {
        return Files.write(dir.resolve(name + ".train" + extension), train);
    }

    /**
     * Writes the validation part as {@code <dir>/<name>.val<ext>}.
     *
     * @param dir an existing directory
     * @return the file written, or null when the shard has no validation data
     * @throws IOException if it cannot be written
     */
    public Path writeValidation(Path dir) throws IOException {
        return hasValidation() ? Files.write(dir.resolve(name + ".val" + extension), validation) : null;
    }

    /**
     * Returns the validation part as text.
     *
     * @return the validation part decoded as UTF-8
     */
    public String validationText() {
        return new String(validation, StandardCharsets.UTF_8);
    }

    /**
     * The same data under another name.
     *
     * @param newName the name
     * @return a new shard
     */
    public Shard renamed(String newName) {
        return new Shard(newName, extension, train, validation, units);
    }

    @Override
    public String toString() {
        return name + " (" + units + " units, " + train.length + " + " + validation.length + " bytes)";
    }
}
