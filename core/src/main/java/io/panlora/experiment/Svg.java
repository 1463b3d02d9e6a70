package io.panlora.experiment;

import java.util.List;
import java.util.Locale;

/**
 * Hand-written SVG figures (no AWT): per-arm values with mean ± SD, a forest plot of paired-difference intervals, and
 * lines of means over an x axis. Static methods only.
 */
public final class Svg {
    private Svg() {}

    private static final int W = 760, LEFT = 230, RIGHT = 30, TOP = 40, ROW = 26;
    private static final String[] COLORS = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"};

    /**
     * One row per arm: each seed's value as a dot, the mean as a bar tick with ± SD whiskers; the x axis spans the values.
     *
     * @param title  the title
     * @param xLabel the axis label
     * @param names  the arms
     * @param values the values per arm, by seed (non-finite values are skipped)
     * @return the SVG document
     */
    public static String dots(String title, String xLabel, List<String> names, List<double[]> values) {
        double lo = Double.POSITIVE_INFINITY, hi = Double.NEGATIVE_INFINITY;
        for (double[] v : values) for (double x : v) if (Double.isFinite(x)) { lo = Math.min(lo, x); hi = Math.max(hi, x); }
        double[] r = range(lo, hi, false);
        int h = TOP + ROW * names.size() + 50, left = left(names), w = left + W - LEFT;
        StringBuilder b = head(title, h, w);
        axis(b, r, h, xLabel, left, w);
        for (int i = 0; i < names.size(); i++) {
            double y = TOP + ROW * (i + 0.5);
            label(b, names.get(i), y, left);
            double[] v = Stats.finite(values.get(i));
            for (double x : v) b.append(String.format(Locale.ROOT, "<circle cx='%.1f' cy='%.1f' r='3' fill='%s' fill-opacity='0.6'/>%n", px(x, r, left, w), y, COLORS[0]));
            double m = Stats.mean(v), s = Stats.sd(v);
            if (Double.isFinite(m)) {
                if (Double.isFinite(s))
                    b.append(String.format(Locale.ROOT, "<line x1='%.1f' x2='%.1f' y1='%.1f' y2='%.1f' stroke='black'/>%n", px(m - s, r, left, w), px(m + s, r, left, w), y + 7, y + 7));
                b.append(String.format(Locale.ROOT, "<rect x='%.1f' y='%.1f' width='3' height='14' fill='black'/>%n", px(m, r, left, w) - 1.5, y));
            }
        }
        return b.append("</svg>\n").toString();
    }

    /**
     * A forest plot: one row per comparison, its mean difference and 95 % interval, and a dashed line at 0; rows coloured
     * by verdict (green held, red contradicted, grey not shown).
     *
     * @param title    the title
     * @param xLabel   the axis label
     * @param labels   the comparisons
     * @param diffs    their intervals
     * @param verdicts their verdicts
     * @return the SVG document
     */
    public static String forest(String title, String xLabel, List<String> labels, List<Stats.Interval> diffs, List<Claim.Verdict> verdicts) {
        double lo = 0, hi = 0;
        for (Stats.Interval d : diffs) {
            for (double x : new double[] {d.mean(), d.lo(), d.hi()}) if (Double.isFinite(x)) { lo = Math.min(lo, x); hi = Math.max(hi, x); }
        }
        double[] r = range(lo, hi, true);
        int h = TOP + ROW * labels.size() + 50, left = left(labels), w = left + W - LEFT;
        StringBuilder b = head(title, h, w);
        axis(b, r, h, xLabel, left, w);
        b.append(String.format(Locale.ROOT, "<line x1='%.1f' x2='%.1f' y1='%d' y2='%d' stroke='#888' stroke-dasharray='4 3'/>%n", px(0, r, left, w), px(0, r, left, w), TOP, h - 50));
        for (int i = 0; i < labels.size(); i++) {
            double y = TOP + ROW * (i + 0.5);
            label(b, labels.get(i), y, left);
            Stats.Interval d = diffs.get(i);
            String c = switch (verdicts.get(i)) { case HELD -> "#2ca02c"; case CONTRADICTED -> "#d62728"; case NOT_SHOWN -> "#777777"; };
            if (d.known())
                b.append(String.format(Locale.ROOT, "<line x1='%.1f' x2='%.1f' y1='%.1f' y2='%.1f' stroke='%s' stroke-width='2'/>%n", px(d.lo(), r, left, w), px(d.hi(), r, left, w), y, y, c));
            if (Double.isFinite(d.mean()))
                b.append(String.format(Locale.ROOT, "<circle cx='%.1f' cy='%.1f' r='4' fill='%s'/>%n", px(d.mean(), r, left, w), y, c));
        }
        return b.append("</svg>\n").toString();
    }

    /**
     * Lines of means (with ± SD whiskers) over x, one per series.
     *
     * @param title  the title
     * @param xLabel the x axis label
     * @param yLabel the y axis label
     * @param series the series' names
     * @param x      the x values, shared by every series
     * @param mean   the means, per series, by x (NaN for none)
     * @param sd     the standard deviations, same shape (NaN for none)
     * @return the SVG document
     */
    public static String lines(String title, String xLabel, String yLabel, List<String> series, double[] x, double[][] mean, double[][] sd) {
        int h = 420, l = 80, rgt = W - 170, top = TOP, bot = h - 50;
        double ylo = Double.POSITIVE_INFINITY, yhi = Double.NEGATIVE_INFINITY;
        for (int s = 0; s < mean.length; s++)
            for (int i = 0; i < x.length; i++) {
                double m = mean[s][i], e = Double.isFinite(sd[s][i]) ? sd[s][i] : 0;
                if (Double.isFinite(m)) { ylo = Math.min(ylo, m - e); yhi = Math.max(yhi, m + e); }
            }
        double[] yr = range(ylo, yhi, false);
        double xlo = x[0], xhi = x[x.length - 1] == x[0] ? x[0] + 1 : x[x.length - 1];
        StringBuilder b = head(title, h, W);
        b.append(String.format(Locale.ROOT, "<line x1='%d' x2='%d' y1='%d' y2='%d' stroke='black'/><line x1='%d' x2='%d' y1='%d' y2='%d' stroke='black'/>%n",
                l, rgt, bot, bot, l, l, top, bot));
        for (double xv : x) {
            double px = l + (xv - xlo) / (xhi - xlo) * (rgt - l - 20) + 10;
            b.append(String.format(Locale.ROOT, "<text x='%.1f' y='%d' text-anchor='middle'>%s</text>%n", px, bot + 16, fmt(xv)));
        }
        for (int k = 0; k <= 4; k++) {
            double yv = yr[0] + k * (yr[1] - yr[0]) / 4, py = bot - (yv - yr[0]) / (yr[1] - yr[0]) * (bot - top);
            b.append(String.format(Locale.ROOT, "<text x='%d' y='%.1f' text-anchor='end'>%s</text>%n", l - 4, py + 4, fmt(yv)));
        }
        b.append(String.format(Locale.ROOT, "<text x='%d' y='%d' text-anchor='middle'>%s</text>%n", (l + rgt) / 2, h - 12, esc(xLabel)));
        b.append(String.format(Locale.ROOT, "<text x='14' y='%d' transform='rotate(-90 14 %d)' text-anchor='middle'>%s</text>%n", (top + bot) / 2, (top + bot) / 2, esc(yLabel)));
        for (int s = 0; s < mean.length; s++) {
            String c = COLORS[s % COLORS.length];
            StringBuilder pts = new StringBuilder();
            for (int i = 0; i < x.length; i++) {
                if (!Double.isFinite(mean[s][i])) continue;
                double px = l + (x[i] - xlo) / (xhi - xlo) * (rgt - l - 20) + 10, py = bot - (mean[s][i] - yr[0]) / (yr[1] - yr[0]) * (bot - top);
                pts.append(String.format(Locale.ROOT, "%.1f,%.1f ", px, py));
                b.append(String.format(Locale.ROOT, "<circle cx='%.1f' cy='%.1f' r='3.5' fill='%s'/>%n", px, py, c));
                if (Double.isFinite(sd[s][i])) {
                    double e = sd[s][i] / (yr[1] - yr[0]) * (bot - top);
                    b.append(String.format(Locale.ROOT, "<line x1='%.1f' x2='%.1f' y1='%.1f' y2='%.1f' stroke='%s'/>%n", px, px, py - e, py + e, c));
                }
            }
            b.append(String.format(Locale.ROOT, "<polyline points='%s' fill='none' stroke='%s' stroke-width='1.5'/>%n", pts.toString().trim(), c));
            b.append(String.format(Locale.ROOT, "<rect x='%d' y='%d' width='12' height='12' fill='%s'/><text x='%d' y='%d'>%s</text>%n",
                    rgt + 15, top + 20 * s, c, rgt + 32, top + 20 * s + 11, esc(series.get(s))));
        }
        return b.append("</svg>\n").toString();
    }

    private static StringBuilder head(String title, int h, int w) {
        return new StringBuilder(String.format(Locale.ROOT,
                "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' font-family='sans-serif' font-size='12'>%n"
                        + "<rect width='100%%' height='100%%' fill='white'/>%n<text x='%d' y='22' text-anchor='middle' font-size='14'>%s</text>%n",
                w, h, w / 2, esc(title)));
    }

    /** The left margin: room for the longest row label (about 7 px a character at 12 px), at least {@link #LEFT}. */
    private static int left(List<String> labels) {
        int n = 0;
        for (String s : labels) n = Math.max(n, s.length());
        return Math.max(LEFT, 7 * n + 16);
    }

    private static void axis(StringBuilder b, double[] r, int h, String label, int left, int w) {
        int y = h - 50;
        b.append(String.format(Locale.ROOT, "<line x1='%d' x2='%d' y1='%d' y2='%d' stroke='black'/>%n", left, w - RIGHT, y, y));
        for (int k = 0; k <= 4; k++) {
            double v = r[0] + k * (r[1] - r[0]) / 4;
            b.append(String.format(Locale.ROOT, "<line x1='%.1f' x2='%.1f' y1='%d' y2='%d' stroke='black'/><text x='%.1f' y='%d' text-anchor='middle'>%s</text>%n",
                    px(v, r, left, w), px(v, r, left, w), y, y + 4, px(v, r, left, w), y + 17, fmt(v)));
        }
        b.append(String.format(Locale.ROOT, "<text x='%d' y='%d' text-anchor='middle'>%s</text>%n", (left + w - RIGHT) / 2, h - 12, esc(label)));
    }

    private static void label(StringBuilder b, String s, double y, int left) {
        b.append(String.format(Locale.ROOT, "<text x='%d' y='%.1f' text-anchor='end'>%s</text>%n", left - 8, y + 4, esc(s)));
    }

    private static double px(double v, double[] r, int left, int w) {
        return left + (v - r[0]) / (r[1] - r[0]) * (w - left - RIGHT);
    }

    private static double[] range(double lo, double hi, boolean keepZero) {
        if (!Double.isFinite(lo) || !Double.isFinite(hi)) return new double[] {0, 1};
        double pad = Math.max((hi - lo) * 0.08, Math.max(1e-6, Math.abs(hi) * 1e-4));
        return new double[] {lo - pad, hi + pad};
    }

    private static String fmt(double v) {
        if (Math.abs(v) >= 100 || v == Math.rint(v)) return String.format(Locale.ROOT, "%.0f", v);
        String t = String.format(Locale.ROOT, "%.4g", v);
        if (t.contains(".") && !t.contains("e")) t = t.replaceAll("0+$", "").replaceAll("\\.$", "");
        return t;
    }

    private static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("'", "&apos;");
    }
}
