package io.panlora.lora;

import io.panlora.gguf.GgmlType;
import io.panlora.gguf.GgufException;
import io.panlora.gguf.GgufFile;
import io.panlora.gguf.GgufTensorInfo;
import io.panlora.gguf.GgufValue;
import io.panlora.gguf.GgufWriter;
import io.panlora.model.LlamaConfig;
import io.panlora.tensor.Codec;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * LoRA adapters as GGUF files in llama.cpp's layout: {@code general.type=adapter}, {@code adapter.type=lora},
 * {@code adapter.lora.alpha}; tensors {@code blk.N.<target>.weight.lora_a} (ne = [in, r]) and {@code .lora_b}
 * (ne = [r, out]). llama.cpp applies scale = user_scale·alpha/r with r = lora_b's ne[0].
 */
public final class AdapterGguf {
    private AdapterGguf() {}

    /** One exported (layer, target): the slots merged into one factor pair A [r][in], B [out][r] at scale alpha/r. */
    public record Factors(int layer, Target target, int rank, long in, long out, float[] a, float[] b) {}

    /**
     * Merges the enabled slots of every (layer, target) into one pair whose scale is alpha/r: A = [A₁; A₂; …],
     * B = [B₁·c₁, B₂·c₂, …] with cᵢ = sᵢ/(alpha/r) — the file then reproduces Σ sᵢ·BᵢAᵢ exactly.
     * alpha is chosen as s·r of the first slot (so a single standard LoRA exports B unchanged).
     */
    public static Map<String, Factors> collect(LoraSet set, float[] alphaOut) {
        Map<String, List<LoraSet.Slot>> groups = new LinkedHashMap<>();
        for (LoraSet.Slot s : set.slots()) {
            if (!set.layerEnabled(s.layer()) || !set.enabled(s)) continue;
            groups.computeIfAbsent("blk." + s.layer() + "." + s.target().gguf + ".weight", k -> new ArrayList<>()).add(s);
        }
        float alpha = 0;
        for (List<LoraSet.Slot> g : groups.values()) {
            LoraSet.Slot s = g.get(0);
            alpha = set.scale(s) * s.rank();
            break;
        }
        if (alpha == 0) alpha = 1;
        alphaOut[0] = alpha;
        Map<String, Factors> out = new LinkedHashMap<>();
        for (var e : groups.entrySet()) {
            List<LoraSet.Slot> g = e.getValue();
            int r = g.stream().mapToInt(LoraSet.Slot::rank).sum();
            LoraSet.Slot f = g.get(0);
            float fileScale = alpha / r;
            float[] a = new float[(int) ((long) r * f.in())];
            float[] b = new float[(int) (f.out() * r)];
            int r0 = 0;
            for (LoraSet.Slot s : g) {
                float[] sa = set.getA(s), sb = set.getB(s);
                System.arraycopy(sa, 0, a, (int) ((long) r0 * f.in()), sa.length);
                float c = set.scale(s) / fileScale;
                for (long o = 0; o < f.out(); o++)
                    for (int j = 0; j < s.rank(); j++) b[(int) (o * r + r0 + j)] = sb[(int) (o * s.rank() + j)] * c;
                r0 += s.rank();
            }
            out.put(e.getKey(), new Factors(f.layer(), f.target(), r, f.in(), f.out(), a, b));
        }
        return out;
    }

    /**
     * Writes the adapter. type is F32, F16, BF16 or Q8_0; a tensor whose row length (in for lora_a, r for lora_b)
     * is not a multiple of the type's block is written as F16 instead (reported in the returned notes).
     */
    public static List<String> write(Path path, LoraSet set, LlamaConfig base, GgmlType type, String name) throws IOException {
        if (type != GgmlType.F32 && type != GgmlType.F16 && type != GgmlType.BF16 && type != GgmlType.Q8_0)
            throw new IllegalArgumentException("adapter type must be F32, F16, BF16 or Q8_0, got " + type);
        float[] alpha = new float[1];
        Map<String, Factors> fs = collect(set, alpha);
        if (fs.isEmpty()) throw new IllegalArgumentException("the adapter has no enabled slots to export");
        List<String> notes = new ArrayList<>();
        GgufWriter w = new GgufWriter();
        w.putString("general.architecture", base.arch());
        w.putString("general.type", "adapter");
        w.putString("general.name", name);
        w.putString("adapter.type", "lora");
        w.putFloat32("adapter.lora.alpha", alpha[0]);
        try (Arena arena = Arena.ofConfined()) {
            for (var e : fs.entrySet()) {
                Factors f = e.getValue();
                add(w, e.getKey() + ".lora_a", f.a(), f.in(), f.rank(), type, arena, notes);
                add(w, e.getKey() + ".lora_b", f.b(), f.rank(), f.out(), type, arena, notes);
            }
            w.write(path);
        }
        return notes;
    }

    private static void add(GgufWriter w, String name, float[] v, long ne0, long ne1, GgmlType type, Arena arena, List<String> notes) {
        GgmlType t = type;
        if (ne0 % t.blockSize() != 0) {
            notes.add(name + ": row length " + ne0 + " is not a multiple of the " + t + " block (" + t.blockSize() + "); written as F16");
            t = GgmlType.F16;
        }
        MemorySegment seg = Codec.quantize(t, v, arena);
        w.addTensor(name, new long[] {ne0, ne1}, t, seg);
    }

    /**
     * The layer index of a tensor name's {@code blk.N}: digits of any length are refused with the tensor and the file named
     * (never a NumberFormatException), as is a layer the model does not have.
     */
    static int layerIndex(String digits, String tensor, String where, long nLayer) {
        long layer = digits.length() <= 18 ? Long.parseLong(digits) : Long.MAX_VALUE; // at most 18 digits fit a long
        if (layer >= nLayer)
            throw new GgufException(where + ": tensor '" + tensor + "' names layer " + (digits.length() <= 18 ? Long.toString(layer) : digits)
                    + ", but the model has " + nLayer + " layers (0.." + (nLayer - 1) + ")");
        return (int) layer;
    }

    private static final Pattern NAME = Pattern.compile("blk\\.(\\d+)\\.([a-z_]+)\\.weight\\.lora_([ab])");

    /**
     * Loads an adapter into set as one slot per (layer, target) with scale userScale·alpha/r (alpha 0: userScale).
     * Checks the file type, the base architecture and every shape; norms are ignored as llama.cpp does.
     */
    public static int load(Path path, LoraSet set, float userScale) throws IOException {
        LlamaConfig c = set.model().config();
        try (GgufFile f = GgufFile.open(path)) {
            String where = path.toString();
            if (!"adapter".equals(f.getString("general.type", "")))
                throw new GgufException(where + ": not an adapter (general.type is '" + f.getString("general.type", "") + "')");
            if (!"lora".equals(f.getString("adapter.type", "")))
                throw new GgufException(where + ": adapter.type is '" + f.getString("adapter.type", "") + "', only 'lora' is supported");
            String arch = f.getString("general.architecture", "");
            if (!arch.equals(c.arch()))
                throw new GgufException(where + ": adapter is for architecture '" + arch + "', the model is '" + c.arch() + "'");
            float alpha = f.getFloat("adapter.lora.alpha", 0f);
            if (!Float.isFinite(alpha)) throw new GgufException(where + ": adapter.lora.alpha is " + alpha + ", not a finite number");
            Map<String, GgufTensorInfo[]> pairs = new LinkedHashMap<>();
            for (GgufTensorInfo t : f.tensors()) {
                if (t.name().endsWith("_norm.weight")) continue;
                Matcher m = NAME.matcher(t.name());
                if (!m.matches())
                    throw new GgufException(where + ": tensor '" + t.name() + "' is not a LoRA factor panlora can apply");
                int layer = layerIndex(m.group(1), t.name(), where, c.nLayer());
                try {
                    Target.byName(m.group(2));
                } catch (IllegalArgumentException e) {
                    throw new GgufException(where + ": tensor '" + t.name() + "': " + e.getMessage());
                }
                GgufTensorInfo[] p = pairs.computeIfAbsent("blk." + layer + "." + m.group(2), k -> new GgufTensorInfo[2]);
                p[m.group(3).equals("a") ? 0 : 1] = t;
            }
            int n = 0;
            for (var e : pairs.entrySet()) {
                GgufTensorInfo ta = e.getValue()[0], tb = e.getValue()[1];
                if (ta == null || tb == null)
                    throw new GgufException(where + ": " + e.getKey() + " has only one of lora_a / lora_b");
                String[] parts = e.getKey().split("\\.");
                int layer = Integer.parseInt(parts[1]); // checked by layerIndex above
                Target target = Target.byName(parts[2]);
                long in = target.in(c), out = target.out(c), r = tb.ne()[0];
                if (r < 1 || r > Math.min(in, out))
                    throw new GgufException(where + ": " + e.getKey() + ": rank " + r + " (lora_b's ne[0]) is out of range 1.." + Math.min(in, out));
                if (ta.nDims() != 2 || tb.nDims() != 2 || ta.ne()[0] != in || ta.ne()[1] != r || tb.ne()[1] != out)
                    throw new GgufException(where + ": " + e.getKey() + ": shapes lora_a " + ta.shapeString() + ", lora_b " + tb.shapeString()
                            + " do not fit the model (expected [" + in + ", r] and [r, " + out + "])");
                for (GgufTensorInfo t : new GgufTensorInfo[] {ta, tb})
                    if (!io.panlora.model.LlamaModel.RUNNABLE.contains(t.type()))
                        throw new GgufException(where + ": tensor '" + t.name() + "' is " + t.type() + ", a type panlora cannot decode (supported: "
                                + io.panlora.model.LlamaModel.RUNNABLE + ")");
                float scale = alpha != 0 ? userScale * alpha / r : userScale;
                LoraSet.Slot s = set.addSlot(layer, target, (int) r, scale);
                float[] a = Codec.dequantize(ta.type(), f.tensorData(ta), in * r), b = Codec.dequantize(tb.type(), f.tensorData(tb), r * out);
                requireFinite(where, ta.name(), a);
                requireFinite(where, tb.name(), b);
                set.setWeights(s, a, b);
                n++;
            }
            if (n == 0) throw new GgufException(where + ": the adapter has no LoRA tensors");
            return n;
        }
    }

    /** Adapter values are always checked at load: a NaN or infinity in a factor is refused, naming the file and tensor. */
    public static void requireFinite(String where, String tensor, float[] v) {
        for (int i = 0; i < v.length; i++)
            if (!Float.isFinite(v[i])) throw new GgufException(where + ": tensor '" + tensor + "' holds " + v[i] + " at element " + i);
    }
}
