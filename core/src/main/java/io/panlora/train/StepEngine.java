package io.panlora.train;

import io.panlora.bindings.Native;
import io.panlora.bindings.gen.panlora_h;
import io.panlora.bindings.gen.pl_adamw_params;
import io.panlora.bindings.gen.pl_trainer_params;
import io.panlora.model.LlamaModel;
import io.panlora.model.WeightKind;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The engine's training step ({@code pl_trainer}) for a model, a micro-batch shape and a mode: zero the gradients,
 * {@link #accumulate} one or more micro-batches, read the {@link #gradNorm()}, take an {@link #adamw} step. The
 * {@link Trainer} drives it; use it directly only for a loop of your own.
 *
 * <p>It holds native memory (the engine's trainer, its activation and gradient buffers, and the AdamW state in FULL mode) until
 * {@link #close()}. Its buffers are confined to the thread that created it: every call must come from that thread. Create it
 * after the adapter is attached and its slots are final; when slots are added, close it and make a new one. Every engine
 * failure is thrown as an unchecked {@link io.panlora.bindings.PanloraException}.
 */
public final class StepEngine implements AutoCloseable {
    /** What a step trains. */
    public enum Mode {
        /** The trainable factors of the model's attached adapter; the base stays frozen (in any weight type). */
        LORA,
        /**
         * Every weight (matrices and norms) of a model whose weights are F32 and writable; they are updated in place (a CUDA
         * model trains F32 copies on the device and writes them back after every AdamW step).
         */
        FULL
    }

    /**
     * Loss of one micro-batch.
     *
     * @param sum   Σ nll over the counted targets, in nats (not scaled by the gradient scale)
     * @param count the number of counted targets (those {@code >= 0})
     */
    public record Loss(double sum, long count) {}

    private final MemorySegment handle;
    private final int nSeq, nTok;
    private final Arena arena = Arena.ofConfined();
    private final MemorySegment tokBuf, tgtBuf, lossOut, countOut, normOut, adam;

    /**
     * Creates the engine's trainer and its buffers.
     *
     * @param model     the model to train; in LORA mode an adapter must be attached to it
     * @param nSeq      sequences per micro-batch
     * @param nTok      tokens per sequence
     * @param mode      LORA, or FULL (every weight F32 and writable)
     * @param recompute true to keep only each layer's input and recompute the layer in the backward pass (less memory, more
     *                  time)
     * @throws io.panlora.bindings.PanloraException if the engine cannot create the trainer (no adapter attached in LORA mode,
     *                                              weights not F32 in FULL mode, out of memory …)
     */
    public StepEngine(LlamaModel model, int nSeq, int nTok, Mode mode, boolean recompute) {
        this.nSeq = nSeq;
        this.nTok = nTok;
        MemorySegment p = pl_trainer_params.allocate(arena);
        pl_trainer_params.n_seq(p, nSeq);
        pl_trainer_params.n_tok(p, nTok);
        pl_trainer_params.mode(p, mode == Mode.FULL ? panlora_h.PL_TRAIN_FULL() : panlora_h.PL_TRAIN_LORA());
        pl_trainer_params.recompute(p, recompute ? 1 : 0);
        MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
        Native.check(panlora_h.pl_trainer_create(model.handle(), p, out), "creating the trainer");
        handle = out.get(ValueLayout.ADDRESS, 0);
        tokBuf = arena.allocate(ValueLayout.JAVA_INT, (long) nSeq * nTok);
        tgtBuf = arena.allocate(ValueLayout.JAVA_INT, (long) nSeq * nTok);
        lossOut = arena.allocate(ValueLayout.JAVA_DOUBLE);
        countOut = arena.allocate(ValueLayout.JAVA_LONG);
        normOut = arena.allocate(ValueLayout.JAVA_DOUBLE);
        adam = pl_adamw_params.allocate(arena);
    }

    /**
     * The micro-batch's number of sequences, as created.
     *
     * @return sequences per micro-batch
     */
    public int nSeq() { return nSeq; }

    /**
     * The micro-batch's sequence length, as created.
     *
     * @return tokens per sequence
     */
    public int nTok() { return nTok; }

    /**
     * Zeroes the accumulated gradients; call it before the first micro-batch of each optimizer step.
     *
     * @throws io.panlora.bindings.PanloraException if the engine fails
     */
    public void zeroGrad() {
        Native.check(panlora_h.pl_trainer_zero_grad(handle), "zero_grad");
    }

    /**
     * Forward and backward pass of one micro-batch: adds {@code gradScale · ∂(Σ nll)/∂θ} to the accumulated gradients of every
     * trainable parameter. To average over an optimizer step's counted targets, pass 1/(their total count).
     *
     * @param tokens    input token ids, at least {@code nSeq} rows of at least {@code nTok} (only the first {@code nTok} of
     *                  each row are read)
     * @param targets   target token ids, the same shape; a negative target is not counted
     * @param gradScale the factor on this micro-batch's gradient
     * @return the micro-batch's summed loss and counted targets
     * @throws io.panlora.bindings.PanloraException if the loss is NaN or infinite, or the engine fails otherwise
     * @throws IndexOutOfBoundsException if an array is smaller than {@code [nSeq][nTok]}
     */
    public Loss accumulate(int[][] tokens, int[][] targets, float gradScale) {
        for (int s = 0; s < nSeq; s++) {
            MemorySegment.copy(tokens[s], 0, tokBuf, ValueLayout.JAVA_INT, (long) s * nTok * 4, nTok);
            MemorySegment.copy(targets[s], 0, tgtBuf, ValueLayout.JAVA_INT, (long) s * nTok * 4, nTok);
        }
        Native.check(panlora_h.pl_trainer_accumulate(handle, tokBuf, tgtBuf, gradScale, lossOut, countOut), "training step");
        return new Loss(lossOut.get(ValueLayout.JAVA_DOUBLE, 0), countOut.get(ValueLayout.JAVA_LONG, 0));
    }

    /**
     * The global L2 norm of the accumulated gradients of every trainable parameter.
     *
     * @return the norm; NaN if any gradient is not finite
     * @throws io.panlora.bindings.PanloraException if the engine fails
     */
    public double gradNorm() {
        Native.check(panlora_h.pl_trainer_grad_norm(handle, normOut), "grad norm");
        return normOut.get(ValueLayout.JAVA_DOUBLE, 0);
    }

    /**
     * One AdamW step (decoupled weight decay, bias correction by each parameter's own step count) on every trainable
     * parameter, from the accumulated gradients; it updates the adapter's factors (LORA) or the model's weights in place
     * (FULL).
     *
     * @param lr          the learning rate, at least 0
     * @param beta1       β1, in [0, 1)
     * @param beta2       β2, in [0, 1)
     * @param eps         ε, above 0
     * @param weightDecay the decoupled weight decay, at least 0
     * @param gradScale   a factor on every gradient first, e.g. the clipping factor (1 for none)
     * @throws io.panlora.bindings.PanloraException if a value is out of range or not finite, or the engine fails
     */
    public void adamw(float lr, float beta1, float beta2, float eps, float weightDecay, float gradScale) {
        pl_adamw_params.lr(adam, lr);
        pl_adamw_params.beta1(adam, beta1);
        pl_adamw_params.beta2(adam, beta2);
        pl_adamw_params.eps(adam, eps);
        pl_adamw_params.weight_decay(adam, weightDecay);
        pl_adamw_params.grad_scale(adam, gradScale);
        Native.check(panlora_h.pl_trainer_adamw_step(handle, adam), "AdamW step");
    }

    /**
     * FULL mode: a copy of the accumulated gradient of one weight.
     *
     * @param k     the weight
     * @param layer the layer, for a per-layer weight (ignored for global weights)
     * @param n     the weight's element count
     * @return a new array of {@code n} floats, in the weight's layout
     * @throws io.panlora.bindings.PanloraException if the trainer is not in FULL mode, the weight does not train, or {@code n}
     *                                              is not its element count
     */
    public float[] weightGrad(WeightKind k, int layer, long n) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment dst = a.allocate(ValueLayout.JAVA_FLOAT, n);
            Native.check(panlora_h.pl_trainer_get_weight_grad(handle, k.id, k.perLayer ? layer : -1, dst, n), "weight gradient");
            return dst.toArray(ValueLayout.JAVA_FLOAT);
        }
    }

    /**
     * FULL mode: a weight's AdamW state.
     *
     * @param m    the first moments, one per element of the weight
     * @param v    the second moments, the same length, each {@code >= 0}
     * @param step the number of AdamW steps the weight has taken (for bias correction), 0 … 2^53
     */
    public record WeightAdam(float[] m, float[] v, long step) {}

    /**
     * FULL mode on the CPU: a copy of the AdamW state of a trained weight (for checkpoints).
     *
     * @param k     the weight
     * @param layer the layer, for a per-layer weight (ignored for global weights)
     * @param n     the weight's element count
     * @return the moments ({@code n} floats each) and the step count
     * @throws io.panlora.bindings.PanloraException if the trainer runs on a device other than the CPU (not supported yet), the
     *                                              weight does not train (absent, a bias, RoPE factors), or {@code n} is wrong
     */
    public WeightAdam weightAdam(WeightKind k, int layer, long n) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = a.allocate(ValueLayout.JAVA_FLOAT, n), v = a.allocate(ValueLayout.JAVA_FLOAT, n), st = a.allocate(ValueLayout.JAVA_LONG);
            Native.check(panlora_h.pl_trainer_get_weight_adam(handle, k.id, k.perLayer ? layer : -1, m, v, n, st), "AdamW state of " + k.ggufName(layer));
            return new WeightAdam(m.toArray(ValueLayout.JAVA_FLOAT), v.toArray(ValueLayout.JAVA_FLOAT), st.get(ValueLayout.JAVA_LONG, 0));
        }
    }

    /**
     * FULL mode on the CPU: restores a trained weight's AdamW state (for resume). Everything is checked before anything is
     * copied; with the weights themselves (which the caller owns) this resumes FULL training exactly.
     *
     * @param k     the weight
     * @param layer the layer, for a per-layer weight (ignored for global weights)
     * @param s     the state: moments of the weight's element count, finite, {@code v >= 0}, step in 0 … 2^53
     * @throws IllegalArgumentException if the two moments differ in length
     * @throws io.panlora.bindings.PanloraException if a value is out of range, the length is not the weight's, the weight does
     *                                              not train, or the trainer is not on the CPU
     */
    public void setWeightAdam(WeightKind k, int layer, WeightAdam s) {
        if (s.m().length != s.v().length) throw new IllegalArgumentException("moments of different lengths");
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = a.allocateFrom(ValueLayout.JAVA_FLOAT, s.m()), v = a.allocateFrom(ValueLayout.JAVA_FLOAT, s.v());
            Native.check(panlora_h.pl_trainer_set_weight_adam(handle, k.id, k.perLayer ? layer : -1, m, v, s.m().length, s.step()),
                    "restoring the AdamW state of " + k.ggufName(layer));
        }
    }

    /**
     * Frees the engine's trainer and this object's native buffers. Idempotent; the engine is not usable afterwards.
     */
    @Override
    public void close() {
        if (!arena.scope().isAlive()) return;
        panlora_h.pl_trainer_free(handle);
        arena.close();
    }
}
