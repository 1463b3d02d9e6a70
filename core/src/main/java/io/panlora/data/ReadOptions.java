package io.panlora.data;

import java.util.Objects;

/**
 * How {@link DataReader} reads a training file.
 *
 * @param skipBadLines        skip (and count) malformed JSONL lines instead of failing on the first one
 * @param reportedBadLines    how many skipped lines' messages to keep for reporting ({@code >= 0})
 * @param chatTemplate        the template for "messages" records; null: the model's (see {@link ChatTemplate#resolve})
 * @param parseSpecial        whether control-token text inside JSONL fields becomes control tokens
 *                            (Hugging Face tokenizers do this by default); plain text files never do
 * @param segmentTokenization how prompt and trained parts are tokenized (see {@link ExampleEncoder}); not null
 */
public record ReadOptions(boolean skipBadLines, int reportedBadLines, ChatTemplate chatTemplate, boolean parseSpecial,
                          ExampleEncoder.SegmentTokenization segmentTokenization) {

    /**
     * Checks the values.
     *
     * @throws IllegalArgumentException if {@code reportedBadLines < 0}
     * @throws NullPointerException     if {@code segmentTokenization} is null
     */
    public ReadOptions {
        if (reportedBadLines < 0) throw new IllegalArgumentException("reportedBadLines must be >= 0, got " + reportedBadLines);
        Objects.requireNonNull(segmentTokenization, "segmentTokenization");
    }

    /**
     * The defaults: strict reading, five reported lines, the model's chat template, special tokens parsed,
     * joined segments.
     *
     * @return {@code new ReadOptions(false, 5, null, true, SegmentTokenization.JOINED)}
     */
    public static ReadOptions defaults() {
        return new ReadOptions(false, 5, null, true, ExampleEncoder.SegmentTokenization.JOINED);
    }

    /**
     * A copy with skipBadLines set.
     *
     * @param skip true to skip and count malformed JSONL lines, false to fail on the first one
     * @return the new options; this instance is unchanged
     */
    public ReadOptions withSkipBadLines(boolean skip) {
        return new ReadOptions(skip, reportedBadLines, chatTemplate, parseSpecial, segmentTokenization);
    }

    /**
     * A copy keeping this many bad-line messages.
     *
     * @param count how many messages of skipped lines to keep, {@code >= 0}
     * @return the new options; this instance is unchanged
     * @throws IllegalArgumentException if {@code count < 0}
     */
    public ReadOptions withReportedBadLines(int count) {
        return new ReadOptions(skipBadLines, count, chatTemplate, parseSpecial, segmentTokenization);
    }

    /**
     * A copy with an explicit chat template.
     *
     * @param template the template for {@code "messages"} records, or null for the one resolved from the
     *                 model's chat template
     * @return the new options; this instance is unchanged
     */
    public ReadOptions withChatTemplate(ChatTemplate template) {
        return new ReadOptions(skipBadLines, reportedBadLines, template, parseSpecial, segmentTokenization);
    }

    /**
     * A copy with parseSpecial set.
     *
     * @param parse whether control-token text inside JSONL fields becomes control tokens
     * @return the new options; this instance is unchanged
     */
    public ReadOptions withParseSpecial(boolean parse) {
        return new ReadOptions(skipBadLines, reportedBadLines, chatTemplate, parse, segmentTokenization);
    }

    /**
     * A copy with the segment tokenization set.
     *
     * @param mode how prompt and trained parts are tokenized; not null
     * @return the new options; this instance is unchanged
     * @throws NullPointerException if {@code mode} is null
     */
    public ReadOptions withSegmentTokenization(ExampleEncoder.SegmentTokenization mode) {
        return new ReadOptions(skipBadLines, reportedBadLines, chatTemplate, parseSpecial, mode);
    }
}
