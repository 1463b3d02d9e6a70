package io.panlora.experiment;

import java.util.Locale;

/**
 * A claim about two arms, tested on the paired differences {@code d = a − b} of a metric where lower is better (test loss
 * in nats, shifted-text loss, pruned loss or pruning's cost in nats, or seconds per step), with the 95 % t-interval [lo, hi] of the mean of d over the seeds:
 * <ul>
 *   <li>{@link Kind#BETTER} "a is better than b": held if {@code hi < 0}; contradicted if {@code lo > 0}; otherwise
 *       not shown (the interval contains 0);</li>
 *   <li>{@link Kind#MATCHES} "a matches b" (equivalence within the margin δ): held if {@code −δ < lo} and {@code hi < δ};
 *       contradicted if {@code lo > δ} or {@code hi < −δ}; otherwise not shown;</li>
 *   <li>{@link Kind#NOT_WORSE} "a is no worse than b" (non-inferiority within δ): held if {@code hi < δ}; contradicted if
 *       {@code lo > δ}; otherwise not shown.</li>
 * </ul>
 * With fewer than two finite pairs there is no interval and the verdict is not shown. A relative margin is a fraction of
 * b's mean.
 *
 * @param text     the claim in words
 * @param kind     the test
 * @param a        the first arm's name
 * @param b        the second arm's name
 * @param metric   the metric compared
 * @param margin   δ, for {@code MATCHES} and {@code NOT_WORSE} (ignored by {@code BETTER})
 * @param relative whether δ is a fraction of b's mean rather than an absolute amount
 * @param control  true for a control comparison rather than a claim of the paper
 * @param measure  for {@link Metric#MEASURED}: the key of the probe's measurement compared (see {@link Runner.Probe}); null
 *                 otherwise
 * @param unit     for {@link Metric#MEASURED}: how the difference reads in the claim's line (e.g. {@code "nats (merged)"}); null
 *                 otherwise
 */
public record Claim(String text, Kind kind, String a, String b, Metric metric, double margin, boolean relative, boolean control,
                    String measure, String unit) {
    /**
     * Checks that a measured claim names its measurement.
     *
     * @throws IllegalArgumentException if {@code metric} is {@link Metric#MEASURED} without a key, or another metric with one
     */
    public Claim {
        if ((metric == Metric.MEASURED) != (measure != null))
            throw new IllegalArgumentException("a MEASURED claim needs the probe's key, and only it: " + metric + " / " + measure);
        if (unit == null) unit = metric == Metric.MEASURED ? "(" + measure + ")" : null;
    }

    /**
     * A claim on a built-in metric.
     *
     * @param text     the claim in words
     * @param kind     the test
     * @param a        the first arm's name
     * @param b        the second arm's name
     * @param metric   the metric compared (not {@link Metric#MEASURED})
     * @param margin   δ
     * @param relative whether δ is a fraction of b's mean
     * @param control  whether it is a control comparison
     */
    public Claim(String text, Kind kind, String a, String b, Metric metric, double margin, boolean relative, boolean control) {
        this(text, kind, a, b, metric, margin, relative, control, null, null);
    }

    /**
     * A claim on one of the experiment's own measurements (a probe's key, lower is better).
     *
     * @param text    the claim in words
     * @param kind    the test
     * @param a       the first arm
     * @param b       the second arm
     * @param measure the probe's key
     * @param unit    how the difference reads, e.g. {@code "nats (merged, Grimm)"}
     * @param margin  δ, absolute
     * @return the claim
     */
    public static Claim measured(String text, Kind kind, String a, String b, String measure, String unit, double margin) {
        return new Claim(text, kind, a, b, Metric.MEASURED, margin, false, false, measure, unit);
    }
    /** The test of a claim. */
    public enum Kind {
        /** a's metric is lower than b's. */
        BETTER,
        /** a's metric equals b's within ±δ. */
        MATCHES,
        /** a's metric is at most b's plus δ. */
        NOT_WORSE
    }

    /** The compared metric; lower is better for both. */
    public enum Metric {
        /** The mean NLL per token on the test split, in nats. */
        TEST_LOSS,
        /** The mean NLL per token on the shifted (other-domain) test text, in nats. */
        SHIFTED_LOSS,
        /** Test loss with the adapters of every other layer (1, 3, …) switched off, in nats. */
        PRUNED_LOSS,
        /** {@link #PRUNED_LOSS} minus the unpruned test loss, in nats: what pruning costs. */
        PRUNE_DEGRADATION,
        /**
         * Test loss of a merge of adapters trained from one init (A and B averaged), in nats; in {@code copra-merge} the 1:1:1
         * merge of three corpora's adapters, averaged over the corpora's test splits.
         */
        MERGED_LOSS,
        /**
         * The interpolation barrier: the largest excess over λ ∈ [0, 1] of the path's test loss over the straight line between its
         * ends, in nats; in {@code copra-merge} the mean over the three pairs of corpora's adapters.
         */
        MERGE_BARRIER,
        /** Wall-clock seconds per optimizer step. */
        SECONDS_PER_STEP,
        /** One of the experiment's own per-seed measurements, named by the claim's {@code measure} key. */
        MEASURED
    }

    /** The outcome of a claim's test. */
    public enum Verdict {
        /** The interval satisfies the claim. */
        HELD,
        /** The interval is on the claim's wrong side. */
        CONTRADICTED,
        /** The interval allows both. */
        NOT_SHOWN
    }

    /**
     * A test-loss claim.
     *
     * @param text   the claim in words
     * @param kind   the test
     * @param a      the first arm
     * @param b      the second arm
     * @param margin δ in nats
     * @return the claim
     */
    public static Claim loss(String text, Kind kind, String a, String b, double margin) {
        return new Claim(text, kind, a, b, Metric.TEST_LOSS, margin, false, false);
    }

    /**
     * The same comparison marked as a control.
     *
     * @return a copy with {@code control} set
     */
    public Claim asControl() {
        return new Claim(text, kind, a, b, metric, margin, relative, true, measure, unit);
    }

    /**
     * The verdict of an interval of {@code a − b} (see the class comment).
     *
     * @param d     the interval of the mean paired difference
     * @param bMean b's mean, for a relative margin
     * @return the verdict
     */
    public Verdict judge(Stats.Interval d, double bMean) {
        if (!d.known()) return Verdict.NOT_SHOWN;
        double m = relative ? margin * Math.abs(bMean) : margin;
        return switch (kind) {
            case BETTER -> d.hi() < 0 ? Verdict.HELD : d.lo() > 0 ? Verdict.CONTRADICTED : Verdict.NOT_SHOWN;
            case MATCHES -> d.lo() > -m && d.hi() < m ? Verdict.HELD : d.lo() > m || d.hi() < -m ? Verdict.CONTRADICTED : Verdict.NOT_SHOWN;
            case NOT_WORSE -> d.hi() < m ? Verdict.HELD : d.lo() > m ? Verdict.CONTRADICTED : Verdict.NOT_SHOWN;
        };
    }

    /**
     * The rule in words, with the margin.
     *
     * @return e.g. {@code "held iff the 95% CI of a−b lies below 0"}
     */
    public String rule() {
        String m = relative ? String.format(Locale.ROOT, "%.0f%% of b's mean", 100 * margin) : String.format(Locale.ROOT, "%.3g", margin);
        return switch (kind) {
            case BETTER -> "held iff the 95% CI of a−b lies below 0; contradicted iff it lies above 0";
            case MATCHES -> "held iff the 95% CI of a−b lies inside ±" + m + "; contradicted iff it lies wholly outside";
            case NOT_WORSE -> "held iff the 95% CI of a−b lies below +" + m + "; contradicted iff it lies wholly above";
        };
    }
}
