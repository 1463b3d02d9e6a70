package io.panlora.cli;

import io.panlora.lora.AdapterGguf;
import io.panlora.lora.LoraSet;
import io.panlora.model.LlamaModel;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;

/** llama.cpp's adapter options: {@code --lora FILE} and {@code --lora-scaled FILE:SCALE}, both repeatable. */
final class AdapterOptions {
    @Option(names = "--lora", description = "apply a GGUF LoRA adapter (repeatable)")
    List<Path> lora = new ArrayList<>();

    @Option(names = "--lora-scaled", description = "apply a GGUF LoRA adapter with a user scale, FILE:SCALE (repeatable)")
    List<String> loraScaled = new ArrayList<>();

    /** Checks every --lora file and every --lora-scaled FILE:SCALE before anything is loaded. */
    void checkArguments() {
        for (Path p : lora) Check.inputFile("--lora", p);
        for (String s : loraScaled) {
            Check.inputFile("--lora-scaled", Path.of(s.substring(0, Math.max(0, s.lastIndexOf(':')))));
            scaleOf(s);
        }
    }

    /** The SCALE of FILE:SCALE: a finite number. */
    private static float scaleOf(String s) {
        int i = s.lastIndexOf(':');
        if (i <= 0) throw new IllegalArgumentException("--lora-scaled expects FILE:SCALE, got '" + s + "'");
        float scale;
        try {
            scale = Float.parseFloat(s.substring(i + 1));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--lora-scaled: '" + s.substring(i + 1) + "' is not a number");
        }
        return Check.finite("--lora-scaled " + s + ": the scale", scale);
    }

    /** Every adapter with its scale (--lora at 1), in the order given. */
    java.util.List<io.panlora.llamacpp.Parity.Adapter> all() {
        var out = new ArrayList<io.panlora.llamacpp.Parity.Adapter>();
        for (Path p : lora) out.add(new io.panlora.llamacpp.Parity.Adapter(p, 1f));
        for (String s : loraScaled) out.add(new io.panlora.llamacpp.Parity.Adapter(Path.of(s.substring(0, s.lastIndexOf(':'))), scaleOf(s)));
        return out;
    }

    /** Loads every adapter into one set attached to the model; returns null when none was given. */
    LoraSet apply(LlamaModel m) throws IOException {
        if (lora.isEmpty() && loraScaled.isEmpty()) return null;
        LoraSet set = new LoraSet(m);
        try {
            for (Path p : lora) report(p, AdapterGguf.load(p, set, 1f), 1f);
            for (String s : loraScaled) {
                float scale = scaleOf(s);
                Path p = Path.of(s.substring(0, s.lastIndexOf(':')));
                report(p, AdapterGguf.load(p, set, scale), scale);
            }
            set.attach();
            return set;
        } catch (IOException | RuntimeException e) {
            set.close();
            throw e;
        }
    }

    private static void report(Path p, int n, float scale) {
        System.err.printf("panlora: adapter %s: %d tensor pairs, scale %.3g%n", p, n, scale);
    }
}
