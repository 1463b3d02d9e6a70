package io.panlora.spark;

import io.panlora.testing.SharedData;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.apache.spark.sql.SparkSession;

/** The tests' Spark session (one per JVM: Spark allows one context; its shutdown hook stops it) and their data. */
final class TestSpark {
    private TestSpark() {}

    /** Two task slots, a failed task tried twice in all, no web UI. */
    static final String MASTER = "local[2,2]";

    private static SparkSession session;

    static synchronized SparkSession session() {
        if (session == null) session = SparkJobs.session(MASTER, Map.of("spark.ui.enabled", "false"));
        return session;
    }

    static Path base() {
        return SharedData.require("stories260K.gguf");
    }

    /** The first {@code chars} characters of tinystories-valid-sample.txt, cut at a paragraph end. */
    static Path stories(Path dir, int chars) throws IOException {
        String s = Files.readString(SharedData.require("tinystories-valid-sample.txt"));
        int end = s.indexOf("\n\n", chars);
        return Files.writeString(dir.resolve("stories.txt"), s.substring(0, end < 0 ? s.length() : end + 1));
    }

    /** The small settings of the tests: CopRA at rank 4 on q,k,v,o, 24 steps of 4 × 64 tokens. */
    static RunSettings copra(int steps, long seed) {
        return new RunSettings(4, 8f, "q,k,v,o", 3e-3f, steps, 4, 64, seed, "copra", Map.of());
    }
}
