package io.panlora.train.internal;

import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** Training metrics as JSON lines: {"step":…,"loss":…,…} and {"step":…,"val_loss":…}; flushed every line. */
public final class MetricsLog implements AutoCloseable {
    private final Path path;
    private final BufferedWriter out;
    private final List<double[]> train = new ArrayList<>(); // step, loss
    private final List<double[]> val = new ArrayList<>();   // step, val loss

    /** Opens the log; when resuming, keeps only the lines up to keepUpToStep (later ones came from the interrupted run). */
    public MetricsLog(Path path, int keepUpToStep) throws IOException {
        this.path = path;
        List<String> kept = new ArrayList<>();
        if (keepUpToStep >= 0 && Files.exists(path)) {
            for (String line : Files.readAllLines(path, StandardCharsets.UTF_8)) {
                int step = stepOf(line);
                if (step < 0 || step > keepUpToStep) continue;
                kept.add(line);
                double loss = numberOf(line, "\"loss\":"), vl = numberOf(line, "\"val_loss\":");
                if (!Double.isNaN(loss)) train.add(new double[] {step, loss});
                if (!Double.isNaN(vl)) val.add(new double[] {step, vl});
            }
        }
        // rewritten atomically: a run killed here leaves the old log (and a stale .tmp that the next run removes), never half of it
        Path dir = path.toAbsolutePath().getParent();
        Path tmp = dir.resolve("." + path.getFileName() + "." + Long.toHexString(System.nanoTime()) + ".tmp");
        try {
            Files.write(tmp, kept, StandardCharsets.UTF_8, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
            Files.move(tmp, path, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
        out = Files.newBufferedWriter(path, StandardCharsets.UTF_8, StandardOpenOption.APPEND);
    }

    public Path path() { return path; }

    /** Train points (step, loss) so far. */
    public List<double[]> trainPoints() { return train; }

    /** Validation points (step, loss) so far. */
    public List<double[]> valPoints() { return val; }

    public void step(int step, double loss, float lr, double gradNorm, long tokens, double tokensPerSec, double elapsed) throws IOException {
        train.add(new double[] {step, loss});
        write(String.format(Locale.ROOT, "{\"step\":%d,\"loss\":%.6f,\"lr\":%.6g,\"grad_norm\":%.6g,\"tokens\":%d,\"tokens_per_s\":%.1f,\"elapsed_s\":%.3f}",
                step, loss, lr, gradNorm, tokens, tokensPerSec, elapsed));
    }

    public void validation(int step, double valLoss) throws IOException {
        val.add(new double[] {step, valLoss});
        write(String.format(Locale.ROOT, "{\"step\":%d,\"val_loss\":%.6f,\"val_ppl\":%.4f}", step, valLoss, Math.exp(valLoss)));
    }

    private void write(String line) throws IOException {
        out.write(line);
        out.newLine();
        out.flush();
    }

    private static int stepOf(String line) {
        double v = numberOf(line, "\"step\":");
        return Double.isNaN(v) ? -1 : (int) v;
    }

    private static double numberOf(String line, String key) {
        int i = line.indexOf(key);
        if (i < 0) return Double.NaN;
        int j = i + key.length(), k = j;
        while (k < line.length() && "+-.0123456789eE".indexOf(line.charAt(k)) >= 0) k++;
        try {
            return Double.parseDouble(line.substring(j, k));
        } catch (NumberFormatException e) {
            return Double.NaN;
        }
    }

    @Override
    public void close() throws IOException {
        out.close();
    }
}
