package io.panlora.train;

import io.panlora.data.Batch;
import io.panlora.data.BatchIterator;
import io.panlora.data.Dataset;
import io.panlora.data.Position;
import java.util.ArrayList;
import java.util.List;

/**
 * A {@link BatchSource} over a dataset's training windows, epoch after epoch, each epoch shuffled by {@code (seed, epoch)}
 * (an epoch's last batch is filled up with padding rows rather than taken from the next epoch). The position is
 * {@code {epoch, index}}: the epoch number and the index of the next window within that epoch's order. Not thread-safe.
 */
public final class DatasetBatches implements BatchSource {
    private final BatchIterator it;

    /**
     * Starts at epoch 0, window 0.
     *
     * @param ds    the dataset whose training windows are batched
     * @param batch sequences (rows) per batch, at least 1
     * @param seed  the shuffle seed; the same seed and data give the same batches
     * @throws IllegalArgumentException if {@code batch < 1} or the dataset has no training windows
     */
    public DatasetBatches(Dataset ds, int batch, long seed) {
        this.it = ds.batches(batch, seed, true);
    }

    @Override
    public Batch next() {
        io.panlora.data.Batch b = it.next();
        return new Batch(b.inputs(), b.targets());
    }

    @Override
    public long[] position() {
        Position p = it.position();
        return new long[] {p.epoch(), p.index()};
    }

    @Override
    public void seek(long[] position) {
        if (position.length != 2) throw new IllegalArgumentException("bad data position " + java.util.Arrays.toString(position));
        it.seek(new Position((int) position[0], (int) position[1]));
    }

    /**
     * The number of batches one epoch takes (the training windows divided by the batch size, rounded up).
     *
     * @return batches per epoch, at least 1
     */
    public int batchesPerEpoch() {
        return it.batchesPerEpoch();
    }

    /**
     * Reads a whole file (plain text or JSONL, read once) as evaluation batches: every window of {@code ctx} input tokens, in
     * file order, not shuffled (one JSONL record per window, not packed; the last batch padded with untrained rows). Nothing
     * is held out: the whole file is the evaluation set.
     *
     * @param file       the data file; {@code .jsonl} files are read as records, anything else as one text
     * @param tok        the tokenizer (its EOS id pads the windows)
     * @param ro         how to read JSONL records (chat template, bad lines, special tokens)
     * @param ctx        input tokens per window, at least 1
     * @param batch      windows per batch, at least 1
     * @param maxBatches the most batches to return; {@code <= 0} for all of them
     * @return the batches, in order (not empty)
     * @throws java.io.IOException if the file cannot be read, or is not valid data (a
     *                             {@link io.panlora.data.DataFormatException})
     * @throws IllegalArgumentException if the file yields no window or an argument is out of range
     */
    public static List<BatchSource.Batch> evaluationSet(java.nio.file.Path file, io.panlora.tokenizer.Tokenizer tok,
                                                        io.panlora.data.ReadOptions ro, int ctx, int batch, int maxBatches)
            throws java.io.IOException {
        io.panlora.data.TrainingData td = io.panlora.data.DataReader.read(file, tok, ro);
        Dataset ds = Dataset.of(td, td, new io.panlora.data.Packer(ctx, false, io.panlora.data.Packer.padIdFor(tok)), 0, 0);
        return validation(ds, batch, maxBatches);
    }

    /**
     * The dataset's validation windows as batches, in order (the last batch padded with untrained rows).
     *
     * @param ds         the dataset
     * @param batch      windows per batch, at least 1
     * @param maxBatches the most batches to return (the first ones); {@code <= 0} for all of them
     * @return the batches; empty if the dataset has no validation windows
     * @throws IllegalArgumentException if {@code batch < 1}
     */
    public static List<BatchSource.Batch> validation(Dataset ds, int batch, int maxBatches) {
        List<BatchSource.Batch> out = new ArrayList<>();
        for (io.panlora.data.Batch b : ds.validationBatches(batch)) {
            if (maxBatches > 0 && out.size() >= maxBatches) break;
            out.add(new BatchSource.Batch(b.inputs(), b.targets()));
        }
        return out;
    }
}
