package io.panlora.train;

import io.panlora.gguf.GgmlType;
import io.panlora.gguf.GgufException;
import io.panlora.gguf.GgufFile;
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

    /** The state besides the slots. */
    public record State(int step, long[] dataPosition, long[] hookState, String configKey, Map<String, float[]> hookTensors) {
        public State(int step, long[] dataPosition, long[] hookState, String configKey) {
            this(step, dataPosition, hookState, configKey, Map.of());
        }
    }

    /** Writes the checkpoint to dir/checkpoint.gguf. */
    public static void save(Path dir, LoraSet set, State st) throws IOException {
        GgufWriter w = new GgufWriter();
        w.putString("general.type", "panlora.checkpoint");
        w.putUint32("panlora.checkpoint.version", 1);
        w.put("panlora.checkpoint.step", GgufValue.int64(st.step()));
        w.put("panlora.checkpoint.data_position", GgufValue.intArray(GgufValueType.INT64, st.dataPosition()));
        w.put("panlora.checkpoint.hook_state", GgufValue.intArray(GgufValueType.INT64, st.hookState()));
        w.putString("panlora.checkpoint.config", st.configKey());
        w.putUint32("panlora.checkpoint.slots", set.slots().size());
        for (LoraSet.Slot s : set.slots()) {
            String p = "panlora.slot." + s.index() + ".";
            LoraSet.AdamState a = set.getAdam(s);
            w.put(p + "step", GgufValue.int64(a.step()));
            w.putFloat32(p + "scale", set.scale(s));
            w.putBool(p + "enabled", set.enabled(s));
            w.putString(p + "where", s.layer() + "/" + s.target().gguf + "/" + s.rank());
            add(w, p + "a", set.getA(s), s.in(), s.rank());
            add(w, p + "b", set.getB(s), s.rank(), s.out());
            add(w, p + "m_a", a.mA(), s.in(), s.rank());
            add(w, p + "v_a", a.vA(), s.in(), s.rank());
            add(w, p + "m_b", a.mB(), s.rank(), s.out());
            add(w, p + "v_b", a.vB(), s.rank(), s.out());
        }
        for (var e : st.hookTensors().entrySet()) add(w, "panlora.hook." + e.getKey(), e.getValue(), e.getValue().length, 1);
        w.write(dir.resolve(FILE));
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

    /** Restores slots (which must already exist with the same layout) and returns the rest of the state. */
    public static State load(Path dir, LoraSet set, String expectedConfigKey) throws IOException {
        Path file = dir.resolve(FILE);
        try (GgufFile f = GgufFile.open(file)) {
            if (!"panlora.checkpoint".equals(f.getString("general.type", "")))
                throw new GgufException(file + ": not a panlora checkpoint");
            String key = f.getString("panlora.checkpoint.config");
            if (!key.equals(expectedConfigKey))
                throw new GgufException(file + ": the checkpoint was made with a different configuration:\n  checkpoint: " + key
                        + "\n  now:        " + expectedConfigKey);
            List<LoraSet.Slot> slots = set.slots();
            if (f.getLong("panlora.checkpoint.slots") != slots.size())
                throw new GgufException(file + ": " + f.getLong("panlora.checkpoint.slots") + " slots saved, " + slots.size() + " now");
            for (LoraSet.Slot s : slots) {
                String p = "panlora.slot." + s.index() + ".";
                String where = s.layer() + "/" + s.target().gguf + "/" + s.rank();
                if (!where.equals(f.getString(p + "where")))
                    throw new GgufException(file + ": slot " + s.index() + " is " + f.getString(p + "where") + ", expected " + where);
                set.setWeights(s, get(f, p + "a"), get(f, p + "b"));
                set.setAdam(s, new LoraSet.AdamState(get(f, p + "m_a"), get(f, p + "v_a"), get(f, p + "m_b"), get(f, p + "v_b"),
                        f.getLong(p + "step")));
            }
            Map<String, float[]> hookTensors = new java.util.LinkedHashMap<>();
            for (var t : f.tensors())
                if (t.name().startsWith("panlora.hook.")) hookTensors.put(t.name().substring("panlora.hook.".length()), get(f, t.name()));
            return new State((int) f.getLong("panlora.checkpoint.step"), f.getLongArray("panlora.checkpoint.data_position"),
                    f.getLongArray("panlora.checkpoint.hook_state"), key, hookTensors);
        }
    }

    /** Restores the scale and enabled flag of every slot (for variants whose slots change during training). */
    public static void restoreFlags(Path dir, LoraSet set, boolean trainA, boolean trainB) throws IOException {
        try (GgufFile f = GgufFile.open(dir.resolve(FILE))) {
            for (LoraSet.Slot s : set.slots()) {
                String p = "panlora.slot." + s.index() + ".";
                set.setFlags(s, f.getFloat(p + "scale"), trainA, trainB, f.getBool(p + "enabled"));
            }
        }
    }

    /** Rebuilds the slots of a checkpoint (factors and scales) into an empty adapter set, e.g. to export it. */
    public static int loadSlotsInto(Path dir, LoraSet set) throws IOException {
        Path file = dir.resolve(FILE);
        try (GgufFile f = GgufFile.open(file)) {
            if (!"panlora.checkpoint".equals(f.getString("general.type", "")))
                throw new GgufException(file + ": not a panlora checkpoint");
            int n = (int) f.getLong("panlora.checkpoint.slots");
            for (int i = 0; i < n; i++) {
                String p = "panlora.slot." + i + ".";
                String[] where = f.getString(p + "where").split("/");
                LoraSet.Slot s = set.addSlot(Integer.parseInt(where[0]), io.panlora.lora.Target.byName(where[1]), Integer.parseInt(where[2]),
                        f.getFloat(p + "scale"));
                set.setWeights(s, get(f, p + "a"), get(f, p + "b"));
                if (!f.getBool(p + "enabled")) set.setFlags(s, f.getFloat(p + "scale"), true, true, false);
            }
            return n;
        }
    }

    private static float[] get(GgufFile f, String name) {
        return f.tensorData(name).toArray(ValueLayout.JAVA_FLOAT);
    }
}
