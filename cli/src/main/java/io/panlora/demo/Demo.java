package io.panlora.demo;

import io.panlora.data.Dataset;
import io.panlora.data.Packer;
import io.panlora.data.ReadOptions;
import io.panlora.generate.Generator;
import io.panlora.generate.Sampler;
import io.panlora.gguf.GgmlType;
import io.panlora.lora.AdapterGguf;
import io.panlora.lora.LoraSet;
import io.panlora.model.LlamaConfig;
import io.panlora.model.LlamaModel;
import io.panlora.model.ModelInit;
import io.panlora.model.ModelWriter;
import io.panlora.model.TokenizerLoader;
import io.panlora.model.WeightTensor;
import io.panlora.tokenizer.BpeTrainer;
import io.panlora.tokenizer.Tokenizer;
import io.panlora.tokenizer.TokenizerSpec;
import io.panlora.train.BatchSource;
import io.panlora.train.DatasetBatches;
import io.panlora.train.LoraRun;
import io.panlora.train.LrSchedule;
import io.panlora.train.StepEngine;
import io.panlora.train.TrainConfig;
import io.panlora.train.Trainer;
import io.panlora.train.TrainingStrategy;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * The main job: pretrain a small LLaMA on the JDK's manuals (cached), LoRA-fine-tune it on the JDK's legal
 * notices, export a Q8_0 GGUF adapter, and show held-out loss and samples with and without the adapter.
 */
public final class Demo {
    /**
     * Knobs of the demo (defaults fit 2 cores and ~10 minutes with the build). {@code where} is the device of the base
     * pretraining (FULL mode: a CUDA model writes its updated weights back to the host arrays after every step), the LoRA
     * fine-tune and the samples.
     */
    public record Options(Path cacheDir, Path outDir, int baseSteps, int loraSteps, boolean rebuildBase, PrintStream out,
                          LlamaModel.LoadOptions where) {
        public Options {
            if (where == null) where = LlamaModel.LoadOptions.cpu();
        }

        /** On the CPU. */
        public Options(Path cacheDir, Path outDir, int baseSteps, int loraSteps, boolean rebuildBase, PrintStream out) {
            this(cacheDir, outDir, baseSteps, loraSteps, rebuildBase, out, LlamaModel.LoadOptions.cpu());
        }
    }

    /** The base model's shape: 4 blocks of width 256 (GQA 8/4), FFN 704, BPE vocabulary 2048, context 256. */
    static LlamaConfig baseShape(int vocab) {
        return LlamaConfig.llama(vocab, 256, 4, 8, 4, 704, 256);
    }

    private Demo() {}

    public static void run(Options o) throws IOException {
        PrintStream out = o.out();
        Files.createDirectories(o.cacheDir());
        Files.createDirectories(o.outDir());
        Path home = JdkCorpora.javaHome();
        Path manuals = o.cacheDir().resolve("jdk-manuals.txt"), legal = o.cacheDir().resolve("jdk-legal.txt");
        if (!Files.exists(manuals)) Files.writeString(manuals, JdkCorpora.manuals(home));
        if (!Files.exists(legal)) Files.writeString(legal, JdkCorpora.legal(home));
        out.printf("corpora (from %s): manuals %d KB (base pretraining), legal notices %d KB (fine-tuning)%n", home,
                Files.size(manuals) / 1024, Files.size(legal) / 1024);
        Path base = o.cacheDir().resolve("demo-base.gguf");
        if (o.rebuildBase() || !Files.exists(base)) {
            pretrain(manuals, base, o.baseSteps(), o.outDir().resolve("base"), o.where(), out);
        }
        else out.println("base model: reusing " + base + " (--rebuild-base to train it again)");

        // LoRA fine-tune on the legal notices; the last 10% of their windows are held out
        out.println("\n== LoRA fine-tune on the JDK legal notices ==");
        TrainConfig cfg = TrainConfig.builder().lora(32, 32f).targets("all").lr(2e-3f, LrSchedule.Kind.COSINE, 10, 0.1f)
                .steps(o.loraSteps()).batch(8, 128, 1).seed(7).eval(Math.max(1, o.loraSteps() / 4), 0).checkpointEvery(0).build();
        Path runDir = o.outDir().resolve("lora");
        LoraRun.Summary s = LoraRun.run(new LoraRun.Options(base, legal, null, 0.10, cfg, 0, ReadOptions.defaults(), GgmlType.Q8_0,
                runDir, false, out, TrainingStrategy.LORA, o.where()));
        Trainer.Result r = s.result();
        double drop = r.valBefore() - r.valAfter();
        out.println("\n== Result ==");
        out.printf("held-out loss on the legal notices: %.4f -> %.4f nats/token (-%.4f, %.1f%%; perplexity %.2f -> %.2f)%n",
                r.valBefore(), r.valAfter(), drop, 100 * drop / r.valBefore(), Math.exp(r.valBefore()), Math.exp(r.valAfter()));
        out.printf("adapter: %s (Q8_0, %d KB)%nloss plot: %s%nmetrics: %s%n", s.adapter(), Files.size(s.adapter()) / 1024,
                r.plot() != null ? r.plot() : "not written (see the warning above)", r.metrics());
        samples(base, s.adapter(), o.where(), out);
        throughLlamaCpp(base, s.adapter(), legal, out);
    }

    /**
     * The held-out part of the legal notices (the last 10 % of its tokens, as text) scored by panlora and by llama.cpp (built
     * from source by native/llama.cpp/build.sh), base alone and with the exported adapter, side by side: windows of 128 tokens
     * (BOS + 127), each engine with its own tokenizer, llama.cpp with an F32 KV cache.
     */
    static void throughLlamaCpp(Path base, Path adapter, Path legal, PrintStream out) throws IOException {
        out.println("\n== The exported adapter through llama.cpp ==");
        if (!io.panlora.llamacpp.LlamaCpp.available()) {
            out.println("llama.cpp is not built on this machine: run native/llama.cpp/build.sh (or ./ci/test.sh) to score the adapter through it too");
            return;
        }
        io.panlora.llamacpp.LlamaCpp.init();
        var info = io.panlora.llamacpp.LlamaCpp.buildInfo();
        int ctx = 128;
        String heldOut;
        double[] ours = new double[2], theirs = new double[2];
        boolean sameIds;
        try (LlamaModel m = LlamaModel.load(base, LlamaModel.LoadOptions.cpu());
             var lm = io.panlora.llamacpp.LlamaCppModel.load(base)) {
            Tokenizer tok = TokenizerLoader.fromGguf(m.gguf().orElseThrow());
            int[] all = tok.encode(Files.readString(legal), false, false);
            heldOut = tok.decode(java.util.Arrays.copyOfRange(all, all.length - all.length / 10, all.length));
            int[] ids = tok.encode(heldOut, false, false), lids = lm.tokenize(heldOut, false, false);
            sameIds = java.util.Arrays.equals(ids, lids);
            for (int k = 0; k < 2; k++) {
                boolean with = k == 1;
                try (LoraSet set = new LoraSet(m)) {
                    if (with) {
                        AdapterGguf.load(adapter, set, 1f);
                        set.attach();
                    }
                    ours[k] = io.panlora.model.Perplexity.evaluate(ids, tok.bos(), ctx, -1, 4, 0, m::nll, null).meanNll();
                    if (with) set.detach();
                }
                try (var c = lm.newContext(io.panlora.llamacpp.LlamaCppContext.Options.of(ctx))) {
                    if (with) c.setAdapters(List.of(new io.panlora.llamacpp.LlamaCppContext.Scaled(lm.loadAdapter(adapter), 1f)));
                    theirs[k] = io.panlora.model.Perplexity.evaluate(lids, lm.bos(), ctx, -1, 1, 0, c::nll, null).meanNll();
                }
            }
        }
        out.printf("llama.cpp %s (commit %.7s), held-out text %d KB, token ids %s%n", info.getOrDefault("tag", "?"),
                info.getOrDefault("commit", "?"), heldOut.length() / 1024, sameIds ? "equal in both engines" : "DIFFERENT between the engines");
        out.printf("held-out NLL (nats/token)   panlora    llama.cpp%n");
        out.printf("  base only                 %.4f     %.4f%n", ours[0], theirs[0]);
        out.printf("  with %-20s %.4f     %.4f%n", adapter.getFileName(), ours[1], theirs[1]);
    }

    /** Pretrains the base model (all weights, F32) on a text and writes it as GGUF with its tokenizer. */
    static void pretrain(Path corpus, Path dest, int steps, Path runDir, LlamaModel.LoadOptions where, PrintStream out) throws IOException {
        out.println("\n== Pretraining the base model on the JDK manuals ==");
        long t0 = System.nanoTime();
        TokenizerSpec spec = BpeTrainer.train(Files.readString(corpus), 2048);
        Tokenizer tok = Tokenizer.of(spec);
        out.printf("tokenizer: byte-level BPE, %d tokens, trained in %.1f s%n", spec.tokens().size(), (System.nanoTime() - t0) / 1e9);
        LlamaConfig c = baseShape(spec.tokens().size());
        TrainConfig cfg = TrainConfig.builder().mode(StepEngine.Mode.FULL).lr(3e-3f, LrSchedule.Kind.COSINE, 20, 0.1f).steps(steps)
                .batch(8, 128, 1).seed(11).optimizer(1.0f, 0.01f, 0.9f, 0.95f, 1e-8f).eval(Math.max(1, steps / 4), 4).checkpointEvery(0)
                .build();
        Dataset ds = Dataset.load(corpus, null, tok, ReadOptions.defaults(), new Packer(cfg.ctx(), false, Packer.padIdFor(tok)), 0.02, 11);
        Arena arena = Arena.ofShared();
        Map<String, WeightTensor> w = ModelInit.randomWeights(c, GgmlType.F32, 11, false, arena);
        try (LlamaModel m = LlamaModel.fromWeights(c, w, arena, where)) {
            out.printf("model: %.2fM parameters (dim %d, %d layers, %d heads / %d kv, ffn %d); %d steps of %d x %d tokens%n",
                    c.parameterCount(true) / 1e6, c.nEmbd(), c.nLayer(), c.nHead(), c.nHeadKv(), c.nFf(), steps, cfg.batch(), cfg.ctx());
            List<BatchSource.Batch> val = DatasetBatches.validation(ds, cfg.batch(), 4);
            Files.createDirectories(runDir);
            Trainer.Result r = new Trainer(m, null, cfg, new DatasetBatches(ds, cfg.batch(), 11), val, runDir, out).run(false);
            out.printf("base model: held-out loss on the manuals %.4f -> %.4f in %.0f s%n", r.valBefore(), r.valAfter(), (System.nanoTime() - t0) / 1e9);
            ModelWriter.write(dest, "panlora-demo-base", c, spec, w);
            out.println("base model: wrote " + dest);
        }
    }

    /** Greedy-ish samples from the base alone and with the exported adapter. */
    static void samples(Path base, Path adapter, LlamaModel.LoadOptions where, PrintStream out) throws IOException {
        try (LlamaModel m = LlamaModel.load(base, where)) {
            Tokenizer tok = TokenizerLoader.fromGguf(m.gguf().orElseThrow());
            for (String prompt : List.of("Permission is hereby granted", "The java command")) {
                String plain = Generator.generate(m, tok, prompt, 48, 256, new Sampler(0.6f, 40, 0.95f, 5), null);
                String with;
                try (LoraSet set = new LoraSet(m)) {
                    AdapterGguf.load(adapter, set, 1f);
                    set.attach();
                    with = Generator.generate(m, tok, prompt, 48, 256, new Sampler(0.6f, 40, 0.95f, 5), null);
                    set.detach();
                }
                out.printf("%nprompt: \"%s\"%n  base only:    %s%s%n  with adapter: %s%s%n", prompt, prompt, oneLine(plain), prompt, oneLine(with));
            }
        }
    }

    private static String oneLine(String s) {
        return s.replace("\n", " ⏎ ");
    }
}
