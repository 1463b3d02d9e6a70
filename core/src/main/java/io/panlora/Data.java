package io.panlora;

import io.panlora.data.ChatMessage;
import io.panlora.data.ChatTemplate;
import io.panlora.data.DataReader;
import io.panlora.data.Example;
import io.panlora.data.ExampleEncoder;
import io.panlora.data.ReadOptions;
import io.panlora.data.TrainingData;
import io.panlora.tokenizer.Tokenizer;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * Training or evaluation data: a file, or examples held in memory. Every kind is tokenized with the base model's tokenizer
 * exactly as the same records in a file would be:
 * <ul>
 *   <li>{@link #file(Path)}: a {@code .jsonl} file (records {@code {"text"}}, {@code {"prompt","completion"}},
 *       {@code {"instruction","input","output"}} or {@code {"messages"}}) or any other file as plain UTF-8 text;</li>
 *   <li>{@link #text(String)}: one running text, cut into consecutive windows (as a plain text file);</li>
 *   <li>{@link #texts(List)}: separate documents, every token trained (as {@code {"text"}} records);</li>
 *   <li>{@link #pairs(List)}: prompt/completion pairs, only the completion and the end-of-sequence token trained;</li>
 *   <li>{@link #chats(List)}: conversations rendered with the model's chat template (or {@link #withChatTemplate}), only the
 *       assistant turns trained.</li>
 * </ul>
 * Instances are immutable; the lists are copied.
 */
public final class Data {
    private enum Kind { FILE, TEXT, TEXTS, PAIRS, CHATS }

    /**
     * One prompt and the completion the model should learn to produce after it.
     *
     * @param prompt     the context, not trained on; may be empty
     * @param completion the text trained on (followed by the end-of-sequence token)
     */
    public record Pair(String prompt, String completion) {
        /** Checks that neither text is null. */
        public Pair {
            Objects.requireNonNull(prompt, "prompt");
            Objects.requireNonNull(completion, "completion");
        }
    }

    private final Kind kind;
    private final Path file;
    private final List<?> items;
    private final ChatTemplate template;
    private final boolean skipBadLines;

    private Data(Kind kind, Path file, List<?> items, ChatTemplate template, boolean skipBadLines) {
        this.kind = kind;
        this.file = file;
        this.items = items;
        this.template = template;
        this.skipBadLines = skipBadLines;
    }

    /**
     * A data file: JSONL when its name ends in {@code .jsonl} or its first non-blank line is a JSON object, plain text
     * otherwise. It is read when a training or evaluation starts; a malformed line is then an error naming the file and line
     * (see {@link #skippingBadLines()}).
     *
     * @param file the file
     * @return the data
     */
    public static Data file(Path file) {
        return new Data(Kind.FILE, Objects.requireNonNull(file, "file"), List.of(), null, false);
    }

    /**
     * One running text (a book, a corpus): tokenized whole with a BOS token first and cut into consecutive training windows.
     *
     * @param text the text; not empty
     * @return the data
     */
    public static Data text(String text) {
        if (Objects.requireNonNull(text, "text").isEmpty()) throw new IllegalArgumentException("the text is empty");
        return new Data(Kind.TEXT, null, List.of(text), null, false);
    }

    /**
     * Separate documents, each tokenized on its own (BOS first, EOS last) with every token trained; short documents are packed
     * together into windows, long ones truncated.
     *
     * @param texts the documents; at least one
     * @return the data
     */
    public static Data texts(List<String> texts) {
        return new Data(Kind.TEXTS, null, nonEmpty(texts, "texts"), null, false);
    }

    /**
     * Prompt/completion pairs (supervised fine-tuning): the loss counts only the completion's tokens and the EOS token.
     *
     * @param pairs the pairs; at least one
     * @return the data
     */
    public static Data pairs(List<Pair> pairs) {
        return new Data(Kind.PAIRS, null, nonEmpty(pairs, "pairs"), null, false);
    }

    /**
     * Conversations, each a list of messages with at least one assistant message; rendered with the base model's chat
     * template (the one its GGUF names, recognised among {@link ChatTemplate}'s), the loss counting only the assistant turns.
     *
     * @param conversations the conversations; at least one
     * @return the data
     */
    public static Data chats(List<List<ChatMessage>> conversations) {
        List<List<ChatMessage>> copy = new ArrayList<>();
        for (List<ChatMessage> c : nonEmpty(conversations, "conversations")) copy.add(List.copyOf(c));
        return new Data(Kind.CHATS, null, List.copyOf(copy), null, false);
    }

    /**
     * The same data rendered with another chat template (for {@link #chats} and for {@code messages} records of a file).
     *
     * @param template the template
     * @return the data with that template
     */
    public Data withChatTemplate(ChatTemplate template) {
        return new Data(kind, file, items, Objects.requireNonNull(template, "template"), skipBadLines);
    }

    /**
     * The same file data with malformed JSONL lines skipped instead of refused (each skipped line is counted; the run fails
     * only when no line is usable).
     *
     * @return the data with bad lines skipped
     */
    public Data skippingBadLines() {
        return new Data(kind, file, items, template, true);
    }

    /**
     * Returns the file, for {@link #file} data; null for data held in memory.
     *
     * @return the file, for {@link #file} data; null for data held in memory
     */
    public Path path() {
        return file;
    }

    /**
     * Returns how many examples are held in memory (0 for a file; 1 for {@link #text}).
     *
     * @return how many examples are held in memory (0 for a file; 1 for {@link #text})
     */
    public int size() {
        return items.size();
    }

    @Override
    public String toString() {
        return kind == Kind.FILE ? file.toString() : kind.name().toLowerCase(java.util.Locale.ROOT) + " (" + items.size() + " in memory)";
    }

    /** Tokenizes the data with the base's tokenizer; the model's chat template applies unless one was set here. */
    TrainingData read(Tokenizer tok) throws IOException {
        ReadOptions ro = ReadOptions.defaults().withSkipBadLines(skipBadLines);
        if (template != null) ro = ro.withChatTemplate(template);
        if (kind == Kind.FILE) return DataReader.read(file, tok, ro);
        ExampleEncoder enc = new ExampleEncoder(tok, ro.parseSpecial(), ro.segmentTokenization());
        List<Example> examples = new ArrayList<>(items.size());
        Path source = Path.of("<" + kind.name().toLowerCase(java.util.Locale.ROOT) + " in memory>");
        switch (kind) {
            case TEXT -> {
                return TrainingData.of(source, TrainingData.Layout.TOKEN_STREAM, List.of(enc.text((String) items.getFirst())));
            }
            case TEXTS -> {
                for (Object t : items) examples.add(enc.text((String) t));
            }
            case PAIRS -> {
                for (Object p : items) examples.add(enc.promptCompletion(((Pair) p).prompt(), ((Pair) p).completion()));
            }
            case CHATS -> {
                ChatTemplate t = template != null ? template : ChatTemplate.resolve(null, tok.chatTemplate());
                for (Object c : items) {
                    @SuppressWarnings("unchecked")
                    List<ChatMessage> messages = (List<ChatMessage>) c;
                    if (messages.stream().noneMatch(m -> m.role() == ChatMessage.Role.ASSISTANT))
                        throw new IllegalArgumentException("conversation " + examples.size() + " has no assistant message (nothing to train on)");
                    examples.add(enc.chat(messages, t));
                }
            }
            default -> throw new IllegalStateException(kind.toString());
        }
        return TrainingData.of(source, TrainingData.Layout.EXAMPLES, examples);
    }

    private static <T> List<T> nonEmpty(List<T> list, String what) {
        List<T> copy = List.copyOf(Objects.requireNonNull(list, what));
        if (copy.isEmpty()) throw new IllegalArgumentException("no " + what + " given");
        return copy;
    }
}
