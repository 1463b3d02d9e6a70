package io.panlora.train.internal;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Draws the loss curves (train, validation) as an SVG file, written by hand: no AWT, no image codecs, nothing set in the
 * JVM. Axes with round-number ticks and a light grid, the step axis from 0, the loss axis over the finite values (5 %
 * padding), the train curve as a line, the validation curve as a line with a dot per evaluation, a legend and a title.
 * Non-finite points are left out.
 */
public final class LossPlot {
    /** The file name the trainer gives the plot in a run directory. */
    public static final String FILE = "loss.svg";

    public static final String TRAIN_COLOR = "#3c6ec8", VAL_COLOR = "#dc5a28";
    private static final int W = 900, H = 540, LEFT = 80, RIGHT = 24, TOP = 44, BOTTOM = 56;

    private LossPlot() {}

    /** Writes the plot to path atomically (a temporary file beside it, then a rename); nothing is left behind on failure. */
    public static void write(Path path, String title, List<double[]> train, List<double[]> val) throws IOException {
        String svg = svg(title, train, val);
        Path dir = path.toAbsolutePath().getParent();
        Path tmp = dir.resolve("." + path.getFileName() + "." + Long.toHexString(System.nanoTime()) + ".tmp");
        try {
            Files.writeString(tmp, svg, StandardCharsets.UTF_8);
            Files.move(tmp, path, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** The SVG document of the plot. */
    public static String svg(String title, List<double[]> train, List<double[]> val) {
        double xMax = 1, yMin = Double.POSITIVE_INFINITY, yMax = Double.NEGATIVE_INFINITY;
        for (List<double[]> s : List.of(train, val))
            for (double[] p : s) {
                if (!Double.isFinite(p[0]) || !Double.isFinite(p[1])) continue;
                xMax = Math.max(xMax, p[0]);
                yMin = Math.min(yMin, p[1]);
                yMax = Math.max(yMax, p[1]);
            }
        if (yMin > yMax) { yMin = 0; yMax = 1; }
        if (yMax - yMin < 1e-6) { yMax += 0.5; yMin -= 0.5; }
        double pad = (yMax - yMin) * 0.05;
        yMin -= pad;
        yMax += pad;
        double[] yTicks = ticks(yMin, yMax, 6), xTicks = ticks(0, xMax, 8);
        yMin = Math.min(yMin, yTicks[0]);
        yMax = Math.max(yMax, yTicks[yTicks.length - 1]);
        xMax = Math.max(xMax, xTicks[xTicks.length - 1]);
        Frame f = new Frame(xMax, yMin, yMax);
        int pw = W - LEFT - RIGHT, ph = H - TOP - BOTTOM;

        StringBuilder b = new StringBuilder(8192);
        b.append("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        b.append(String.format(Locale.ROOT, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                + "font-family=\"sans-serif\" font-size=\"12\">%n", W, H, W, H));
        b.append("<title>").append(escape(title)).append("</title>\n");
        b.append(String.format(Locale.ROOT, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>%n", W, H));
        // grid and tick labels
        b.append("<g id=\"y-axis\" stroke=\"#e6e6e6\" stroke-width=\"1\">\n");
        for (double t : yTicks) {
            double y = f.y(t);
            b.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%.2f\" x2=\"%d\" y2=\"%.2f\"/>%n", LEFT, y, LEFT + pw, y));
        }
        b.append("</g>\n<g id=\"y-labels\" fill=\"#404040\" text-anchor=\"end\">\n");
        String yFormat = format(yTicks);
        for (double t : yTicks)
            b.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%.2f\">%s</text>%n", LEFT - 8, f.y(t) + 4, String.format(Locale.ROOT, yFormat, t)));
        b.append("</g>\n<g id=\"x-axis\" stroke=\"#e6e6e6\" stroke-width=\"1\">\n");
        for (double t : xTicks) {
            double x = f.x(t);
            b.append(String.format(Locale.ROOT, "<line x1=\"%.2f\" y1=\"%d\" x2=\"%.2f\" y2=\"%d\"/>%n", x, TOP, x, TOP + ph));
        }
        b.append("</g>\n<g id=\"x-labels\" fill=\"#404040\" text-anchor=\"middle\">\n");
        String xFormat = format(xTicks);
        for (double t : xTicks)
            b.append(String.format(Locale.ROOT, "<text x=\"%.2f\" y=\"%d\">%s</text>%n", f.x(t), TOP + ph + 18, String.format(Locale.ROOT, xFormat, t)));
        b.append("</g>\n");
        b.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"#404040\"/>%n", LEFT, TOP, pw, ph));
        // axis labels and title
        b.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"#404040\">step</text>%n", LEFT + pw / 2, H - 14));
        b.append(String.format(Locale.ROOT, "<text transform=\"translate(18 %d) rotate(-90)\" text-anchor=\"middle\" fill=\"#404040\">"
                + "loss (nats/token)</text>%n", TOP + ph / 2));
        b.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"26\" font-size=\"15\" font-weight=\"bold\">%s</text>%n", LEFT, escape(title)));
        // curves
        series(b, "train", train, TRAIN_COLOR, 1.5, false, f);
        series(b, "validation", val, VAL_COLOR, 2, true, f);
        // legend
        int lx = LEFT + pw - 170, ly = TOP + 12;
        b.append(String.format(Locale.ROOT, "<g id=\"legend\">%n<rect x=\"%d\" y=\"%d\" width=\"160\" height=\"46\" fill=\"white\" "
                + "fill-opacity=\"0.85\" stroke=\"#c8c8c8\"/>%n", lx, ly));
        b.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\"/>%n",
                lx + 10, ly + 15, lx + 36, ly + 15, TRAIN_COLOR));
        b.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\">train loss</text>%n", lx + 44, ly + 19));
        b.append(String.format(Locale.ROOT, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\"/>%n",
                lx + 10, ly + 33, lx + 36, ly + 33, VAL_COLOR));
        b.append(String.format(Locale.ROOT, "<circle cx=\"%d\" cy=\"%d\" r=\"3\" fill=\"%s\"/>%n", lx + 23, ly + 33, VAL_COLOR));
        b.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\">validation loss</text>%n</g>%n", lx + 44, ly + 37));
        b.append("</svg>\n");
        return b.toString();
    }

    /** Data coordinates to pixels. */
    private record Frame(double xMax, double yMin, double yMax) {
        double x(double v) {
            return LEFT + (W - LEFT - RIGHT) * v / xMax;
        }

        double y(double v) {
            return TOP + (H - TOP - BOTTOM) * (yMax - v) / (yMax - yMin);
        }
    }

    private static void series(StringBuilder b, String id, List<double[]> pts, String color, double width, boolean dots, Frame f) {
        List<double[]> px = new ArrayList<>();
        for (double[] p : pts) if (Double.isFinite(p[0]) && Double.isFinite(p[1])) px.add(new double[] {f.x(p[0]), f.y(p[1])});
        b.append("<g id=\"").append(id).append("\">\n");
        if (px.size() > 1) {
            b.append(String.format(Locale.ROOT, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%.1f\" stroke-linejoin=\"round\" points=\"", color, width));
            for (int i = 0; i < px.size(); i++)
                b.append(i == 0 ? "" : " ").append(String.format(Locale.ROOT, "%.2f,%.2f", px.get(i)[0], px.get(i)[1]));
            b.append("\"/>\n");
        }
        if (dots || px.size() == 1)
            for (double[] p : px) b.append(String.format(Locale.ROOT, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"3.5\" fill=\"%s\"/>%n", p[0], p[1], color));
        b.append("</g>\n");
    }

    /**
     * Round-number ticks covering [lo, hi]: a step of 1, 2 or 5 times a power of ten giving at most about {@code want}
     * intervals, from the largest multiple of the step at or below lo to the smallest at or above hi.
     */
    public static double[] ticks(double lo, double hi, int want) {
        double span = hi - lo;
        if (!(span > 0) || !Double.isFinite(span)) return new double[] {lo, hi};
        double raw = span / want, mag = Math.pow(10, Math.floor(Math.log10(raw))), step = mag;
        for (double m : new double[] {1, 2, 5, 10}) {
            step = m * mag;
            if (step >= raw) break;
        }
        double first = Math.floor(lo / step + 1e-9) * step, last = Math.ceil(hi / step - 1e-9) * step;
        int n = (int) Math.round((last - first) / step) + 1;
        double[] t = new double[n];
        for (int i = 0; i < n; i++) t[i] = first + i * step;
        return t;
    }

    /** A format with as many decimals as the tick step needs. */
    private static String format(double[] ticks) {
        if (ticks.length < 2) return "%.3f";
        double step = Math.abs(ticks[1] - ticks[0]);
        int decimals = step >= 1 ? 0 : (int) Math.min(6, Math.ceil(-Math.log10(step) - 1e-9));
        return "%." + decimals + "f";
    }

    private static String escape(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }
}
