package io.panlora.data;

import java.util.Objects;

/**
 * How {@link DataReader} reads a training file.
 *
 * @param skipBadLines        skip (and count) malformed JSONL lines instead of failing on the first one
 * @param reportedBadLines    how many skipped lines' messages to keep for reporting
 * @param chatTemplate        the template for "messages" records; null: the model's (see {@link ChatTemplate#resolve})
 * @param parseSpecial        whether control-token text inside JSONL fields becomes control tokens
 *                            (Hugging Face tokenizers do this by default); plain text files never do
 * @param segmentTokenization how prompt and trained parts are tokenized (see {@link ExampleEncoder})
 */
public record ReadOptions(boolean skipBadLines, int reportedBadLines, ChatTemplate chatTemplate, boolean parseSpecial,
                          ExampleEncoder.SegmentTokenization segmentTokenization) {

    /** Checks the values. */
    public ReadOptions {
        if (reportedBadLines < 0) throw new IllegalArgumentException("reportedBadLines must be >= 0, got " + reportedBadLines);
        Objects.requireNonNull(segmentTokenization, "segmentTokenization");
    }

    /** Strict reading, five reported lines, the model's chat template, special tokens parsed, joined segments. */
    public static ReadOptions defaults() {
        return new ReadOptions(false, 5, null, true, ExampleEncoder.SegmentTokenization.JOINED);
    }

    /** A copy with skipBadLines set. */
    public ReadOptions withSkipBadLines(boolean skip) {
        return new ReadOptions(skip, reportedBadLines, chatTemplate, parseSpecial, segmentTokenization);
    }

    /** A copy keeping this many bad-line messages. */
    public ReadOptions withReportedBadLines(int count) {
        return new ReadOptions(skipBadLines, count, chatTemplate, parseSpecial, segmentTokenization);
    }

    /** A copy with an explicit chat template (null: the model's). */
    public ReadOptions withChatTemplate(ChatTemplate template) {
        return new ReadOptions(skipBadLines, reportedBadLines, template, parseSpecial, segmentTokenization);
    }

    /** A copy with parseSpecial set. */
    public ReadOptions withParseSpecial(boolean parse) {
        return new ReadOptions(skipBadLines, reportedBadLines, chatTemplate, parse, segmentTokenization);
    }

    /** A copy with the segment tokenization set. */
    public ReadOptions withSegmentTokenization(ExampleEncoder.SegmentTokenization mode) {
        return new ReadOptions(skipBadLines, reportedBadLines, chatTemplate, parseSpecial, mode);
    }
}
