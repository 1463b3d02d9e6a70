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

/** The engine's training step ({@code pl_trainer}) for a model, a micro-batch shape and a mode. */
public final class StepEngine implements AutoCloseable {
    /** LoRA over a frozen base, or every weight (matrices and norms) of a model whose weights are F32 and writable. */
    public enum Mode { LORA, FULL }

    /** Loss of one micro-batch: Σ nll and the number of counted targets. */
    public record Loss(double sum, long count) {}

    private final MemorySegment handle;
    private final int nSeq, nTok;
    private final Arena arena = Arena.ofConfined();
    private final MemorySegment tokBuf, tgtBuf, lossOut, countOut, normOut, adam;

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

    public int nSeq() { return nSeq; }

    public int nTok() { return nTok; }

    /** Zeroes the accumulated gradients. */
    public void zeroGrad() {
        Native.check(panlora_h.pl_trainer_zero_grad(handle), "zero_grad");
    }

    /** Forward+backward of one micro-batch [nSeq][nTok]; adds gradScale·∂Σnll/∂θ to the gradients. */
    public Loss accumulate(int[][] tokens, int[][] targets, float gradScale) {
        for (int s = 0; s < nSeq; s++) {
            MemorySegment.copy(tokens[s], 0, tokBuf, ValueLayout.JAVA_INT, (long) s * nTok * 4, nTok);
            MemorySegment.copy(targets[s], 0, tgtBuf, ValueLayout.JAVA_INT, (long) s * nTok * 4, nTok);
        }
        Native.check(panlora_h.pl_trainer_accumulate(handle, tokBuf, tgtBuf, gradScale, lossOut, countOut), "training step");
        return new Loss(lossOut.get(ValueLayout.JAVA_DOUBLE, 0), countOut.get(ValueLayout.JAVA_LONG, 0));
    }

    /** Global L2 norm of the accumulated gradients (NaN if any is not finite). */
    public double gradNorm() {
        Native.check(panlora_h.pl_trainer_grad_norm(handle, normOut), "grad norm");
        return normOut.get(ValueLayout.JAVA_DOUBLE, 0);
    }

    /** One AdamW step. */
    public void adamw(float lr, float beta1, float beta2, float eps, float weightDecay, float gradScale) {
        pl_adamw_params.lr(adam, lr);
        pl_adamw_params.beta1(adam, beta1);
        pl_adamw_params.beta2(adam, beta2);
        pl_adamw_params.eps(adam, eps);
        pl_adamw_params.weight_decay(adam, weightDecay);
        pl_adamw_params.grad_scale(adam, gradScale);
        Native.check(panlora_h.pl_trainer_adamw_step(handle, adam), "AdamW step");
    }

    /** FULL mode: the accumulated gradient of a weight (layer ignored for global weights). */
    public float[] weightGrad(WeightKind k, int layer, long n) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment dst = a.allocate(ValueLayout.JAVA_FLOAT, n);
            Native.check(panlora_h.pl_trainer_get_weight_grad(handle, k.id, k.perLayer ? layer : -1, dst, n), "weight gradient");
            return dst.toArray(ValueLayout.JAVA_FLOAT);
        }
    }

    /** FULL mode: a weight's AdamW moments (n floats each, its element count) and step count. */
    public record WeightAdam(float[] m, float[] v, long step) {}

    /** FULL mode on the CPU: the AdamW state of a trained weight (layer ignored for global weights). */
    public WeightAdam weightAdam(WeightKind k, int layer, long n) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = a.allocate(ValueLayout.JAVA_FLOAT, n), v = a.allocate(ValueLayout.JAVA_FLOAT, n), st = a.allocate(ValueLayout.JAVA_LONG);
            Native.check(panlora_h.pl_trainer_get_weight_adam(handle, k.id, k.perLayer ? layer : -1, m, v, n, st), "AdamW state of " + k.ggufName(layer));
            return new WeightAdam(m.toArray(ValueLayout.JAVA_FLOAT), v.toArray(ValueLayout.JAVA_FLOAT), st.get(ValueLayout.JAVA_LONG, 0));
        }
    }

    /** FULL mode on the CPU: restores a trained weight's AdamW state (moments finite, v >= 0, step 0..2^53). */
    public void setWeightAdam(WeightKind k, int layer, WeightAdam s) {
        if (s.m().length != s.v().length) throw new IllegalArgumentException("moments of different lengths");
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = a.allocateFrom(ValueLayout.JAVA_FLOAT, s.m()), v = a.allocateFrom(ValueLayout.JAVA_FLOAT, s.v());
            Native.check(panlora_h.pl_trainer_set_weight_adam(handle, k.id, k.perLayer ? layer : -1, m, v, s.m().length, s.step()),
                    "restoring the AdamW state of " + k.ggufName(layer));
        }
    }

    @Override
    public void close() {
        panlora_h.pl_trainer_free(handle);
        arena.close();
    }
}
