package io.panlora.experiment;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The protocol's statistics, splits and claim rule against hand-computed and published values. */
class ExperimentStatsTest {
    @Test
    void meanSdAndTQuantiles() {
        assertEquals(3.0, Stats.mean(new double[] {1, 2, 3, 4, 5}), 1e-12);
        assertEquals(Math.sqrt(2.5), Stats.sd(new double[] {1, 2, 3, 4, 5}), 1e-12);
        assertTrue(Double.isNaN(Stats.sd(new double[] {1})));
        assertEquals(12.706, Stats.t975(1), 1e-9);
        assertEquals(2.776, Stats.t975(4), 1e-9);
        assertEquals(2.262, Stats.t975(9), 1e-9);
        assertEquals(2.042, Stats.t975(30), 1e-9);
        assertEquals(1.96, Stats.t975(31), 1e-3);
        assertThrows(IllegalArgumentException.class, () -> Stats.t975(0));
    }

    /** Student's sleep data (Cushny and Peebles), paired: R's t.test(x, y, paired = TRUE) gives −1.58, CI [−2.4599, −0.7001]. */
    @Test
    void pairedIntervalMatchesR() {
        double[] x = {0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0};
        double[] y = {1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4};
        Stats.Interval d = Stats.paired(x, y);
        assertEquals(10, d.n());
        assertEquals(-1.58, d.mean(), 1e-12);
        assertEquals(1.229995, d.sd(), 1e-6);
        assertEquals(-2.4598858, d.lo(), 2e-4); // t table to three decimals
        assertEquals(-0.7001142, d.hi(), 2e-4);
    }

    @Test
    void hand_computedIntervalAndNonFinitePairs() {
        // d = 1..5: mean 3, sd √2.5, half width 2.776·√2.5/√5 = 1.962928
        Stats.Interval d = Stats.paired(new double[] {1, 2, 3, 4, 5, Double.NaN}, new double[] {0, 0, 0, 0, 0, 1});
        assertEquals(5, d.n());
        assertEquals(3 - 1.962928, d.lo(), 1e-5);
        assertEquals(3 + 1.962928, d.hi(), 1e-5);
        Stats.Interval one = Stats.paired(new double[] {1}, new double[] {0});
        assertFalse(one.known());
        assertThrows(IllegalArgumentException.class, () -> Stats.paired(new double[1], new double[2]));
    }

    @Test
    void claimRule() {
        Claim better = Claim.loss("a beats b", Claim.Kind.BETTER, "a", "b", 0.01);
        assertEquals(Claim.Verdict.HELD, better.judge(new Stats.Interval(5, -0.02, 0.01, -0.03, -0.001), 2));
        assertEquals(Claim.Verdict.NOT_SHOWN, better.judge(new Stats.Interval(5, -0.02, 0.01, -0.03, 0.001), 2));
        assertEquals(Claim.Verdict.CONTRADICTED, better.judge(new Stats.Interval(5, 0.02, 0.01, 0.001, 0.03), 2));
        assertEquals(Claim.Verdict.NOT_SHOWN, better.judge(new Stats.Interval(1, -0.02, Double.NaN, Double.NaN, Double.NaN), 2));
        Claim match = Claim.loss("a matches b", Claim.Kind.MATCHES, "a", "b", 0.01);
        assertEquals(Claim.Verdict.HELD, match.judge(new Stats.Interval(5, 0, 0.01, -0.009, 0.009), 2));
        assertEquals(Claim.Verdict.NOT_SHOWN, match.judge(new Stats.Interval(5, 0, 0.01, -0.009, 0.011), 2));
        assertEquals(Claim.Verdict.CONTRADICTED, match.judge(new Stats.Interval(5, 0.02, 0.01, 0.011, 0.03), 2));
        Claim nw = Claim.loss("a no worse", Claim.Kind.NOT_WORSE, "a", "b", 0.01);
        assertEquals(Claim.Verdict.HELD, nw.judge(new Stats.Interval(5, 0, 0.01, -0.5, 0.009), 2));
        assertEquals(Claim.Verdict.CONTRADICTED, nw.judge(new Stats.Interval(5, 0.05, 0.01, 0.02, 0.08), 2));
        Claim cost = new Claim("cheap", Claim.Kind.NOT_WORSE, "a", "b", Claim.Metric.SECONDS_PER_STEP, 0.1, true, false);
        assertEquals(Claim.Verdict.HELD, cost.judge(new Stats.Interval(5, 0.05, 0.01, 0.0, 0.09), 1.0));
        assertEquals(Claim.Verdict.NOT_SHOWN, cost.judge(new Stats.Interval(5, 0.05, 0.01, 0.0, 0.09), 0.5));
    }

    @Test
    void splitsAreFixedAndDisjoint() {
        StringBuilder t = new StringBuilder();
        for (int i = 0; i < 100; i++) t.append("para ").append(i).append(" text\n\n");
        Splits a = Splits.of(t.toString(), 0, 1), b = Splits.of(t.toString(), 0, 1);
        assertEquals(a, b);
        assertTrue(a.validation().contains("para 8 text") && a.test().contains("para 9 text") && a.train().contains("para 0 text"));
        assertFalse(a.train().contains("para 8 text") || a.train().contains("para 9 text"));
        assertEquals(80, a.train().split("\n\n").length);
        Splits cut = Splits.of(t.toString(), 300, 1);
        assertFalse(cut.train().contains("para 50 "));
        assertThrows(IllegalArgumentException.class, () -> Splits.of("one\n\ntwo", 0, 1));
        assertEquals(List.of(1L, 2L, 3L), Protocol.seeds(3));
    }

    @Test
    void resultsJsonMarkdownAndSvg() {
        var a = new Results.ArmResult("a", 1e-2f, List.of(1e-3f, 1e-2f), new double[] {2.0, 1.9}, true, List.of(1L, 2L),
                new double[] {1.5, 1.6}, new double[] {1.5, 1.6}, new double[] {Double.NaN, Double.NaN}, new double[] {0.1, 0.1}, 100, java.util.Map.of());
        var b = new Results.ArmResult("b <x>", 1e-3f, List.of(1e-3f, 1e-2f), new double[] {1.9, Double.NaN}, true, List.of(1L, 2L),
                new double[] {1.7, 1.9}, new double[] {1.7, 1.9}, new double[] {Double.NaN, Double.NaN}, new double[] {0.1, 0.12}, 50, java.util.Map.of());
        var judged = Results.judge(List.of(a, b), List.of(Claim.loss("a beats b", Claim.Kind.BETTER, "a", "b <x>", 0.01)));
        assertEquals(-0.25, judged.get(0).diff().mean(), 1e-12);
        Results r = new Results("t", "title", List.<String[]>of(new String[] {"k", "v\"q"}), 2, 2.1, List.of(a, b), judged, List.of("n"),
                List.of(new Results.Figure("f.svg", "F", Svg.dots("T", "x", List.of("a", "b <x>"), List.of(a.test(), b.test())))));
        String json = r.json();
        assertTrue(json.contains("\"v\\\"q\"") && json.contains("[1.90000, null]") && json.contains("\"verdict\": \"NOT_SHOWN\""), json);
        assertTrue(r.markdown().contains("| a | 1e-2* | 1.5500 ± 0.0707 |"), r.markdown());
        assertTrue(r.figures().get(0).svg().contains("b &lt;x&gt;"));
        assertTrue(Svg.forest("T", "x", List.of("a"), List.of(judged.get(0).diff()), List.of(Claim.Verdict.HELD)).startsWith("<svg"));
        assertTrue(Svg.lines("T", "x", "y", List.of("s"), new double[] {1, 2}, new double[][] {{1, 2}}, new double[][] {{0.1, Double.NaN}})
                .contains("polyline"));
    }
}
