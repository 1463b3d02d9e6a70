package io.panlora.train;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Locale;
import javax.imageio.ImageIO;

/** Draws the loss curves (train, validation) to a PNG with Java2D (headless). */
public final class LossPlot {
    private LossPlot() {}

    /** Writes the plot atomically to path. */
    public static void write(Path path, String title, List<double[]> train, List<double[]> val) throws IOException {
        System.setProperty("java.awt.headless", "true");
        int w = 900, h = 540, left = 70, right = 20, top = 40, bottom = 50;
        BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, w, h);
        double xMax = 1, yMin = Double.MAX_VALUE, yMax = -Double.MAX_VALUE;
        for (List<double[]> s : List.of(train, val))
            for (double[] p : s) {
                xMax = Math.max(xMax, p[0]);
                if (Double.isFinite(p[1])) { yMin = Math.min(yMin, p[1]); yMax = Math.max(yMax, p[1]); }
            }
        if (yMin > yMax) { yMin = 0; yMax = 1; }
        if (yMax - yMin < 1e-6) { yMax += 0.5; yMin -= 0.5; }
        double pad = (yMax - yMin) * 0.05;
        yMin -= pad;
        yMax += pad;
        int pw = w - left - right, ph = h - top - bottom;
        g.setColor(new Color(230, 230, 230));
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        for (int i = 0; i <= 5; i++) {
            int y = top + ph * i / 5;
            g.drawLine(left, y, left + pw, y);
            g.setColor(Color.DARK_GRAY);
            g.drawString(String.format(Locale.ROOT, "%.3f", yMax - (yMax - yMin) * i / 5), 8, y + 4);
            g.setColor(new Color(230, 230, 230));
        }
        g.setColor(Color.DARK_GRAY);
        g.drawRect(left, top, pw, ph);
        for (int i = 0; i <= 5; i++) {
            int x = left + pw * i / 5;
            g.drawString(String.format(Locale.ROOT, "%.0f", xMax * i / 5), x - 10, top + ph + 18);
        }
        g.drawString("step", left + pw / 2 - 12, h - 10);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 14));
        g.drawString(title, left, 24);
        series(g, train, new Color(60, 110, 200), left, top, pw, ph, xMax, yMin, yMax, false);
        series(g, val, new Color(220, 90, 40), left, top, pw, ph, xMax, yMin, yMax, true);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        g.setColor(new Color(60, 110, 200));
        g.drawString("train loss", left + pw - 150, top + 18);
        g.setColor(new Color(220, 90, 40));
        g.drawString("validation loss", left + pw - 150, top + 34);
        g.dispose();
        Path tmp = Files.createTempFile(path.toAbsolutePath().getParent(), ".plot", ".png.tmp");
        try {
            ImageIO.write(img, "png", tmp.toFile());
            Files.move(tmp, path, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    private static void series(Graphics2D g, List<double[]> pts, Color c, int left, int top, int pw, int ph, double xMax,
                               double yMin, double yMax, boolean dots) {
        g.setColor(c);
        g.setStroke(new BasicStroke(dots ? 2.5f : 1.5f));
        int px = -1, py = -1;
        for (double[] p : pts) {
            if (!Double.isFinite(p[1])) continue;
            int x = left + (int) Math.round(pw * p[0] / xMax);
            int y = top + (int) Math.round(ph * (yMax - p[1]) / (yMax - yMin));
            if (px >= 0) g.drawLine(px, py, x, y);
            if (dots) g.fillOval(x - 3, y - 3, 7, 7);
            px = x;
            py = y;
        }
    }
}
