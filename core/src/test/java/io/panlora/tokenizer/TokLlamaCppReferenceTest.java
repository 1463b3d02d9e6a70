package io.panlora.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Ids and detokenized text against what llama.cpp itself produced for the same vocabularies (llamacpp-cases.tsv). */
class TokLlamaCppReferenceTest {

    private static final HexFormat HEX = HexFormat.of();

    /** One reference row. */
    private record Case(String vocab, String pre, boolean parseSpecial, String text, int[] ids, String detok, String detokSpecial) {
    }

    private static List<Case> cases(String vocab) throws IOException {
        List<Case> out = new ArrayList<>();
        for (String line : TokenizerTestData.resourceLines("llamacpp-cases.tsv")) {
            String[] f = line.split("\t", -1);
            if (!f[0].equals(vocab)) {
                continue;
            }
            int[] ids = f[4].isEmpty() ? new int[0] : Arrays.stream(f[4].split(",")).mapToInt(Integer::parseInt).toArray();
            out.add(new Case(f[0], f[1].equals("-") ? null : f[1], f[2].equals("1"),
                    TokenizerTestData.utf8(HEX.parseHex(f[3])), ids,
                    TokenizerTestData.utf8(HEX.parseHex(f[5])), TokenizerTestData.utf8(HEX.parseHex(f[6]))));
        }
        return out;
    }

    private static void check(Tokenizer t, Case c) {
        String where = (c.pre == null ? "(no pre)" : c.pre) + " parseSpecial=" + c.parseSpecial + " text=[" + c.text + "]";
        assertEquals(Arrays.toString(c.ids), Arrays.toString(t.encode(c.text, false, c.parseSpecial)), where);
        assertEquals(c.detok, t.detokenize(c.ids, false, false), where);
        assertEquals(c.detokSpecial, t.detokenize(c.ids, false, true), where);
    }

    @Test
    void byteLevelBpeMatchesLlamaCppForEachPreTokenizer() throws IOException {
        List<Case> cases = cases("bpe-ref700");
        Map<String, Tokenizer> byPre = new HashMap<>();
        for (Case c : cases) {
            Tokenizer t = byPre.computeIfAbsent(String.valueOf(c.pre), k -> {
                try {
                    return Tokenizer.of(TokenizerTestData.referenceBpe(c.pre));
                } catch (IOException e) {
                    throw new RuntimeException(e);
                }
            });
            check(t, c);
        }
        assertEquals(5, byPre.size());
        assertEquals(5 * 132, cases.size());
    }

    @Test
    void sentencePieceMatchesLlamaCppOnTok512() throws IOException {
        Path file = TokenizerTestData.sharedFile("tok512.bin");
        io.panlora.testing.SharedData.present(file != null, "shared test data tok512.bin not present");
        Tokenizer t = Tokenizer.of(Llama2cTokenizerFile.read(file));
        List<Case> cases = cases("spm-tok512");
        for (Case c : cases) {
            check(t, c);
        }
        assertEquals(132, cases.size());
    }
}
