package io.panlora;

import io.panlora.data.TrainingData;
import io.panlora.gguf.GgmlType;
import io.panlora.train.FullRun;
import io.panlora.train.StepEngine;
import io.panlora.train.TrainConfig;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Objects;

/**
 * A full-parameter fine-tune of a {@link Panlora} base: every matrix and norm trains in F32 (the base must be F32, F16 or
 * BF16), and the result is a complete GGUF model. The settings are {@link Training}'s; the base file is read again for
 * trainable F32 copies of its weights, so the run needs about four times the F32 model size in memory (weights, gradients,
 * two AdamW moments).
 */
public final class FullTraining extends Training<FullTraining> {
    private GgmlType exportType;

    FullTraining(Panlora base) {
        super(base);
    }

    /**
     * Sets the weight type of the written model: F32, F16 or BF16; null (the default) keeps each tensor's base type.
     *
     * @param t the weight type of the written model: F32, F16 or BF16; null (the default) keeps each tensor's base type
     * @return this training
     */
    public FullTraining exportType(GgmlType t) {
        if (t != null && !FullRun.BASE_TYPES.contains(t)) throw new IllegalArgumentException("the model is exported as F32, F16 or BF16, not " + t);
        exportType = t;
        return this;
    }

    /**
     * Trains and writes the run into {@code outDir}: {@code model.gguf} (the fine-tuned model, loadable by llama.cpp),
     * {@code checkpoint.gguf}, {@code metrics.jsonl} and {@code loss.svg}.
     *
     * @param data   the training data
     * @param outDir the run directory
     * @return the run's summary, its {@code model()} the written model
     * @throws IllegalArgumentException if the base is quantized, or the data is malformed or too short
     * @throws UncheckedIOException     if a file cannot be read or written
     */
    public FullRun.Summary train(Data data, Path outDir) {
        Objects.requireNonNull(data, "data");
        requireOutput(outDir);
        try {
            FullRun.checkBase(base.file());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        TrainConfig c = config().mode(StepEngine.Mode.FULL).build();
        TrainingData train = base.read(data);
        TrainingData val = validation == null ? null : base.read(validation);
        FullRun.Options o = new FullRun.Options(base.file(), null, null, validationShare(), c, epochs, null, exportType, outDir, resume, null,
                base.engine().loadOptions(), onDivergence, listener);
        try {
            return FullRun.run(o, train, val);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
