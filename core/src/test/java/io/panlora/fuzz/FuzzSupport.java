package io.panlora.fuzz;

import io.panlora.gguf.GgmlType;
import io.panlora.lora.LoraSet;
import io.panlora.lora.Target;
import io.panlora.model.LlamaConfig;
import io.panlora.model.LlamaModel;
import io.panlora.model.ModelInit;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.stream.Stream;

/**
 * What the fuzz targets share: a scratch directory for the files they hand to the readers, the contract every reader is
 * held to, and the small base model that adapters, PEFT directories and checkpoints are read against.
 *
 * <p>The contract: on any input a reader returns a valid object or throws one of the exceptions it documents, with a
 * message that names the file; anything else (NullPointerException, ArithmeticException, IndexOutOfBoundsException,
 * NegativeArraySizeException, OutOfMemoryError, another exception type, a message without the file) is a bug. The
 * targets catch only the documented exceptions, check them with {@link #check}, and let everything else escape, which
 * Jazzer reports as a finding.
 */
final class FuzzSupport {
    private FuzzSupport() {}

    /**
     * The base every adapter, PEFT and checkpoint seed was made for (2 layers, so layer indices are checked; head_dim 16,
     * so Q8_0 fits lora_a rows of 32): vocab 48, dim 32, 2 heads (1 KV head), FFN 64, context 16.
     */
    static final LlamaConfig BASE = new LlamaConfig("llama", 48, 32, 2, 2, 1, 16, 64, 16, 16, 10000f, 1f, 1e-5f,
            LlamaConfig.ROPE_NORMAL);

    /** The slots of the checkpoint target, (layer, target, rank): the layout its seeds were saved with. */
    static final List<Object[]> CHECKPOINT_SLOTS = List.of(
            new Object[] {0, Target.ATTN_Q, 2}, new Object[] {1, Target.ATTN_V, 2}, new Object[] {1, Target.FFN_DOWN, 1});

    /** The configuration key the checkpoint seeds were saved with. */
    static final String CHECKPOINT_KEY = "fuzz rank=2 targets=[q,v,down]";

    private static Path scratch;
    private static LlamaModel base;

    /** A per-JVM scratch directory (removed at exit). */
    static synchronized Path scratch() {
        if (scratch == null) {
            try {
                Path shm = Path.of("/dev/shm"); // memory-backed where it exists: no disk traffic per input
                scratch = Files.isDirectory(shm) && Files.isWritable(shm) ? Files.createTempDirectory(shm, "panlora-fuzz")
                        : Files.createTempDirectory("panlora-fuzz");
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            Path dir = scratch;
            Runtime.getRuntime().addShutdownHook(new Thread(() -> deleteTree(dir)));
        }
        return scratch;
    }

    /** Writes bytes to scratch/name (replacing it) and returns the path. */
    static Path write(String name, byte[] bytes) {
        Path p = scratch().resolve(name);
        try {
            Files.createDirectories(p.getParent());
            Files.write(p, bytes);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return p;
    }

    /** An empty directory scratch/name (its old content removed). */
    static Path emptyDir(String name) {
        Path p = scratch().resolve(name);
        deleteTree(p);
        try {
            return Files.createDirectories(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Checks a documented exception: it must carry a non-blank message that names {@code file} (its file name, at least).
     * A failure is an {@link AssertionError} with the exception as its cause, so Jazzer reports it as a finding.
     */
    static void check(Throwable e, Path file) {
        String m = e.getMessage();
        if (m == null || m.isBlank()) throw new AssertionError("exception without a message: " + e, e);
        String name = file.getFileName().toString();
        if (!m.contains(name)) throw new AssertionError("message does not name the file '" + name + "': " + m, e);
    }

    /** The shared base model, built once per JVM (F32 random weights, owned by a shared arena). */
    static synchronized LlamaModel base() {
        if (base == null) {
            Arena arena = Arena.ofShared();
            base = LlamaModel.fromWeights(BASE, ModelInit.randomWeights(BASE, GgmlType.F32, 7, false, arena), arena);
        }
        return base;
    }

    /** A fresh adapter set on the base model with the checkpoint target's slots. */
    static LoraSet checkpointSlots() {
        LoraSet set = new LoraSet(base());
        for (Object[] s : CHECKPOINT_SLOTS) set.addSlot((Integer) s[0], (Target) s[1], (Integer) s[2], 0.5f);
        return set;
    }

    static void deleteTree(Path root) {
        if (!Files.exists(root)) return;
        try (Stream<Path> s = Files.walk(root)) {
            s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException e) {
            // best effort: a scratch directory
        }
    }
}
