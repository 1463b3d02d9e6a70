package io.panlora.train;

/** Learning-rate schedules with linear warmup (as HF transformers' get_*_schedule_with_warmup). */
public final class LrSchedule {
    /** constant, linear decay to minLr, cosine decay to minLr. */
    public enum Kind { CONSTANT, LINEAR, COSINE }

    private LrSchedule() {}

    /** The learning rate of step (0-based) of total steps. */
    public static float at(Kind kind, float lr, int step, int total, int warmup, float minRatio) {
        if (warmup > 0 && step < warmup) return lr * (step + 1) / (float) warmup;
        if (kind == Kind.CONSTANT) return lr;
        int decaySteps = Math.max(1, total - warmup);
        double progress = Math.min(1.0, (step - warmup) / (double) decaySteps);
        double f = kind == Kind.LINEAR ? 1 - progress : 0.5 * (1 + Math.cos(Math.PI * progress));
        return (float) (lr * (minRatio + (1 - minRatio) * f));
    }

    /** Parses constant / linear / cosine. */
    public static Kind parse(String s) {
        try {
            return Kind.valueOf(s.trim().toUpperCase());
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("unknown schedule '" + s + "' (constant, linear, cosine)");
        }
    }
}
