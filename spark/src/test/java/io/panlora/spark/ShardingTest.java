package io.panlora.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Cutting data into shards: deterministic, every unit in exactly one place, sizes within one unit, the tails held out. */
class ShardingTest {
    @TempDir
    Path dir;

    private Path paragraphs(int n) throws Exception {
        String text = IntStream.range(0, n).mapToObj(i -> "Paragraph " + i + " line one.\nIts line two.").collect(Collectors.joining("\n\n"));
        return Files.writeString(dir.resolve("p.txt"), text + "\n");
    }

    private static List<String> units(byte[] part, String sep) {
        String s = new String(part, StandardCharsets.UTF_8).strip();
        return s.isEmpty() ? List.of() : List.of(s.split(sep));
    }

    @Test
    void contiguousShardsPartitionTheParagraphsInOrderWithTheirTailsHeldOut() throws Exception {
        Path f = paragraphs(103);
        List<Shard> shards = Sharding.split(f, 4, Sharding.Mode.CONTIGUOUS, 0.1);
        assertEquals(4, shards.size());
        List<String> all = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            Shard s = shards.get(i);
            assertEquals("shard-" + i, s.name());
            assertEquals(".txt", s.extension());
            List<String> train = units(s.train(), "\n\n"), val = units(s.validation(), "\n\n");
            int size = train.size() + val.size();
            assertTrue(size == 25 || size == 26, "sizes within one unit: " + size);
            assertEquals(Math.round(0.1 * size), val.size());
            assertEquals(train.size(), s.units());
            all.addAll(train);
            all.addAll(val);
        }
        // every paragraph exactly once, in file order (contiguous: shard 0 first, its validation tail after its training part)
        assertEquals(IntStream.range(0, 103).mapToObj(i -> "Paragraph " + i + " line one.\nIts line two.").toList(), all);
    }

    @Test
    void interleavedShardsDealTheUnitsRoundRobin() throws Exception {
        List<Shard> shards = Sharding.split(paragraphs(10), 3, Sharding.Mode.INTERLEAVED, 0);
        assertEquals(List.of("Paragraph 0 line one.\nIts line two.", "Paragraph 3 line one.\nIts line two.", "Paragraph 6 line one.\nIts line two.",
                "Paragraph 9 line one.\nIts line two."), units(shards.get(0).train(), "\n\n"));
        assertEquals(3, units(shards.get(2).train(), "\n\n").size());
        assertEquals(0, shards.get(1).validation().length, "no validation at fraction 0");
    }

    @Test
    void theSameInputGivesTheSameBytes() throws Exception {
        Path f = paragraphs(57);
        for (Sharding.Mode m : Sharding.Mode.values()) {
            List<Shard> a = Sharding.split(f, 3, m, 0.2), b = Sharding.split(f, 3, m, 0.2);
            for (int i = 0; i < 3; i++) {
                assertArrayEquals(a.get(i).train(), b.get(i).train());
                assertArrayEquals(a.get(i).validation(), b.get(i).validation());
            }
        }
    }

    @Test
    void jsonlIsCutByRecordAndTextWithoutParagraphsByLine() throws Exception {
        Path j = Files.writeString(dir.resolve("d.data"), IntStream.range(0, 8).mapToObj(i -> "{\"text\": \"record " + i + "\"}")
                .collect(Collectors.joining("\n")) + "\n");
        List<Shard> s = Sharding.split(j, 2, Sharding.Mode.CONTIGUOUS, 0.25);
        assertEquals(".jsonl", s.get(0).extension());
        assertEquals(List.of("{\"text\": \"record 0\"}", "{\"text\": \"record 1\"}", "{\"text\": \"record 2\"}"), units(s.get(0).train(), "\n"));
        assertEquals(List.of("{\"text\": \"record 7\"}"), units(s.get(1).validation(), "\n"));
        Path lines = Files.writeString(dir.resolve("lines.txt"), "a\nb\nc\nd\n");
        assertEquals(List.of("c", "d"), units(Sharding.split(lines, 2, Sharding.Mode.CONTIGUOUS, 0).get(1).train(), "\n"));
    }

    @Test
    void namedDatasetsAreOneShardEachWithUniqueNames() throws Exception {
        Path a = Files.createDirectories(dir.resolve("a")).resolve("site.txt"), b = Files.createDirectories(dir.resolve("b")).resolve("site.txt");
        Files.writeString(a, "one\n\ntwo\n\nthree\n");
        Files.writeString(b, "four\n\nfive\n");
        List<Shard> s = Sharding.named(List.of(a, b), 0.3);
        assertEquals(List.of("site", "site-2"), s.stream().map(Shard::name).toList());
        assertEquals(List.of("one", "two"), units(s.get(0).train(), "\n\n"));
        assertEquals(List.of("five"), units(s.get(1).validation(), "\n\n"));
    }

    @Test
    void aSweepsWholeDataTakesItsValidationFromAFileOfTheSameFormat() throws Exception {
        Path data = paragraphs(10), val = Files.writeString(dir.resolve("val.txt"), "Held out.\n"),
                jsonl = Files.writeString(dir.resolve("val.jsonl"), "{\"text\": \"x\"}\n");
        Shard s = Sharding.whole(data, val, 0.5);
        assertEquals(10, s.units(), "all of the data trains when a validation file is given");
        assertEquals("Held out.\n", s.validationText());
        assertEquals(1, units(Sharding.whole(data, null, 0.1).validation(), "\n\n").size());
        var e = assertThrows(IllegalArgumentException.class, () -> Sharding.whole(data, jsonl, 0.1));
        assertTrue(e.getMessage().contains("the validation file is JSONL, the data is not"), e.getMessage());
    }

    @Test
    void tooLittleDataForTheShardsIsRefusedNamingTheCounts() throws Exception {
        Path f = Files.writeString(dir.resolve("small.txt"), "a\n\nb\n\nc\n");
        var e = assertThrows(IllegalArgumentException.class, () -> Sharding.split(f, 2, Sharding.Mode.CONTIGUOUS, 0.1));
        assertTrue(e.getMessage().contains("shard 0 would be empty: 3 units (lines) for 2 shards"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Sharding.split(f, 0, Sharding.Mode.CONTIGUOUS, 0));
        Path empty = Files.writeString(dir.resolve("empty.txt"), "\n \n");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Sharding.split(empty, 1, Sharding.Mode.CONTIGUOUS, 0)).getMessage()
                .contains("holds no data"));
    }
}
