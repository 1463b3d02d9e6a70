package io.panlora.data;

/**
 * How {@link DataReader} reads a training file.
 *
 * @param skipBadLines     skip (and count) malformed JSONL lines instead of failing on the first one
 * @param reportedBadLines how many skipped lines' messages to keep for reporting
 * @param chatTemplate     the template for "messages" records; null: detect from the model (see {@link ChatTemplate#resolve})
 * @param parseSpecial     whether control-token text inside JSONL fields becomes control tokens
 *                         (Hugging Face tokenizers do this by default); plain text files never do
 */
public record ReadOptions(boolean skipBadLines, int reportedBadLines, ChatTemplate chatTemplate, boolean parseSpecial) {

    /** Checks the count. */
    public ReadOptions {
        if (reportedBadLines < 0) throw new IllegalArgumentException("reportedBadLines must be >= 0, got " + reportedBadLines);
    }

    /** Strict reading, five reported lines, the model's chat template, special tokens parsed. */
    public static ReadOptions defaults() {
        return new ReadOptions(false, 5, null, true);
    }

    /** A copy with skipBadLines set. */
    public ReadOptions withSkipBadLines(boolean skip) {
        return new ReadOptions(skip, reportedBadLines, chatTemplate, parseSpecial);
    }

    /** A copy with an explicit chat template (null: the model's). */
    public ReadOptions withChatTemplate(ChatTemplate template) {
        return new ReadOptions(skipBadLines, reportedBadLines, template, parseSpecial);
    }

    /** A copy with parseSpecial set. */
    public ReadOptions withParseSpecial(boolean parse) {
        return new ReadOptions(skipBadLines, reportedBadLines, chatTemplate, parse);
    }
}
