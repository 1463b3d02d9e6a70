package io.panlora.train.internal;
import io.panlora.train.StepEngine;
import io.panlora.train.FullRun;
import io.panlora.train.DivergenceGuard;

import io.panlora.gguf.GgmlType;
import io.panlora.gguf.GgufException;
import io.panlora.gguf.GgufFile;
import io.panlora.gguf.GgufTensorInfo;
import io.panlora.gguf.GgufValue;
import io.panlora.gguf.GgufValueType;
import io.panlora.gguf.GgufWriter;
import io.panlora.lora.LoraSet;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * A resumable training state as one GGUF file (written atomically: temp file, fsync, rename): every slot's
 * factors, scale/flags and AdamW state, the step, the data position and the hooks' state.
 */
public final class Checkpoint {
    public static final String FILE = "checkpoint.gguf";

    private Checkpoint() {}

    /**
     * The state besides the slots. {@code divergenceState} is the {@link DivergenceGuard}'s (empty when there is none; a
     * checkpoint without it resumes with a fresh guard).
     */
    public record State(int step, long[] dataPosition, long[] hookState, String configKey, Map<String, float[]> hookTensors,
                        long[] divergenceState) {
        public State(int step, long[] dataPosition, long[] hookState, String configKey, Map<String, float[]> hookTensors) {
            this(step, dataPosition, hookState, configKey, hookTensors, new long[0]);
        }

        public State(int step, long[] dataPosition, long[] hookState, String configKey) {
            this(step, dataPosition, hookState, configKey, Map.of());
        }
    }

    /** Thrown by {@link #save} when a value to be saved is NaN or infinite; nothing was written. */
    public static final class NonFiniteException extends IOException {
        private static final long serialVersionUID = 1L;

        NonFiniteException(String msg) {
            super(msg);
        }
    }

    /**
     * Writes the checkpoint to dir/checkpoint.gguf, atomically (a temporary file, fsync, rename: a reader or a resumed run sees
     * the old checkpoint or the new one, never a part). Every adapter factor, AdamW moment and hook tensor is checked first:
     * if one holds a NaN or an infinity, nothing is written (the previous checkpoint stays) and a {@link NonFiniteException}
     * says where.
     */
    public static void save(Path dir, LoraSet set, State st) throws IOException {
        GgufWriter w = header(st);
        w.putUint32("panlora.checkpoint.slots", set.slots().size());
        for (LoraSet.Slot s : set.slots()) {
            String p = "panlora.slot." + s.index() + ".";
            LoraSet.AdamState a = set.getAdam(s);
            String where = s.layer() + "/" + s.target().gguf + "/" + s.rank();
            float[] fa = set.getA(s), fb = set.getB(s);
            finite(fa, "the LoRA factor A", where);
            finite(fb, "the LoRA factor B", where);
            finite(a.mA(), "AdamW's first moment of A", where);
            finite(a.vA(), "AdamW's second moment of A", where);
            finite(a.mB(), "AdamW's first moment of B", where);
            finite(a.vB(), "AdamW's second moment of B", where);
            if (!Float.isFinite(set.scale(s))) throw new NonFiniteException("the scale of slot " + where + " is " + set.scale(s));
            w.put(p + "step", GgufValue.int64(a.step()));
            w.putFloat32(p + "scale", set.scale(s));
            w.putBool(p + "enabled", set.enabled(s));
            w.putString(p + "where", where);
            add(w, p + "a", fa, s.in(), s.rank());
            add(w, p + "b", fb, s.rank(), s.out());
            add(w, p + "m_a", a.mA(), s.in(), s.rank());
            add(w, p + "v_a", a.vA(), s.in(), s.rank());
            add(w, p + "m_b", a.mB(), s.rank(), s.out());
            add(w, p + "v_b", a.vB(), s.rank(), s.out());
        }
        finish(w, st);
        w.write(dir.resolve(FILE));
    }

    /** The keys every checkpoint has. */
    private static GgufWriter header(State st) {
        GgufWriter w = new GgufWriter();
        w.putString("general.type", "panlora.checkpoint");
        w.putUint32("panlora.checkpoint.version", 1);
        w.put("panlora.checkpoint.step", GgufValue.int64(st.step()));
        w.put("panlora.checkpoint.data_position", GgufValue.intArray(GgufValueType.INT64, st.dataPosition()));
        w.put("panlora.checkpoint.hook_state", GgufValue.intArray(GgufValueType.INT64, st.hookState()));
        w.putString("panlora.checkpoint.config", st.configKey());
        return w;
    }

    /** The hooks' tensors and the divergence state. */
    private static void finish(GgufWriter w, State st) throws NonFiniteException {
        for (var e : st.hookTensors().entrySet()) {
            finite(e.getValue(), "the training-strategy tensor", e.getKey());
            add(w, "panlora.hook." + e.getKey(), e.getValue(), e.getValue().length, 1);
        }
        if (st.divergenceState().length > 0)
            w.put("panlora.checkpoint.divergence_state", GgufValue.intArray(GgufValueType.INT64, st.divergenceState()));
    }

    /** The value of panlora.checkpoint.mode in a FULL-mode checkpoint (a LoRA checkpoint has no such key). */
    static final String FULL = "full";

    /** The weights of a model that FULL mode trains, by GGUF name, in the engine's order. */
    static java.util.List<io.panlora.model.WeightKind> fullKinds() {
        java.util.List<io.panlora.model.WeightKind> ks = new java.util.ArrayList<>();
        for (io.panlora.model.WeightKind k : io.panlora.model.WeightKind.values()) if (k.trainsInFullMode()) ks.add(k);
        return ks;
    }

    /**
     * Writes a FULL-mode checkpoint to dir/checkpoint.gguf, atomically as {@link #save}: every trained weight of the model
     * (F32) with its AdamW moments and step count from the engine, the step, the data position and the hooks' state. The
     * model's weights must be F32 in host memory (what {@link FullRun} trains). A NaN or infinity anywhere writes nothing
     * ({@link NonFiniteException}).
     */
    public static void saveFull(Path dir, io.panlora.model.LlamaModel model, StepEngine engine, State st) throws IOException {
        GgufWriter w = header(st);
        w.putString("panlora.checkpoint.mode", FULL);
        int n = 0;
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            for (io.panlora.model.WeightKind k : fullKinds())
                for (int l = 0; l < (k.perLayer ? model.config().nLayer() : 1); l++) {
                    String name = k.ggufName(l);
                    io.panlora.model.WeightTensor t = model.weights().get(name);
                    if (t == null) continue;
                    if (t.type() != GgmlType.F32) throw new IllegalArgumentException(name + " is " + t.type() + ": FULL mode trains F32 weights");
                    long count = t.ne0() * t.ne1();
                    float[] wv = t.data().toArray(ValueLayout.JAVA_FLOAT);
                    finite(wv, "the weight", name);
                    StepEngine.WeightAdam a = engine.weightAdam(k, l, count);
                    finite(a.m(), "AdamW's first moment", name);
                    finite(a.v(), "AdamW's second moment", name);
                    String p = "panlora.full." + name;
                    add(w, p, wv, t.ne0(), t.ne1());
                    add(w, p + ".m", a.m(), t.ne0(), t.ne1());
                    add(w, p + ".v", a.v(), t.ne0(), t.ne1());
                    w.put(p + ".step", GgufValue.int64(a.step()));
                    n++;
                }
        }
        w.putUint32("panlora.checkpoint.weights", n);
        finish(w, st);
        w.write(dir.resolve(FILE));
    }

    /**
     * Restores a FULL-mode checkpoint: every trained weight is copied into the model's (host, F32) weight memory and its AdamW
     * state into the engine, which must be a FULL-mode trainer of that model; returns the rest of the state. Failures are
     * one-line IOExceptions that start with the file, as in {@link #load}; everything is checked (configuration, names,
     * types, shapes, finite values, v >= 0, steps) before the first weight is changed.
     */
    public static State loadFull(Path dir, io.panlora.model.LlamaModel model, StepEngine engine, String expectedConfigKey) throws IOException {
        Path file = dir.resolve(FILE);
        if (!Files.isRegularFile(file)) throw new IOException(file + ": no checkpoint to resume from (the file does not exist)");
        try (GgufFile f = GgufFile.open(file)) {
            requireCheckpoint(f);
            if (!FULL.equals(f.getString("panlora.checkpoint.mode", "lora")))
                throw new GgufException(file + ": a LoRA checkpoint; --full resumes only a checkpoint of a full-parameter run");
            String key = f.getString("panlora.checkpoint.config");
            if (!key.equals(expectedConfigKey))
                throw new GgufException(file + ": the checkpoint was made with another configuration (" + keyDiff(key, expectedConfigKey)
                        + "); resume with the same options, or start a new run with -o");
            record Part(io.panlora.model.WeightKind kind, int layer, io.panlora.model.WeightTensor into, float[] w, StepEngine.WeightAdam adam) {}
            List<Part> parts = new java.util.ArrayList<>();
            for (io.panlora.model.WeightKind k : fullKinds())
                for (int l = 0; l < (k.perLayer ? model.config().nLayer() : 1); l++) {
                    String name = k.ggufName(l);
                    io.panlora.model.WeightTensor t = model.weights().get(name);
                    if (t == null) continue;
                    String p = "panlora.full." + name;
                    if (f.findTensor(p).isEmpty()) throw new GgufException(file + ": the checkpoint lacks the weight " + name);
                    float[] wv = factor(f, p, t.ne0(), t.ne1()), m = factor(f, p + ".m", t.ne0(), t.ne1());
                    float[] v = secondMoment(f, p + ".v", t.ne0(), t.ne1());
                    parts.add(new Part(k, l, t, wv, new StepEngine.WeightAdam(m, v, nonNegative(f, p + ".step", 1L << 53))));
                }
            if (f.getLong("panlora.checkpoint.weights") != parts.size())
                throw new GgufException(file + ": " + f.getLong("panlora.checkpoint.weights") + " weights saved, the model trains " + parts.size());
            long[] div = f.has("panlora.checkpoint.divergence_state") ? f.getLongArray("panlora.checkpoint.divergence_state") : new long[0];
            String badDiv = DivergenceGuard.problem(div);
            if (badDiv != null) throw new GgufException(file + ": panlora.checkpoint.divergence_state: " + badDiv);
            long[] position = dataPosition(f);
            int step = (int) nonNegative(f, "panlora.checkpoint.step", Integer.MAX_VALUE);
            for (Part pt : parts) {
                MemorySegment.copy(pt.w(), 0, pt.into().data(), ValueLayout.JAVA_FLOAT, 0, pt.w().length);
                engine.setWeightAdam(pt.kind(), pt.layer(), pt.adam());
            }
            return new State(step, position, f.getLongArray("panlora.checkpoint.hook_state"), key, Map.of(), div);
        } catch (IOException | GgufException e) {
            throw new IOException(oneLine(file, e), e);
        }
    }

    /** panlora.checkpoint.data_position, every element a position 0..2^31-1. */
    private static long[] dataPosition(GgufFile f) {
        long[] position = f.getLongArray("panlora.checkpoint.data_position");
        for (int i = 0; i < position.length; i++)
            if (position[i] < 0 || position[i] > Integer.MAX_VALUE)
                throw new GgufException(f.path() + ": panlora.checkpoint.data_position element #" + i + " = " + position[i]
                        + " is not a position (0.." + Integer.MAX_VALUE + ")");
        return position;
    }

    private static void finite(float[] v, String what, String where) throws NonFiniteException {
        for (int i = 0; i < v.length; i++)
            if (!Float.isFinite(v[i])) throw new NonFiniteException(what + " of " + where + " holds " + v[i] + " (element " + i + ")");
    }

    private static void add(GgufWriter w, String name, float[] v, long ne0, long ne1) {
        byte[] b = new byte[v.length * 4];
        MemorySegment.ofArray(b).copyFrom(MemorySegment.ofArray(v));
        w.addTensor(name, new long[] {ne0, ne1}, GgmlType.F32, b);
    }

    /** True if dir holds a checkpoint. */
    public static boolean exists(Path dir) {
        return Files.isRegularFile(dir.resolve(FILE));
    }

    /**
     * Restores slots (which must already exist with the same layout) and returns the rest of the state. Every failure (no
     * file, not a checkpoint, damaged, another configuration or layout) is an IOException whose message is one line that
     * starts with the file's path. What the file holds is checked before it is used: every tensor F32 with its slot's shape,
     * every value finite (second moments also >= 0), the steps and the data position non-negative 32-bit numbers. Only
     * those failures are turned into IOExceptions: anything else (a NullPointerException, say) is a bug and propagates.
     */
    public static State load(Path dir, LoraSet set, String expectedConfigKey) throws IOException {
        Path file = dir.resolve(FILE);
        if (!Files.isRegularFile(file)) throw new IOException(file + ": no checkpoint to resume from (the file does not exist)");
        try (GgufFile f = GgufFile.open(file)) {
            requireCheckpoint(f);
            requireLora(f);
            String key = f.getString("panlora.checkpoint.config");
            if (!key.equals(expectedConfigKey))
                throw new GgufException(file + ": the checkpoint was made with another configuration (" + keyDiff(key, expectedConfigKey)
                        + "); resume with the same options, or start a new run with -o");
            List<LoraSet.Slot> slots = set.slots();
            if (f.getLong("panlora.checkpoint.slots") != slots.size())
                throw new GgufException(file + ": " + f.getLong("panlora.checkpoint.slots") + " slots saved, " + slots.size() + " now");
            for (LoraSet.Slot s : slots) {
                String p = "panlora.slot." + s.index() + ".";
                String where = s.layer() + "/" + s.target().gguf + "/" + s.rank();
                if (!where.equals(f.getString(p + "where")))
                    throw new GgufException(file + ": slot " + s.index() + " is " + f.getString(p + "where") + ", expected " + where);
                float[] a = factor(f, p + "a", s.in(), s.rank()), b = factor(f, p + "b", s.rank(), s.out());
                float[] mA = factor(f, p + "m_a", s.in(), s.rank()), vA = secondMoment(f, p + "v_a", s.in(), s.rank());
                float[] mB = factor(f, p + "m_b", s.rank(), s.out()), vB = secondMoment(f, p + "v_b", s.rank(), s.out());
                long adamStep = nonNegative(f, p + "step", 1L << 53); // the engine's bound (pl_lora_set_adam)
                set.setWeights(s, a, b);
                set.setAdam(s, new LoraSet.AdamState(mA, vA, mB, vB, adamStep));
            }
            Map<String, float[]> hookTensors = new java.util.LinkedHashMap<>();
            for (var t : f.tensors())
                if (t.name().startsWith("panlora.hook.")) hookTensors.put(t.name().substring("panlora.hook.".length()), hookTensor(f, t));
            long[] div = f.has("panlora.checkpoint.divergence_state") ? f.getLongArray("panlora.checkpoint.divergence_state") : new long[0];
            String badDiv = DivergenceGuard.problem(div);
            if (badDiv != null) throw new GgufException(file + ": panlora.checkpoint.divergence_state: " + badDiv);
            long[] position = dataPosition(f);
            int step = (int) nonNegative(f, "panlora.checkpoint.step", Integer.MAX_VALUE);
            return new State(step, position, f.getLongArray("panlora.checkpoint.hook_state"), key, hookTensors, div);
        } catch (IOException | GgufException e) {
            throw new IOException(oneLine(file, e), e);
        }
    }

    /** An exception's message as one line that starts with the file (GGUF errors already do; others get it in front). */
    static String oneLine(Path file, Throwable e) {
        String m = e.getMessage() != null ? e.getMessage() : e.toString();
        m = m.replaceAll("\\s*\\R\\s*", "; ").strip();
        String f = file.toString();
        if (m.startsWith(f)) return m;
        int at = m.indexOf(f);
        return f + ": " + (at >= 0 ? m : "the checkpoint is damaged or of another layout: " + m);
    }

    /** The name=value fields in which two configuration keys differ, as "name: SAVED then, NOW now" (at most 4 of them). */
    static String keyDiff(String saved, String now) {
        List<String> a = fields(saved), b = fields(now);
        List<String> out = new java.util.ArrayList<>();
        int n = Math.max(a.size(), b.size());
        for (int i = 0; i < n && out.size() < 4; i++) {
            String x = i < a.size() ? a.get(i) : "", y = i < b.size() ? b.get(i) : "";
            if (x.equals(y)) continue;
            String name = (x.contains("=") ? x : y).replaceAll("=.*", "");
            out.add(name + ": " + x.replaceFirst("^[^=]*=", "") + " then, " + y.replaceFirst("^[^=]*=", "") + " now");
        }
        return out.isEmpty() ? "the keys differ" : String.join("; ", out);
    }

    private static List<String> fields(String key) {
        List<String> out = new java.util.ArrayList<>();
        // keys are name=value fields separated by ';' (TrainConfig.key, LlamaConfig.key), ' name=' parts, and hooks as
        // name(k=v,k=v) lists; a comma inside a value (targets=attn_q,attn_v) is not a separator
        for (String t : key.split("[;\\[\\]()]+|\\s+(?=[A-Za-z_]+=)|,(?=[A-Za-z_]+=)")) {
            t = t.strip();
            if (!t.isEmpty()) out.add(t);
        }
        return out;
    }

    /** Restores the scale and enabled flag of every slot (for variants whose slots change during training). */
    public static void restoreFlags(Path dir, LoraSet set, boolean trainA, boolean trainB) throws IOException {
        try (GgufFile f = GgufFile.open(dir.resolve(FILE))) {
            requireCheckpoint(f);
            for (LoraSet.Slot s : set.slots()) {
                String p = "panlora.slot." + s.index() + ".";
                set.setFlags(s, scale(f, p + "scale"), trainA, trainB, f.getBool(p + "enabled"));
            }
        }
    }

    private static final java.util.regex.Pattern WHERE = java.util.regex.Pattern.compile("(\\d{1,9})/([a-z_]+)/(\\d{1,9})");

    /**
     * Rebuilds the slots of a checkpoint (factors and scales) into an empty adapter set, e.g. to export it. Each slot's
     * layer, target and rank must fit the set's model and its factors be F32 of that shape with finite values; a file that
     * does not is refused with a GgufException naming it (IOException when it cannot be read).
     */
    public static int loadSlotsInto(Path dir, LoraSet set) throws IOException {
        Path file = dir.resolve(FILE);
        try (GgufFile f = GgufFile.open(file)) {
            requireCheckpoint(f);
            requireLora(f);
            long n = f.getLong("panlora.checkpoint.slots");
            if (n < 0 || n > f.tensors().size() / 2) // every slot has at least its two factors
                throw new GgufException(file + ": panlora.checkpoint.slots = " + n + ", but the file has " + f.tensors().size() + " tensors");
            io.panlora.model.LlamaConfig c = set.model().config();
            for (int i = 0; i < n; i++) {
                String p = "panlora.slot." + i + ".";
                String where = f.getString(p + "where");
                java.util.regex.Matcher m = WHERE.matcher(where);
                io.panlora.lora.Target target = m.matches() ? io.panlora.lora.Target.findGguf(m.group(2)) : null;
                if (target == null)
                    throw new GgufException(file + ": " + p + "where = '" + abbreviate(where) + "' is not LAYER/TARGET/RANK (e.g. 0/attn_q/8)");
                int layer = Integer.parseInt(m.group(1)), rank = Integer.parseInt(m.group(3));
                if (layer >= c.nLayer())
                    throw new GgufException(file + ": slot " + i + " is on layer " + layer + ", but the model has " + c.nLayer() + " layers");
                long in = target.in(c), out = target.out(c);
                if (rank < 1 || rank > Math.min(in, out))
                    throw new GgufException(file + ": slot " + i + " (" + where + ") has rank " + rank + ", out of range 1.." + Math.min(in, out));
                float scale = scale(f, p + "scale");
                float[] a = factor(f, p + "a", in, rank), b = factor(f, p + "b", rank, out);
                boolean enabled = f.getBool(p + "enabled");
                LoraSet.Slot s = set.addSlot(layer, target, rank, scale);
                set.setWeights(s, a, b);
                if (!enabled) set.setFlags(s, scale, true, true, false);
            }
            return (int) n;
        }
    }

    /** The file must say it is a checkpoint (general.type) of a version this code reads. */
    private static void requireCheckpoint(GgufFile f) {
        if (!"panlora.checkpoint".equals(f.getString("general.type", "")))
            throw new GgufException(f.path() + ": not a panlora checkpoint");
        long version = f.getLong("panlora.checkpoint.version", 1);
        if (version != 1)
            throw new GgufException(f.path() + ": checkpoint version " + version + " (this panlora reads version 1)");
    }

    /** A LoRA checkpoint: a full-parameter one holds no adapter. */
    private static void requireLora(GgufFile f) {
        if (FULL.equals(f.getString("panlora.checkpoint.mode", "lora")))
            throw new GgufException(f.path() + ": a checkpoint of a full-parameter run (train --full), which holds no adapter: the run "
                    + "exports its model as model.gguf; resume it with train --full");
    }

    /** An integer key in 0..max. */
    private static long nonNegative(GgufFile f, String key, long max) {
        long v = f.getLong(key);
        if (v < 0 || v > max) throw new GgufException(f.path() + ": " + key + " = " + v + " is out of range 0.." + max);
        return v;
    }

    /** A finite scale. */
    private static float scale(GgufFile f, String key) {
        float v = f.getFloat(key);
        if (!Float.isFinite(v)) throw new GgufException(f.path() + ": " + key + " = " + v + ", not a finite number");
        return v;
    }

    /** An F32 tensor of shape [ne0, ne1] with finite values. */
    private static float[] factor(GgufFile f, String name, long ne0, long ne1) {
        GgufTensorInfo t = f.tensor(name);
        if (t.type() != GgmlType.F32 || t.nDims() != 2 || t.ne(0) != ne0 || t.ne(1) != ne1)
            throw new GgufException(f.path() + ": tensor " + name + " is " + t.type() + " " + t.shapeString() + ", expected F32 ["
                    + ne0 + ", " + ne1 + "]");
        return finiteValues(f, t);
    }

    /** As {@link #factor}, and every value >= 0 (an AdamW second moment). */
    private static float[] secondMoment(GgufFile f, String name, long ne0, long ne1) {
        float[] v = factor(f, name, ne0, ne1);
        for (int i = 0; i < v.length; i++)
            if (v[i] < 0) throw new GgufException(f.path() + ": tensor " + name + " holds " + v[i] + " at element " + i + "; a second moment is >= 0");
        return v;
    }

    /** A training-strategy tensor: F32, saved as [n, 1]. */
    private static float[] hookTensor(GgufFile f, GgufTensorInfo t) {
        if (t.type() != GgmlType.F32 || t.nDims() != 2 || t.ne(1) != 1 || t.ne(0) > Integer.MAX_VALUE - 8)
            throw new GgufException(f.path() + ": tensor " + t.name() + " is " + t.type() + " " + t.shapeString() + ", expected F32 [n, 1]");
        return finiteValues(f, t);
    }

    private static float[] finiteValues(GgufFile f, GgufTensorInfo t) {
        float[] v = f.tensorData(t).toArray(ValueLayout.JAVA_FLOAT);
        for (int i = 0; i < v.length; i++)
            if (!Float.isFinite(v[i])) throw new GgufException(f.path() + ": tensor " + t.name() + " holds " + v[i] + " at element " + i);
        return v;
    }

    private static String abbreviate(String s) {
        return s.length() <= 60 ? s : s.substring(0, 57) + "...";
    }
}
