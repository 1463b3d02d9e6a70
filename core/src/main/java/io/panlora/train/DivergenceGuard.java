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
 *
 * <p>A new guard has seen no step ({@link #count()} 0, {@link #reference()} NaN). The {@link Trainer} makes a fresh one per
 * run and restores its {@link #state()} from a checkpoint on resume. Not thread-safe.
 */
public final class DivergenceGuard {
    /** A fresh guard: no step seen, reference NaN. */
    public DivergenceGuard() {}

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

        /**
         * Parses the {@code --on-divergence} value.
         *
         * @param s {@code stop} or {@code warn}, case-insensitive, surrounding blanks ignored
         * @return the policy
         * @throws IllegalArgumentException for any other text
         * @throws NullPointerException if {@code s} is null
         */
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

    /**
     * Adds a step's training loss to the window and lowers the reference if the first loss or a full-window mean is below it.
     *
     * @param loss the step's mean loss in nats per counted token; must be finite (a NaN or infinity would poison the window)
     */
    public void observe(double loss) {
        int i = (int) (count % WINDOW);
        ring[i] = loss;
        count++;
        if (count == 1) reference = loss;
        else if (count >= WINDOW) reference = Math.min(reference, recent());
    }

    /**
     * The number of losses {@link #observe(double) observed} (including those restored from a checkpoint).
     *
     * @return steps observed, 0 for a fresh guard
     */
    public long count() { return count; }

    /**
     * The recent loss.
     *
     * @return the mean of the last {@code min(count, WINDOW)} losses, in nats per token; NaN before any
     */
    public double recent() {
        if (count == 0) return Double.NaN;
        double s = 0;
        int n = (int) Math.min(count, WINDOW);
        for (int k = 0; k < n; k++) s += ring[k];
        return s / n;
    }

    /**
     * The reference the recent loss is compared with.
     *
     * @return the lowest of the first loss and every full-window recent loss so far, in nats per token; NaN before any step
     */
    public double reference() { return reference; }

    /**
     * Whether the run has diverged by the rule of the class comment.
     *
     * @return true when the recent loss is more than {@link #MARGIN_NATS} above the reference; false before any step
     */
    public boolean diverged() {
        return count > 0 && recent() > reference + MARGIN_NATS;
    }

    /**
     * Whether a single loss (not the window mean) is too high; the trainer asks this of the loss the updated weights give
     * before it writes a checkpoint.
     *
     * @param loss a loss in nats per counted token
     * @return true when {@code loss} is more than {@link #MARGIN_NATS} above the reference; false before any step (and for
     *         NaN)
     */
    public boolean tooHigh(double loss) {
        return count > 0 && loss > reference + MARGIN_NATS;
    }

    /**
     * Describes the current state for an error or warning message.
     *
     * @return one line with the window size, the recent loss, the margin and the reference
     */
    public String describe() {
        return String.format(Locale.ROOT, "explosive loss growth: the mean loss of the last %d steps is %.4f, more than %.1f nats above "
                + "the best %.4f", Math.min(count, WINDOW), recent(), MARGIN_NATS, reference);
    }

    /**
     * The state, exactly, for checkpoints.
     *
     * @return a new array of {@code 2 + WINDOW} numbers: the step count, the reference and the window's losses (in ring
     *         order), the doubles as their raw bits ({@link Double#doubleToRawLongBits(double)})
     */
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
     *
     * @param s a saved state, or null
     * @return a description of the problem, or null when {@link #restore(long[])} may be given {@code s} (also for null and for
     *         arrays of another length, which restore nothing)
     */
    public static String problem(long[] s) {
        if (s == null || s.length != 2 + WINDOW) return null;
        return s[0] < 0 ? "the step count " + s[0] + " is negative" : null;
    }

    /**
     * Restores a {@link #state()}; an array of another length (another version), or one with a {@link #problem}, leaves the
     * guard as it is (fresh, in the trainer's use).
     *
     * @param s a state from {@link #state()}, or null (ignored)
     */
    public void restore(long[] s) {
        if (s == null || s.length != 2 + WINDOW || problem(s) != null) return;
        count = s[0];
        reference = Double.longBitsToDouble(s[1]);
        for (int k = 0; k < WINDOW; k++) ring[k] = Double.longBitsToDouble(s[2 + k]);
    }
}
