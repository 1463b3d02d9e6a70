package io.panlora.cli.parity;

import io.panlora.llamacpp.*;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.panlora.gguf.GgmlType;
import io.panlora.gguf.GgufException;
import io.panlora.gguf.GgufFile;
import io.panlora.gguf.GgufTensorInfo;
import io.panlora.gguf.GgufWriter;
import io.panlora.lora.AdapterGguf;
import io.panlora.lora.LoraSet;
import io.panlora.lora.Target;
import io.panlora.model.LlamaConfig;
import io.panlora.model.LlamaModel;
import io.panlora.model.ModelInit;
import io.panlora.model.ModelWriter;
import io.panlora.testing.SharedData;
import io.panlora.tokenizer.BpeTrainer;
import java.io.IOException;
import io.panlora.bindings.LlamaCppLibrary;
import io.panlora.tensor.Codec;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Arrays;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Adapters in every supported type: our writer and reader round-trip each within its bound, rows that do not fit a type's block
 * fall back as documented, other types are refused, and llama.cpp (through the bridge) loads and runs each type with logits
 * equal to panlora's within {@link ParityTolerance}. The llama.cpp parts skip where llama.cpp is not built, and fail in CI.
 */
class QuantizedAdapterTest {
    @TempDir
    Path dir;

    /** Every dimension a multiple of 256, so rank-256 adapters hold every K-quant in both factors. */
    static final LlamaConfig K = LlamaConfig.llama(258, 256, 2, 4, 4, 512, 128);

    /**
     * Largest relative RMS error ‖x̂ − x‖/‖x‖ per tensor of Gaussian factors after write → read: about 1.2× the value measured
     * (F16 2.1e-4, BF16 1.7e-3, Q8_0 5.4e-3, Q6_K 1.8e-2, Q5_1 3.8e-2, Q5_K 3.6e-2, Q5_0 4.3e-2, Q4_1 7.8e-2, Q4_K 7.2e-2,
     * Q4_0 8.6e-2, Q3_K 0.15, Q2_K 0.30; F32 exact). The test also requires more than a quarter of the bound, so a tensor
     * stored in a more precise type than asked for fails too; one decoded as the wrong type is far outside.
     */
    static final Map<GgmlType, Double> ROUND_TRIP = new EnumMap<>(Map.ofEntries(
            Map.entry(GgmlType.F32, 0.0), Map.entry(GgmlType.F16, 2.5e-4), Map.entry(GgmlType.BF16, 2.0e-3),
            Map.entry(GgmlType.Q8_0, 6.5e-3), Map.entry(GgmlType.Q6_K, 2.1e-2), Map.entry(GgmlType.Q5_1, 4.5e-2),
            Map.entry(GgmlType.Q5_K, 4.4e-2), Map.entry(GgmlType.Q5_0, 5.2e-2), Map.entry(GgmlType.Q4_1, 9.4e-2),
            Map.entry(GgmlType.Q4_K, 8.6e-2), Map.entry(GgmlType.Q4_0, 0.104), Map.entry(GgmlType.Q3_K, 0.18),
            Map.entry(GgmlType.Q2_K, 0.36)));

    static void gaussian(LoraSet set, long seed, double sa, double sb) {
        SplittableRandom r = new SplittableRandom(seed);
        for (LoraSet.Slot s : set.slots()) {
            float[] a = new float[(int) s.aLength()], b = new float[(int) s.bLength()];
            for (int i = 0; i < a.length; i++) a[i] = (float) (r.nextGaussian() * sa);
            for (int i = 0; i < b.length; i++) b[i] = (float) (r.nextGaussian() * sb);
            set.setWeights(s, a, b);
        }
    }

    static double relRms(float[] got, float[] want) {
        double d = 0, n = 0;
        for (int i = 0; i < want.length; i++) {
            d += (got[i] - want[i]) * (double) (got[i] - want[i]);
            n += want[i] * (double) want[i];
        }
        return Math.sqrt(d / n);
    }

    static Map<String, GgmlType> types(Path adapter) throws IOException {
        Map<String, GgmlType> out = new java.util.LinkedHashMap<>();
        try (GgufFile f = GgufFile.open(adapter)) {
            for (GgufTensorInfo t : f.tensors()) out.put(t.name(), t.type());
        }
        return out;
    }

    @Test
    void everyTypeRoundTripsWithinItsBound() throws Exception {
        assertEquals(AdapterGguf.TYPES.size(), ROUND_TRIP.size(), "a bound for every supported type");
        Arena arena = Arena.ofShared();
        try (LlamaModel m = LlamaModel.fromWeights(K, ModelInit.randomWeights(K, GgmlType.F32, 1, false, arena), arena);
             LoraSet set = new LoraSet(m)) {
            for (Target t : List.of(Target.ATTN_Q, Target.FFN_GATE, Target.FFN_DOWN)) set.addSlot(1, t, 256, 1f / 256);
            gaussian(set, 3, 1, 1);
            StringBuilder measured = new StringBuilder();
            for (GgmlType type : AdapterGguf.TYPES) {
                Path p = dir.resolve(type + ".gguf");
                List<String> notes = AdapterGguf.write(p, set, K, type, "t");
                assertTrue(notes.isEmpty(), type + ": every row is a multiple of 256, no fallback: " + notes);
                types(p).forEach((name, got) -> assertEquals(type, got, name));
                try (LoraSet back = new LoraSet(m)) {
                    assertEquals(3, AdapterGguf.load(p, back, 1f));
                    double worst = 0;
                    for (int i = 0; i < 3; i++) {
                        LoraSet.Slot s = set.slots().get(i), b = back.slots().get(i);
                        assertEquals(s.target(), b.target());
                        assertEquals(set.scale(s), back.scale(b), 1e-9f, "alpha / r reproduces the scale");
                        worst = Math.max(worst, Math.max(relRms(back.getA(b), set.getA(s)), relRms(back.getB(b), set.getB(s))));
                    }
                    measured.append(String.format(Locale.ROOT, " %s %.2e", type, worst));
                    assertTrue(worst <= ROUND_TRIP.get(type), type + ": relative RMS error " + worst + " above its bound " + ROUND_TRIP.get(type));
                    if (type.isQuantized())
                        assertTrue(worst > ROUND_TRIP.get(type) / 4, type + ": error " + worst + " is far below the type's: was it stored in another type?");
                }
            }
            System.out.println("round-trip relative RMS error:" + measured);
        }
    }

    @Test
    void rowsThatDoNotFitABlockFallBackAsDocumented() throws Exception {
        assertEquals(GgmlType.Q4_0, AdapterGguf.typeFor(GgmlType.Q2_K, 32));
        assertEquals(GgmlType.Q4_0, AdapterGguf.typeFor(GgmlType.Q3_K, 64));
        assertEquals(GgmlType.Q4_1, AdapterGguf.typeFor(GgmlType.Q4_K, 96));
        assertEquals(GgmlType.Q5_1, AdapterGguf.typeFor(GgmlType.Q5_K, 128));
        assertEquals(GgmlType.Q8_0, AdapterGguf.typeFor(GgmlType.Q6_K, 160));
        assertEquals(GgmlType.Q6_K, AdapterGguf.typeFor(GgmlType.Q6_K, 512));
        for (GgmlType t : AdapterGguf.TYPES) {
            assertEquals(t.isQuantized() ? GgmlType.F16 : t, AdapterGguf.typeFor(t, 16), t + " with rows of 16");
            assertEquals(t, AdapterGguf.typeFor(t, 256), t + " with rows of 256");
        }
        // rank 32 on a model whose FFN is 96 (a multiple of 32, not of 256) and rank 16 on another target
        LlamaConfig c = LlamaConfig.llama(258, 256, 1, 4, 4, 96, 64);
        Arena arena = Arena.ofShared();
        try (LlamaModel m = LlamaModel.fromWeights(c, ModelInit.randomWeights(c, GgmlType.F32, 1, false, arena), arena);
             LoraSet set = new LoraSet(m)) {
            set.addSlot(0, Target.ATTN_Q, 32, 0.5f);
            set.addSlot(0, Target.FFN_DOWN, 32, 0.5f);
            set.addSlot(0, Target.ATTN_V, 16, 0.5f);
            gaussian(set, 4, 0.1, 0.1);
            Path p = dir.resolve("q4k.gguf");
            List<String> notes = AdapterGguf.write(p, set, c, GgmlType.Q4_K, "t");
            Map<String, GgmlType> got = types(p);
            assertEquals(GgmlType.Q4_K, got.get("blk.0.attn_q.weight.lora_a"), "in = 256: Q4_K");
            assertEquals(GgmlType.Q4_1, got.get("blk.0.attn_q.weight.lora_b"), "r = 32: the legacy neighbour");
            assertEquals(GgmlType.Q4_1, got.get("blk.0.ffn_down.weight.lora_a"), "in = 96: the legacy neighbour");
            assertEquals(GgmlType.F16, got.get("blk.0.attn_v.weight.lora_b"), "r = 16: F16");
            assertEquals(3, notes.size(), notes.toString());
            assertTrue(notes.stream().anyMatch(n -> n.contains("lora_b") && n.contains("rows of 32") && n.contains("written as Q4_1")), notes.toString());
            assertTrue(notes.stream().anyMatch(n -> n.contains("lora_a") && n.contains("rows of 96") && n.contains("written as Q4_1")), notes.toString());
            assertTrue(notes.stream().anyMatch(n -> n.contains("rows of 16") && n.contains("written as F16") && n.contains("attn_v")), notes.toString());
            assertEquals("6 tensors: 3 Q4_1, 2 Q4_K, 1 F16", AdapterGguf.typeSummary(p));
            Path q = dir.resolve("q4_0.gguf");
            AdapterGguf.write(q, set, c, GgmlType.Q4_0, "t");
            assertEquals(GgmlType.Q4_0, types(q).get("blk.0.ffn_down.weight.lora_a"), "a legacy type fits rows of 96");
            assertTrue(AdapterGguf.reproduces(q, set), "the set the file was written from");
            gaussian(set, 5, 0.1, 0.1);
            assertTrue(!AdapterGguf.reproduces(q, set), "other factors");
        }
    }

    @Test
    void otherTypesAreRefusedByTheWriterAndTheReader() throws Exception {
        Arena arena = Arena.ofShared();
        try (LlamaModel m = LlamaModel.fromWeights(K, ModelInit.randomWeights(K, GgmlType.F32, 1, false, arena), arena);
             LoraSet set = new LoraSet(m)) {
            set.addSlot(0, Target.ATTN_Q, 256, 1f);
            gaussian(set, 6, 0.1, 0.1);
            for (GgmlType t : List.of(GgmlType.Q8_1, GgmlType.Q8_K, GgmlType.IQ4_NL, GgmlType.IQ2_XS, GgmlType.TQ1_0, GgmlType.MXFP4, GgmlType.I8)) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> AdapterGguf.write(dir.resolve("x.gguf"), set, K, t, "t"));
                assertTrue(e.getMessage().contains(t.toString()) && e.getMessage().contains("Q2_K"), e.getMessage());
                assertTrue(!Files.exists(dir.resolve("x.gguf")));
            }
            // a file holding a Q8_K factor (a type llama.cpp uses for activations only)
            GgufWriter w = new GgufWriter();
            w.putString("general.architecture", "llama");
            w.putString("general.type", "adapter");
            w.putString("adapter.type", "lora");
            w.putFloat32("adapter.lora.alpha", 256f);
            w.addTensor("blk.0.attn_q.weight.lora_a", new long[] {256, 256}, GgmlType.Q8_K, arena.allocate(GgmlType.Q8_K.tensorBytes(new long[] {256, 256})));
            w.addTensor("blk.0.attn_q.weight.lora_b", new long[] {256, 256}, GgmlType.F16, arena.allocate(GgmlType.F16.tensorBytes(new long[] {256, 256})));
            Path bad = dir.resolve("q8k.gguf");
            w.write(bad);
            try (LoraSet back = new LoraSet(m)) {
                GgufException e = assertThrows(GgufException.class, () -> AdapterGguf.load(bad, back, 1f));
                assertTrue(e.getMessage().contains("q8k.gguf") && e.getMessage().contains("blk.0.attn_q.weight.lora_a") && e.getMessage().contains("Q8_K"),
                        e.getMessage());
            }
        }
    }

    // ---- llama.cpp ----

    static void requireLlamaCpp() {
        SharedData.present(LlamaCpp.available(), "llama.cpp " + io.panlora.bindings.LlamaCppLibrary.TAG + " is not built (native/llama.cpp/build.sh)");
    }

    static final String TEXT = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park with her dog. "
            + "One day, she saw a big red ball under a tree, and she ran to get it. \"Mom, look!\" she said. "
            + "Her mom smiled and said they could play until the sun went down.";

    /**
     * What this test accepts between panlora and llama.cpp per adapter type, |Δ mean NLL| and max |Δlogit| over the window:
     * about three times the largest measured here (F16 1.1e-5 / 1.4e-3, BF16 1.4e-4 / 9.3e-3, quantized 8.7e-4 / 4.3e-2),
     * tighter than verify's defaults ({@link ParityTolerance}, which must hold too).
     */
    static ParityTolerance testTolerance(GgmlType t) {
        return switch (t) {
            case F32 -> new ParityTolerance(1e-5, 1e-4);
            case F16 -> new ParityTolerance(5e-5, 5e-3);
            case BF16 -> new ParityTolerance(5e-4, 3e-2);
            default -> new ParityTolerance(2.5e-3, 0.15);
        };
    }

    /**
     * Writes the adapter in every type, checks the types in the file (no fallback where expectNoFallback), and runs each through
     * both engines: token ids equal, NLL and logits within the type's tolerance, and the adapter moving panlora's logits by at
     * least 1 and 20 times the difference between the engines (so an adapter llama.cpp ignored, or half-applied, could not pass).
     */
    static void runEveryType(Path dir, Path base, LoraSet set, LlamaConfig c, boolean expectNoFallback) throws IOException {
        int[] ids;
        float[] plain;
        try (LlamaModel m = LlamaModel.load(base, LlamaModel.LoadOptions.cpu())) {
            ids = io.panlora.model.TokenizerLoader.fromGguf(m.gguf().orElseThrow()).encode(TEXT, true, false);
            ids = java.util.Arrays.copyOf(ids, Math.min(ids.length, 128));
            plain = Parity.ourLogits(m, List.of(), ids);
        }
        StringBuilder sb = new StringBuilder();
        List<String> failures = new ArrayList<>();
        for (GgmlType type : AdapterGguf.TYPES) {
            Path p = dir.resolve(base.getFileName() + "-" + type + ".gguf");
            List<String> notes = AdapterGguf.write(p, set, c, type, "t");
            if (expectNoFallback) {
                assertTrue(notes.isEmpty(), type + ": " + notes);
                types(p).forEach((name, got) -> assertEquals(type, got, name));
            }
            Parity.Adapter ad = new Parity.Adapter(p, 1f);
            Parity.Report r;
            try {
                r = Parity.run(base, List.of(ad), TEXT, 128, 2);
            } catch (LlamaCppException e) {
                failures.add(type + ": llama.cpp refused it: " + e.getMessage());
                continue;
            }
            double effect = 0;
            try (LlamaModel m = LlamaModel.load(base, LlamaModel.LoadOptions.cpu())) {
                float[] adapted = Parity.ourLogits(m, List.of(ad), ids);
                for (int i = 0; i < adapted.length; i++) effect = Math.max(effect, Math.abs(adapted[i] - plain[i]));
            }
            sb.append(String.format(Locale.ROOT, "%n  %-5s |dNLL| %.2e  max|dlogit| %.2e  (adapter effect max|dlogit| %.2f)", type, r.nllDelta(),
                    r.maxAbsDelta(), effect));
            ParityTolerance tol = ParityTolerance.forFiles(List.of(base, p)), mine = testTolerance(type);
            if (!r.tokensEqual()) failures.add(type + ": token ids differ");
            if (!r.within(tol.nll(), tol.logit())) failures.add(type + ": " + r + " beyond verify's default " + tol);
            if (!r.within(mine.nll(), mine.logit())) failures.add(type + ": " + r + " beyond " + mine);
            if (effect < Math.max(1, 20 * r.maxAbsDelta())) failures.add(type + ": the adapter moves the logits by only " + effect + ": " + r);
        }
        System.out.println(base.getFileName() + ":" + sb);
        assertTrue(failures.isEmpty(), String.join("\n", failures));
    }

    /**
     * ggml (llama.cpp's libggml-base) decodes the blocks our writer makes to exactly the values our reader gets, for every
     * supported type, and its reference quantizer writes the same bytes as ours. So llama.cpp runs an adapter file with the very
     * values panlora does; what differs in the logits is arithmetic (the activation rounding of its quantized matmuls).
     */
    @Test
    void ggmlDecodesOurBlocksToOurValues() {
        requireLlamaCpp();
        LlamaCpp.init();
        SplittableRandom r = new SplittableRandom(12);
        int n = 256 * 6;
        float[] x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float) (r.nextGaussian() * Math.pow(10, (i / 256) - 3)); // six blocks of 256 at 1e-3 .. 1e2
        for (int i = 320; i < 352; i++) x[i] = 0; // an all-zero legacy block
        List<String> failures = new ArrayList<>();
        try (Arena a = Arena.ofConfined()) {
            for (GgmlType t : AdapterGguf.TYPES) {
                if (t == GgmlType.F32) continue;
                MemorySegment ours = Codec.quantize(t, x, a);
                float[] mine = Codec.dequantize(t, ours, n);
                float[] theirs = Ggml.toFloat(t, ours, n, a);
                int d = Arrays.mismatch(Ggml.bits(mine), Ggml.bits(theirs));
                if (d >= 0) failures.add(t + ": ggml decodes element " + d + " as " + theirs[d] + ", panlora as " + mine[d]);
                long m = Ggml.fromFloatRef(t, x, a).mismatch(ours);
                if (m >= 0) failures.add(t + ": ggml's reference quantizer differs from ours at byte " + m);
            }
        }
        assertTrue(failures.isEmpty(), String.join("\n", failures));
    }

    /** ggml's per-type codecs (ggml_get_type_traits: to_float, from_float_ref), called directly in libggml-base. */
    static final class Ggml {
        private static final Linker L = Linker.nativeLinker();
        private static final SymbolLookup LIB = SymbolLookup.libraryLookup(
                LlamaCppLibrary.find().resolve("lib").resolve(System.mapLibraryName("ggml-base")), Arena.global());
        private static final MethodHandle TRAITS = L.downcallHandle(LIB.find("ggml_get_type_traits").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.JAVA_INT));
        /** void (const void * src, void * dst, int64_t n): the shape of to_float and from_float_ref. */
        private static final FunctionDescriptor ROW = FunctionDescriptor.ofVoid(ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG);
        /** Offsets in struct ggml_type_traits: type_name, blck_size, blck_size_interleave, type_size, is_quantized, to_float, from_float_ref. */
        private static final long BLCK = 8, TYPE_SIZE = 24, TO_FLOAT = 40, FROM_FLOAT_REF = 48;

        static MemorySegment traits(GgmlType t) {
            try {
                MemorySegment p = ((MemorySegment) TRAITS.invokeExact(t.id())).reinterpret(56);
                assertEquals(t.blockSize(), p.get(ValueLayout.JAVA_LONG, BLCK), t + ": ggml's block size");
                assertEquals(t.typeSize(), p.get(ValueLayout.JAVA_LONG, TYPE_SIZE), t + ": ggml's block bytes");
                return p;
            } catch (Throwable e) {
                throw new AssertionError(e);
            }
        }

        static void call(MemorySegment fn, MemorySegment src, MemorySegment dst, long n) {
            if (fn.equals(MemorySegment.NULL)) throw new AssertionError("ggml has no such conversion");
            try {
                L.downcallHandle(fn, ROW).invokeExact(src, dst, n);
            } catch (Throwable e) {
                throw new AssertionError(e);
            }
        }

        static float[] toFloat(GgmlType t, MemorySegment blocks, long n, Arena a) {
            MemorySegment out = a.allocate(ValueLayout.JAVA_FLOAT, n);
            call(traits(t).get(ValueLayout.ADDRESS, TO_FLOAT), blocks, out, n);
            return out.toArray(ValueLayout.JAVA_FLOAT);
        }

        static MemorySegment fromFloatRef(GgmlType t, float[] x, Arena a) {
            MemorySegment src = a.allocateFrom(ValueLayout.JAVA_FLOAT, x);
            MemorySegment out = a.allocate(t.rowBytes(x.length), 64);
            call(traits(t).get(ValueLayout.ADDRESS, FROM_FLOAT_REF), src, out, x.length);
            return out;
        }

        static int[] bits(float[] v) {
            int[] b = new int[v.length];
            for (int i = 0; i < v.length; i++) b[i] = Float.floatToRawIntBits(v[i]);
            return b;
        }
    }

    @Test
    void llamaCppRunsEveryTypeWithKQuantsInBothFactors() throws Exception {
        requireLlamaCpp();
        Path base = dir.resolve("k256.gguf");
        Arena arena = Arena.ofShared();
        ModelWriter.write(base, "k256", K, BpeTrainer.byteVocabulary(List.of()), ModelInit.randomWeights(K, GgmlType.F32, 7, false, arena));
        try (LlamaModel m = LlamaModel.load(base, LlamaModel.LoadOptions.cpu()); LoraSet set = new LoraSet(m)) {
            for (int l = 0; l < K.nLayer(); l++) for (Target t : Target.values()) set.addSlot(l, t, 256, 1f / 256);
            gaussian(set, 9, 1.0 / 16, 4);
            runEveryType(dir, base, set, K, true);
        }
    }

    @Test
    void llamaCppRunsEveryTypeOnStories260K() throws Exception {
        requireLlamaCpp();
        Path base = SharedData.require("stories260K.gguf");
        try (LlamaModel m = LlamaModel.load(base, LlamaModel.LoadOptions.cpu()); LoraSet set = new LoraSet(m)) {
            for (int l = 0; l < m.config().nLayer(); l++) for (Target t : Target.values()) set.addSlot(l, t, 32, 1f);
            gaussian(set, 10, 1.0 / 8, 0.0125);
            runEveryType(dir, base, set, m.config(), false);
        }
    }
}
