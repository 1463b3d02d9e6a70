package io.panlora.cli;

import io.panlora.bindings.Native;

import io.panlora.data.ChatTemplate;
import io.panlora.data.ReadOptions;
import io.panlora.gguf.GgmlType;
import io.panlora.train.DivergenceGuard;
import io.panlora.train.LoraRun;
import io.panlora.train.LrSchedule;
import io.panlora.train.TrainConfig;
import io.panlora.train.TrainingStrategy;
import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code panlora train}: LoRA fine-tuning of a GGUF model on text or JSONL data, writing a GGUF adapter; with {@code --full},
 * full-parameter fine-tuning of an F32/F16/BF16 model, writing the whole model.
 */
@Command(name = "train", mixinStandardHelpOptions = true, description = "LoRA fine-tune a GGUF model; writes OUT_DIR/adapter.gguf. "
        + "With --full, train every weight of an F32/F16/BF16 model instead; writes OUT_DIR/model.gguf.")
final class TrainCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--full", description = "full-parameter fine-tuning: every matrix and norm of an F32, F16 or BF16 base trains "
            + "(weights, gradients and two AdamW moments in F32); writes OUT_DIR/model.gguf, a whole model")
    boolean full;

    @Option(names = "--type", paramLabel = "F32|F16|BF16", description = "with --full: the exported model's weight type (default: the base's)")
    String type;

    @Option(names = {"-m", "--model"}, required = true, description = "base GGUF model (any supported type: QLoRA-style on quantized bases)")
    Path model;

    @Option(names = "--data", required = true, description = "training data: plain text, or JSONL ({text} | {prompt,completion} | alpaca | {messages})")
    Path data;

    @Option(names = "--val", description = "validation data (default: a held-out fraction of --data)")
    Path val;

    @Option(names = "--val-fraction", defaultValue = "0.05", description = "held-out fraction without --val (default: ${DEFAULT-VALUE})")
    double valFraction;

    @Option(names = {"-o", "--output"}, description = "output directory (adapter, checkpoint, metrics, plot); default: the --resume directory")
    Path out;

    @Option(names = "--resume", description = "continue the run in this directory from its checkpoint")
    Path resume;

    @Option(names = "--init-adapter", paramLabel = "FILE", description = "start from this adapter (of the same --rank and --targets, e.g. a merge) instead of the variant's init")
    Path initAdapter;

    @Option(names = {"-r", "--rank"}, defaultValue = "8", description = "LoRA rank (default: ${DEFAULT-VALUE})") int rank;
    @Option(names = "--alpha", defaultValue = "16", description = "LoRA alpha: scale = alpha/rank (default: ${DEFAULT-VALUE})") float alpha;
    @Option(names = "--rslora", description = "rank-stabilised scale alpha/sqrt(rank)") boolean rsLora;
    @Option(names = "--targets", defaultValue = "q,k,v,o", description = "target linears: q,k,v,o,gate,up,down | attn | ffn | all (default: ${DEFAULT-VALUE})")
    String targets;
    @Option(names = "--lr", defaultValue = "2e-4", description = "peak learning rate (default: ${DEFAULT-VALUE})") float lr;
    @Option(names = "--schedule", defaultValue = "cosine", description = "constant | linear | cosine (default: ${DEFAULT-VALUE})") String schedule;
    @Option(names = "--warmup", defaultValue = "0", description = "warmup steps (default: ${DEFAULT-VALUE})") int warmup;
    @Option(names = "--min-lr-ratio", defaultValue = "0", description = "final lr / peak lr for linear/cosine (default: ${DEFAULT-VALUE})") float minLr;
    @Option(names = "--steps", defaultValue = "100", description = "optimizer steps (default: ${DEFAULT-VALUE}); --epochs overrides") int steps;
    @Option(names = "--epochs", defaultValue = "0", description = "passes over the training windows (fractions allowed)") double epochs;
    @Option(names = {"-b", "--batch"}, defaultValue = "4", description = "sequences per micro-batch (default: ${DEFAULT-VALUE})") int batch;
    @Option(names = {"-c", "--ctx"}, defaultValue = "256", description = "tokens per sequence (default: ${DEFAULT-VALUE})") int ctx;
    @Option(names = "--grad-accum", defaultValue = "1", description = "micro-batches per optimizer step (default: ${DEFAULT-VALUE})") int gradAccum;
    @Option(names = {"-s", "--seed"}, defaultValue = "42", description = "seed of init and data order (default: ${DEFAULT-VALUE})") long seed;
    @Option(names = "--clip", defaultValue = "1.0", description = "max global gradient norm, 0 = off (default: ${DEFAULT-VALUE})") float clip;
    @Option(names = "--weight-decay", defaultValue = "0", description = "AdamW decoupled weight decay (default: ${DEFAULT-VALUE})") float wd;
    @Option(names = "--eval-every", defaultValue = "50", description = "validate every N steps, 0 = only at the end (default: ${DEFAULT-VALUE})") int evalEvery;
    @Option(names = "--eval-batches", defaultValue = "8", description = "validation batches, 0 = all (default: ${DEFAULT-VALUE})") int evalBatches;
    @Option(names = "--save-every", defaultValue = "50", description = "checkpoint every N steps (default: ${DEFAULT-VALUE})") int saveEvery;
    @Option(names = "--on-divergence", defaultValue = "stop", description = "on explosive loss growth (the mean loss of the last "
            + "8 steps more than 2 nats above its best): stop (exit status 1, the last good checkpoint kept) | warn (report and go on); "
            + "a NaN/Inf loss always stops (default: ${DEFAULT-VALUE})")
    String onDivergence;
    @Option(names = "--recompute", description = "recompute activations per layer in the backward (less memory, ~30% slower)") boolean recompute;
    @Option(names = "--adapter-type", defaultValue = "F16", description = "exported adapter type: F32, F16, BF16, Q8_0, Q6_K, Q5_1, Q5_K, Q5_0, Q4_1, Q4_K, Q4_0, Q3_K, Q2_K (default: ${DEFAULT-VALUE})") String adapterType;
    @Option(names = "--skip-bad-lines", description = "skip malformed JSONL lines (reported) instead of refusing the data") boolean skipBad;
    @Option(names = "--chat-template", description = "chat template for {messages} data: " + "chatml, llama2, llama3, mistral, zephyr, gemma, phi3, alpaca (default: the model's)")
    String chatTemplate;

    @Option(names = "--variant", defaultValue = "lora", description = "training strategy: lora, copra (progressive layer dropping), cola (chain of LoRA), cora (B from a common subspace), lorasc (slow cascaded learning), or a plug-in's name; each has its own --<variant>-… options below (default: ${DEFAULT-VALUE})")
    String variant;

    @Mixin
    CommonOptions common;

    @Mixin
    WeightsOption weights;

    @Override
    public Integer call() throws Exception {
        Path dir = out != null ? out : resume;
        if (dir == null) throw new IllegalArgumentException("give an output directory with -o (or --resume DIR)");
        if (resume != null && out != null && !resume.toAbsolutePath().normalize().equals(out.toAbsolutePath().normalize()))
            throw new IllegalArgumentException("--resume " + resume + " and -o " + out + " differ: a run resumes in its own directory");
        GgmlType at = checkArguments(dir);
        DivergenceGuard.Policy policy = DivergenceGuard.Policy.parse(onDivergence);
        if (full) return trainFull(dir, policy);
        common.defaultMatmul(Native.Matmul.AUTO).apply();
        var where = common.load(weights.placement());
        common.checkTensors(model);
        MemoryPlan.forTraining(model, where, rank, targets, batch, ctx, recompute, data, val).check(common.maxMemory());
        TrainConfig cfg = TrainConfig.builder().lora(rank, alpha).rsLora(rsLora).targets(targets)
                .lr(lr, LrSchedule.parse(schedule), warmup, minLr).steps(steps).batch(batch, ctx, gradAccum).seed(seed)
                .optimizer(clip, wd, 0.9f, 0.999f, 1e-8f).eval(evalEvery, evalBatches).checkpointEvery(saveEvery).recompute(recompute)
                .build();
        ReadOptions ro = ReadOptions.defaults().withSkipBadLines(skipBad);
        if (chatTemplate != null) ro = ro.withChatTemplate(ChatTemplate.named(chatTemplate));
        var settings = VariantFlags.settings(spec, variant, steps, seed);
        TrainingStrategy strategy = settings.type().create(settings);
        System.out.println("variant: " + settings.type().describe(settings));
        LoraRun.Summary s;
        try {
            s = LoraRun.run(new LoraRun.Options(model, data, val, val != null ? 0 : valFraction, cfg, epochs, ro, at, dir,
                    resume != null, System.out, strategy, where, policy, testHalt(), initAdapter));
        } catch (IOException e) {
            throw Check.naming(dir, e);
        }
        var r = s.result();
        printLosses(r);
        for (String n : s.exportNotes()) System.out.println("note: " + n);
        System.out.printf("adapter: %s (%s)%nmetrics: %s%nloss plot: %s%n", s.adapter(),
                s.exportNotes().isEmpty() ? at : at + "; " + io.panlora.lora.AdapterGguf.typeSummary(s.adapter()), r.metrics(), plotLine(r));
        return 0;
    }

    /** The training and validation loss lines both kinds of run print. */
    private static void printLosses(io.panlora.train.Trainer.Result r) {
        System.out.printf("trained %d steps: train loss %.4f -> %.4f%n", r.steps(), r.firstLoss(), r.lastLoss());
        if (!Double.isNaN(r.valAfter()))
            System.out.printf("validation loss: %s -> %.4f (ppl %.2f)%n", Double.isNaN(r.valBefore()) ? "?" : String.format("%.4f", r.valBefore()),
                    r.valAfter(), Math.exp(r.valAfter()));
    }

    /** The types of a model --full exports. */
    static final java.util.List<String> EXPORT_TYPES = java.util.List.of("F32", "F16", "BF16");

    /** The flags that mean something only for a LoRA run (refused with --full). */
    static final java.util.List<String> LORA_ONLY = java.util.stream.Stream.concat(
            java.util.stream.Stream.of("--rank", "--alpha", "--rslora", "--targets", "--adapter-type", "--variant", "--init-adapter"),
            VariantFlags.names().stream()).toList();

    /** --full: every weight trains; the whole model is exported. */
    private int trainFull(Path dir, DivergenceGuard.Policy policy) throws Exception {
        io.panlora.train.FullRun.checkBase(model);
        common.defaultMatmul(Native.Matmul.AUTO).apply();
        var where = common.load(weights.placement());
        if (resume != null && !where.device().isCpu())
            throw new IllegalArgumentException("--resume with --full runs on the CPU only (the CUDA trainer's AdamW state cannot be "
                    + "restored yet): add --device cpu");
        common.checkTensors(model);
        MemoryPlan.forFullTraining(model, where, batch, ctx, recompute, data, val).check(common.maxMemory());
        TrainConfig cfg = TrainConfig.builder().mode(io.panlora.train.StepEngine.Mode.FULL)
                .lr(lr, LrSchedule.parse(schedule), warmup, minLr).steps(steps).batch(batch, ctx, gradAccum).seed(seed)
                .optimizer(clip, wd, 0.9f, 0.999f, 1e-8f).eval(evalEvery, evalBatches).checkpointEvery(saveEvery).recompute(recompute)
                .build();
        ReadOptions ro = ReadOptions.defaults().withSkipBadLines(skipBad);
        if (chatTemplate != null) ro = ro.withChatTemplate(ChatTemplate.named(chatTemplate));
        GgmlType exportType = type == null ? null : GgmlType.valueOf(Check.oneOf("--type", type, EXPORT_TYPES));
        io.panlora.train.FullRun.Summary s;
        try {
            s = io.panlora.train.FullRun.run(new io.panlora.train.FullRun.Options(model, data, val, val != null ? 0 : valFraction, cfg,
                    epochs, ro, exportType, dir, resume != null, System.out, where, policy, testHalt()));
        } catch (IOException e) {
            throw Check.naming(dir, e);
        }
        var r = s.result();
        printLosses(r);
        System.out.printf("model: %s (%s, %s)%nmetrics: %s%nloss plot: %s%n", s.model(), s.type() == null ? "the base's types" : s.type(),
                Check.bytes(s.modelBytes()), r.metrics(), plotLine(r));
        return 0;
    }

    private static String plotLine(io.panlora.train.Trainer.Result r) {
        return r.plot() != null ? r.plot().toString() : "not written (see the warning above)";
    }

    /**
     * Fault injection for the resume tests (a system property of the CLI's JVM, read here and not in the library): with
     * -Dpanlora.test.haltAfterCheckpoint=N the process dies like a killed one right after the checkpoint of step N.
     */
    private static io.panlora.train.TrainListener testHalt() {
        Integer halt = Integer.getInteger("panlora.test.haltAfterCheckpoint");
        if (halt == null) return null;
        return new io.panlora.train.TrainListener() {
            @Override
            public void checkpointed(int step, Path file) {
                if (step == halt) Runtime.getRuntime().halt(137);
            }
        };
    }

    /** Every flag and input file checked before anything is loaded or created; returns the adapter type. */
    private GgmlType checkArguments(Path dir) {
        Check.inputFile("-m", model);
        Check.inputFile("--data", data);
        Check.inputFile("--val", val);
        Check.inputFile("--init-adapter", initAdapter);
        if (resume != null) Check.inputDirectory("--resume", resume);
        else Check.outputDirectory("-o", dir);
        Check.range("--val-fraction", valFraction, 0, 0.9);
        Check.range("--rank", rank, 1, Check.MAX_RANK);
        Check.finite("--alpha", alpha);
        Check.positive("--lr", lr);
        Check.range("--min-lr-ratio", minLr, 0, 1);
        Check.range("--warmup", warmup, 0, Integer.MAX_VALUE);
        Check.range("--steps", steps, 1, Integer.MAX_VALUE);
        Check.nonNegative("--epochs", epochs);
        Check.range("--batch", batch, 1, 1 << 20);
        Check.range("--ctx", ctx, 2, Check.MAX_CTX);
        if ((long) batch * ctx > 1 << 24) // the engine's limit on tokens per micro-batch (pl_trainer_create)
            throw Check.bad("--batch " + batch + " --ctx", ctx, "give at most 16777216 tokens per micro-batch (batch × ctx)");
        Check.range("--grad-accum", gradAccum, 1, 1 << 20);
        Check.nonNegative("--clip", clip);
        Check.nonNegative("--weight-decay", wd);
        Check.range("--eval-every", evalEvery, 0, Integer.MAX_VALUE);
        Check.range("--eval-batches", evalBatches, 0, Integer.MAX_VALUE);
        Check.range("--save-every", saveEvery, 0, Integer.MAX_VALUE);
        LrSchedule.parse(schedule);
        if (chatTemplate != null) ChatTemplate.named(chatTemplate);
        if (full) {
            var pr = spec.commandLine().getParseResult();
            for (String flag : LORA_ONLY)
                if (pr.hasMatchedOption(flag))
                    throw new IllegalArgumentException(flag + " is a LoRA flag: --full trains every weight of the model, without an adapter");
            if (type != null) Check.oneOf("--type", type, EXPORT_TYPES);
            return null;
        }
        if (type != null) throw new IllegalArgumentException("--type is the exported model's type with --full; an adapter's type is --adapter-type");
        Check.targets("--targets", targets);
        var settings = VariantFlags.settings(spec, variant, steps, seed);
        settings.type().create(settings); // every variant option checked now, before anything is created
        return GgmlType.valueOf(Check.oneOf("--adapter-type", adapterType, ADAPTER_TYPES));
    }

    /** The types an adapter can be exported as. */
    static final java.util.List<String> ADAPTER_TYPES = io.panlora.lora.AdapterGguf.typeNames();
}
