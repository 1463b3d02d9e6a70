package io.panlora.data;

import io.panlora.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;

/**
 * Training and validation windows, split deterministically.
 *
 * <p>With a separate validation file, its windows are the validation set and nothing is split off.
 * Otherwise a fraction (default {@value #DEFAULT_VALIDATION_FRACTION}) is held out:
 * <ul>
 *   <li>separate examples: {@code round(fraction * n)} examples (at least 1 and at most n - 1 when
 *       n >= 2 and fraction > 0; none when n < 2), namely the first ones of a seeded shuffle of
 *       the example indices; both sets keep file order and are packed separately, so no window mixes them;</li>
 *   <li>a token stream: the last {@code round(fraction * windows)} windows (same bounds), a
 *       contiguous tail, so validation text does not interleave with training text.</li>
 * </ul>
 * The split depends only on the data, the packer and the seed.
 */
public final class Dataset {

    /** The share held out for validation when no validation file is given. */
    public static final double DEFAULT_VALIDATION_FRACTION = 0.05;

    /** The seed stream for the split, apart from the per-epoch shuffle streams (which are >= 0). */
    private static final long SPLIT_STREAM = -1;

    private final TrainingData trainData;
    private final TrainingData validationData;
    private final Windows train;
    private final Windows validation;

    private Dataset(TrainingData trainData, TrainingData validationData, Windows train, Windows validation) {
        this.trainData = trainData;
        this.validationData = validationData;
        this.train = train;
        this.validation = validation;
    }

    /**
     * Packs the data and splits off validation.
     *
     * @param validationData     a separate validation set, or null to split off {@code validationFraction}
     * @param validationFraction in [0, 1): the share held out when validationData is null
     * @throws IllegalArgumentException if no training window remains
     */
    public static Dataset of(TrainingData trainData, TrainingData validationData, Packer packer,
                             double validationFraction, long seed) {
        if (!(validationFraction >= 0 && validationFraction < 1)) {
            throw new IllegalArgumentException("validation fraction must be in [0, 1), got " + validationFraction);
        }
        Windows train;
        Windows validation;
        if (validationData != null) {
            train = packer.pack(trainData);
            validation = packer.pack(validationData);
        } else if (trainData.layout() == TrainingData.Layout.TOKEN_STREAM) {
            Windows all = packer.pack(trainData);
            int held = heldOut(all.size(), validationFraction);
            train = all.slice(0, all.size() - held);
            validation = all.slice(all.size() - held, all.size());
        } else {
            List<Example> examples = trainData.examples();
            int n = examples.size();
            int held = heldOut(n, validationFraction);
            int[] order = Shuffle.permutation(n, Shuffle.derive(seed, SPLIT_STREAM));
            int[] validationIndices = Arrays.copyOfRange(order, 0, held);
            Arrays.sort(validationIndices);
            boolean[] isValidation = new boolean[n];
            for (int i : validationIndices) isValidation[i] = true;
            List<Example> trainExamples = new ArrayList<>(n - held);
            List<Example> validationExamples = new ArrayList<>(held);
            for (int i = 0; i < n; i++) (isValidation[i] ? validationExamples : trainExamples).add(examples.get(i));
            train = packer.examples(trainExamples);
            validation = packer.examples(validationExamples);
        }
        if (train.size() == 0) {
            throw new IllegalArgumentException(trainData.source() + ": no training windows"
                    + (train.droppedExamples() > 0 ? " (" + train.droppedExamples() + " examples have no target within the first "
                    + (packer.contextLength() + 1) + " tokens)" : ""));
        }
        return new Dataset(trainData, validationData, train, validation);
    }

    /**
     * Reads the training file (and the validation file, if not null) and builds the dataset; every
     * file is read whole, so malformed data fails here, before training starts.
     */
    public static Dataset load(Path trainFile, Path validationFile, Tokenizer tokenizer, ReadOptions options, Packer packer,
                               double validationFraction, long seed) throws IOException {
        TrainingData train = DataReader.read(trainFile, tokenizer, options);
        TrainingData validation = validationFile == null ? null : DataReader.read(validationFile, tokenizer, options);
        return of(train, validation, packer, validationFraction, seed);
    }

    /** How many of n items a fraction holds out. */
    static int heldOut(int n, double fraction) {
        if (fraction <= 0 || n < 2) return 0;
        long k = Math.round(fraction * n);
        return Math.clamp(k, 1, n - 1);
    }

    /** The data read from the training file (its bad-line counts included). */
    public TrainingData trainData() {
        return trainData;
    }

    /** The data read from the separate validation file, or null when validation was split off. */
    public TrainingData validationData() {
        return validationData;
    }

    /** The training windows. */
    public Windows train() {
        return train;
    }

    /** The validation windows (possibly none). */
    public Windows validation() {
        return validation;
    }

    /** An endless iterator of training batches, shuffled per epoch if asked. */
    public BatchIterator batches(int batchSize, long seed, boolean shuffle) {
        return new BatchIterator(train, batchSize, seed, shuffle);
    }

    /** One pass over the validation windows in order, the last batch padded; empty if there are none. */
    public Iterable<Batch> validationBatches(int batchSize) {
        if (batchSize < 1) throw new IllegalArgumentException("batch size must be >= 1, got " + batchSize);
        if (validation.size() == 0) return List.of();
        return () -> new Iterator<>() {
            private final BatchIterator batches = new BatchIterator(validation, batchSize, 0, false);
            private int remaining = batches.batchesPerEpoch();

            @Override
            public boolean hasNext() {
                return remaining > 0;
            }

            @Override
            public Batch next() {
                if (remaining == 0) throw new NoSuchElementException();
                remaining--;
                return batches.next();
            }
        };
    }
}
