package io.panlora.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.panlora.data.Batch;
import io.panlora.data.BatchIterator;
import io.panlora.data.ChatTemplate;
import io.panlora.data.DataReader;
import io.panlora.data.Dataset;
import io.panlora.data.ExampleEncoder;
import io.panlora.data.Packer;
import io.panlora.data.ReadOptions;
import io.panlora.data.TrainingData;
import io.panlora.tokenizer.BpeTrainer;
import io.panlora.tokenizer.Tokenizer;
import io.panlora.tokenizer.TokenizerSpec;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;

/**
 * Target 5: training data as {@code panlora train --data} reads it: {@link DataReader#read} (JSONL in all four record
 * forms, chat records rendered with a template, or plain text; strict UTF-8 and JSON), then the windows and batches the
 * trainer draws ({@link Dataset#of}, {@link BatchIterator}). Two option bytes come first (see {@link #options}): text or
 * JSONL, --skip-bad-lines, special-token parsing, segment tokenization, the chat template (explicit or the model's), the
 * tokenizer (byte-level BPE or SentencePiece, with or without a Jinja chat template) and the context length. Allowed
 * failures: IOException/DataFormatException naming the file, IllegalArgumentException naming it (no training windows) or
 * saying the model's chat template is not recognized (the documented case).
 */
class DataFuzzTest {

    private static final String[] JINJA = {
        null, null, "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}",
        "<|start_header_id|>{{ role }}<|end_header_id|>\n\n{{ content }}<|eot_id|>", "{{ unknown_format }}",
        "<start_of_turn>user\n{{ content }}<end_of_turn>", "[INST] {{ content }} [/INST]", "<|user|>\n{{ content }}</s>",
    };

    private static final Tokenizer[] TOKENIZERS = new Tokenizer[JINJA.length];

    static {
        TokenizerSpec bpe = BpeTrainer.byteVocabulary(FuzzSeeds.CHAT_SPECIALS);
        TokenizerSpec spm = FuzzSeeds.spmSpec(48);
        for (int i = 0; i < JINJA.length; i++) {
            TokenizerSpec s = i % 2 == 0 ? bpe : spm;
            TOKENIZERS[i] = Tokenizer.of(new TokenizerSpec(s.model(), s.pre(), s.tokens(), s.scores(), s.tokenTypes(), s.merges(), s.bosId(),
                    s.eosId(), s.unkId(), s.padId(), s.addBos(), s.addEos(), s.addSpacePrefix(), JINJA[i]));
        }
    }

    @FuzzTest
    void trainingData(byte[] input) throws IOException {
        int o0 = input.length > 0 ? input[0] & 0xFF : 0, o1 = input.length > 1 ? input[1] & 0xFF : 0;
        byte[] content = Arrays.copyOfRange(input, Math.min(2, input.length), input.length);
        boolean text = (o0 & 1) != 0;
        Path file = FuzzSupport.write(text ? "train.txt" : "train.jsonl", content);
        int template = o0 >>> 4;
        ReadOptions options = ReadOptions.defaults()
                .withSkipBadLines((o0 & 2) != 0)
                .withParseSpecial((o0 & 4) != 0)
                .withSegmentTokenization((o0 & 8) != 0 ? ExampleEncoder.SegmentTokenization.PER_SEGMENT : ExampleEncoder.SegmentTokenization.JOINED)
                .withChatTemplate(template >= 1 && template <= ChatTemplate.values().length ? ChatTemplate.values()[template - 1] : null);
        Tokenizer tokenizer = TOKENIZERS[o1 & 7];
        int ctx = 1 + (o1 >>> 3);
        try {
            TrainingData data = DataReader.read(file, tokenizer, options);
            if (data.examples().isEmpty()) throw new AssertionError("no examples and no exception");
            Dataset ds = Dataset.of(data, null, new Packer(ctx, ctx % 2 == 0, Packer.padIdFor(tokenizer)), 0.25, 1);
            BatchIterator it = ds.batches(2, 3, true);
            for (int i = 0; i < 3; i++) check(it.next(), ctx, tokenizer);
            for (Batch b : ds.validationBatches(2)) check(b, ctx, tokenizer);
        } catch (IOException e) {
            FuzzSupport.check(e, file);
        } catch (IllegalArgumentException e) {
            if (String.valueOf(e.getMessage()).contains("chat template matches none")) return;
            FuzzSupport.check(e, file);
        }
    }

    private static void check(Batch b, int ctx, Tokenizer t) {
        for (int[] row : b.inputs()) {
            if (row.length != ctx) throw new AssertionError("input row of " + row.length + " tokens, context " + ctx);
            for (int id : row) if (id < 0 || id >= t.vocabSize()) throw new AssertionError("input token " + id);
        }
        for (int[] row : b.targets()) {
            if (row.length != ctx) throw new AssertionError("target row of " + row.length + " tokens, context " + ctx);
            for (int id : row) if (id < -1 || id >= t.vocabSize()) throw new AssertionError("target token " + id);
        }
    }

    /** The two option bytes (see the class comment); ctxCode 0..31 gives context ctxCode + 1. */
    static byte[] options(boolean text, boolean skipBadLines, boolean parseSpecial, boolean perSegment, int template, int tokenizer, int ctxCode) {
        int o0 = (text ? 1 : 0) | (skipBadLines ? 2 : 0) | (parseSpecial ? 4 : 0) | (perSegment ? 8 : 0) | template << 4;
        return new byte[] {(byte) o0, (byte) ((tokenizer & 7) | ctxCode << 3)};
    }

    /** Option bytes followed by a file's text as UTF-8. */
    static byte[] pack(byte[] options, String content) {
        byte[] c = content.getBytes(StandardCharsets.UTF_8);
        byte[] out = Arrays.copyOf(options, options.length + c.length);
        System.arraycopy(c, 0, out, options.length, c.length);
        return out;
    }
}
