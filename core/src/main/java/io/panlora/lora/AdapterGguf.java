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
 *
 * <p>The files {@link #write} makes also carry {@code general.architecture} (the base model's) and {@code general.name};
 * {@code <target>} is a {@link Target#gguf} name ({@code attn_q} … {@code ffn_down}). ggml's ne[0] is the fastest-varying
 * dimension, so lora_a holds A as [r][in] row-major and lora_b holds B as [out][r], exactly as a {@link LoraSet} slot does.
 * Tensors may be stored in any of {@link #TYPES}. A static utility: there is nothing to create or close.
 */
public final class AdapterGguf {
    private AdapterGguf() {}

    /**
     * One exported (layer, target): the slots merged into one factor pair A [r][in], B [out][r] at scale alpha/r.
     *
     * @param layer  the layer, 0..n_layer−1
     * @param target the linear adapted
     * @param rank   r: the sum of the merged slots' ranks
     * @param in     the linear's input features ({@link Target#in})
     * @param out    the linear's output features ({@link Target#out})
     * @param a      A, r·in floats, [r][in] row-major: the slots' A stacked in slot order
     * @param b      B, out·r floats, [out][r] row-major: the slots' B side by side, each multiplied by its scale's ratio to
     *               alpha/r
     */
    public record Factors(int layer, Target target, int rank, long in, long out, float[] a, float[] b) {}

    /**
     * Merges the enabled slots of every (layer, target) into one pair whose scale is alpha/r: A = [A₁; A₂; …],
     * B = [B₁·c₁, B₂·c₂, …] with cᵢ = sᵢ/(alpha/r) — the file then reproduces Σ sᵢ·BᵢAᵢ exactly.
     * alpha is chosen as s·r of the first slot (so a single standard LoRA exports B unchanged), or 1 when that is 0 or
     * nothing is enabled. Only slots whose own flag and whose layer are both enabled take part.
     *
     * @param set      the adapter set to read (its factors are copied out of the engine; the set is not changed)
     * @param alphaOut receives the chosen alpha in element 0 (an array of at least one element)
     * @return the merged factors keyed by GGUF weight name ({@code blk.N.<target>.weight}), in the order each (layer,
     *         target) first appears among the slots; empty when no slot is enabled
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
     * The types an adapter's tensors can be written as, most precise first: every one is loaded and run by llama.cpp
     * (checked through the bridge by QuantizedAdapterTest) and read back by {@link #load}.
     */
    public static final List<GgmlType> TYPES = List.of(GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q6_K,
            GgmlType.Q5_1, GgmlType.Q5_K, GgmlType.Q5_0, GgmlType.Q4_1, GgmlType.Q4_K, GgmlType.Q4_0, GgmlType.Q3_K, GgmlType.Q2_K);

    /**
     * The names of {@link #TYPES}, for option checks and messages.
     *
     * @return the {@link GgmlType#name()}s in {@link #TYPES}' order ({@code F32}, {@code F16}, … {@code Q2_K})
     */
    public static List<String> typeNames() {
        return TYPES.stream().map(GgmlType::name).toList();
    }

    /**
     * Whether an adapter's tensors can be written and read back as this type.
     *
     * @param type a tensor type
     * @return whether type is one of {@link #TYPES}
     */
    public static boolean supported(GgmlType type) {
        return TYPES.contains(type);
    }

    /**
     * The type a tensor with rows of rowLength elements is written as when type is asked for (ggml's blocks run along a row,
     * ne[0]: the input size for lora_a, the rank for lora_b). type itself when its block divides the row; else a K-quant
     * (blocks of 256) falls back to the legacy type (blocks of 32) with at least as many bits per weight — Q2_K and Q3_K to
     * Q4_0, Q4_K to Q4_1, Q5_K to Q5_1, Q6_K to Q8_0 — and a legacy type, or a K-quant whose row is not a multiple of 32
     * either, to F16.
     *
     * @param type      the type asked for, one of {@link #TYPES}
     * @param rowLength the tensor's ne[0]
     * @return type, its legacy fallback, or F16 (F32, F16 and BF16 always come back unchanged)
     * @throws IllegalArgumentException if type is not one of {@link #TYPES}
     */
    public static GgmlType typeFor(GgmlType type, long rowLength) {
        if (!supported(type)) throw new IllegalArgumentException("adapter type must be one of " + String.join(", ", typeNames()) + ", got " + type);
        if (rowLength % type.blockSize() == 0) return type;
        GgmlType legacy = switch (type) {
            case Q2_K, Q3_K -> GgmlType.Q4_0;
            case Q4_K -> GgmlType.Q4_1;
            case Q5_K -> GgmlType.Q5_1;
            case Q6_K -> GgmlType.Q8_0;
            default -> GgmlType.F16;
        };
        return rowLength % legacy.blockSize() == 0 ? legacy : GgmlType.F16;
    }

    /**
     * Writes the adapter. type is one of {@link #TYPES}; a tensor whose row length (in for lora_a, r for lora_b) is not a
     * multiple of the type's block is written as {@link #typeFor}'s fallback instead (reported in the returned notes, one
     * per kind of fallback).
     *
     * <p>The enabled slots are merged per (layer, target) as {@link #collect} describes, so llama.cpp at user scale 1
     * computes what the set computes (up to the rounding of type). The file gets {@code general.architecture},
     * {@code general.type=adapter}, {@code general.name}, {@code adapter.type=lora} and {@code adapter.lora.alpha}, and it
     * is written atomically.
     *
     * @param path the file to write; an existing file is replaced
     * @param set  the adapter set to export
     * @param base the base model's hyperparameters (for {@code general.architecture})
     * @param type the tensor type asked for, one of {@link #TYPES}
     * @param name the adapter's name, stored as {@code general.name} (not null)
     * @return one note per kind of fallback, naming the count and up to three of the tensors concerned; empty when every
     *         tensor has the type asked for
     * @throws IOException              if the file system fails (missing or unwritable directory, full disk)
     * @throws IllegalArgumentException if type is not one of {@link #TYPES}, or no slot is enabled
     */
    public static List<String> write(Path path, LoraSet set, LlamaConfig base, GgmlType type, String name) throws IOException {
        if (!supported(type))
            throw new IllegalArgumentException("adapter type must be one of " + String.join(", ", typeNames()) + ", got " + type);
        float[] alpha = new float[1];
        Map<String, Factors> fs = collect(set, alpha);
        if (fs.isEmpty()) throw new IllegalArgumentException("the adapter has no enabled slots to export");
        Map<String, List<String>> fallbacks = new LinkedHashMap<>();
        GgufWriter w = new GgufWriter();
        w.putString("general.architecture", base.arch());
        w.putString("general.type", "adapter");
        w.putString("general.name", name);
        w.putString("adapter.type", "lora");
        w.putFloat32("adapter.lora.alpha", alpha[0]);
        try (Arena arena = Arena.ofConfined()) {
            for (var e : fs.entrySet()) {
                Factors f = e.getValue();
                add(w, e.getKey() + ".lora_a", f.a(), f.in(), f.rank(), type, arena, fallbacks);
                add(w, e.getKey() + ".lora_b", f.b(), f.rank(), f.out(), type, arena, fallbacks);
            }
            w.write(path);
        }
        List<String> notes = new ArrayList<>();
        for (var e : fallbacks.entrySet()) {
            List<String> names = e.getValue();
            notes.add(e.getKey().replace("%N", Integer.toString(names.size())).replace("%S", names.size() == 1 ? "" : "s")
                    + " (" + String.join(", ", names.subList(0, Math.min(3, names.size()))) + (names.size() > 3 ? ", …" : "") + ")");
        }
        return notes;
    }

    private static void add(GgufWriter w, String name, float[] v, long ne0, long ne1, GgmlType type, Arena arena,
                            Map<String, List<String>> fallbacks) {
        GgmlType t = typeFor(type, ne0);
        if (t != type) {
            boolean a = name.endsWith("lora_a");
            String key = type + ": %N lora_" + (a ? "a" : "b") + " tensor%S with rows of " + ne0 + " (" + (a ? "the input size" : "the rank")
                    + "), not a multiple of the " + type + " block (" + type.blockSize() + "), written as " + t;
            fallbacks.computeIfAbsent(key, k -> new ArrayList<>()).add(name);
        }
        MemorySegment seg = Codec.quantize(t, v, arena);
        w.addTensor(name, new long[] {ne0, ne1}, t, seg);
    }

    /**
     * The tensor types of an adapter file, most frequent first, as "70 tensors: 60 Q4_0, 10 F16" — what a fallback
     * actually left in the file.
     *
     * @param path a GGUF file (adapter or model; every tensor counts)
     * @return the tensor count and the count of each type, for example {@code "70 tensors: 60 Q4_0, 10 F16"}
     *         ({@code "0 tensors:"} for a file without tensors)
     * @throws IOException                   if the file cannot be opened or mapped
     * @throws io.panlora.gguf.GgufException if it is not a valid GGUF file
     */
    public static String typeSummary(Path path) throws IOException {
        Map<GgmlType, Integer> count = new java.util.EnumMap<>(GgmlType.class);
        int n = 0;
        try (GgufFile f = GgufFile.open(path)) {
            for (GgufTensorInfo t : f.tensors()) {
                count.merge(t.type(), 1, Integer::sum);
                n++;
            }
        }
        StringBuilder sb = new StringBuilder(n + " tensor" + (n == 1 ? "" : "s") + ":");
        count.entrySet().stream().sorted((x, y) -> y.getValue() - x.getValue())
                .forEach(e -> sb.append(sb.charAt(sb.length() - 1) == ':' ? " " : ", ").append(e.getValue()).append(' ').append(e.getKey()));
        return sb.toString();
    }

    /**
     * Whether writing set with {@link #write} reproduces the adapter file's factors exactly, each tensor at the type the file
     * holds it in (same tensors, shapes and alpha; byte-identical data): then set is the source the file was written from.
     * Metadata other than alpha is not compared; a file with any extra tensor (norms included) is not reproduced.
     *
     * @param file an adapter file
     * @param set  the adapter set that may be its source
     * @return true when every tensor matches exactly; false at the first difference
     * @throws IOException                   if the file cannot be opened or mapped
     * @throws io.panlora.gguf.GgufException if it is not a valid GGUF file
     */
    public static boolean reproduces(Path file, LoraSet set) throws IOException {
        float[] alpha = new float[1];
        Map<String, Factors> fs = collect(set, alpha);
        try (GgufFile f = GgufFile.open(file); Arena arena = Arena.ofConfined()) {
            if (f.getFloat("adapter.lora.alpha", Float.NaN) != alpha[0]) return false;
            if (f.tensors().size() != 2 * fs.size()) return false;
            for (var e : fs.entrySet()) {
                Factors x = e.getValue();
                for (boolean isA : new boolean[] {true, false}) {
                    String name = e.getKey() + (isA ? ".lora_a" : ".lora_b");
                    if (!f.hasTensor(name)) return false;
                    GgufTensorInfo t = f.tensor(name);
                    long ne0 = isA ? x.in() : x.rank(), ne1 = isA ? x.rank() : x.out();
                    if (t.nDims() != 2 || t.ne()[0] != ne0 || t.ne()[1] != ne1 || !supported(t.type()) || ne0 % t.type().blockSize() != 0)
                        return false;
                    MemorySegment mine = Codec.quantize(t.type(), isA ? x.a() : x.b(), arena);
                    if (mine.mismatch(f.tensorData(t)) != -1) return false;
                }
            }
            return true;
        }
    }

    /**
     * The tensor types present in a GGUF file (adapter or model), for example to pick parity tolerances.
     *
     * @param path a GGUF file
     * @return a new mutable set of every type at least one tensor has, in enum order; empty for a file without tensors
     * @throws IOException                   if the file cannot be opened or mapped
     * @throws io.panlora.gguf.GgufException if it is not a valid GGUF file
     */
    public static java.util.Set<GgmlType> tensorTypes(Path path) throws IOException {
        java.util.Set<GgmlType> out = java.util.EnumSet.noneOf(GgmlType.class);
        try (GgufFile f = GgufFile.open(path)) {
            for (GgufTensorInfo t : f.tensors()) out.add(t.type());
        }
        return out;
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

    /** The tensor types {@link #load} dequantizes: {@link #TYPES}. */
    private static final java.util.Set<GgmlType> READABLE = java.util.EnumSet.copyOf(TYPES);

    private static final Pattern NAME = Pattern.compile("blk\\.(\\d+)\\.([a-z_]+)\\.weight\\.lora_([ab])");

    /**
     * Loads an adapter into set as one slot per (layer, target) with scale userScale·alpha/r (alpha 0: userScale).
     * Checks the file type, the base architecture and every shape; norms are ignored as llama.cpp does.
     *
     * <p>Slots are added to whatever set already holds, so several adapters can be loaded into one set (their
     * contributions add, as llama.cpp's adapter list does). Every other tensor must be named
     * {@code blk.N.<target>.weight.lora_a} or {@code .lora_b} with N a layer of the model, both factors of a pair must be
     * present, r (lora_b's ne[0]) must be in 1..min(in, out), and every value must be finite. The set is not attached.
     *
     * @param path      the adapter file
     * @param set       the set to add the slots to; its model is the base the adapter must fit
     * @param userScale the user scale (llama.cpp's {@code --lora-scaled} value; 1 for {@code --lora}); the resulting slot
     *                  scale must be finite
     * @return the number of slots added: the number of (layer, target) pairs in the file, at least 1
     * @throws IOException                   if the file cannot be opened or mapped
     * @throws io.panlora.gguf.GgufException if the file is not a valid GGUF LoRA adapter for this model: wrong
     *                                       {@code general.type}, {@code adapter.type} or architecture, a non-finite
     *                                       alpha, an unknown or unpaired tensor, a layer the model lacks, a rank or
     *                                       shape that does not fit, an unsupported tensor type, a NaN or infinite
     *                                       value, a non-finite scale, or no LoRA tensors at all. The whole file is
     *                                       checked and decoded before any slot is added, so a refused file leaves the
     *                                       set as it was.
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
            record Pending(int layer, Target target, int rank, float scale, float[] a, float[] b) {}
            List<Pending> pending = new java.util.ArrayList<>(); // everything checked and decoded before the set changes
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
                if (!Float.isFinite(scale)) throw new GgufException(where + ": " + e.getKey() + ": scale " + scale + " is not finite");
                for (GgufTensorInfo t : new GgufTensorInfo[] {ta, tb})
                    if (!READABLE.contains(t.type()))
                        throw new GgufException(where + ": tensor '" + t.name() + "' is " + t.type() + "; adapter tensors can be "
                                + String.join(", ", typeNames()));
                float[] a = Codec.dequantize(ta.type(), f.tensorData(ta), in * r), b = Codec.dequantize(tb.type(), f.tensorData(tb), r * out);
                requireFinite(where, ta.name(), a);
                requireFinite(where, tb.name(), b);
                pending.add(new Pending(layer, target, (int) r, scale, a, b));
            }
            int n = 0;
            for (Pending p : pending) {
                LoraSet.Slot s = set.addSlot(p.layer(), p.target(), p.rank(), p.scale());
                set.setWeights(s, p.a(), p.b());
                n++;
            }
            if (n == 0) throw new GgufException(where + ": the adapter has no LoRA tensors");
            return n;
        }
    }

    /**
     * Adapter values are always checked at load: a NaN or infinity in a factor is refused, naming the file and tensor.
     *
     * @param where  the file, for the message
     * @param tensor the tensor's name, for the message
     * @param v      the tensor's decoded values
     * @throws io.panlora.gguf.GgufException at the first NaN or infinite element, giving its value and index
     */
    public static void requireFinite(String where, String tensor, float[] v) {
        for (int i = 0; i < v.length; i++)
            if (!Float.isFinite(v[i])) throw new GgufException(where + ": tensor '" + tensor + "' holds " + v[i] + " at element " + i);
    }
}
