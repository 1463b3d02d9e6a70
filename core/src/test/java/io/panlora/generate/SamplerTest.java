package io.panlora.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The sampler's chain: greedy, top-k, top-p, min-p, temperature, repetition penalty, determinism. */
class SamplerTest {
    static final float[] LOGITS = {0f, 3f, 2.9f, 1f, -1f, 2.5f};

    static Map<Integer, Integer> histogram(Sampler s, int n) {
        Map<Integer, Integer> h = new HashMap<>();
        for (int i = 0; i < n; i++) h.merge(s.sample(LOGITS), 1, Integer::sum);
        return h;
    }

    @Test
    void greedyIsArgmax() {
        assertEquals(1, new Sampler(0f, 40, 0.95f, 1).sample(LOGITS));
    }

    @Test
    void topKAndTopPAndMinPRestrictTheCandidates() {
        assertEquals(Map.of(1, 2000), histogram(new Sampler(1f, 1, 1f, 3), 2000));
        var k2 = histogram(new Sampler(1f, 2, 1f, 3), 4000);
        assertEquals(2, k2.size(), "top-2: " + k2);
        assertTrue(k2.containsKey(1) && k2.containsKey(2));
        // p(1) ≈ 0.39, p(2) ≈ 0.35, p(5) ≈ 0.23: top-p 0.7 keeps {1, 2}
        var p = histogram(new Sampler(1f, 0, 0.7f, 0f, 1f, 64, 3), 4000);
        assertEquals(2, p.size(), "top-p 0.7: " + p);
        // min-p 0.5 keeps tokens with p ≥ 0.5·p(1): {1, 2, 5} (e^-0.5 = 0.61 ≥ 0.5), not 3 (e^-2)
        var mp = histogram(new Sampler(1f, 0, 1f, 0.5f, 1f, 64, 3), 6000);
        assertEquals(3, mp.size(), "min-p 0.5: " + mp);
        assertTrue(mp.containsKey(5));
    }

    @Test
    void repetitionPenaltyDemotesRecentTokens() {
        Sampler s = new Sampler(0f, 0, 1f, 0f, 1.5f, 64, 1);
        s.accept(1);
        assertEquals(2, s.sample(LOGITS), "3/1.5 = 2 < 2.9: the recent token 1 loses");
        Sampler off = new Sampler(0f, 0, 1f, 0f, 1f, 64, 1);
        off.accept(1);
        assertEquals(1, off.sample(LOGITS));
    }

    @Test
    void sameSeedSameDraws() {
        Sampler a = new Sampler(0.9f, 40, 0.95f, 7), b = new Sampler(0.9f, 40, 0.95f, 7), c = new Sampler(0.9f, 40, 0.95f, 8);
        StringBuilder sa = new StringBuilder(), sb = new StringBuilder(), sc = new StringBuilder();
        for (int i = 0; i < 64; i++) { sa.append(a.sample(LOGITS)); sb.append(b.sample(LOGITS)); sc.append(c.sample(LOGITS)); }
        assertEquals(sa.toString(), sb.toString());
        assertNotEquals(sa.toString(), sc.toString());
    }
}
