package io.panlora.cli;

import io.panlora.train.*;

import io.panlora.train.internal.Checkpoint;
import io.panlora.train.internal.RunLock;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.panlora.data.Dataset;
import io.panlora.data.Packer;
import io.panlora.data.ReadOptions;
import io.panlora.gguf.GgmlType;
import io.panlora.gguf.GgufFile;
import io.panlora.lora.LoraSet;
import io.panlora.model.LlamaModel;
import io.panlora.model.TokenizerLoader;
import io.panlora.testing.SharedData;
import io.panlora.tokenizer.Tokenizer;
import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Training faults, through the CLI in child JVMs on stories260K: the run-directory lock, divergence (huge learning rates stop
 * the run and leave only a good checkpoint; --on-divergence warn goes on; sane runs never trip the rule), stale temporary
 * files removed on resume, and resume errors as one line naming the file.
 */
class TrainingFaultsTest {
    @TempDir
    Path dir;

    record Run(int rc, String out, String err) {
        /** The CLI's error lines ("panlora train: error: ..."). */
        List<String> errors() {
            return err.lines().filter(l -> l.startsWith("panlora train: error:")).toList();
        }

        /** Asserts a failure reported as exactly one error line and no stack trace; returns that line. */
        String oneLineError() {
            assertEquals(1, rc, "exit status; stdout:\n" + out + "\nstderr:\n" + err);
            List<String> e = errors();
            assertEquals(1, e.size(), "one error line:\n" + err);
            assertFalse(err.contains("Exception") || err.contains("\tat ") || err.contains("Caused by"), "no stack trace:\n" + err);
            return e.get(0);
        }
    }

    private Path model() {
        return SharedData.require("stories260K.gguf");
    }

    /** 100 KB of TinyStories. */
    private Path stories() throws IOException {
        Path p = dir.resolve("stories.txt");
        if (!Files.exists(p)) {
            String s = Files.readString(SharedData.require("tinystories-valid-sample.txt"));
            Files.writeString(p, s.substring(0, Math.min(s.length(), 100_000)));
        }
        return p;
    }

    /** train on stories260K with small batches, plus extra options. */
    private List<String> train(String... extra) throws IOException {
        List<String> a = new ArrayList<>(List.of("train", "-m", model().toString(), "--data", stories().toString(), "--batch", "2",
                "--ctx", "64", "--eval-every", "0", "-t", "2"));
        a.addAll(Arrays.asList(extra));
        return a;
    }

    private ProcessBuilder builder(List<String> args, String... sysProps) {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElse("java"));
        cmd.add("--enable-native-access=ALL-UNNAMED");
        cmd.add("-Dpanlora.library.dir=" + System.getProperty("panlora.library.dir"));
        cmd.add("-Dpanlora.threads=2");
        for (String p : sysProps) cmd.add("-D" + p);
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add("io.panlora.cli.Main");
        cmd.addAll(args);
        long id = System.nanoTime();
        return new ProcessBuilder(cmd).directory(dir.toFile()).redirectOutput(dir.resolve("out-" + id + ".log").toFile())
                .redirectError(dir.resolve("err-" + id + ".log").toFile());
    }

    private Run cli(List<String> args, String... sysProps) throws Exception {
        ProcessBuilder pb = builder(args, sysProps);
        Process p = pb.start();
        if (!p.waitFor(300, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("the CLI did not end in 300 s: " + args);
        }
        Run r = new Run(p.exitValue(), Files.readString(pb.redirectOutput().file().toPath()).replace('\r', '\n'),
                Files.readString(pb.redirectError().file().toPath()));
        System.out.println("$ panlora " + String.join(" ", args.subList(0, 1)) + " ... " + args.subList(Math.max(0, args.size() - 8), args.size())
                + " -> " + r.rc() + "\n" + r.out().lines().filter(l -> !l.startsWith("step ") || l.contains(":")).reduce("", (x, y) -> x + "  " + y + "\n")
                + r.err().lines().reduce("", (x, y) -> x + "  ! " + y + "\n"));
        return r;
    }

    /** The training steps in metrics.jsonl's loss lines, in file order. */
    private static List<Integer> lossSteps(Path metrics) throws IOException {
        List<Integer> steps = new ArrayList<>();
        for (String l : Files.readAllLines(metrics, StandardCharsets.UTF_8))
            if (l.contains("\"loss\":")) steps.add(Integer.parseInt(l.replaceAll("^\\{\"step\":(\\d+),.*", "$1")));
        return steps;
    }

    @Test
    void aSecondRunOnALockedDirectoryIsRefusedAtOnceAndAKilledHolderBlocksNoOne() throws Exception {
        Path run = dir.resolve("run");
        ProcessBuilder pb = builder(train("--steps", "1000000", "--save-every", "0", "-o", run.toString()));
        Process first = pb.start();
        try {
            Path metrics = run.resolve("metrics.jsonl");
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            while (!(Files.exists(metrics) && Files.readString(metrics).contains("\"loss\""))) {
                assertTrue(first.isAlive(), "the first run ended early: " + Files.readString(pb.redirectError().file().toPath()));
                assertTrue(System.nanoTime() < deadline, "the first run did not start training in 120 s");
                Thread.sleep(100);
            }
            // the OS lock is the child's: this process cannot take it either
            IOException e = assertThrows(IOException.class, () -> RunLock.acquire(run));
            assertTrue(e.getMessage().contains(run.toString()) && e.getMessage().contains("pid " + first.pid()), e.getMessage());

            Run second = cli(train("--steps", "5", "-o", run.toString()));
            String line = second.oneLineError();
            assertTrue(line.contains(run + " is in use by another training run"), line);
            assertFalse(second.out().contains("data:"), "refused before loading anything:\n" + second.out());
            Run resumed = cli(train("--steps", "5", "--resume", run.toString()));
            assertTrue(resumed.oneLineError().contains(run + " is in use"), resumed.err());
            // the first run's metrics are its own: steps 1, 2, 3, ... with nothing interleaved
            List<Integer> steps = lossSteps(metrics);
            for (int i = 0; i < steps.size(); i++) assertEquals(i + 1, steps.get(i), "metrics steps " + steps);
            assertFalse(Files.exists(run.resolve("adapter.gguf")) || Files.exists(run.resolve(Checkpoint.FILE)), "the refused runs wrote nothing");
        } finally {
            first.destroyForcibly(); // SIGKILL: no shutdown hooks, the lock file stays behind
            first.waitFor();
        }
        assertTrue(Files.exists(run.resolve(RunLock.FILE)), "the killed run's lock file is still there");
        Run third = cli(train("--steps", "3", "--save-every", "3", "-o", run.toString()));
        assertEquals(0, third.rc(), third.err());
        assertTrue(Files.exists(run.resolve("adapter.gguf")));
        assertEquals(List.of(1, 2, 3), lossSteps(run.resolve("metrics.jsonl")));
        try (RunLock l = RunLock.acquire(run)) { // released when the run ended
            assertEquals(run, l.dir());
        }
    }

    @Test
    void inOneProcessTheLockIsRefusedWhileHeldAndFreeAfterwards() throws Exception {
        Path run = Files.createDirectories(dir.resolve("run"));
        try (RunLock a = RunLock.acquire(run)) {
            assertEquals(run, a.dir());
            IOException e = assertThrows(IOException.class, () -> RunLock.acquire(run));
            assertTrue(e.getMessage().startsWith(run + " is in use"), e.getMessage());
            assertTrue(e.getMessage().lines().count() == 1, e.getMessage());
        }
        try (RunLock b = RunLock.acquire(run)) {
            assertEquals(run, b.dir());
        }
    }

    /**
     * Asserts that a run directory's checkpoint holds only finite values and that stories260K with its adapter gives a finite
     * loss on the data, within the divergence margin (plus 1 nat of slack for other batches) of the base's; returns its step.
     */
    private int assertGoodCheckpoint(Path run) throws Exception {
        Path ckpt = run.resolve(Checkpoint.FILE);
        int step;
        try (GgufFile f = GgufFile.open(ckpt)) {
            step = (int) f.getLong("panlora.checkpoint.step");
            for (var t : f.tensors()) {
                assertEquals(GgmlType.F32, t.type(), t.name());
                for (float v : f.tensorData(t.name()).toArray(ValueLayout.JAVA_FLOAT))
                    assertTrue(Float.isFinite(v), ckpt + ": " + t.name() + " holds " + v);
            }
        }
        try (LlamaModel m = LlamaModel.load(model()); LoraSet set = new LoraSet(m)) {
            Tokenizer tok = TokenizerLoader.fromGguf(m.gguf().orElseThrow());
            Dataset ds = Dataset.load(stories(), null, tok, ReadOptions.defaults(), new Packer(64, false, Packer.padIdFor(tok)), 0.05, 42);
            List<BatchSource.Batch> val = DatasetBatches.validation(ds, 2, 8);
            double base = Trainer.evaluate(m, val);
            Checkpoint.loadSlotsInto(run, set);
            set.attach();
            double loss = Trainer.evaluate(m, val);
            System.out.printf("%s (step %d): held-out loss %.4f, the base's %.4f%n", ckpt, step, loss, base);
            assertTrue(Double.isFinite(loss), ckpt + " gives a loss of " + loss);
            assertTrue(loss < base + DivergenceGuard.MARGIN_NATS + 1, ckpt + " gives a loss of " + loss + ", the base " + base);
        }
        return step;
    }

    @Test
    void aHugeLearningRateStopsTheRunAndLeavesOnlyAGoodCheckpoint() throws Exception {
        // --lr 1e10: the first update blows the adapter up (before: a step-2 checkpoint with |B| ~ 1e10 that gives NaN)
        Path a = dir.resolve("lr1e10");
        Run r = cli(train("--steps", "30", "--lr", "1e10", "--save-every", "1", "-o", a.toString()));
        String line = r.oneLineError();
        assertTrue(line.contains("training stopped at step"), line);
        if (Files.exists(a.resolve(Checkpoint.FILE))) assertGoodCheckpoint(a);
        assertFalse(Files.exists(a.resolve("adapter.gguf")), "a stopped run exports no adapter");

        // a learning rate ramping up 0.01 per step: the loss climbs 1.4 -> 1.7 -> 1.9 -> 2.9 -> 3.2 -> 4.2 -> 5.5 -> 8.7 ...
        Path b = dir.resolve("ramp");
        r = cli(train("--steps", "30", "--lr", "10", "--warmup", "1000", "--schedule", "constant", "--save-every", "2", "-o", b.toString()));
        line = r.oneLineError();
        assertTrue(line.contains("explosive loss growth") && line.contains("the last good checkpoint (step "), line);
        int stopped = Integer.parseInt(line.replaceAll(".*training stopped at step (\\d+):.*", "$1"));
        assertTrue(stopped < 30, line);
        int step = assertGoodCheckpoint(b);
        assertTrue(step > 0 && step < stopped && line.contains("(step " + step + ")"), line);
        // the loss that stopped the run is in the metrics, nothing after it
        assertEquals(stopped, lossSteps(b.resolve("metrics.jsonl")).getLast());
    }

    @Test
    void theCheckpointWriterRefusesNonFiniteStateAndKeepsThePreviousFile() throws Exception {
        Path run = Files.createDirectories(dir.resolve("ckpt"));
        try (LlamaModel m = LlamaModel.load(model()); LoraSet set = new LoraSet(m)) {
            LoraInit.addStandard(set, 4, 2f, io.panlora.lora.Target.parseList("q,v"), 1);
            LoraSet.Slot s = set.slots().get(3);
            float[] a = set.getA(s), b = set.getB(s);
            Arrays.fill(b, 0.5f);
            set.setWeights(s, a, b);
            Checkpoint.save(run, set, new Checkpoint.State(7, new long[] {1}, new long[0], "key"));
            byte[] good = Files.readAllBytes(run.resolve(Checkpoint.FILE));
            // (the native setters refuse non-finite factors and moments, so a training step is the only way to a NaN in
            // them; the strategies' tensors are given here)
            for (float bad : new float[] {Float.NaN, Float.POSITIVE_INFINITY}) {
                // the engine refuses non-finite moments when they are set (pl_lora_set_adam), so only a training step
                // could put one there; Checkpoint.save checks them again before it writes (not reachable from here)
                var pe = assertThrows(io.panlora.bindings.PanloraException.class, () -> set.setAdam(s, new LoraSet.AdamState(
                        new float[a.length], new float[a.length], new float[b.length], withOne(new float[b.length], bad), 3)));
                assertTrue(pe.getMessage().contains("moments must be finite"), pe.getMessage());
                IOException e = assertThrows(Checkpoint.NonFiniteException.class, () -> Checkpoint.save(run, set,
                        new Checkpoint.State(8, new long[] {2}, new long[0], "key", java.util.Map.of("cascade.slow", new float[] {1, bad}))));
                assertTrue(e.getMessage().contains("cascade.slow") && e.getMessage().contains("element 1"), e.getMessage());
            }
            assertTrue(Arrays.equals(good, Files.readAllBytes(run.resolve(Checkpoint.FILE))), "the step-7 checkpoint is untouched");
            try (var files = Files.list(run)) {
                assertEquals(List.of(Checkpoint.FILE), files.map(p -> p.getFileName().toString()).toList(), "no temporary file left");
            }
        }
    }

    private static float[] withOne(float[] v, float x) {
        v[v.length / 2] = x;
        return v;
    }

    @Test
    void onDivergenceWarnReportsTheGrowthAndGoesOn() throws Exception {
        Path w = dir.resolve("warn");
        Run r = cli(train("--steps", "20", "--lr", "10", "--warmup", "1000", "--schedule", "constant", "--save-every", "5",
                "--on-divergence", "warn", "-o", w.toString()));
        assertEquals(0, r.rc(), r.err());
        long warnings = r.out().lines().filter(l -> l.startsWith("warning: step ") && l.contains("explosive loss growth")).count();
        assertTrue(warnings >= 1 && warnings <= 3, "one warning per episode:\n" + r.out());
        assertTrue(r.out().contains("training goes on (--on-divergence warn)"), r.out());
        assertTrue(Files.exists(w.resolve("adapter.gguf")));
        assertEquals(20, lossSteps(w.resolve("metrics.jsonl")).size());
        try (GgufFile f = GgufFile.open(w.resolve(Checkpoint.FILE))) {
            assertEquals(20, f.getLong("panlora.checkpoint.step"), "finite states are checkpointed under warn");
        }
        Run bad = cli(train("--steps", "2", "--on-divergence", "maybe", "-o", dir.resolve("bad").toString()));
        assertTrue(bad.oneLineError().contains("--on-divergence must be stop or warn"), bad.err());
        assertFalse(Files.exists(dir.resolve("bad")), "nothing written for a bad flag");
    }

    @Test
    void saneRunsNeverTripTheDivergenceRule() throws Exception {
        Path shakespeare = dir.resolve("shakespeare.txt");
        Files.writeString(shakespeare, Files.readString(SharedData.require("tinyshakespeare.txt")).substring(0, 200_000));
        // the default --lr and one 50x it; TinyStories (the model's own domain, a flat loss) and Shakespeare (a falling one)
        for (String[] c : new String[][] {{"2e-4", "stories"}, {"1e-2", "stories"}, {"1e-2", "shakespeare"}}) {
            Path run = dir.resolve("sane-" + c[0] + "-" + c[1]);
            List<String> args = train("--steps", "60", "--targets", "all", "--lr", c[0], "--save-every", "20", "-o", run.toString());
            args.set(args.indexOf("--ctx") + 1, "128");
            if (c[1].equals("shakespeare")) args.set(args.indexOf("--data") + 1, shakespeare.toString());
            Run r = cli(args);
            assertEquals(0, r.rc(), r.err());
            assertFalse(r.out().contains("warning") || r.out().contains("not written") || r.out().contains("explosive"), r.out());
            // replayed through the rule: how close did it come?
            DivergenceGuard g = new DivergenceGuard();
            double worst = Double.NEGATIVE_INFINITY;
            for (String l : Files.readAllLines(run.resolve("metrics.jsonl"))) {
                if (!l.contains("\"loss\":")) continue;
                g.observe(Double.parseDouble(l.replaceAll(".*\"loss\":([-0-9.eE]+).*", "$1")));
                worst = Math.max(worst, g.recent() - g.reference());
            }
            System.out.printf("lr %s on %s: the recent loss came at most %.3f nats above the reference (margin %.1f)%n", c[0], c[1], worst,
                    DivergenceGuard.MARGIN_NATS);
            assertTrue(worst < DivergenceGuard.MARGIN_NATS / 2, "headroom: " + worst);
            try (GgufFile f = GgufFile.open(run.resolve(Checkpoint.FILE))) {
                assertEquals(60, f.getLong("panlora.checkpoint.step"));
            }
        }
    }

    @Test
    void staleTemporaryFilesAreRemovedAndReportedOnResume() throws Exception {
        Path k = dir.resolve("killed");
        List<String> common = List.of("--steps", "8", "--save-every", "4", "--lr", "2e-3");
        List<String> first = new ArrayList<>(common);
        first.addAll(List.of("-o", k.toString()));
        assertEquals(137, cli(train(first.toArray(String[]::new)), "panlora.test.haltAfterCheckpoint=4").rc(), "killed after step 4");
        // what killed atomic writes leave: the writers' hidden temporary files
        List<Path> stale = List.of(k.resolve(".checkpoint.gguf.5eed1e55c0ffee.tmp"), k.resolve(".adapter.gguf.12ab.tmp"),
                k.resolve(".metrics.jsonl.99.tmp"), k.resolve(".plot123.png.tmp"));
        for (Path p : stale) Files.write(p, new byte[] {'G', 'G', 'U', 'F', 3, 0});
        Path mine = Files.writeString(k.resolve("notes.tmp"), "not panlora's"); // not a hidden temporary: kept
        List<String> resume = new ArrayList<>(common);
        resume.addAll(List.of("--resume", k.toString()));
        Run r = cli(train(resume.toArray(String[]::new)));
        assertEquals(0, r.rc(), r.err());
        for (Path p : stale) {
            assertFalse(Files.exists(p), p + " removed");
            assertEquals(1, r.out().lines().filter(l -> l.startsWith("removed " + p + " (6 bytes)")).count(), "one line for " + p + ":\n" + r.out());
        }
        assertTrue(Files.exists(mine));
        assertTrue(r.out().contains("resuming at step 4"), r.out());
        assertEquals(List.of(1, 2, 3, 4, 5, 6, 7, 8), lossSteps(k.resolve("metrics.jsonl")));
    }

    @Test
    void resumeErrorsAreOneLineNamingTheFile() throws Exception {
        Path k = dir.resolve("run");
        List<String> common = List.of("--steps", "4", "--save-every", "2", "--lr", "2e-3");
        List<String> args = new ArrayList<>(common);
        args.addAll(List.of("-o", k.toString()));
        assertEquals(0, cli(train(args.toArray(String[]::new))).rc());
        Path ckpt = k.resolve(Checkpoint.FILE);
        byte[] good = Files.readAllBytes(ckpt);
        List<String> resume = new ArrayList<>(common);
        resume.addAll(List.of("--resume", k.toString()));

        // damaged: cut short, as by a full disk on a copy
        Files.write(ckpt, Arrays.copyOf(good, good.length / 2));
        String line = cli(train(resume.toArray(String[]::new))).oneLineError();
        assertTrue(line.contains(ckpt.toString()), line);
        // not GGUF at all
        Files.writeString(ckpt, "this is not a checkpoint\nsecond line\n");
        line = cli(train(resume.toArray(String[]::new))).oneLineError();
        assertTrue(line.contains(ckpt.toString()), line);
        // made with another configuration
        Files.write(ckpt, good);
        List<String> other = new ArrayList<>(List.of("--steps", "4", "--save-every", "2", "--lr", "3e-3", "--resume", k.toString()));
        line = cli(train(other.toArray(String[]::new))).oneLineError();
        assertTrue(line.contains(ckpt.toString()) && line.contains("another configuration") && line.contains("lr: 0.002 then, 0.003 now"), line);
        // a data position the data does not have (damaged, or saved for other data): was an IllegalArgumentException without the file
        Files.write(ckpt, good);
        Path edited = k.resolve("edited.gguf");
        try (GgufFile f = GgufFile.open(ckpt)) {
            io.panlora.gguf.GgufWriter.copyOf(f).put("panlora.checkpoint.data_position",
                    io.panlora.gguf.GgufValue.intArray(io.panlora.gguf.GgufValueType.INT64, 0, 1_000_000)).write(edited);
        }
        Files.move(edited, ckpt, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        line = cli(train(resume.toArray(String[]::new))).oneLineError();
        assertTrue(line.contains(ckpt.toString()) && line.contains("data position does not fit this data"), line);
        // missing
        Files.delete(ckpt);
        line = cli(train(resume.toArray(String[]::new))).oneLineError();
        assertTrue(line.contains(ckpt.toString()) && line.contains("does not exist"), line);
        // no such run directory
        Path none = dir.resolve("none");
        List<String> noRun = new ArrayList<>(common);
        noRun.addAll(List.of("--resume", none.toString()));
        line = cli(train(noRun.toArray(String[]::new))).oneLineError();
        assertTrue(line.contains(none.toString()), line);
        assertFalse(Files.exists(none), "nothing created");
    }
}
