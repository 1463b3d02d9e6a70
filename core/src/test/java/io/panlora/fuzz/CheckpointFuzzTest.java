package io.panlora.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.panlora.gguf.GgufException;
import io.panlora.lora.LoraSet;
import io.panlora.train.internal.Checkpoint;
import io.panlora.train.DivergenceGuard;
import java.io.IOException;
import java.nio.file.Path;

/**
 * Target 6: any bytes as a run directory's checkpoint.gguf, read the three ways panlora reads one:
 * {@link Checkpoint#load} (train --resume: into the slots of {@link FuzzSupport#checkpointSlots}, then the restored state
 * is used as the trainer uses it: the divergence guard restored and fed a loss), {@link Checkpoint#loadSlotsInto} (export
 * --checkpoint: slots rebuilt from the file into an empty set) and {@link Checkpoint#restoreFlags}. load documents one
 * failure type, an IOException whose one-line message starts with the file; the other two IOException or GgufException
 * naming the file.
 */
class CheckpointFuzzTest {

    @FuzzTest
    void checkpoint(byte[] input) throws IOException {
        Path dir = FuzzSupport.emptyDir("run");
        Path file = FuzzSupport.write("run/" + Checkpoint.FILE, input);
        try (LoraSet set = FuzzSupport.checkpointSlots()) {
            Checkpoint.State st = Checkpoint.load(dir, set, FuzzSupport.CHECKPOINT_KEY);
            if (st.step() < 0) throw new AssertionError("negative step " + st.step());
            for (long p : st.dataPosition()) if (p < 0 || p > Integer.MAX_VALUE) throw new AssertionError("data position " + p);
            DivergenceGuard guard = new DivergenceGuard();
            guard.restore(st.divergenceState());
            guard.observe(2.5);
            guard.diverged();
            guard.describe();
            Checkpoint.restoreFlags(dir, set, true, true);
        } catch (IOException e) {
            FuzzSupport.check(e, file);
            String m = e.getMessage();
            if (!m.startsWith(file.toString()) || m.contains("\n")) throw new AssertionError("not one line starting with the file: " + m, e);
        } catch (GgufException e) { // restoreFlags only
            FuzzSupport.check(e, file);
        }
        try (LoraSet empty = new LoraSet(FuzzSupport.base())) {
            int n = Checkpoint.loadSlotsInto(dir, empty);
            if (n != empty.slots().size()) throw new AssertionError(n + " slots reported, " + empty.slots().size() + " added");
        } catch (IOException | GgufException e) {
            FuzzSupport.check(e, file);
        }
    }
}
