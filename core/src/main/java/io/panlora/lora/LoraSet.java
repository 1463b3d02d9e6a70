package io.panlora.lora;

import io.panlora.bindings.Native;
import io.panlora.bindings.gen.panlora_h;
import io.panlora.model.LlamaModel;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * The adapter slots of a model held by the engine ({@code pl_lora}): for each (layer, target) a list of
 * slots {A (r×in), B (out×r), scale, trainA, trainB, enabled}; the layer computes y = W x + Σ scale·B(A x).
 *
 * <p>A set is made for one model's shapes and does nothing until {@link #attach attached}: then every forward, decode and
 * training call of that model uses it. The factors, their gradients and the AdamW moments live in native memory owned by
 * the engine (the getters copy them out), so a set must be {@linkplain #close closed}, which detaches it first; the
 * methods must not be called after that. The scale of a slot is whatever the caller gives: alpha/r for standard LoRA,
 * alpha/√r for rsLoRA, user·alpha/r for a loaded adapter ({@link AdapterGguf#load}).
 *
 * <p>Not thread-safe: use a set, and the model it is attached to, from one thread at a time. Engine failures (a layer
 * or rank out of range, a non-finite value, a wrong length) are thrown as {@link io.panlora.bindings.PanloraException}
 * carrying the engine's message.
 */
public final class LoraSet implements AutoCloseable {
    /**
     * One slot's description (its factors live in the engine). Slots are made by {@link #addSlot} and only mean something
     * to the set that made them.
     *
     * @param index  the slot's index in its set (0, 1, … in the order added; see {@link #slots()})
     * @param layer  the transformer layer, 0..n_layer−1
     * @param target the linear of that layer the slot adapts
     * @param rank   r, at least 1 and at most min(in, out)
     * @param in     the linear's input features ({@link Target#in}): the length of a row of A
     * @param out    the linear's output features ({@link Target#out}): the number of rows of B
     */
    public record Slot(int index, int layer, Target target, int rank, long in, long out) {
        /**
         * Number of elements of A (and of dA, m_A and v_A).
         *
         * @return rank·in
         */
        public long aLength() { return (long) rank * in; }

        /**
         * Number of elements of B (and of dB, m_B and v_B).
         *
         * @return out·rank
         */
        public long bLength() { return out * rank; }
    }

    private final LlamaModel model;
    private final MemorySegment handle;
    private final List<Slot> slots = new ArrayList<>();
    private final List<Float> scales = new ArrayList<>();
    private final List<Boolean> enabled = new ArrayList<>();
    private final boolean[] layerEnabled;
    private boolean attached;
    private boolean closed;

    /** The set attached to each model, so that closing a set that was replaced leaves its successor attached. */
    private static final java.util.Map<LlamaModel, LoraSet> ATTACHED =
            java.util.Collections.synchronizedMap(new java.util.WeakHashMap<>());

    /** The native handle, or an {@link IllegalStateException} once the set is closed. */
    private MemorySegment live() {
        if (closed) throw new IllegalStateException("this LoRA set was closed");
        return handle;
    }

    /**
     * Creates an empty adapter set for a model's shapes ({@code pl_lora_create}); every layer starts enabled. The set is
     * not attached.
     *
     * @param model the base model; it must stay open while the set is used
     * @throws io.panlora.bindings.PanloraException if the engine cannot create the set (for example a closed model)
     */
    public LoraSet(LlamaModel model) {
        this.model = model;
        this.layerEnabled = new boolean[(int) model.config().nLayer()];
        java.util.Arrays.fill(layerEnabled, true);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ValueLayout.ADDRESS);
            Native.check(panlora_h.pl_lora_create(model.handle(), out), "pl_lora_create");
            handle = out.get(ValueLayout.ADDRESS, 0);
        }
    }

    /**
     * The model this set was made for: its shapes fix every slot's in and out, and {@link #attach} attaches to it.
     *
     * @return the model given to the constructor
     */
    public LlamaModel model() { return model; }

    MemorySegment handle() { return live(); }

    /**
     * Adds a slot of rank r on a target of a layer: A and B are zero (so it changes nothing until {@link #setWeights} or
     * training), it is enabled, and both factors train. Several slots may share a (layer, target); their contributions add.
     *
     * @param layer  the layer, 0..n_layer−1
     * @param target the linear to adapt
     * @param rank   r, 1..min(in, out) (and at most 65536)
     * @param scale  the factor of B(A x), finite; typically alpha/r, or alpha/√r for rsLoRA
     * @return the new slot, whose index is the number of slots before it
     * @throws io.panlora.bindings.PanloraException if the layer or rank is out of range, the scale is not finite, or the
     *                                              engine is out of memory
     */
    public Slot addSlot(int layer, Target target, int rank, float scale) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment idx = a.allocate(ValueLayout.JAVA_INT);
            Native.check(panlora_h.pl_lora_add_slot(live(), layer, target.id, rank, scale, idx),
                    "adding a rank-" + rank + " slot to blk." + layer + "." + target.gguf);
            int i = idx.get(ValueLayout.JAVA_INT, 0);
            Slot s = new Slot(i, layer, target, rank, target.in(model.config()), target.out(model.config()));
            slots.add(s);
            scales.add(scale);
            enabled.add(true);
            return s;
        }
    }

    /**
     * Every slot in index order.
     *
     * @return an unmodifiable view that grows as slots are added; empty for a new set
     */
    public List<Slot> slots() { return Collections.unmodifiableList(slots); }

    /**
     * The scale last set for a slot (by {@link #addSlot} or {@link #setFlags}), as kept on the Java side.
     *
     * @param s a slot of this set
     * @return its scale
     */
    public float scale(Slot s) { return scales.get(s.index()); }

    /**
     * Whether a slot is enabled (its own flag; the layer mask, {@link #layerEnabled}, is separate: a slot takes part only
     * when both are set).
     *
     * @param s a slot of this set
     * @return the flag last set by {@link #setFlags}; true for a new slot
     */
    public boolean enabled(Slot s) { return enabled.get(s.index()); }

    /**
     * Whether a layer's slots take part (the per-layer mask).
     *
     * @param layer the layer, 0..n_layer−1
     * @return the mask last set by {@link #setLayerEnabled}; true for a new set
     * @throws ArrayIndexOutOfBoundsException if the layer is out of range
     */
    public boolean layerEnabled(int layer) { return layerEnabled[layer]; }

    /**
     * Sets A and/or B of a slot, copying the arrays into the engine. Both are checked before either is copied, so a refused
     * call changes nothing.
     *
     * @param s a slot of this set
     * @param a the new A, [rank][in] row-major ({@link Slot#aLength()} finite floats), or null to leave A
     * @param b the new B, [out][rank] row-major ({@link Slot#bLength()} finite floats), or null to leave B
     * @throws io.panlora.bindings.PanloraException if a length is wrong or a value is NaN or infinite
     */
    public void setWeights(Slot s, float[] a, float[] b) {
        try (Arena ar = Arena.ofConfined()) {
            MemorySegment sa = a == null ? MemorySegment.NULL : ar.allocateFrom(ValueLayout.JAVA_FLOAT, a);
            MemorySegment sb = b == null ? MemorySegment.NULL : ar.allocateFrom(ValueLayout.JAVA_FLOAT, b);
            Native.check(panlora_h.pl_lora_set_weights(live(), s.index(), sa, a == null ? 0 : a.length, sb, b == null ? 0 : b.length),
                    "setting blk." + s.layer() + "." + s.target().gguf + " LoRA weights");
        }
    }

    /**
     * A of a slot, copied out of the engine.
     *
     * @param s a slot of this set
     * @return a new array of {@link Slot#aLength()} floats, [rank][in] row-major
     */
    public float[] getA(Slot s) { return get(s, true, false); }

    /**
     * B of a slot, copied out of the engine.
     *
     * @param s a slot of this set
     * @return a new array of {@link Slot#bLength()} floats, [out][rank] row-major
     */
    public float[] getB(Slot s) { return get(s, false, false); }

    /**
     * dA of a slot: the gradient the trainer has accumulated for A (zero when A does not train or nothing ran yet).
     *
     * @param s a slot of this set
     * @return a new array of {@link Slot#aLength()} floats, laid out as A
     */
    public float[] gradA(Slot s) { return get(s, true, true); }

    /**
     * dB of a slot: the gradient the trainer has accumulated for B (zero when B does not train or nothing ran yet).
     *
     * @param s a slot of this set
     * @return a new array of {@link Slot#bLength()} floats, laid out as B
     */
    public float[] gradB(Slot s) { return get(s, false, true); }

    private float[] get(Slot s, boolean isA, boolean grad) {
        long n = isA ? s.aLength() : s.bLength();
        try (Arena ar = Arena.ofConfined()) {
            MemorySegment buf = ar.allocate(ValueLayout.JAVA_FLOAT, n);
            MemorySegment sa = isA ? buf : MemorySegment.NULL, sb = isA ? MemorySegment.NULL : buf;
            long la = isA ? n : 0, lb = isA ? 0 : n;
            int rc = grad ? panlora_h.pl_lora_get_grads(live(), s.index(), sa, la, sb, lb)
                    : panlora_h.pl_lora_get_weights(live(), s.index(), sa, la, sb, lb);
            Native.check(rc, "reading a LoRA slot");
            return buf.toArray(ValueLayout.JAVA_FLOAT);
        }
    }

    /**
     * Sets a slot's scale and flags at once.
     *
     * @param s       a slot of this set
     * @param scale   the new factor of B(A x), finite
     * @param trainA  whether training updates A
     * @param trainB  whether training updates B
     * @param enabled whether the slot takes part at all (in forward passes and training)
     * @throws io.panlora.bindings.PanloraException if the engine refuses (for example a non-finite scale)
     */
    public void setFlags(Slot s, float scale, boolean trainA, boolean trainB, boolean enabled) {
        Native.check(panlora_h.pl_lora_set_flags(live(), s.index(), scale, trainA ? 1 : 0, trainB ? 1 : 0, enabled ? 1 : 0), "pl_lora_set_flags");
        scales.set(s.index(), scale);
        this.enabled.set(s.index(), enabled);
    }

    /**
     * Enables or disables every slot of a layer at once (the per-layer mask): a disabled layer runs its base weights only
     * and trains nothing. The slots' own flags are kept.
     *
     * @param layer   the layer, 0..n_layer−1
     * @param enabled whether the layer's slots take part
     * @throws io.panlora.bindings.PanloraException if the layer is out of range
     */
    public void setLayerEnabled(int layer, boolean enabled) {
        Native.check(panlora_h.pl_lora_set_layer_enabled(live(), layer, enabled ? 1 : 0), "pl_lora_set_layer_enabled");
        layerEnabled[layer] = enabled;
    }

    /**
     * AdamW state of a slot: {mA, vA, mB, vB} and its step count, as a checkpoint stores it.
     *
     * @param mA   first moments of A, {@link Slot#aLength()} floats laid out as A
     * @param vA   second moments of A (non-negative), as many as mA
     * @param mB   first moments of B, {@link Slot#bLength()} floats laid out as B
     * @param vB   second moments of B (non-negative), as many as mB
     * @param step the number of AdamW steps taken (for bias correction), 0..2^53
     */
    public record AdamState(float[] mA, float[] vA, float[] mB, float[] vB, long step) {}

    /**
     * Copies a slot's AdamW state out of the engine.
     *
     * @param s a slot of this set
     * @return the moments and step count; all zero for a slot that has not been trained or was {@linkplain #resetAdam reset}
     */
    public AdamState getAdam(Slot s) {
        try (Arena ar = Arena.ofConfined()) {
            MemorySegment ma = ar.allocate(ValueLayout.JAVA_FLOAT, s.aLength()), va = ar.allocate(ValueLayout.JAVA_FLOAT, s.aLength());
            MemorySegment mb = ar.allocate(ValueLayout.JAVA_FLOAT, s.bLength()), vb = ar.allocate(ValueLayout.JAVA_FLOAT, s.bLength());
            MemorySegment st = ar.allocate(ValueLayout.JAVA_LONG);
            Native.check(panlora_h.pl_lora_get_adam(live(), s.index(), ma, va, s.aLength(), mb, vb, s.bLength(), st), "pl_lora_get_adam");
            return new AdamState(ma.toArray(ValueLayout.JAVA_FLOAT), va.toArray(ValueLayout.JAVA_FLOAT),
                    mb.toArray(ValueLayout.JAVA_FLOAT), vb.toArray(ValueLayout.JAVA_FLOAT), st.get(ValueLayout.JAVA_LONG, 0));
        }
    }

    /**
     * Restores a slot's AdamW state; the engine checks each length against the slot's shape (rank·in, out·rank).
     *
     * @param s  a slot of this set
     * @param st the state, for example from {@link #getAdam} on a slot of the same shape
     * @throws IllegalArgumentException                 if mA and vA, or mB and vB, differ in length
     * @throws io.panlora.bindings.PanloraException if a length does not fit the slot, a moment is not finite, a second
     *                                                  moment is negative, or the step is outside 0..2^53
     */
    public void setAdam(Slot s, AdamState st) {
        if (st.mA().length != st.vA().length || st.mB().length != st.vB().length)
            throw new IllegalArgumentException("AdamW state of slot " + s.index() + ": m_a/v_a lengths " + st.mA().length + "/" + st.vA().length
                    + " and m_b/v_b lengths " + st.mB().length + "/" + st.vB().length + " must match pairwise");
        try (Arena ar = Arena.ofConfined()) {
            Native.check(panlora_h.pl_lora_set_adam(live(), s.index(), ar.allocateFrom(ValueLayout.JAVA_FLOAT, st.mA()),
                    ar.allocateFrom(ValueLayout.JAVA_FLOAT, st.vA()), st.mA().length, ar.allocateFrom(ValueLayout.JAVA_FLOAT, st.mB()),
                    ar.allocateFrom(ValueLayout.JAVA_FLOAT, st.vB()), st.mB().length, st.step()), "pl_lora_set_adam");
        }
    }

    /**
     * Zeroes the AdamW moments and step count of a slot, for example when training starts over with new settings.
     *
     * @param s a slot of this set, or null for every slot
     */
    public void resetAdam(Slot s) {
        Native.check(panlora_h.pl_lora_reset_adam(live(), s == null ? -1 : s.index()), "pl_lora_reset_adam");
    }

    /**
     * Attaches this adapter set to its model (every forward/decode/training call then uses it), replacing any set attached
     * before. The engine checks every slot's layer, target, rank and sizes against the model.
     *
     * @throws io.panlora.bindings.PanloraException if a slot does not fit the model or the model is closed
     */
    public void attach() {
        Native.check(panlora_h.pl_model_set_lora(model.handle(), live()), "pl_model_set_lora");
        LoraSet before = ATTACHED.put(model, this);
        if (before != null && before != this) before.attached = false;
        attached = true;
    }

    /**
     * Detaches the model's adapter (whichever set is attached): the model runs its base weights only. The slots are kept
     * and can be attached again.
     *
     * @throws io.panlora.bindings.PanloraException if the engine refuses (for example a closed model)
     */
    public void detach() {
        Native.check(panlora_h.pl_model_set_lora(model.handle(), MemorySegment.NULL), "pl_model_set_lora");
        LoraSet before = ATTACHED.remove(model);
        if (before != null) before.attached = false;
        attached = false;
    }

    /**
     * Detaches the set if it is the one attached to the model (a set attached after it stays) and the model is still open,
     * then frees its native memory (factors,
     * gradients, AdamW state). Idempotent; afterwards every method throws {@link IllegalStateException}.
     */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        try {
            if (attached && !model.isClosed()) detach();
        } finally {
            panlora_h.pl_lora_free(handle);
        }
    }
}
