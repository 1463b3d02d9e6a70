package io.panlora.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.panlora.gguf.GgmlType;
import io.panlora.lora.LoraSet;
import io.panlora.lora.Target;
import io.panlora.train.LrSchedule;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.Locale;
import org.junit.jupiter.api.Test;

/**
 * Misuse of the lower-level API is a clear exception, never a native read out of bounds or a double free: batch shapes,
 * closing twice, using a closed set, closing a set another one replaced, a zero batch, and parsing under a Turkish locale.
 */
class ApiMisuseTest {
    private static LlamaModel tiny(Arena arena) {
        LlamaConfig c = LlamaConfig.llama(64, 32, 2, 2, 2, 64, 64);
        return LlamaModel.fromWeights(c, ModelInit.randomWeights(c, GgmlType.F32, 1, false, arena), null);
    }

    @Test
    void batchShapesAreChecked() {
        try (Arena arena = Arena.ofShared(); LlamaModel m = tiny(arena)) {
            int[][] tokens = {{1, 2, 3}, {4, 5, 6}};
            assertThrows(IllegalArgumentException.class, () -> m.nll(tokens, new int[][] {{2, 3}, {5, 6}}), "targets shorter");
            assertThrows(IllegalArgumentException.class, () -> m.nll(tokens, new int[][] {{2, 3, 4}}), "fewer target rows");
            assertThrows(IllegalArgumentException.class, () -> m.nll(new int[0][], new int[0][]));
            assertThrows(IllegalArgumentException.class, () -> m.logits(new int[0][]));
            assertThrows(IllegalArgumentException.class, () -> m.logits(new int[][] {{}}));
            assertEquals(6, m.nll(tokens, new int[][] {{2, 3, 4}, {5, 6, 7}}).length);
            assertThrows(IllegalArgumentException.class,
                    () -> Perplexity.evaluate(new int[100], 1, 8, 4, 0, 0, m::nll, null), "a zero batch would loop forever");
        }
    }

    @Test
    void closingTwiceIsHarmlessAndAClosedSetRefusesUse() {
        try (Arena arena = Arena.ofShared(); LlamaModel m = tiny(arena)) {
            KvCache cache = m.newKvCache(16);
            cache.close();
            cache.close();
            LoraSet set = new LoraSet(m);
            LoraSet.Slot s = set.addSlot(0, Target.byName("q"), 2, 1f);
            set.close();
            set.close();
            assertThrows(IllegalStateException.class, () -> set.getA(s));
            assertThrows(IllegalStateException.class, set::attach);
        }
    }

    @Test
    void closingAReplacedSetLeavesItsSuccessorAttached() {
        try (Arena arena = Arena.ofShared(); LlamaModel m = tiny(arena)) {
            int[][] tokens = {{1, 2, 3, 4}};
            float[] base = m.logits(tokens);
            LoraSet first = new LoraSet(m), second = new LoraSet(m);
            LoraSet.Slot s = second.addSlot(0, Target.byName("q"), 2, 1f);
            float[] a = new float[(int) s.aLength()], b = new float[(int) s.bLength()];
            Arrays.fill(a, 0.5f);
            Arrays.fill(b, 0.5f);
            second.setWeights(s, a, b);
            first.attach();
            second.attach();
            float[] adapted = m.logits(tokens);
            assertFalse(Arrays.equals(base, adapted), "the second set changes the logits");
            first.close(); // was replaced: must not detach the second
            assertArrayEquals(adapted, m.logits(tokens));
            second.close();
            assertArrayEquals(base, m.logits(tokens));
        }
    }

    @Test
    void namesParseTheSameInATurkishLocale() {
        Locale before = Locale.getDefault();
        try {
            Locale.setDefault(Locale.forLanguageTag("tr-TR"));
            assertEquals(LrSchedule.Kind.LINEAR, LrSchedule.parse("linear"));
            assertEquals(Target.parseList("q,k,v,o"), Target.parseList("Q,K,V,O"));
            Presets.byName("TINY");
        } finally {
            Locale.setDefault(before);
        }
    }
}
