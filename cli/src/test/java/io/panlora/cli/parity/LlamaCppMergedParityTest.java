package io.panlora.cli.parity;

import io.panlora.llamacpp.*;

import static io.panlora.cli.parity.LlamaCppTesting.cli;
import static io.panlora.cli.parity.LlamaCppTesting.diff;
import static io.panlora.cli.parity.LlamaCppTesting.ours;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.panlora.gguf.GgmlType;
import io.panlora.gguf.GgufFile;
import io.panlora.lora.Target;
import io.panlora.model.LlamaModel;
import io.panlora.model.ModelInit;
import io.panlora.model.ModelWriter;
import io.panlora.model.TokenizerLoader;
import io.panlora.model.WeightTensor;
import io.panlora.tensor.Codec;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@code panlora export --merge} writes models llama.cpp runs like the base with the adapter: llama.cpp's logits of the merged
 * file equal panlora's logits of base + adapter (--lora). Bases: stories260K (F32), stories260K re-written by panlora's model
 * writer with its matrices in F16, BF16, Q8_0 and Q4_0 (ffn_down, 172 wide, stays F32 on the block types), and a tiny model of
 * {@code panlora init --type Q4_0}. The merged tensors keep F32/F16/BF16 and become F16 on quantized bases (or the --type asked
 * for); every other tensor is copied. Two roundings separate the engines: the merged weights W + ΔW stored in F16/BF16, and
 * llama.cpp's activations rounded to the vec_dot type of each non-F32 matrix product (F16, BF16, Q8_0).
 */
class LlamaCppMergedParityTest {
    static final int N = 128;

    @TempDir
    static Path dir;

    @BeforeAll
    static void requireLlamaCpp() {
        LlamaCppTesting.requireLlamaCpp();
    }

    /** stories260K with every matrix whose rows fit the type's blocks stored in that type (panlora's own writer and codecs). */
    static Path storiesAs(GgmlType type) throws IOException {
        Path out = dir.resolve("stories260K-" + type + ".gguf");
        if (!Files.exists(out)) rewrite(LlamaCppTesting.stories(), type, out);
        return out;
    }

    /** A model with its matrices re-stored in type (F32: every value decoded exactly), norms and metadata kept. */
    static void rewrite(Path model, GgmlType type, Path out) throws IOException {
        try (LlamaModel m = LlamaModel.load(model, LlamaModel.LoadOptions.cpu()); Arena arena = Arena.ofConfined()) {
            Map<String, WeightTensor> w = new LinkedHashMap<>();
            for (var e : m.weights().entrySet()) {
                WeightTensor t = e.getValue();
                float[] v = Codec.dequantize(t.type(), t.data(), t.ne0() * t.ne1());
                w.put(e.getKey(), t.ne1() > 1 ? ModelInit.tensor(v, t.ne0(), t.ne1(), type, arena) : t);
            }
            ModelWriter.write(out, m.gguf().orElseThrow().getString("general.name", "model") + "-" + type, m.config(),
                    TokenizerLoader.specFromGguf(m.gguf().orElseThrow()), w);
        }
    }

    /**
     * @param base      the base: stories260K in a type, or "init-Q4_0"
     * @param mergeType --type of the export, "-" for the default
     * @param adapted   the type the adapted tensors blk.0.attn_q and blk.1.ffn_up must have in the merged file
     * @param tol       max |Δlogit| accepted end to end (llama.cpp on the merged file against panlora on base + adapter)
     * @param nllTol    |Δ mean NLL| accepted end to end
     */
    @ParameterizedTest(name = "{0} base, --type {1}")
    @CsvSource({
            "F32,       -,    F32,  2e-4, 1e-5",
            "F16,       -,    F16,  0.1,  2e-3",
            "BF16,      -,    BF16, 1.0,  5e-3",
            "Q8_0,      -,    F16,  0.4,  3e-3",
            "Q4_0,      -,    F16,  0.4,  3e-3",
            "Q4_0,      F32,  F32,  0.4,  5e-3",
            "F32,       Q8_0, Q8_0, 1.5,  2e-2",
            "init-Q4_0, -,    F16,  0.02, 5e-4"})
    void mergedModelEqualsBasePlusAdapter(String base, String mergeType, String adapted, double tol, double nllTol) throws IOException {
        Path model;
        if (base.startsWith("init-")) {
            model = dir.resolve("tiny-" + base + ".gguf");
            if (!Files.exists(model))
                cli("init", "-o", model.toString(), "--preset", "tiny", "--type", base.substring(5), "-s", "7").ok();
        } else {
            model = base.equals("F32") ? LlamaCppTesting.stories() : storiesAs(GgmlType.valueOf(base));
        }
        String tag = base + "-" + mergeType;
        try (LlamaModel m = LlamaModel.load(model, LlamaModel.LoadOptions.cpu())) {
            int[] ids = LlamaCppTesting.storyIds(m, N);
            int nv = (int) m.config().nVocab();
            Path adapter = LlamaCppTesting.randomAdapter(m, dir.resolve("adapter-" + tag + ".gguf"), GgmlType.F32, 12,
                    Target.parseList("all"), 24f, false, base.startsWith("init-") ? 0.5f : 0.04f, 17);
            Path merged = dir.resolve("merged-" + tag + ".gguf");
            if (mergeType.equals("-")) cli("export", "-m", model.toString(), "--adapter", adapter.toString(), "--merge", "-o", merged.toString()).ok();
            else cli("export", "-m", model.toString(), "--adapter", adapter.toString(), "--merge", "--type", mergeType, "-o", merged.toString()).ok();
            try (GgufFile g = GgufFile.open(merged); GgufFile b = GgufFile.open(model)) {
                for (String t : new String[] {"blk.0.attn_q.weight", "blk.1.ffn_up.weight"})
                    assertEquals(adapted, g.tensor(t).type().name(), t + " in the merged file");
                for (String t : new String[] {"token_embd.weight", "blk.0.attn_norm.weight"})
                    assertEquals(b.tensor(t).type(), g.tensor(t).type(), t + ": unadapted tensors are copied");
            }
            float[] base0 = ours(m, ids), withAdapter = ours(m, ids, new Parity.Adapter(adapter, 1f));
            Path mergedF32 = dir.resolve("merged-" + tag + "-as-F32.gguf");
            rewrite(merged, GgmlType.F32, mergedF32);
            float[] theirs = llamaCpp(merged, ids), theirsF32 = llamaCpp(mergedF32, ids), oursMerged;
            try (LlamaModel mm = LlamaModel.load(merged, LlamaModel.LoadOptions.cpu())) {
                oursMerged = mm.logits(new int[][] {ids});
            }
            LlamaCppTesting.Diff d = diff(withAdapter, theirs, ids, nv), effect = diff(base0, withAdapter, ids, nv),
                    sameValues = diff(oursMerged, theirsF32, ids, nv), merging = diff(withAdapter, oursMerged, ids, nv);
            System.out.printf(Locale.ROOT, "merged %-24s %s; adapter effect max|dlogit| %.3f, NLL %.4f -> %.4f%n",
                    base + " base, --type " + mergeType, d, effect.maxAbs(), effect.nllA(), effect.nllB());
            System.out.printf(Locale.ROOT, "merged %-24s   its values as F32: %s; merging's own rounding: %s%n", "", sameValues, merging);
            assertTrue(effect.maxAbs() >= Math.max(1, 10 * sameValues.maxAbs()), "the adapter must matter: " + effect);
            // llama.cpp reads the merged file's values exactly: as F32 they give panlora's logits of the merged file
            assertTrue(sameValues.maxAbs() <= 2e-4 && sameValues.nllDelta() <= 1e-5, "merged file decoded to F32: " + sameValues);
            assertEquals(N, sameValues.argmaxAgree(), sameValues.toString());
            // end to end, within the rounding of the merged store and llama.cpp's arithmetic on non-F32 matrices
            assertTrue(d.maxAbs() <= tol, d.toString());
            assertTrue(d.nllDelta() <= nllTol, d.toString());
        }
    }

    static float[] llamaCpp(Path model, int[] ids) {
        try (LlamaCppModel lm = LlamaCppModel.load(model); LlamaCppContext ctx = LlamaCppTesting.context(lm, N)) {
            return ctx.logits(ids);
        }
    }
}
