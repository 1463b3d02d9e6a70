package io.panlora.tokenizer;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/** Locates the optional shared test data and builds small vocabularies for the tokenizer tests. */
final class TokenizerTestData {
    private TokenizerTestData() {
    }

    /** {@code ../shared/data} beside the repository root (the directory holding native/include/panlora.h), or null. */
    static Path sharedData() {
        String env = System.getenv("PANLORA_SHARED_DATA"); // as io.panlora.testing.SharedData: checkouts elsewhere (worktrees)
        if (env != null && !env.isBlank()) {
            return Files.isDirectory(Path.of(env)) ? Path.of(env) : null;
        }
        Path dir = Path.of("").toAbsolutePath();
        while (dir != null && !Files.isRegularFile(dir.resolve("native/include/panlora.h"))) {
            dir = dir.getParent();
        }
        if (dir == null || dir.getParent() == null) {
            return null;
        }
        Path data = dir.getParent().resolve("shared/data");
        return Files.isDirectory(data) ? data : null;
    }

    /** A shared data file, or null when absent. */
    static Path sharedFile(String name) {
        Path data = sharedData();
        if (data == null) {
            return null;
        }
        Path file = data.resolve(name);
        return Files.isRegularFile(file) ? file : null;
    }

    /** A test resource's lines, without '#' comments. */
    static List<String> resourceLines(String name) throws IOException {
        try (InputStream in = TokenizerTestData.class.getResourceAsStream(name)) {
            if (in == null) {
                throw new IOException("missing test resource " + name);
            }
            List<String> lines = new ArrayList<>();
            for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
                if (!line.isEmpty() && !line.startsWith("#")) {
                    lines.add(line);
                }
            }
            return lines;
        }
    }

    /** The reference BPE vocabulary of llamacpp-bpe-vocab.tsv with the given pre-tokenizer (null = key absent). */
    static TokenizerSpec referenceBpe(String pre) throws IOException {
        HexFormat hex = HexFormat.of();
        List<String> tokens = new ArrayList<>();
        List<Integer> types = new ArrayList<>();
        List<String> merges = new ArrayList<>();
        for (String line : resourceLines("llamacpp-bpe-vocab.tsv")) {
            String[] f = line.split("\t");
            String text = new String(hex.parseHex(f[1]), StandardCharsets.UTF_8);
            if (f[0].equals("T")) {
                tokens.add(text);
                types.add(Integer.parseInt(f[2]));
            } else {
                merges.add(text);
            }
        }
        return new TokenizerSpec("gpt2", pre, tokens, null, types.stream().mapToInt(Integer::intValue).toArray(), merges,
                0, 1, -1, -1, TokenizerSpec.defaultAddBos("gpt2", pre), false, false, null);
    }

    static String utf8(byte[] bytes) {
        return new String(bytes, StandardCharsets.UTF_8);
    }
}
