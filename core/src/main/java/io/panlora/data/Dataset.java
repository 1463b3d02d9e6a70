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
 *   <li>separate examples: {@code round(fraction * n)} examples (at least 1 and at most {@code n - 1} when
 *       {@code n >= 2} and {@code fraction > 0}; none when {@code n < 2}), namely the first ones of a seeded
 *       shuffle of the example indices; both sets keep file order and are packed separately, so no window
 *       mixes them;</li>
 *   <li>a token stream: the last {@code round(fraction * windows)} windows (same bounds), a
 *       contiguous tail, so validation text does not interleave with training text.</li>
 * </ul>
 * The split depends only on the data, the packer and the seed.
 *
 * <p>A dataset is immutable once built; its window sets may be read from several threads (but see
 * {@link Windows#fingerprint()}), while each {@link BatchIterator} it hands out belongs to one thread.
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
     * @param trainData          the training data; not null
     * @param validationData     a separate validation set, or null to split off {@code validationFraction}
     * @param packer             how examples become windows (context length, packing, pad id); not null
     * @param validationFraction in [0, 1): the share held out when validationData is null (checked even when
     *                           it is not used); 0 holds out nothing
     * @param seed               chooses which examples are held out (separate examples only; a token stream
     *                           always holds out its tail)
     * @return the training and validation windows
     * @throws IllegalArgumentException if the fraction is outside [0, 1) or NaN, or no training window remains
     *                                  (e.g. every example lost its targets to truncation)
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
     *
     * @param trainFile          the training file (JSONL or plain text, see {@link DataReader}); not null
     * @param validationFile     a separate validation file, or null to split validation off the training data
     * @param tokenizer          the model's tokenizer
     * @param options            how to read JSONL files (used for both files)
     * @param packer             how examples become windows
     * @param validationFraction in [0, 1): the share held out when {@code validationFile} is null
     * @param seed               chooses the held-out examples (see {@link #of})
     * @return the training and validation windows
     * @throws DataFormatException if either file has malformed content or nothing to train on
     * @throws IOException if a file is missing, is a directory or cannot be read
     * @throws IllegalArgumentException as {@link #of}, or if chat records need a template and the model's is
     *                                  not recognized
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

    /**
     * The data read from the training file, before the validation split.
     *
     * @return all training examples, with the bad-line counts of the read
     */
    public TrainingData trainData() {
        return trainData;
    }

    /**
     * The data read from the separate validation file.
     *
     * @return the validation data, or null when validation was split off the training data
     */
    public TrainingData validationData() {
        return validationData;
    }

    /**
     * The training windows, the held-out part removed.
     *
     * @return at least one window
     */
    public Windows train() {
        return train;
    }

    /**
     * The validation windows.
     *
     * @return the windows of the validation file or of the held-out part; possibly none
     */
    public Windows validation() {
        return validation;
    }

    /**
     * An endless iterator of training batches, shuffled per epoch if asked; each call makes a new iterator
     * at {@link Position#START}.
     *
     * @param batchSize rows per batch, {@code >= 1}
     * @param seed      the base seed of the per-epoch shuffles
     * @param shuffle   whether each epoch visits the windows in a seeded random order
     * @return a new iterator over {@link #train()}
     * @throws IllegalArgumentException if {@code batchSize < 1}
     */
    public BatchIterator batches(int batchSize, long seed, boolean shuffle) {
        return new BatchIterator(train, batchSize, seed, shuffle);
    }

    /**
     * One pass over the validation windows in order, the last batch padded; empty if there are none.
     * Each {@code iterator()} call starts a new pass.
     *
     * @param batchSize rows per batch, {@code >= 1}
     * @return the validation batches, {@code ceil(validation windows / batchSize)} of them
     * @throws IllegalArgumentException if {@code batchSize < 1}
     */
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
