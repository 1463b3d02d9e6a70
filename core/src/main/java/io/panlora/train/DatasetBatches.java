package io.panlora.train;

import io.panlora.data.Batch;
import io.panlora.data.BatchIterator;
import io.panlora.data.Dataset;
import io.panlora.data.Position;
import java.util.ArrayList;
import java.util.List;

/** A {@link BatchSource} over a dataset's shuffled epochs; the position is (epoch, index). */
public final class DatasetBatches implements BatchSource {
    private final BatchIterator it;

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

    /** Batches per epoch. */
    public int batchesPerEpoch() {
        return it.batchesPerEpoch();
    }

    /** A whole file (text or JSONL, read once) as evaluation batches of ctx-token windows (at most maxBatches; all when <= 0). */
    public static List<BatchSource.Batch> evaluationSet(java.nio.file.Path file, io.panlora.tokenizer.Tokenizer tok,
                                                        io.panlora.data.ReadOptions ro, int ctx, int batch, int maxBatches)
            throws java.io.IOException {
        io.panlora.data.TrainingData td = io.panlora.data.DataReader.read(file, tok, ro);
        Dataset ds = Dataset.of(td, td, new io.panlora.data.Packer(ctx, false, io.panlora.data.Packer.padIdFor(tok)), 0, 0);
        return validation(ds, batch, maxBatches);
    }

    /** The validation windows as batches (at most maxBatches; all when maxBatches <= 0). */
    public static List<BatchSource.Batch> validation(Dataset ds, int batch, int maxBatches) {
        List<BatchSource.Batch> out = new ArrayList<>();
        for (io.panlora.data.Batch b : ds.validationBatches(batch)) {
            if (maxBatches > 0 && out.size() >= maxBatches) break;
            out.add(new BatchSource.Batch(b.inputs(), b.targets()));
        }
        return out;
    }
}
