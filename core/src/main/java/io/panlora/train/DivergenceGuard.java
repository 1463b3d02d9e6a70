package io.panlora.train;

import java.util.Locale;

/**
 * Detects explosive loss growth. The rule, in nats per counted token:
 *
 * <ul>
 *   <li>the <em>recent loss</em> at a step is the mean training loss of the last {@link #WINDOW} steps (of all steps so far
 *       while fewer have run);</li>
 *   <li>the <em>reference</em> is the lowest of the first step's loss (the model before any update) and every full-window
 *       recent loss seen so far; it only ever falls;</li>
 *   <li>the run has diverged when the recent loss exceeds the reference by more than {@link #MARGIN_NATS}.</li>
 * </ul>
 *
 * A margin of 2 nats means the model gives the right tokens, on geometric average, under 14% of the probability it gave them
 * at its best: a sound run does not do that over a window of steps, and a blown-up one does it within a step or two (at a
 * first loss L1, a second loss above L1 + 4 already trips it). Non-finite losses are not this class's business: the trainer
 * stops on them whatever the policy.
 */
public final class DivergenceGuard {
    /** Steps in the recent-loss window. */
    public static final int WINDOW = 8;
    /** How far (nats per token) the recent loss may rise above the reference. */
    public static final double MARGIN_NATS = 2.0;

    /** What the trainer does on explosive growth (--on-divergence). */
    public enum Policy {
        /** report it and stop the run (exit status 1); the last good checkpoint is kept */
        STOP,
        /** report it and go on */
        WARN;

        /** stop | warn. */
        public static Policy parse(String s) {
            return switch (s.trim().toLowerCase(Locale.ROOT)) {
                case "stop" -> STOP;
                case "warn" -> WARN;
                default -> throw new IllegalArgumentException("--on-divergence must be stop or warn, got '" + s + "'");
            };
        }
    }

    private final double[] ring = new double[WINDOW];
    private long count;
    private double reference = Double.NaN;

    /** Adds a step's (finite) loss. */
    public void observe(double loss) {
        int i = (int) (count % WINDOW);
        ring[i] = loss;
        count++;
        if (count == 1) reference = loss;
        else if (count >= WINDOW) reference = Math.min(reference, recent());
    }

    /** Steps observed. */
    public long count() { return count; }

    /** The mean of the last min(count, WINDOW) losses (NaN before any). */
    public double recent() {
        if (count == 0) return Double.NaN;
        double s = 0;
        int n = (int) Math.min(count, WINDOW);
        for (int k = 0; k < n; k++) s += ring[k];
        return s / n;
    }

    /** The reference: the lowest of the first loss and the full-window recent losses (NaN before any). */
    public double reference() { return reference; }

    /** True when the recent loss is more than the margin above the reference. */
    public boolean diverged() {
        return count > 0 && recent() > reference + MARGIN_NATS;
    }

    /** True when a single loss is more than the margin above the reference (false before any step). */
    public boolean tooHigh(double loss) {
        return count > 0 && loss > reference + MARGIN_NATS;
    }

    /** One line saying how far the recent loss has risen. */
    public String describe() {
        return String.format(Locale.ROOT, "explosive loss growth: the mean loss of the last %d steps is %.4f, more than %.1f nats above "
                + "the best %.4f", Math.min(count, WINDOW), recent(), MARGIN_NATS, reference);
    }

    /** The state, exactly (for checkpoints): count, reference and the window, as raw double bits. */
    public long[] state() {
        long[] s = new long[2 + WINDOW];
        s[0] = count;
        s[1] = Double.doubleToRawLongBits(reference);
        for (int k = 0; k < WINDOW; k++) s[2 + k] = Double.doubleToRawLongBits(ring[k]);
        return s;
    }

    /**
     * What is wrong with a saved {@link #state()} read from a file, or null when it can be restored: an array of another
     * length (another version) is fine (it leaves the guard fresh); the step count must not be negative.
     */
    public static String problem(long[] s) {
        if (s == null || s.length != 2 + WINDOW) return null;
        return s[0] < 0 ? "the step count " + s[0] + " is negative" : null;
    }

    /** Restores {@link #state()}; an array of another length (another version), or one with a {@link #problem}, leaves the guard fresh. */
    public void restore(long[] s) {
        if (s == null || s.length != 2 + WINDOW || problem(s) != null) return;
        count = s[0];
        reference = Double.longBitsToDouble(s[1]);
        for (int k = 0; k < WINDOW; k++) ring[k] = Double.longBitsToDouble(s[2 + k]);
    }
}
