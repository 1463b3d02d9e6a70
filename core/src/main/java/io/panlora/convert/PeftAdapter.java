package io.panlora.convert;

import io.panlora.data.JsonParser;
import io.panlora.data.JsonValue;
import io.panlora.lora.AdapterGguf;
import io.panlora.lora.LoraSet;
import io.panlora.lora.Target;
import io.panlora.model.LlamaConfig;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Hugging Face PEFT LoRA adapters ({@code adapter_model.safetensors} + {@code adapter_config.json}) to and from the
 * engine's slots. Names map {@code base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight} ↔ blk.N.attn_q;
 * lora_A is [r, in] and lora_B [out, r] in both. For the llama architecture the GGUF conversion permutes the rows
 * of q and k (RoPE's pairs: HF keeps the two halves of a head apart, GGUF interleaves them), so lora_B of q_proj and
 * k_proj is permuted the same way on import and back on export.
 *
 * <p>Supported: plain LoRA (and rsLoRA scaling on import) on the seven LLaMA linears q/k/v/o and
 * gate/up/down, with one rank and one alpha for every module on import. Not supported: DoRA,
 * {@code fan_in_fan_out} adapters, per-module {@code rank_pattern}/{@code alpha_pattern} on import,
 * and the pickle format {@code adapter_model.bin}.
 */
public final class PeftAdapter {
    private PeftAdapter() {}

    private static final Pattern NAME = Pattern.compile(
            "(?:base_model\\.model\\.)?model\\.layers\\.(\\d+)\\.(?:self_attn|mlp)\\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)\\.lora_([AB])(?:\\.default)?\\.weight");

    /**
     * Loads a PEFT adapter directory into {@code set}: for every (layer, module) pair of lora_A and
     * lora_B in {@code adapter_model.safetensors} it adds one slot with rank r (lora_A's rows) and
     * scale {@code userScale · lora_alpha / r} ({@code / √r} when {@code use_rslora} is true), and sets
     * its factors (lora_B of q_proj and k_proj row-permuted into GGUF order for llama and mistral).
     * A missing {@code lora_alpha} counts as 8, a missing {@code peft_type} as LORA. Tensor names may
     * carry the {@code base_model.model.} prefix and the {@code .default} adapter name, or not.
     *
     * <p>Every module is checked (names, shapes, ranks, scales, finite values) before any slot is added, so a rejected
     * adapter leaves {@code set} as it was. Nothing is written to disk.
     *
     * @param dir       the adapter directory, holding {@code adapter_config.json} (UTF-8 JSON) and
     *                  {@code adapter_model.safetensors} (F32, F16 or BF16 tensors)
     * @param set       the adapter set to add to; its model decides the layer count and the
     *                  expected factor shapes
     * @param userScale an extra factor on every slot's scale; 1 keeps the adapter's own scaling
     * @return the number of modules (layer and target pairs) loaded, at least 1
     * @throws IOException if a file is missing or unreadable, the config is not a UTF-8 JSON object or
     *                     describes an unsupported adapter, a tensor name is not a LoRA factor of a
     *                     LLaMA linear or names a layer the model lacks, a factor is duplicated or
     *                     unpaired, shapes do not fit the model, the rank is outside 1 to
     *                     {@code min(in, out)}, the scale is not a finite float, or there are no
     *                     factors; the message names the file
     * @throws io.panlora.gguf.GgufException if a factor holds NaN or infinity (the message names the
     *                     file and tensor)
     * @throws io.panlora.bindings.PanloraException if the engine refuses the slot
     */
    public static int load(Path dir, LoraSet set, float userScale) throws IOException {
        Path cfgFile = dir.resolve("adapter_config.json"), weights = dir.resolve("adapter_model.safetensors");
        if (!Files.isRegularFile(cfgFile)) throw new IOException(dir + ": no adapter_config.json");
        if (!Files.isRegularFile(weights)) throw new IOException(dir + ": no adapter_model.safetensors (adapter_model.bin is not supported)");
        String cfgText;
        try {
            cfgText = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(Files.readAllBytes(cfgFile))).toString();
        } catch (CharacterCodingException e) {
            throw new IOException(cfgFile + ": not UTF-8 text (" + e.getMessage() + ")", e);
        }
        JsonValue cfgValue;
        try {
            cfgValue = JsonParser.parse(cfgText);
        } catch (JsonParser.SyntaxError e) {
            throw new IOException(cfgFile + ": not a JSON object: " + e.getMessage(), e);
        }
        if (!(cfgValue instanceof JsonValue.Obj cfg)) throw new IOException(cfgFile + ": not a JSON object but " + cfgValue.typeName());
        String type = cfg.fields().get("peft_type") instanceof JsonValue.Str s ? s.value() : "LORA";
        if (!type.equalsIgnoreCase("LORA")) throw new IOException(cfgFile + ": peft_type " + type + " is not LORA");
        double alpha = number(cfg, "lora_alpha", 8);
        if (!Double.isFinite(alpha)) throw new IOException(cfgFile + ": lora_alpha is " + alpha + ", not a finite number");
        boolean rs = cfg.fields().get("use_rslora") instanceof JsonValue.Bool b && b.value();
        if (cfg.fields().get("fan_in_fan_out") instanceof JsonValue.Bool b && b.value())
            throw new IOException(cfgFile + ": fan_in_fan_out adapters (GPT-2 Conv1D) are not LLaMA adapters");
        for (String p : new String[] {"rank_pattern", "alpha_pattern"})
            if (cfg.fields().get(p) instanceof JsonValue.Obj o && !o.fields().isEmpty())
                throw new IOException(cfgFile + ": " + p + " is not supported yet (one rank and alpha for every module)");
        if (cfg.fields().get("use_dora") instanceof JsonValue.Bool b && b.value()) throw new IOException(cfgFile + ": DoRA adapters are not supported");
        LlamaConfig c = set.model().config();
        Map<String, Safetensors.Tensor[]> pairs = new LinkedHashMap<>();
        for (var e : Safetensors.read(weights).entrySet()) {
            Matcher m = NAME.matcher(e.getKey());
            if (!m.matches()) throw new IOException(weights + ": tensor '" + e.getKey() + "' is not a LoRA factor of a LLaMA linear");
            if (m.group(1).length() > 9 || Long.parseLong(m.group(1)) >= c.nLayer()) // digits of any length: never parsed as an int
                throw new IOException(weights + ": tensor '" + e.getKey() + "' names layer " + m.group(1) + ", but the model has " + c.nLayer()
                        + " layers (0.." + (c.nLayer() - 1) + ")");
            Safetensors.Tensor[] pair = pairs.computeIfAbsent(Long.parseLong(m.group(1)) + "/" + m.group(2), k -> new Safetensors.Tensor[2]);
            int ab = m.group(3).equals("A") ? 0 : 1;
            if (pair[ab] != null) // "model.layers.0…" and "base_model.model.model.layers.0…", or with and without ".default"
                throw new IOException(weights + ": tensor '" + e.getKey() + "' is a second lora_" + m.group(3) + " of layer " + m.group(1) + " "
                        + m.group(2));
            pair[ab] = e.getValue();
        }
        record Pending(int layer, Target target, int rank, float scale, float[] a, float[] b) {}
        java.util.List<Pending> pending = new java.util.ArrayList<>(); // every module checked before the set changes
        for (var e : pairs.entrySet()) {
            String[] k = e.getKey().split("/");
            int layer = Integer.parseInt(k[0]); // checked against nLayer above
            Target t = Target.byName(k[1]);
            Safetensors.Tensor a = e.getValue()[0], b = e.getValue()[1];
            if (a == null || b == null) throw new IOException(weights + ": layer " + layer + " " + k[1] + " has only one of lora_A / lora_B");
            long in = t.in(c), out = t.out(c), r = a.shape().length == 2 ? a.shape()[0] : 0;
            if (layer >= c.nLayer() || a.shape().length != 2 || b.shape().length != 2 || a.shape()[1] != in || b.shape()[0] != out || b.shape()[1] != r)
                throw new IOException(weights + ": layer " + layer + " " + k[1] + ": lora_A " + java.util.Arrays.toString(a.shape()) + ", lora_B "
                        + java.util.Arrays.toString(b.shape()) + " do not fit the model (expected [r, " + in + "] and [" + out + ", r])");
            if (r < 1 || r > Math.min(in, out))
                throw new IOException(weights + ": layer " + layer + " " + k[1] + ": rank " + r + " (lora_A's rows) is out of range 1.."
                        + Math.min(in, out));
            float scale = (float) (userScale * alpha / (rs ? Math.sqrt(r) : r));
            if (!Float.isFinite(scale))
                throw new IOException(cfgFile + ": lora_alpha " + alpha + " gives layer " + layer + " " + k[1] + " the scale " + scale
                        + " (alpha/" + (rs ? "sqrt(r)" : "r") + " at rank " + r + "), not a finite float");
            AdapterGguf.requireFinite(weights.toString(), "layer " + layer + " " + k[1] + " lora_A", a.values());
            AdapterGguf.requireFinite(weights.toString(), "layer " + layer + " " + k[1] + " lora_B", b.values());
            pending.add(new Pending(layer, t, (int) r, scale, a.values(), permuteRows(b.values(), t, c, (int) r, true)));
        }
        if (pending.isEmpty()) throw new IOException(weights + ": no LoRA factors");
        for (Pending p : pending) {
            LoraSet.Slot s = set.addSlot(p.layer(), p.target(), p.rank(), p.scale());
            set.setWeights(s, p.a(), p.b());
        }
        return pending.size();
    }

    /**
     * Writes the set's enabled slots (of enabled layers) as a PEFT adapter directory: creates
     * {@code dir} if needed and writes {@code adapter_model.safetensors} (atomically, with
     * {@code __metadata__ {"format": "pt"}}) and {@code adapter_config.json}, replacing files of those
     * names. Several slots on one module are concatenated into one factor pair and their scales
     * folded into lora_B, so the file reproduces {@code Σ scale·B·A} (up to rounding) under PEFT's
     * {@code lora_alpha / r} scaling; {@code lora_alpha} is the first slot's {@code scale · rank}, and
     * modules whose rank differs from the first one's are listed in {@code rank_pattern}. Tensor names
     * use the {@code base_model.model.} prefix; lora_B of q_proj and k_proj is permuted back into
     * Hugging Face row order for llama and mistral.
     *
     * @param dir           the output directory; created with its parents when missing
     * @param set           the adapter set to export; read, not changed
     * @param dtype         the tensor data type: {@code "F32"}, {@code "F16"} or {@code "BF16"}
     *                      (F16 and BF16 round to nearest even)
     * @param baseModelName written as {@code base_model_name_or_path}; not null, may be empty
     * @throws IOException              if a directory or file cannot be created or written
     * @throws IllegalArgumentException if the set has no enabled slots, or {@code dtype} is not one
     *                                  of the three
     */
    public static void write(Path dir, LoraSet set, String dtype, String baseModelName) throws IOException {
        Files.createDirectories(dir);
        float[] alphaOut = new float[1];
        Map<String, AdapterGguf.Factors> fs = AdapterGguf.collect(set, alphaOut);
        if (fs.isEmpty()) throw new IllegalArgumentException("the adapter has no enabled slots to export");
        LlamaConfig c = set.model().config();
        Map<String, Safetensors.Tensor> tensors = new LinkedHashMap<>();
        Map<String, Integer> ranks = new LinkedHashMap<>();
        java.util.Set<String> targets = new java.util.LinkedHashSet<>();
        int r0 = -1;
        for (AdapterGguf.Factors f : fs.values()) {
            String module = "model.layers." + f.layer() + "." + (f.target().gguf.startsWith("attn") ? "self_attn" : "mlp") + "." + f.target().hfName();
            tensors.put("base_model.model." + module + ".lora_A.weight", new Safetensors.Tensor(new long[] {f.rank(), f.in()}, f.a()));
            tensors.put("base_model.model." + module + ".lora_B.weight",
                    new Safetensors.Tensor(new long[] {f.out(), f.rank()}, permuteRows(f.b(), f.target(), c, f.rank(), false)));
            ranks.put(module, f.rank());
            targets.add(f.target().hfName());
            if (r0 < 0) r0 = f.rank();
        }
        Safetensors.write(dir.resolve("adapter_model.safetensors"), tensors, dtype, Map.of("format", "pt"));
        StringBuilder rp = new StringBuilder();
        for (var e : ranks.entrySet()) if (e.getValue() != r0) rp.append(rp.length() == 0 ? "" : ", ").append(Safetensors.quote(e.getKey())).append(": ").append(e.getValue());
        StringBuilder tm = new StringBuilder();
        for (String t : targets) tm.append(tm.length() == 0 ? "" : ", ").append(Safetensors.quote(t));
        String json = String.format(Locale.ROOT, """
                {
                  "peft_type": "LORA",
                  "task_type": "CAUSAL_LM",
                  "base_model_name_or_path": %s,
                  "r": %d,
                  "lora_alpha": %s,
                  "target_modules": [%s],
                  "rank_pattern": {%s},
                  "alpha_pattern": {},
                  "lora_dropout": 0.0,
                  "bias": "none",
                  "fan_in_fan_out": false,
                  "use_rslora": false,
                  "use_dora": false,
                  "init_lora_weights": true,
                  "inference_mode": true
                }
                """, Safetensors.quote(baseModelName), r0, Float.toString(alphaOut[0]), tm, rp);
        Files.writeString(dir.resolve("adapter_config.json"), json);
    }

    /**
     * The q/k row permutation of LLaMA's GGUF conversion: rows of each head, HF order (two halves) ↔ GGUF order
     * (interleaved pairs): GGUF row h·hd + 2j + t = HF row h·hd + t·hd/2 + j. toGguf false applies the inverse.
     */
    static float[] permuteRows(float[] b, Target t, LlamaConfig c, int r, boolean toGguf) {
        if (!c.arch().equals("llama") && !c.arch().equals("mistral")) return b;
        long heads = t == Target.ATTN_Q ? c.nHead() : t == Target.ATTN_K ? c.nHeadKv() : 0;
        if (heads == 0) return b;
        int hd = (int) c.headDim(), half = hd / 2;
        float[] out = new float[b.length];
        for (int h = 0; h < heads; h++)
            for (int j = 0; j < half; j++)
                for (int tt = 0; tt < 2; tt++) {
                    int gguf = h * hd + 2 * j + tt, hf = h * hd + tt * half + j;
                    int from = toGguf ? hf : gguf, to = toGguf ? gguf : hf;
                    System.arraycopy(b, from * r, out, to * r, r);
                }
        return out;
    }

    private static double number(JsonValue.Obj o, String key, double fallback) {
        return o.fields().get(key) instanceof JsonValue.Num n ? n.doubleValue() : fallback;
    }
}
