package io.panlora.experiment;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * An experiment's results: its configuration, the base model's losses, every arm's numbers, the claims' verdicts, notes
 * and figures; printed as a table and written as {@code results.json}, {@code results.md} and one SVG and one PNG per figure.
 *
 * @param experiment the experiment's name
 * @param title      a one-line description
 * @param config     the configuration, as (key, value) pairs in order
 * @param baseVal    the base model's validation loss
 * @param baseTest   the base model's test loss
 * @param arms       the arms' results
 * @param claims     the claims' results
 * @param notes      free-text notes (choices, caveats)
 * @param figures    the figures
 */
public record Results(String experiment, String title, List<String[]> config, double baseVal, double baseTest, List<ArmResult> arms,
                      List<ClaimResult> claims, List<String> notes, List<Figure> figures) {
    /** Copies the lists. */
    public Results {
        config = List.copyOf(config);
        arms = List.copyOf(arms);
        claims = List.copyOf(claims);
        notes = List.copyOf(notes);
        figures = List.copyOf(figures);
    }

    /**
     * One arm's numbers.
     *
     * @param name           the arm's name
     * @param lr             the chosen peak learning rate
     * @param grid           the rates tried, ascending (the protocol's grid, extended past an edge where the best rate lay)
     * @param selection      the validation loss at each rate of the grid (selection seed; NaN if diverged)
     * @param lrAtEdge       whether the chosen rate is still the smallest or largest tried (the grid may be too narrow)
     * @param seeds          the test seeds
     * @param test           the test loss per seed (NaN if diverged)
     * @param validation     the validation loss per seed
     * @param shifted        the shifted-text loss per seed (NaN without a shifted text)
     * @param secondsPerStep seconds per step per seed
     * @param trainable      trainable parameters per step
     * @param extra          further per-seed measurements of the experiment's probe, by key (copied; empty for none)
     */
    public record ArmResult(String name, float lr, List<Float> grid, double[] selection, boolean lrAtEdge, List<Long> seeds, double[] test,
                            double[] validation, double[] shifted, double[] secondsPerStep, long trainable,
                            java.util.Map<String, double[]> extra) {
        /** Copies the extra measurements, keeping their order. */
        public ArmResult {
            extra = java.util.Collections.unmodifiableMap(new java.util.LinkedHashMap<>(extra));
        }

        /**
         * The mean test loss over the finite seeds.
         *
         * @return the mean
         */
        public double testMean() { return Stats.mean(Stats.finite(test)); }

        /**
         * The test loss's standard deviation over the finite seeds.
         *
         * @return the SD (NaN for one seed)
         */
        public double testSd() { return Stats.sd(Stats.finite(test)); }

        /**
         * The values of a metric per seed.
         *
         * @param m the metric
         * @return the values, by seed
         */
        public double[] values(Claim.Metric m) {
            if (m == Claim.Metric.MEASURED) throw new IllegalArgumentException("a MEASURED metric needs its key: values(Claim)");
            return switch (m) {
                case TEST_LOSS -> test;
                case SHIFTED_LOSS -> shifted;
                case SECONDS_PER_STEP -> secondsPerStep;
                case PRUNED_LOSS -> extra.getOrDefault(Runner.PRUNED, new double[test.length]);
                case PRUNE_DEGRADATION -> extra.getOrDefault(Runner.DEGRADATION, new double[test.length]);
                case MERGED_LOSS -> extra.getOrDefault(Runner.MERGED, new double[test.length]);
                case MERGE_BARRIER -> extra.getOrDefault(Runner.BARRIER, new double[test.length]);
                case MEASURED -> throw new AssertionError();
            };
        }

        /**
         * The values a claim compares, per seed.
         *
         * @param c the claim
         * @return its metric's values, or for {@link Claim.Metric#MEASURED} the probe's measurement (NaN per seed when the
         *         arm has none)
         */
        public double[] values(Claim c) {
            if (c.metric() != Claim.Metric.MEASURED) return values(c.metric());
            double[] v = extra.get(c.measure());
            if (v != null) return v;
            double[] nan = new double[test.length];
            java.util.Arrays.fill(nan, Double.NaN);
            return nan;
        }
    }

    /**
     * A claim's test.
     *
     * @param claim   the claim
     * @param diff    the 95 % interval of the mean paired difference a − b
     * @param bMean   b's mean of the metric
     * @param verdict the verdict
     */
    public record ClaimResult(Claim claim, Stats.Interval diff, double bMean, Claim.Verdict verdict) {
        /**
         * The claim's line: verdict, claim, difference and interval.
         *
         * @return e.g. {@code "HELD at this scale — COLA beats LoRA: a−b = -0.0123 [-0.0200, -0.0046] (n=5)"}
         */
        public String line() {
            String v = switch (verdict) {
                case HELD -> "HELD at this scale";
                case CONTRADICTED -> "DID NOT HOLD at this scale (contradicted)";
                case NOT_SHOWN -> diff.known() && diff.lo() == 0 && diff.hi() == 0
                        ? "DID NOT HOLD at this scale (not shown: every paired difference is 0)"
                        : "DID NOT HOLD at this scale (not shown: CI too wide)";
            };
            String unit = switch (claim.metric()) {
                case SECONDS_PER_STEP -> " s/step";
                case SHIFTED_LOSS -> " nats (shifted text)";
                case PRUNED_LOSS -> " nats (pruned)";
                case PRUNE_DEGRADATION -> " nats (pruning's cost)";
                case MERGED_LOSS -> " nats (merged)";
                case MERGE_BARRIER -> " nats (barrier)";
                case TEST_LOSS -> " nats";
                case MEASURED -> " " + claim.unit();
            };
            return String.format(Locale.ROOT, "%s%s — %s: %s − %s = %+.4f [%+.4f, %+.4f]%s (n=%d); rule: %s", claim.control() ? "[control] " : "",
                    v, claim.text(), claim.a(), claim.b(), diff.mean(), diff.lo(), diff.hi(), unit, diff.n(), claim.rule());
        }
    }

    /**
     * A figure.
     *
     * @param file  its file name ({@code .svg}); {@link Results#write} also writes its PNG rendering ({@link #png()})
     * @param title its title
     * @param svg   the SVG document
     */
    public record Figure(String file, String title, String svg) {
        /**
         * Checks the file name.
         *
         * @throws IllegalArgumentException if it does not end in {@code .svg}
         */
        public Figure {
            if (!file.endsWith(".svg")) throw new IllegalArgumentException("a figure's file ends in .svg: " + file);
        }

        /**
         * The PNG rendering's file name: the SVG file's with {@code .png}.
         *
         * @return e.g. {@code test-loss.png}
         */
        public String png() { return file.substring(0, file.length() - 4) + ".png"; }
    }

    /**
     * Tests claims against arms' results.
     *
     * @param arms   the arms' results
     * @param claims the claims (their arm names must be among the arms)
     * @return one result per claim
     * @throws IllegalArgumentException if a claim names an unknown arm
     */
    public static List<ClaimResult> judge(List<ArmResult> arms, List<Claim> claims) {
        List<ClaimResult> out = new ArrayList<>();
        for (Claim c : claims) {
            ArmResult a = find(arms, c.a()), b = find(arms, c.b());
            Stats.Interval d = Stats.paired(a.values(c), b.values(c));
            double bMean = Stats.mean(Stats.finite(b.values(c)));
            out.add(new ClaimResult(c, d, bMean, c.judge(d, bMean)));
        }
        return out;
    }

    /**
     * An arm's result by name.
     *
     * @param name the arm's name
     * @return its result
     * @throws IllegalArgumentException if there is none
     */
    public ArmResult arm(String name) { return find(arms, name); }

    private static ArmResult find(List<ArmResult> arms, String name) {
        for (ArmResult a : arms) if (a.name().equals(name)) return a;
        throw new IllegalArgumentException("no arm named '" + name + "'");
    }

    /**
     * Prints the configuration, the table and the claims' lines.
     *
     * @param out where to print
     */
    public void print(PrintStream out) {
        out.println(table());
        out.println("Claims (lower loss is better; a−b < 0 favours a):");
        for (ClaimResult c : claims) out.println("  " + c.line());
        for (String n : notes) out.println("note: " + n);
    }

    /** The results table in Markdown (also readable as plain text). */
    private String table() {
        StringBuilder b = new StringBuilder();
        b.append(String.format(Locale.ROOT, "base model: validation %.4f, test %.4f nats/token%n%n", baseVal, baseTest));
        boolean sh = arms.stream().anyMatch(a -> Stats.finite(a.shifted()).length > 0);
        b.append("| arm | lr | test loss mean ± SD | Δ vs base |").append(sh ? " shifted-text loss mean ± SD |" : "")
                .append(" s/step | trainable | test loss per seed |\n|---|---|---|---|").append(sh ? "---|" : "").append("---|---|---|\n");
        for (ArmResult a : arms) {
            StringBuilder per = new StringBuilder();
            for (double v : a.test()) per.append(per.isEmpty() ? "" : " ").append(String.format(Locale.ROOT, "%.4f", v));
            String shCol = sh ? String.format(Locale.ROOT, " %.4f ± %.4f |", Stats.mean(Stats.finite(a.shifted())), Stats.sd(Stats.finite(a.shifted()))) : "";
            b.append(String.format(Locale.ROOT, "| %s | %s%s | %.4f ± %.4f | %+.4f |%s %.3f | %d | %s |%n", a.name(), Runner.fmtLr(a.lr()),
                    a.lrAtEdge() ? "*" : "", a.testMean(), a.testSd(), a.testMean() - baseTest, shCol, Stats.mean(a.secondsPerStep()), a.trainable(), per));
        }
        b.append("\n(* the chosen learning rate is at the edge of the rates tried, even after extending the grid)\n");
        return b.toString();
    }

    /** The probes' measurements as a Markdown table: one row per key, one column per arm; empty when there are none. */
    private String measurements() {
        java.util.LinkedHashSet<String> keys = new java.util.LinkedHashSet<>();
        for (ArmResult a : arms) keys.addAll(a.extra().keySet());
        if (keys.isEmpty()) return "";
        StringBuilder b = new StringBuilder("| measurement |");
        for (ArmResult a : arms) b.append(' ').append(a.name()).append(" |");
        b.append("\n|---|").append("---|".repeat(arms.size())).append('\n');
        for (String k : keys) {
            b.append("| ").append(k).append(" |");
            for (ArmResult a : arms) {
                double[] v = a.extra().get(k);
                b.append(v == null ? " |" : String.format(Locale.ROOT, " %.4f ± %.4f |", Stats.mean(Stats.finite(v)), Stats.sd(Stats.finite(v))));
            }
            b.append('\n');
        }
        return b.toString();
    }

    /**
     * The Markdown report.
     *
     * @return the report
     */
    public String markdown() {
        StringBuilder b = new StringBuilder("# Experiment " + experiment + "\n\n" + title + "\n\n## Configuration\n\n");
        for (String[] kv : config) b.append("- ").append(kv[0]).append(": ").append(kv[1]).append('\n');
        b.append("\n## Results\n\n").append(table());
        String meas = measurements();
        if (!meas.isEmpty()) b.append("\n## Measurements (mean ± SD over the seeds)\n\n").append(meas);
        b.append("\n## Claims\n\n");
        for (ClaimResult c : claims) b.append("- ").append(c.line()).append('\n');
        if (!notes.isEmpty()) {
            b.append("\n## Notes\n\n");
            for (String n : notes) b.append("- ").append(n).append('\n');
        }
        b.append("\n## Figures\n\n");
        for (Figure f : figures) b.append("![").append(f.title()).append("](").append(f.png()).append(") (also [SVG](").append(f.file()).append("))\n\n");
        b.append("## Learning-rate selection (validation loss, selection seed)\n\n| arm | rate: validation loss |\n|---|---|\n");
        for (ArmResult a : arms) {
            b.append("| ").append(a.name()).append(" |");
            for (int i = 0; i < a.grid().size(); i++)
                b.append(String.format(Locale.ROOT, " %s: %.4f%s", Runner.fmtLr(a.grid().get(i)), a.selection()[i], a.grid().get(i) == a.lr() ? " (chosen)" : ""));
            b.append(" |\n");
        }
        return b.toString();
    }

    /**
     * The JSON document.
     *
     * @return the results as JSON
     */
    public String json() {
        StringBuilder b = new StringBuilder("{\n  \"experiment\": ").append(q(experiment)).append(",\n  \"title\": ").append(q(title));
        b.append(",\n  \"config\": {");
        for (int i = 0; i < config.size(); i++)
            b.append(i == 0 ? "" : ", ").append(q(config.get(i)[0])).append(": ").append(q(config.get(i)[1]));
        b.append("},\n  \"base\": {\"validation\": ").append(num(baseVal)).append(", \"test\": ").append(num(baseTest)).append("},\n  \"arms\": [");
        for (int i = 0; i < arms.size(); i++) {
            ArmResult a = arms.get(i);
            b.append(i == 0 ? "\n" : ",\n").append("    {\"name\": ").append(q(a.name())).append(", \"lr\": ").append(num(a.lr()))
                    .append(", \"lr_grid\": ").append(arr(a.grid().stream().mapToDouble(Float::doubleValue).toArray()))
                    .append(", \"selection_validation\": ").append(arr(a.selection())).append(", \"lr_at_grid_edge\": ").append(a.lrAtEdge())
                    .append(", \"seeds\": ").append(a.seeds()).append(", \"test\": ").append(arr(a.test()))
                    .append(", \"validation\": ").append(arr(a.validation())).append(", \"shifted\": ").append(arr(a.shifted())).append(", \"seconds_per_step\": ").append(arr(a.secondsPerStep()))
                    .append(", \"test_mean\": ").append(num(a.testMean())).append(", \"test_sd\": ").append(num(a.testSd()))
                    .append(", \"trainable\": ").append(a.trainable());
            for (var e : a.extra().entrySet()) b.append(", ").append(q(e.getKey())).append(": ").append(arr(e.getValue()));
            b.append('}');
        }
        b.append("\n  ],\n  \"claims\": [");
        for (int i = 0; i < claims.size(); i++) {
            ClaimResult c = claims.get(i);
            b.append(i == 0 ? "\n" : ",\n").append("    {\"text\": ").append(q(c.claim().text())).append(", \"kind\": ").append(q(c.claim().kind().name()))
                    .append(", \"metric\": ").append(q(c.claim().metric().name()))
                    .append(c.claim().measure() == null ? "" : ", \"measure\": " + q(c.claim().measure())).append(", \"a\": ").append(q(c.claim().a()))
                    .append(", \"b\": ").append(q(c.claim().b())).append(", \"margin\": ").append(num(c.claim().margin()))
                    .append(", \"margin_relative\": ").append(c.claim().relative()).append(", \"control\": ").append(c.claim().control())
                    .append(", \"n\": ").append(c.diff().n()).append(", \"diff_mean\": ").append(num(c.diff().mean()))
                    .append(", \"diff_sd\": ").append(num(c.diff().sd())).append(", \"ci95\": [").append(num(c.diff().lo())).append(", ")
                    .append(num(c.diff().hi())).append("], \"verdict\": ").append(q(c.verdict().name())).append(", \"rule\": ").append(q(c.claim().rule()))
                    .append(", \"line\": ").append(q(c.line())).append('}');
        }
        b.append("\n  ],\n  \"notes\": [");
        for (int i = 0; i < notes.size(); i++) b.append(i == 0 ? "" : ", ").append(q(notes.get(i)));
        b.append("],\n  \"figures\": [");
        for (int i = 0; i < figures.size(); i++) b.append(i == 0 ? "" : ", ").append(q(figures.get(i).file())).append(", ").append(q(figures.get(i).png()));
        return b.append("]\n}\n").toString();
    }

    /**
     * Writes {@code results.json}, {@code results.md} and the figures into a directory.
     *
     * @param dir the directory, created if missing
     * @return the written files
     * @throws IOException if a file cannot be written
     */
    public List<Path> write(Path dir) throws IOException {
        Files.createDirectories(dir);
        List<Path> out = new ArrayList<>();
        out.add(Files.writeString(dir.resolve("results.json"), json()));
        out.add(Files.writeString(dir.resolve("results.md"), markdown()));
        String pngProblem = null;
        for (Figure f : figures) {
            out.add(Files.writeString(dir.resolve(f.file()), f.svg()));
            if (pngProblem != null) continue;
            try {
                out.add(Files.write(dir.resolve(f.png()), Png.render(f.svg())));
            } catch (IllegalStateException e) {
                pngProblem = e.getMessage();
                System.err.println("warning: the PNG figures are not written (" + pngProblem + "); the SVG files are");
            }
        }
        return out;
    }

    static String num(double v) {
        return Double.isFinite(v) ? String.format(Locale.ROOT, "%.6g", v) : "null";
    }

    private static String arr(double[] v) {
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < v.length; i++) b.append(i == 0 ? "" : ", ").append(num(v[i]));
        return b.append(']').toString();
    }

    static String q(String s) {
        return io.panlora.data.JsonValue.quote(s);
    }
}
