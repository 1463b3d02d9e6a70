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
 */
public final class LoraSet implements AutoCloseable {
    /** One slot's description (its factors live in the engine). */
    public record Slot(int index, int layer, Target target, int rank, long in, long out) {
        public long aLength() { return (long) rank * in; }
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

    /** Creates an empty adapter set for a model. */
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

    public LlamaModel model() { return model; }

    MemorySegment handle() { return handle; }

    /** Adds a zero slot of rank r on a target of a layer with the given scale; returns it. */
    public Slot addSlot(int layer, Target target, int rank, float scale) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment idx = a.allocate(ValueLayout.JAVA_INT);
            Native.check(panlora_h.pl_lora_add_slot(handle, layer, target.id, rank, scale, idx),
                    "adding a rank-" + rank + " slot to blk." + layer + "." + target.gguf);
            int i = idx.get(ValueLayout.JAVA_INT, 0);
            Slot s = new Slot(i, layer, target, rank, target.in(model.config()), target.out(model.config()));
            slots.add(s);
            scales.add(scale);
            enabled.add(true);
            return s;
        }
    }

    /** Every slot in index order. */
    public List<Slot> slots() { return Collections.unmodifiableList(slots); }

    /** The scale last set for a slot. */
    public float scale(Slot s) { return scales.get(s.index()); }

    /** Whether a slot is enabled (its own flag; the layer mask is separate). */
    public boolean enabled(Slot s) { return enabled.get(s.index()); }

    /** Whether a layer's slots take part (the per-layer mask). */
    public boolean layerEnabled(int layer) { return layerEnabled[layer]; }

    /** Sets A and/or B of a slot (null leaves a factor). */
    public void setWeights(Slot s, float[] a, float[] b) {
        try (Arena ar = Arena.ofConfined()) {
            MemorySegment sa = a == null ? MemorySegment.NULL : ar.allocateFrom(ValueLayout.JAVA_FLOAT, a);
            MemorySegment sb = b == null ? MemorySegment.NULL : ar.allocateFrom(ValueLayout.JAVA_FLOAT, b);
            Native.check(panlora_h.pl_lora_set_weights(handle, s.index(), sa, a == null ? 0 : a.length, sb, b == null ? 0 : b.length),
                    "setting blk." + s.layer() + "." + s.target().gguf + " LoRA weights");
        }
    }

    /** A of a slot, [rank][in] row-major. */
    public float[] getA(Slot s) { return get(s, true, false); }

    /** B of a slot, [out][rank] row-major. */
    public float[] getB(Slot s) { return get(s, false, false); }

    /** dA of a slot (accumulated gradient). */
    public float[] gradA(Slot s) { return get(s, true, true); }

    /** dB of a slot (accumulated gradient). */
    public float[] gradB(Slot s) { return get(s, false, true); }

    private float[] get(Slot s, boolean isA, boolean grad) {
        long n = isA ? s.aLength() : s.bLength();
        try (Arena ar = Arena.ofConfined()) {
            MemorySegment buf = ar.allocate(ValueLayout.JAVA_FLOAT, n);
            MemorySegment sa = isA ? buf : MemorySegment.NULL, sb = isA ? MemorySegment.NULL : buf;
            long la = isA ? n : 0, lb = isA ? 0 : n;
            int rc = grad ? panlora_h.pl_lora_get_grads(handle, s.index(), sa, la, sb, lb)
                    : panlora_h.pl_lora_get_weights(handle, s.index(), sa, la, sb, lb);
            Native.check(rc, "reading a LoRA slot");
            return buf.toArray(ValueLayout.JAVA_FLOAT);
        }
    }

    /** Sets a slot's scale and flags. */
    public void setFlags(Slot s, float scale, boolean trainA, boolean trainB, boolean enabled) {
        Native.check(panlora_h.pl_lora_set_flags(handle, s.index(), scale, trainA ? 1 : 0, trainB ? 1 : 0, enabled ? 1 : 0), "pl_lora_set_flags");
        scales.set(s.index(), scale);
        this.enabled.set(s.index(), enabled);
    }

    /** Enables or disables every slot of a layer (the per-layer mask). */
    public void setLayerEnabled(int layer, boolean enabled) {
        Native.check(panlora_h.pl_lora_set_layer_enabled(handle, layer, enabled ? 1 : 0), "pl_lora_set_layer_enabled");
        layerEnabled[layer] = enabled;
    }

    /** AdamW state of a slot: {mA, vA, mB, vB} and its step count. */
    public record AdamState(float[] mA, float[] vA, float[] mB, float[] vB, long step) {}

    public AdamState getAdam(Slot s) {
        try (Arena ar = Arena.ofConfined()) {
            MemorySegment ma = ar.allocate(ValueLayout.JAVA_FLOAT, s.aLength()), va = ar.allocate(ValueLayout.JAVA_FLOAT, s.aLength());
            MemorySegment mb = ar.allocate(ValueLayout.JAVA_FLOAT, s.bLength()), vb = ar.allocate(ValueLayout.JAVA_FLOAT, s.bLength());
            MemorySegment st = ar.allocate(ValueLayout.JAVA_LONG);
            Native.check(panlora_h.pl_lora_get_adam(handle, s.index(), ma, va, s.aLength(), mb, vb, s.bLength(), st), "pl_lora_get_adam");
            return new AdamState(ma.toArray(ValueLayout.JAVA_FLOAT), va.toArray(ValueLayout.JAVA_FLOAT),
                    mb.toArray(ValueLayout.JAVA_FLOAT), vb.toArray(ValueLayout.JAVA_FLOAT), st.get(ValueLayout.JAVA_LONG, 0));
        }
    }

    /** Restores a slot's AdamW state; the engine checks each length against the slot's shape (rank·in, out·rank). */
    public void setAdam(Slot s, AdamState st) {
        if (st.mA().length != st.vA().length || st.mB().length != st.vB().length)
            throw new IllegalArgumentException("AdamW state of slot " + s.index() + ": m_a/v_a lengths " + st.mA().length + "/" + st.vA().length
                    + " and m_b/v_b lengths " + st.mB().length + "/" + st.vB().length + " must match pairwise");
        try (Arena ar = Arena.ofConfined()) {
            Native.check(panlora_h.pl_lora_set_adam(handle, s.index(), ar.allocateFrom(ValueLayout.JAVA_FLOAT, st.mA()),
                    ar.allocateFrom(ValueLayout.JAVA_FLOAT, st.vA()), st.mA().length, ar.allocateFrom(ValueLayout.JAVA_FLOAT, st.mB()),
                    ar.allocateFrom(ValueLayout.JAVA_FLOAT, st.vB()), st.mB().length, st.step()), "pl_lora_set_adam");
        }
    }

    /** Zeroes AdamW state of a slot (null: every slot). */
    public void resetAdam(Slot s) {
        Native.check(panlora_h.pl_lora_reset_adam(handle, s == null ? -1 : s.index()), "pl_lora_reset_adam");
    }

    /** Attaches this adapter set to its model (every forward/decode/training call then uses it). */
    public void attach() {
        Native.check(panlora_h.pl_model_set_lora(model.handle(), handle), "pl_model_set_lora");
        attached = true;
    }

    /** Detaches it: the model runs its base weights only. */
    public void detach() {
        Native.check(panlora_h.pl_model_set_lora(model.handle(), MemorySegment.NULL), "pl_model_set_lora");
        attached = false;
    }

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
