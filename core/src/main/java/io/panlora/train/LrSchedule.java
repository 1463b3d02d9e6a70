package io.panlora.train;

/**
 * Learning-rate schedules with linear warmup (as HF transformers' {@code get_*_schedule_with_warmup}, with the decay ending
 * at a fraction of the peak instead of 0 when asked). Static methods only.
 */
public final class LrSchedule {
    /** The shape of the learning rate after warmup. */
    public enum Kind {
        /** The peak rate for every step after warmup (the minimum ratio is ignored). */
        CONSTANT,
        /** Linear decay from the peak to {@code peak × minRatio} over the steps after warmup. */
        LINEAR,
        /** Half-cosine decay from the peak to {@code peak × minRatio} over the steps after warmup. */
        COSINE
    }

    private LrSchedule() {}

    /**
     * The learning rate of one optimizer step. During warmup ({@code step < warmup}) it rises linearly:
     * {@code lr × (step + 1) / warmup}, so the first step is not at rate 0. After it, with progress
     * {@code p = min(1, (step − warmup) / max(1, total − warmup))}, LINEAR gives {@code lr × (m + (1 − m)(1 − p))} and COSINE
     * {@code lr × (m + (1 − m) · ½(1 + cos πp))} where {@code m = minRatio}.
     *
     * @param kind     the schedule
     * @param lr       the peak learning rate
     * @param step     the step, 0-based
     * @param total    the run's total number of steps
     * @param warmup   warmup steps (0 for none)
     * @param minRatio the final rate as a fraction of the peak, normally in [0, 1] (0: decay to 0); unused by CONSTANT
     * @return the learning rate for {@code step}
     */
    public static float at(Kind kind, float lr, int step, int total, int warmup, float minRatio) {
        if (warmup > 0 && step < warmup) return lr * (step + 1) / (float) warmup;
        if (kind == Kind.CONSTANT) return lr;
        int decaySteps = Math.max(1, total - warmup);
        double progress = Math.min(1.0, (step - warmup) / (double) decaySteps);
        double f = kind == Kind.LINEAR ? 1 - progress : 0.5 * (1 + Math.cos(Math.PI * progress));
        return (float) (lr * (minRatio + (1 - minRatio) * f));
    }

    /**
     * Parses a {@code --schedule} value.
     *
     * @param s {@code constant}, {@code linear} or {@code cosine}, case-insensitive, surrounding blanks ignored
     * @return the schedule kind
     * @throws IllegalArgumentException for any other text
     */
    public static Kind parse(String s) {
        try {
            return Kind.valueOf(s.trim().toUpperCase(java.util.Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("unknown schedule '" + s + "' (constant, linear, cosine)");
        }
    }
}
