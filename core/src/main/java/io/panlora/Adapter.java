package io.panlora;

import io.panlora.lora.AdapterGguf;
import io.panlora.train.LoraRun;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Objects;
import java.util.Optional;

/**
 * A LoRA adapter as a GGUF file (llama.cpp's adapter format: loads with {@code llama-cli --lora}), trained by
 * {@link LoraTraining#train}, made by {@link Merge} or {@link Prune}, or an existing file opened with
 * {@link Panlora#adapter(Path)}. The object only names the file; the file is read whenever the adapter is used, so it must stay
 * where it is.
 */
public final class Adapter {
    private final Path file;
    private final LoraRun.Summary training;

    Adapter(Path file, LoraRun.Summary training) {
        this.file = file;
        this.training = training;
    }

    /**
     * Returns the adapter's GGUF file.
     *
     * @return the adapter's GGUF file
     */
    public Path file() {
        return file;
    }

    /**
     * What the training run that made this adapter reported: steps, first and last training loss, validation loss before and
     * after, whether it was cancelled, the metrics file. Empty for an adapter that was opened, merged or pruned.
     *
     * @return the run's summary, if this adapter was trained here
     */
    public Optional<LoraRun.Summary> training() {
        return Optional.ofNullable(training);
    }

    /**
     * Returns the tensor types in the file, e.g. {@code F16} or {@code Q8_0 (12 tensors F32: rows not a multiple of 32)}.
     *
     * @return the tensor types in the file, e.g. {@code F16} or {@code Q8_0 (12 tensors F32: rows not a multiple of 32)}
     * @throws UncheckedIOException if the file cannot be read
     */
    public String types() {
        try {
            return AdapterGguf.typeSummary(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Returns the size of the file in bytes.
     *
     * @return the size of the file in bytes
     */
    public long bytes() {
        try {
            return Files.size(file);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * This adapter at a scale, for generation, evaluation and merged export with several adapters. The scale multiplies the
     * adapter's own alpha/rank, as llama.cpp's {@code --lora-scaled FILE SCALE} does.
     *
     * @param scale the multiplier; 1 applies the adapter as trained, 0 turns it off
     * @return the adapter with the scale
     */
    public Scaled scaled(double scale) {
        return new Scaled(this, scale);
    }

    /**
     * An adapter and the scale it is applied at.
     *
     * @param adapter the adapter
     * @param scale   the multiplier of the adapter's own alpha/rank; finite
     */
    public record Scaled(Adapter adapter, double scale) {
        /** Checks the adapter is given and the scale finite. */
        public Scaled {
            Objects.requireNonNull(adapter, "adapter");
            if (!Double.isFinite(scale)) throw new IllegalArgumentException("adapter scale must be finite, got " + scale);
        }
    }

    @Override
    public String toString() {
        return file.toString();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Adapter a && a.file.equals(file);
    }

    @Override
    public int hashCode() {
        return Objects.hash(file);
    }
}
