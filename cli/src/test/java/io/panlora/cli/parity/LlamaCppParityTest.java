package io.panlora.cli.parity;

import io.panlora.llamacpp.*;

import static io.panlora.cli.parity.LlamaCppTesting.cli;
import static io.panlora.cli.parity.LlamaCppTesting.diff;
import static io.panlora.cli.parity.LlamaCppTesting.ours;
import static io.panlora.cli.parity.LlamaCppTesting.randomAdapter;
import static io.panlora.cli.parity.LlamaCppTesting.theirs;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.panlora.gguf.GgmlType;
import io.panlora.gguf.GgufFile;
import io.panlora.gguf.GgufTensorInfo;
import io.panlora.lora.AdapterGguf;
import io.panlora.lora.LoraSet;
import io.panlora.lora.Target;
import io.panlora.model.LlamaModel;
import io.panlora.testing.SharedData;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * llama.cpp loads the adapters panlora writes and computes what panlora computes: the logits of a 128-token window of
 * TinyStories on stories260K, from panlora's engine (the adapter file loaded by AdapterGguf, as --lora) and from llama.cpp
 * (the same file through llama_adapter_lora_init, F32 KV cache), for every adapter type, ranks that are not a multiple of 32,
 * attention / FFN / all seven targets, rsLoRA, several adapters at once with different user scales, folded multi-slot files,
 * and the exports of the COLA and LoRASC variants. Every case also checks that the adapter moves the logits far more than the
 * tolerance, so an adapter llama.cpp ignored could not pass.
 */
class LlamaCppParityTest {
    static final int N = 128;

    /**
     * What is accepted per adapter type: max |Δlogit| over the window (logits of stories260K reach |22|) and |Δ mean NLL|. Both
     * engines decode the file to the same values (checked for every non-F32 case by {@link #sameValuesAsF32}); what differs is
     * arithmetic: llama.cpp rounds the activations entering an F16 / BF16 / Q8_0 matrix product to that type (ggml's vec_dot
     * types) and panlora multiplies in F32. Measured maxima here (random adapters of ranks 5, 12 and 32 on attention, FFN and all
     * targets, several at once, folded slots, trained rsLoRA / COLA / LoRASC exports): F32 5.8e-5 / 7e-7, F16 5.0e-3 / 2.3e-5,
     * BF16 4.2e-2 / 4.8e-4, Q8_0 0.15 / 1.4e-3; every non-F32 file converted to F32: 4.2e-5 / 7e-7.
     */
    record Tol(double logit, double nll) {}

    static Tol tolerance(GgmlType t) {
        return switch (t) {
            case F32 -> new Tol(2e-4, 1e-5);
            case F16 -> new Tol(1e-2, 2e-4);
            case BF16 -> new Tol(0.1, 2e-3);
            case Q8_0 -> new Tol(0.3, 5e-3);
            default -> throw new IllegalArgumentException(t.toString());
        };
    }

    /** An adapter must move some logit by at least this many times the engines' difference, and by at least 1. */
    static final double EFFECT = 10;

    @TempDir
    static Path dir;
    static LlamaModel m;
    static LlamaCppModel lm;
    static LlamaCppContext ctx;
    static int[] ids;
    static float[] base;
    static int nv;

    @BeforeAll
    static void load() throws IOException {
        LlamaCppTesting.requireLlamaCpp();
        Path model = LlamaCppTesting.stories();
        m = LlamaModel.load(model, LlamaModel.LoadOptions.cpu());
        lm = LlamaCppModel.load(model);
        ctx = LlamaCppTesting.context(lm, N);
        ids = LlamaCppTesting.storyIds(m, N);
        nv = (int) m.config().nVocab();
        base = ours(m, ids);
    }

    @AfterAll
    static void close() {
        if (lm != null) lm.close();
        if (m != null) m.close();
    }

    /** Compares both engines on these adapters; checks the tolerance and that the adapters have a real effect. */
    static LlamaCppTesting.Diff check(String what, Tol tol, Parity.Adapter... adapters) throws IOException {
        float[] a = ours(m, ids, adapters), b = theirs(lm, ctx, ids, adapters);
        LlamaCppTesting.Diff d = diff(a, b, ids, nv), effect = diff(base, a, ids, nv);
        System.out.printf(Locale.ROOT, "parity %-44s %s; adapter effect max|dlogit| %.3f, NLL %.4f -> %.4f%n", what, d, effect.maxAbs(),
                effect.nllA(), effect.nllB());
        assertTrue(effect.maxAbs() >= Math.max(1, EFFECT * d.maxAbs()), what + ": the adapter moves the logits by only " + effect.maxAbs());
        assertTrue(d.maxAbs() <= tol.logit(), what + ": " + d + " beyond the tolerance " + tol);
        assertTrue(d.nllDelta() <= tol.nll(), what + ": " + d + " beyond the tolerance " + tol);
        if (tol.equals(tolerance(GgmlType.F32))) assertEquals(N, d.argmaxAgree(), what + ": " + d);
        return d;
    }

    @Test
    void baseModelLogitsAreEqual() throws IOException {
        float[] b = theirs(lm, ctx, ids);
        LlamaCppTesting.Diff d = diff(base, b, ids, nv);
        System.out.println("parity base stories260K " + d);
        assertTrue(d.maxAbs() <= tolerance(GgmlType.F32).logit(), d.toString());
        assertTrue(d.nllDelta() <= tolerance(GgmlType.F32).nll(), d.toString());
        assertEquals(N, d.argmaxAgree());
    }

    static Stream<Arguments> adapterCases() {
        List<Arguments> out = new ArrayList<>();
        for (GgmlType t : List.of(GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0))
            for (int rank : t == GgmlType.Q8_0 ? new int[] {5, 12, 32} : new int[] {5, 12})
                for (String targets : List.of("q,k,v,o", "gate,up,down", "all")) out.add(Arguments.of(t, rank, targets));
        return out.stream();
    }

    @ParameterizedTest(name = "{0} rank {1} targets {2}")
    @MethodSource("adapterCases")
    void randomAdapterOfEveryTypeRankAndTargetSet(GgmlType type, int rank, String targets) throws IOException {
        Path f = randomAdapter(m, dir.resolve("r-" + type + "-" + rank + "-" + targets.replace(',', '_') + ".gguf"), type, rank,
                Target.parseList(targets), 2f * rank, false, (float) (0.04 * Math.sqrt(8.0 / rank)), 11L * rank + targets.length());
        check(type + " r" + rank + " " + targets, tolerance(type), new Parity.Adapter(f, 1f));
        if (type != GgmlType.F32) sameValuesAsF32(f, type + " r" + rank + " " + targets);
    }

    /**
     * The gap of a quantized or half-precision adapter is llama.cpp's arithmetic, not its reading of the file: the file's values
     * converted to F32 (panlora's export, exact) give llama.cpp the logits panlora computes from the original within the F32
     * tolerance.
     */
    static void sameValuesAsF32(Path f, String what) throws IOException {
        Path f32 = f.resolveSibling(f.getFileName().toString().replace(".gguf", "") + "-as-F32.gguf");
        cli("export", "-m", LlamaCppTesting.stories().toString(), "--adapter", f.toString(), "-o", f32.toString(), "--type", "F32").ok();
        LlamaCppTesting.Diff d = diff(ours(m, ids, new Parity.Adapter(f, 1f)), theirs(lm, ctx, ids, new Parity.Adapter(f32, 1f)), ids, nv);
        System.out.printf(Locale.ROOT, "parity %-44s %s%n", what + " as F32", d);
        assertTrue(d.maxAbs() <= tolerance(GgmlType.F32).logit() && d.nllDelta() <= tolerance(GgmlType.F32).nll(), what + " converted to F32: " + d);
    }

    @Test
    void severalAdaptersAtOnceWithDifferentUserScales() throws IOException {
        Path a = randomAdapter(m, dir.resolve("multi-a.gguf"), GgmlType.F32, 5, Target.parseList("attn"), 10f, false, 0.04f, 1);
        Path b = randomAdapter(m, dir.resolve("multi-b.gguf"), GgmlType.F32, 12, Target.parseList("ffn"), 24f, false, 0.04f, 2);
        Path c = randomAdapter(m, dir.resolve("multi-c.gguf"), GgmlType.F32, 7, Target.parseList("all"), 14f, true, 0.04f, 3);
        check("3 adapters F32 at 0.5, 1.5, -0.7", tolerance(GgmlType.F32),
                new Parity.Adapter(a, 0.5f), new Parity.Adapter(b, 1.5f), new Parity.Adapter(c, -0.7f));
        Path d = randomAdapter(m, dir.resolve("multi-d.gguf"), GgmlType.F16, 12, Target.parseList("all"), 24f, false, 0.04f, 4);
        Path e = randomAdapter(m, dir.resolve("multi-e.gguf"), GgmlType.Q8_0, 32, Target.parseList("q,v,down"), 32f, false, 0.04f, 5);
        check("F16 + Q8_0 adapters at 1.25, 0.8", tolerance(GgmlType.Q8_0), new Parity.Adapter(d, 1.25f), new Parity.Adapter(e, 0.8f));
    }

    /** Several slots on one target with different ranks and scales (and rsLoRA's), folded into one factor pair by the writer. */
    @Test
    void foldedMultiSlotFile() throws IOException {
        Path f = dir.resolve("folded.gguf");
        try (LoraSet set = new LoraSet(m)) {
            SplittableRandom r = new SplittableRandom(9);
            for (int layer = 0; layer < m.config().nLayer(); layer++)
                for (Target t : Target.values()) {
                    LlamaCppTesting.fill(set, set.addSlot(layer, t, 5, 2f), r, 0.02f);
                    LlamaCppTesting.fill(set, set.addSlot(layer, t, 3, -0.6f), r, 0.02f);
                    LlamaCppTesting.fill(set, set.addSlot(layer, t, 12, (float) (16 / Math.sqrt(12))), r, 0.02f);
                }
            AdapterGguf.write(f, set, m.config(), GgmlType.F32, "folded");
        }
        try (GgufFile g = GgufFile.open(f)) {
            assertEquals(20, g.tensor("blk.0.attn_q.weight.lora_b").ne()[0], "three slots folded into rank 5 + 3 + 12");
        }
        check("folded slots r5@2 + r3@-0.6 + r12@rs", tolerance(GgmlType.F32), new Parity.Adapter(f, 1f));
    }

    /** A real rsLoRA training run of the CLI (all seven targets, rank 12) exported as F32 and as Q8_0. */
    @Test
    void rsLoraTrainingRun() throws IOException {
        Path run = dir.resolve("rslora");
        cli("train", "-m", LlamaCppTesting.stories().toString(), "--data", data().toString(), "-o", run.toString(), "--rank", "12",
                "--alpha", "16", "--rslora", "--targets", "all", "--steps", "6", "--batch", "2", "--ctx", "64", "--lr", "1e-2",
                "--adapter-type", "F32", "--eval-every", "0", "-s", "3").ok();
        Path f32 = run.resolve("adapter.gguf");
        try (GgufFile g = GgufFile.open(f32)) {
            assertEquals(16 / Math.sqrt(12) * 12, g.getFloat("adapter.lora.alpha"), 1e-3, "rsLoRA: alpha = (16/sqrt 12) * 12");
        }
        check("rsLoRA r12 all (trained) F32", tolerance(GgmlType.F32), new Parity.Adapter(f32, 1f));
        Path q8 = dir.resolve("rslora-q8.gguf");
        cli("export", "-m", LlamaCppTesting.stories().toString(), "--checkpoint", run.toString(), "-o", q8.toString(), "--type", "Q8_0").ok();
        check("rsLoRA r12 all (trained) Q8_0 export", tolerance(GgmlType.Q8_0), new Parity.Adapter(q8, 1f));
    }

    /** COLA: the chain of links (rank links × r) exported as one adapter; also re-exported from the checkpoint as F16. */
    @Test
    void colaChainExport() throws IOException {
        Path run = dir.resolve("cola");
        cli("train", "-m", LlamaCppTesting.stories().toString(), "--data", data().toString(), "-o", run.toString(), "--variant", "cola",
                "--cola-links", "3", "--rank", "5", "--targets", "all", "--steps", "6", "--batch", "2", "--ctx", "64", "--lr", "1e-2",
                "--adapter-type", "F32", "--eval-every", "0", "-s", "4").ok();
        Path f = run.resolve("adapter.gguf");
        try (GgufFile g = GgufFile.open(f)) {
            assertEquals(15, g.tensor("blk.0.ffn_down.weight.lora_b").ne()[0], "3 links of rank 5");
        }
        check("COLA 3 links r5 all F32", tolerance(GgmlType.F32), new Parity.Adapter(f, 1f));
        Path f16 = dir.resolve("cola-f16.gguf");
        cli("export", "-m", LlamaCppTesting.stories().toString(), "--checkpoint", run.toString(), "-o", f16.toString(), "--type", "F16").ok();
        check("COLA 3 links r5 all F16 export", tolerance(GgmlType.F16), new Parity.Adapter(f16, 1f));
    }

    /** LoRASC: the slow update S re-factorised into frozen slots, exported as one adapter. */
    @Test
    void lorascFoldedExport() throws IOException {
        Path run = dir.resolve("lorasc");
        cli("train", "-m", LlamaCppTesting.stories().toString(), "--data", data().toString(), "-o", run.toString(), "--variant", "lorasc",
                "--lorasc-every", "2", "--rank", "5", "--targets", "all", "--steps", "6", "--batch", "2", "--ctx", "64", "--lr", "1e-2",
                "--adapter-type", "F32", "--eval-every", "0", "-s", "5").ok();
        Path f = run.resolve("adapter.gguf");
        try (GgufFile g = GgufFile.open(f)) {
            GgufTensorInfo b = g.tensor("blk.0.attn_q.weight.lora_b");
            assertTrue(b.ne()[0] > 5, "the cascade's iterations folded into rank > 5, got " + b.ne()[0]);
        }
        check("LoRASC 3 iterations r5 all F32", tolerance(GgmlType.F32), new Parity.Adapter(f, 1f));
        Path bf16 = dir.resolve("lorasc-bf16.gguf");
        cli("export", "-m", LlamaCppTesting.stories().toString(), "--adapter", f.toString(), "-o", bf16.toString(), "--type", "BF16").ok();
        check("LoRASC converted to BF16", tolerance(GgmlType.BF16), new Parity.Adapter(bf16, 1f));
    }

    /** 40 KB of Shakespeare, the training text of the CLI runs. */
    static Path data() throws IOException {
        Path p = dir.resolve("shakespeare-40k.txt");
        if (!Files.exists(p)) Files.writeString(p, Files.readString(SharedData.require("tinyshakespeare.txt")).substring(0, 40_000));
        return p;
    }
}
