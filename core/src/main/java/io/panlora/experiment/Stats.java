package io.panlora.experiment;

/**
 * The statistics of the experiments: mean, sample standard deviation, Student-t quantiles and the 95 % confidence
 * interval of a mean paired difference. Static methods only.
 */
public final class Stats {
    private Stats() {}

    /** Two-sided 95 % quantiles t(0.975, df) for df = 1 … 30 (index df − 1). */
    private static final double[] T975 = {
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
        2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
        2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042};

    /** The normal quantile z(0.975), used beyond df = 30. */
    public static final double Z975 = 1.959964;

    /**
     * The arithmetic mean.
     *
     * @param x the values
     * @return their mean; NaN for none
     */
    public static double mean(double[] x) {
        if (x.length == 0) return Double.NaN;
        double s = 0;
        for (double v : x) s += v;
        return s / x.length;
    }

    /**
     * The sample standard deviation (divisor n − 1).
     *
     * @param x the values
     * @return their standard deviation; NaN for fewer than two values
     */
    public static double sd(double[] x) {
        if (x.length < 2) return Double.NaN;
        double m = mean(x), s = 0;
        for (double v : x) s += (v - m) * (v - m);
        return Math.sqrt(s / (x.length - 1));
    }

    /**
     * The 0.975 quantile of Student's t distribution: a table for df 1 … 30 (three decimals), the normal quantile beyond.
     *
     * @param df degrees of freedom, at least 1
     * @return t(0.975, df)
     * @throws IllegalArgumentException if {@code df < 1}
     */
    public static double t975(int df) {
        if (df < 1) throw new IllegalArgumentException("degrees of freedom must be at least 1, got " + df);
        return df <= 30 ? T975[df - 1] : Z975;
    }

    /**
     * A mean with its 95 % confidence interval.
     *
     * @param n    the number of values (pairs)
     * @param mean their mean
     * @param sd   their sample standard deviation (NaN for n &lt; 2)
     * @param lo   the interval's lower end, mean − t·sd/√n (NaN for n &lt; 2)
     * @param hi   the interval's upper end (NaN for n &lt; 2)
     */
    public record Interval(int n, double mean, double sd, double lo, double hi) {
        /**
         * Whether the interval is known (at least two values).
         *
         * @return true when lo and hi are finite
         */
        public boolean known() { return Double.isFinite(lo) && Double.isFinite(hi); }
    }

    /**
     * The 95 % t-interval of a mean: {@code mean ± t(0.975, n−1) · sd / √n}.
     *
     * @param x the values
     * @return the interval (ends NaN for fewer than two values)
     */
    public static Interval interval(double[] x) {
        int n = x.length;
        double m = mean(x), s = sd(x);
        if (n < 2) return new Interval(n, m, s, Double.NaN, Double.NaN);
        double h = t975(n - 1) * s / Math.sqrt(n);
        return new Interval(n, m, s, m - h, m + h);
    }

    /**
     * The 95 % t-interval of the paired differences {@code a[i] − b[i]}; pairs where either value is not finite (a diverged
     * run) are left out.
     *
     * @param a the first arm's values, by seed
     * @param b the second arm's values, same seeds in the same order
     * @return the interval of the mean difference
     * @throws IllegalArgumentException if the lengths differ
     */
    public static Interval paired(double[] a, double[] b) {
        if (a.length != b.length) throw new IllegalArgumentException("paired values need equal lengths: " + a.length + " vs " + b.length);
        double[] d = new double[a.length];
        int n = 0;
        for (int i = 0; i < a.length; i++)
            if (Double.isFinite(a[i]) && Double.isFinite(b[i])) d[n++] = a[i] - b[i];
        return interval(java.util.Arrays.copyOf(d, n));
    }

    /**
     * The finite values of an array.
     *
     * @param x the values
     * @return those that are finite, in order
     */
    public static double[] finite(double[] x) {
        return java.util.Arrays.stream(x).filter(Double::isFinite).toArray();
    }
}
