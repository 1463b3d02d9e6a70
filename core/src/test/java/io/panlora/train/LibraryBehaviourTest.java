package io.panlora.train;

import io.panlora.train.internal.LossPlot;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.panlora.bindings.Native;
import io.panlora.data.ReadOptions;
import io.panlora.generate.Generator;
import io.panlora.generate.Sampler;
import io.panlora.gguf.GgmlType;
import io.panlora.lora.AdapterGguf;
import io.panlora.lora.LoraSet;
import io.panlora.model.LlamaModel;
import io.panlora.model.TokenizerLoader;
import io.panlora.testing.SharedData;
import io.panlora.tokenizer.Tokenizer;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

/**
 * What the library does to its host: it prints nothing itself, sets no system property, plots as SVG and never lets a
 * failed plot stop training, and keeps thread counts per model.
 */
class LibraryBehaviourTest {
    @TempDir
    Path dir;

    private Path stories() throws Exception {
        Path p = dir.resolve("stories.txt");
        if (!Files.exists(p)) {
            String s = Files.readString(SharedData.require("tinystories-valid-sample.txt"));
            Files.writeString(p, s.substring(0, 60_000));
        }
        return p;
    }

    private static TrainConfig smallLora(int steps) {
        return TrainConfig.builder().lora(4, 8f).targets("q,v").lr(2e-3f, LrSchedule.Kind.COSINE, 0, 0f).steps(steps).batch(2, 64, 1)
                .seed(3).eval(3, 2).checkpointEvery(3).build();
    }

    private static Document parse(String svg) throws Exception {
        return DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(new java.io.ByteArrayInputStream(svg.getBytes(StandardCharsets.UTF_8)));
    }

    private static Element group(Document d, String id) {
        NodeList gs = d.getElementsByTagName("g");
        for (int i = 0; i < gs.getLength(); i++) if (id.equals(((Element) gs.item(i)).getAttribute("id"))) return (Element) gs.item(i);
        throw new AssertionError("no group " + id);
    }

    @Test
    void lossPlotIsAnSvgWithAxesTicksBothCurvesAndALegend() throws Exception {
        List<double[]> train = new ArrayList<>(), val = new ArrayList<>();
        for (int s = 1; s <= 40; s++) train.add(new double[] {s, 5.0 - 2.0 * s / 40});
        train.add(new double[] {41, Double.NaN}); // left out
        for (int s = 0; s <= 40; s += 10) val.add(new double[] {s, 5.1 - 1.9 * s / 40});
        String svg = LossPlot.svg("loss <of> \"x\" & y", train, val);
        Document d = parse(svg); // well-formed XML (the title is escaped)
        assertEquals("svg", d.getDocumentElement().getTagName());
        assertEquals("loss <of> \"x\" & y", d.getElementsByTagName("title").item(0).getTextContent());
        Element t = group(d, "train"), v = group(d, "validation");
        String[] pts = ((Element) t.getElementsByTagName("polyline").item(0)).getAttribute("points").split(" ");
        assertEquals(40, pts.length, "one vertex per finite train point");
        assertEquals(LossPlot.TRAIN_COLOR, ((Element) t.getElementsByTagName("polyline").item(0)).getAttribute("stroke"));
        assertEquals(5, v.getElementsByTagName("circle").getLength(), "a dot per validation");
        // the curve falls: y grows downwards in SVG
        double y0 = Double.parseDouble(pts[0].split(",")[1]), y1 = Double.parseDouble(pts[39].split(",")[1]);
        assertTrue(y1 > y0, "train curve goes down the plot");
        List<String> yLabels = texts(group(d, "y-labels")), xLabels = texts(group(d, "x-labels"));
        assertEquals(List.of("2.5", "3.0", "3.5", "4.0", "4.5", "5.0", "5.5"), yLabels);
        assertEquals(List.of("0", "5", "10", "15", "20", "25", "30", "35", "40"), xLabels);
        String legend = String.join(" ", texts(group(d, "legend")));
        assertTrue(legend.contains("train loss") && legend.contains("validation loss"), legend);
        assertTrue(svg.contains(">step<") && svg.contains("loss (nats/token)"), "axis labels");
        // nothing finite to draw: still a valid document
        parse(LossPlot.svg("empty", List.of(), List.of(new double[] {1, Double.POSITIVE_INFINITY})));
    }

    private static List<String> texts(Element g) {
        List<String> out = new ArrayList<>();
        NodeList ts = g.getElementsByTagName("text");
        for (int i = 0; i < ts.getLength(); i++) out.add(ts.item(i).getTextContent());
        return out;
    }

    @Test
    void ticksAreRoundNumbersCoveringTheRange() {
        assertArrayEquals(new double[] {0, 20, 40, 60, 80, 100, 120}, LossPlot.ticks(0, 120, 8), 1e-12);
        double[] t = LossPlot.ticks(3.013, 4.871, 6);
        assertTrue(t[0] <= 3.013 && t[t.length - 1] >= 4.871, java.util.Arrays.toString(t));
        assertEquals(0.5, t[1] - t[0], 1e-12);
        double[] small = LossPlot.ticks(1.2345, 1.2350, 6);
        assertEquals(1e-4, small[1] - small[0], 1e-12);
    }

    @Test
    void anUnwritablePlotIsAWarningAndTheRunStillFinishesAndExports() throws Exception {
        Path run = dir.resolve("run");
        Files.createDirectories(run.resolve(LossPlot.FILE)); // a non-empty directory where the plot goes: it cannot be written
        Files.writeString(run.resolve(LossPlot.FILE).resolve("keep"), "x");
        List<String> warnings = new ArrayList<>();
        List<Integer> checkpoints = new ArrayList<>();
        TrainListener l = new TrainListener() {
            @Override
            public void warning(String message) {
                warnings.add(message);
            }

            @Override
            public void checkpointed(int step, Path file) {
                checkpoints.add(step);
            }
        };
        ByteArrayOutputStream progress = new ByteArrayOutputStream();
        LoraRun.Summary s = LoraRun.run(new LoraRun.Options(SharedData.require("stories260K.gguf"), stories(), null, 0.1, smallLora(6), 0,
                ReadOptions.defaults(), GgmlType.F32, run, false, new PrintStream(progress, true, StandardCharsets.UTF_8)).withListener(l));
        assertEquals(6, s.result().steps());
        assertNull(s.result().plot(), "no plot");
        assertEquals(1, warnings.size(), "one warning for the whole run: " + warnings);
        assertTrue(warnings.get(0).contains("loss plot could not be written") && warnings.get(0).contains(LossPlot.FILE), warnings.get(0));
        assertEquals(warnings, s.result().warnings());
        assertTrue(progress.toString(StandardCharsets.UTF_8).contains("warning: the loss plot could not be written"), progress.toString());
        assertEquals(List.of(3, 6), checkpoints, "checkpoint events");
        assertTrue(Files.isRegularFile(s.result().metrics()), "metrics written");
        try (LlamaModel m = LlamaModel.load(SharedData.require("stories260K.gguf")); LoraSet set = new LoraSet(m)) {
            AdapterGguf.load(s.adapter(), set, 1f); // the adapter is there and loads
            assertTrue(set.slots().size() > 0);
        }
    }

    @Test
    void aRunAndAGenerationPrintNothingAndSetNoSystemProperty() throws Exception {
        Properties before = (Properties) System.getProperties().clone();
        PrintStream out = System.out, err = System.err;
        ByteArrayOutputStream captured = new ByteArrayOutputStream(), pieces = new ByteArrayOutputStream();
        PrintStream cap = new PrintStream(captured, true, StandardCharsets.UTF_8);
        LoraRun.Summary s;
        Generator.Result g;
        try {
            System.setOut(cap);
            System.setErr(cap);
            s = LoraRun.run(new LoraRun.Options(SharedData.require("stories260K.gguf"), stories(), null, 0.1, smallLora(3), 0,
                    ReadOptions.defaults(), GgmlType.F16, dir.resolve("quiet"), false, null));
            try (LlamaModel m = LlamaModel.load(SharedData.require("stories260K.gguf"))) {
                Tokenizer tok = TokenizerLoader.fromGguf(m.gguf().orElseThrow());
                g = Generator.run(m, tok, "Once upon a time", 16, 128, new Sampler(0f, 40, 0.95f, 1), new PrintStream(pieces, true, StandardCharsets.UTF_8));
            }
        } finally {
            System.setOut(out);
            System.setErr(err);
        }
        assertEquals("", captured.toString(StandardCharsets.UTF_8), "the library printed to System.out/err");
        List<String> changed = new ArrayList<>();
        Properties after = System.getProperties();
        for (String k : after.stringPropertyNames()) if (!after.getProperty(k).equals(before.getProperty(k))) changed.add(k + "=" + after.getProperty(k));
        for (String k : before.stringPropertyNames()) if (after.getProperty(k) == null) changed.add(k + " removed");
        assertEquals(List.of(), changed, "system properties the run changed");
        assertTrue(Files.isRegularFile(s.result().plot()) && s.result().plot().getFileName().toString().equals("loss.svg"), "the plot is loss.svg");
        assertEquals(g.text(), pieces.toString(StandardCharsets.UTF_8), "the pieces go to the stream given, and only there");
        assertTrue(g.generatedTokens() > 0 && g.seconds() > 0 && g.promptTokens() > 1, g.toString());
    }

    @Test
    void modelsKeepTheirOwnThreadCounts() throws Exception {
        Path base = SharedData.require("stories260K.gguf");
        int global = Native.threads();
        try (LlamaModel one = LlamaModel.load(base, LlamaModel.LoadOptions.cpu().withThreads(1));
             LlamaModel dflt = LlamaModel.load(base)) {
            assertEquals(1, one.threads());
            assertEquals(0, dflt.threads(), "a model follows the process-wide count by default");
            int[][] tokens = {{1, 403, 407, 261, 378, 308, 285, 261, 400, 286, 303, 322}};
            float[] a = one.logits(tokens), b = dflt.logits(tokens);
            assertArrayEquals(a, b, "logits equal for any thread count");
            assertEquals(global, Native.threads(), "a model's count does not change the process-wide one");
            dflt.setThreads(2);
            assertEquals(2, dflt.threads());
            assertEquals(1, one.threads(), "the other model keeps its count");
            assertArrayEquals(a, dflt.logits(tokens));
            assertThrows(IllegalArgumentException.class, () -> one.setThreads(-1));
            assertThrows(IllegalArgumentException.class, () -> one.setThreads(LlamaModel.MAX_THREADS + 1));
            assertThrows(IllegalArgumentException.class, () -> LlamaModel.LoadOptions.cpu().withThreads(5000));
            assertEquals(global, Native.threads());
        }
    }
}
