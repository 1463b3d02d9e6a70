package io.panlora;

import io.panlora.data.TrainingData;
import io.panlora.gguf.GgmlType;
import io.panlora.lora.Target;
import io.panlora.train.LoraRun;
import io.panlora.train.TrainConfig;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.Objects;

/**
 * A LoRA fine-tune of a {@link Panlora} base, configured fluently and run by {@link #train(Data, Path)}. Defaults are PEFT's
 * {@code LoraConfig}: rank 8, alpha 16, the attention projections q, k, v, o; plain LoRA; adapter written as F16. The
 * shared settings (learning rate, steps, batch, validation, listener…) are {@link Training}'s.
 */
public final class LoraTraining extends Training<LoraTraining> {
    private int rank = 8;
    private float alpha = 16;
    private boolean rsLora;
    private String targets = "q,k,v,o";
    private Variant variant = Variant.lora();
    private GgmlType adapterType = GgmlType.F16;
    private Adapter initAdapter;

    LoraTraining(Panlora base) {
        super(base);
    }

    /**
     * Sets the adapter rank, at least 1 (default 8); alpha stays as set.
     *
     * @param r the adapter rank, at least 1 (default 8); alpha stays as set
     * @return this training
     */
    public LoraTraining rank(int r) {
        if (r < 1) throw new IllegalArgumentException("rank must be >= 1, got " + r);
        rank = r;
        return this;
    }

    /**
     * Sets LoRA's alpha: the update is scaled by alpha/rank (default 16).
     *
     * @param a LoRA's alpha: the update is scaled by alpha/rank (default 16)
     * @return this training
     */
    public LoraTraining alpha(double a) {
        if (!(a > 0) || !Double.isFinite(a)) throw new IllegalArgumentException("alpha must be > 0, got " + a);
        alpha = (float) a;
        return this;
    }

    /**
     * Turns rank-stabilised LoRA on or off: scale alpha/√rank instead of alpha/rank (default off).
     *
     * @param on rank-stabilised LoRA: scale alpha/√rank instead of alpha/rank (default off)
     * @return this training
     */
    public LoraTraining rsLora(boolean on) {
        rsLora = on;
        return this;
    }

    /**
     * Sets the adapted matrices: a comma list of q, k, v, o, gate, up, down, or attn (q,k,v,o), ffn (gate,up,down), all (default q,k,v,o).
     *
     * @param spec the adapted matrices: a comma list of q, k, v, o, gate, up, down, or attn (q,k,v,o), ffn (gate,up,down),
     *             all (default q,k,v,o)
     * @return this training
     */
    public LoraTraining targets(String spec) {
        Target.parseList(spec); // checks it now
        targets = spec;
        return this;
    }

    /**
     * Sets how the adapter trains: {@link Variant#lora()} (the default), copra, cola, cora or lorasc.
     *
     * @param v how the adapter trains: {@link Variant#lora()} (default), copra, cola, cora or lorasc
     * @return this training
     */
    public LoraTraining variant(Variant v) {
        variant = Objects.requireNonNull(v, "variant");
        return this;
    }

    /**
     * Sets the tensor type of the adapter file written at the end (default F16; F32 is exact).
     *
     * @param t the tensor type of the adapter file written at the end (default F16; F32 is exact)
     * @return this training
     */
    public LoraTraining adapterType(GgmlType t) {
        Panlora.requireAdapterType(t);
        adapterType = t;
        return this;
    }

    /**
     * Starts the training from an existing adapter instead of the variant's init: each adapted module's slot takes the
     * adapter's factors (the adapted model starts where that adapter leaves it), e.g. to continue from a merged adapter. The
     * adapter must have this training's rank and adapt only modules of its targets; it is read when the training starts. A
     * resumed training takes its adapter from the checkpoint instead.
     *
     * @param a the adapter to start from, or null for the variant's init (the default)
     * @return this training
     */
    public LoraTraining initAdapter(Adapter a) {
        initAdapter = a;
        return this;
    }

    /**
     * Trains on the base the {@link Panlora} holds (which is left unchanged) and writes the run into {@code outDir}:
     * {@code adapter.gguf}, {@code checkpoint.gguf}, {@code metrics.jsonl} and {@code loss.svg}. The directory is created if
     * needed and locked during the run: a second run on it fails at once.
     *
     * @param data   the training data
     * @param outDir the run directory
     * @return the adapter, with the run's summary
     * @throws IllegalArgumentException if the data is malformed or too short for one window, or the
     *                                  {@link #initAdapter initial adapter} does not fit the training's rank and targets
     * @throws UncheckedIOException     if a file cannot be read or written
     */
    public Adapter train(Data data, Path outDir) {
        Objects.requireNonNull(data, "data");
        requireOutput(outDir);
        TrainConfig c = config().lora(rank, alpha).rsLora(rsLora).targets(targets).build();
        TrainingData train = base.read(data);
        TrainingData val = validation == null ? null : base.read(validation);
        LoraRun.Options o = new LoraRun.Options(base.file(), null, null, validationShare(), c, epochs, null, adapterType, outDir, resume,
                null, variant.strategy(c.steps(), c.seed()), base.engine().loadOptions(), onDivergence, listener, initAdapter == null ? null : initAdapter.file());
        try {
            LoraRun.Summary s = LoraRun.run(base.engine(), o, train, val);
            return new Adapter(s.adapter(), s);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
