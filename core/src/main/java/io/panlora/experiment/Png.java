package io.panlora.experiment;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.AffineTransform;
import java.awt.geom.Ellipse2D;
import java.awt.geom.Line2D;
import java.awt.geom.Path2D;
import java.awt.geom.Rectangle2D;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.util.HashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.imageio.ImageIO;

/**
 * Rasterizes the SVG documents {@link Svg} writes into PNG images (headless AWT), so every figure exists as both. Only
 * the subset {@link Svg} emits is understood: {@code svg} (width, height, font-size), {@code rect}, {@code circle},
 * {@code line}, {@code polyline} and {@code text} (text-anchor, font-size, {@code rotate(a x y)}), with fill, stroke,
 * stroke-width, stroke-dasharray and fill-opacity; anything else is an error, so a figure never silently loses a part.
 * Static methods only.
 */
public final class Png {
    private Png() {}

    private static final Pattern ELEMENT = Pattern.compile("<(svg|rect|circle|line|polyline|text)\\b([^>]*?)/?>(?:([^<]*)</text>)?|<(/svg|[a-zA-Z?!][^>]*)>");
    private static final Pattern ATTR = Pattern.compile("([a-zA-Z][a-zA-Z0-9-]*)='([^']*)'"); // names with digits too: x1, y2
    private static final Pattern ROTATE = Pattern.compile("rotate\\(([-0-9.]+) ([-0-9.]+) ([-0-9.]+)\\)");

    /**
     * Renders an SVG document written by {@link Svg} at twice its size (crisp on high-density screens).
     *
     * @param svg the document
     * @return the PNG file's bytes
     * @throws IllegalArgumentException if the document has an element or attribute value this renderer does not know
     * @throws IllegalStateException    if the platform cannot draw (no AWT graphics or fonts); the message says why
     */
    public static byte[] render(String svg) {
        if (System.getProperty("java.awt.headless") == null) System.setProperty("java.awt.headless", "true");
        Matcher m = ELEMENT.matcher(svg);
        BufferedImage img = null;
        Graphics2D g = null;
        float baseFont = 12;
        try {
            while (m.find()) {
                if (m.group(4) != null) {
                    if (m.group(4).equals("/svg")) continue;
                    throw new IllegalArgumentException("unsupported SVG element <" + m.group(4) + ">");
                }
                String tag = m.group(1);
                Map<String, String> a = attrs(m.group(2));
                if (tag.equals("svg")) {
                    int w = (int) num(a, "width", 0), h = (int) num(a, "height", 0);
                    if (w <= 0 || h <= 0 || w > 10_000 || h > 10_000) throw new IllegalArgumentException("bad SVG size " + w + " x " + h);
                    baseFont = (float) num(a, "font-size", 12);
                    img = new BufferedImage(2 * w, 2 * h, BufferedImage.TYPE_INT_RGB);
                    g = img.createGraphics();
                    g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
                    g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
                    g.setRenderingHint(RenderingHints.KEY_STROKE_CONTROL, RenderingHints.VALUE_STROKE_PURE);
                    g.scale(2, 2);
                    g.setColor(Color.WHITE);
                    g.fillRect(0, 0, w, h);
                    continue;
                }
                if (g == null) throw new IllegalArgumentException("SVG element <" + tag + "> before <svg>");
                draw(g, tag, a, m.group(3), baseFont);
            }
            if (img == null) throw new IllegalArgumentException("no <svg> element");
            g.dispose();
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            if (!ImageIO.write(img, "png", out)) throw new IllegalStateException("no PNG writer in this Java runtime");
            return out.toByteArray();
        } catch (IOException e) {
            throw new IllegalStateException("PNG encoding failed: " + e.getMessage(), e);
        } catch (LinkageError | java.awt.AWTError | java.awt.HeadlessException e) {
            throw new IllegalStateException("this Java runtime cannot draw images (" + e + ")", e);
        }
    }

    private static void draw(Graphics2D g, String tag, Map<String, String> a, String content, float baseFont) {
        switch (tag) {
            case "rect" -> {
                Color c = color(a.getOrDefault("fill", "black"), a);
                if (c == null) return;
                g.setColor(c);
                String w = a.getOrDefault("width", "0"), h = a.getOrDefault("height", "0");
                if (w.equals("100%") && h.equals("100%")) {
                    g.fill(g.getClipBounds() != null ? g.getClipBounds() : new Rectangle2D.Double(0, 0, 1e4, 1e4));
                } else {
                    g.fill(new Rectangle2D.Double(num(a, "x", 0), num(a, "y", 0), num(a, "width", 0), num(a, "height", 0)));
                }
            }
            case "circle" -> {
                Color c = color(a.getOrDefault("fill", "black"), a);
                if (c == null) return;
                double r = num(a, "r", 0), cx = num(a, "cx", 0), cy = num(a, "cy", 0);
                g.setColor(c);
                g.fill(new Ellipse2D.Double(cx - r, cy - r, 2 * r, 2 * r));
            }
            case "line" -> {
                if (!stroke(g, a)) return;
                g.draw(new Line2D.Double(num(a, "x1", 0), num(a, "y1", 0), num(a, "x2", 0), num(a, "y2", 0)));
            }
            case "polyline" -> {
                if (!stroke(g, a)) return;
                String[] pts = a.getOrDefault("points", "").trim().split("\\s+");
                Path2D.Double p = new Path2D.Double();
                int n = 0;
                for (String pt : pts) {
                    if (pt.isEmpty()) continue;
                    String[] xy = pt.split(",");
                    if (xy.length != 2) throw new IllegalArgumentException("bad polyline point '" + pt + "'");
                    double x = Double.parseDouble(xy[0]), y = Double.parseDouble(xy[1]);
                    if (n++ == 0) p.moveTo(x, y); else p.lineTo(x, y);
                }
                if (n > 1) g.draw(p);
            }
            case "text" -> {
                String s = unescape(content == null ? "" : content);
                Color c = color(a.getOrDefault("fill", "black"), a);
                if (c == null || s.isEmpty()) return;
                g.setColor(c);
                g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, Math.round((float) num(a, "font-size", baseFont))));
                FontMetrics fm = g.getFontMetrics();
                double x = num(a, "x", 0), y = num(a, "y", 0);
                double w = fm.stringWidth(s);
                double dx = switch (a.getOrDefault("text-anchor", "start")) {
                    case "middle" -> -w / 2;
                    case "end" -> -w;
                    case "start" -> 0;
                    default -> throw new IllegalArgumentException("unsupported text-anchor " + a.get("text-anchor"));
                };
                AffineTransform saved = g.getTransform();
                String tr = a.get("transform");
                if (tr != null) {
                    Matcher r = ROTATE.matcher(tr);
                    if (!r.matches()) throw new IllegalArgumentException("unsupported transform '" + tr + "'");
                    g.rotate(Math.toRadians(Double.parseDouble(r.group(1))), Double.parseDouble(r.group(2)), Double.parseDouble(r.group(3)));
                }
                g.drawString(s, (float) (x + dx), (float) y);
                g.setTransform(saved);
            }
            default -> throw new IllegalArgumentException("unsupported SVG element <" + tag + ">");
        }
    }

    /** Sets the stroke from the attributes; false when there is none. */
    private static boolean stroke(Graphics2D g, Map<String, String> a) {
        Color c = color(a.getOrDefault("stroke", "none"), a);
        if (c == null) return false;
        g.setColor(c);
        float w = (float) num(a, "stroke-width", 1);
        String dash = a.get("stroke-dasharray");
        if (dash != null) {
            String[] d = dash.trim().split("[ ,]+");
            float[] f = new float[d.length];
            for (int i = 0; i < d.length; i++) f[i] = Float.parseFloat(d[i]);
            g.setStroke(new BasicStroke(w, BasicStroke.CAP_BUTT, BasicStroke.JOIN_ROUND, 10f, f, 0f));
        } else {
            g.setStroke(new BasicStroke(w, BasicStroke.CAP_BUTT, BasicStroke.JOIN_ROUND));
        }
        return true;
    }

    private static final Map<String, Color> NAMED = Map.of("black", Color.BLACK, "white", Color.WHITE, "grey", Color.GRAY, "gray", Color.GRAY);

    /** A colour from {@code #rrggbb}, {@code #rgb} or a few names, with fill-opacity; null for {@code none}. */
    private static Color color(String s, Map<String, String> a) {
        if (s.equals("none")) return null;
        Color c = NAMED.get(s);
        if (c == null) {
            if (!s.startsWith("#") || (s.length() != 7 && s.length() != 4)) throw new IllegalArgumentException("unsupported colour '" + s + "'");
            String h = s.length() == 4 ? "" + s.charAt(1) + s.charAt(1) + s.charAt(2) + s.charAt(2) + s.charAt(3) + s.charAt(3) : s.substring(1);
            c = new Color(Integer.parseInt(h, 16));
        }
        String op = a.get("fill-opacity");
        if (op != null) c = new Color(c.getRed(), c.getGreen(), c.getBlue(), Math.round(255 * Float.parseFloat(op)));
        return c;
    }

    private static Map<String, String> attrs(String s) {
        Map<String, String> a = new HashMap<>();
        Matcher m = ATTR.matcher(s);
        while (m.find()) a.put(m.group(1), m.group(2));
        return a;
    }

    private static double num(Map<String, String> a, String k, double dflt) {
        String v = a.get(k);
        if (v == null) return dflt;
        try {
            return Double.parseDouble(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("bad number " + k + "='" + v + "'");
        }
    }

    private static String unescape(String s) {
        return s.replace("&lt;", "<").replace("&gt;", ">").replace("&apos;", "'").replace("&quot;", "\"").replace("&amp;", "&");
    }
}
