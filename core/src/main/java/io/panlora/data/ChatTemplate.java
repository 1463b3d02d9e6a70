package io.panlora.data;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.stream.Collectors;

/**
 * Built-in chat formats rendered in code, as llama.cpp renders its built-in templates instead of
 * running the GGUF's Jinja. {@link #detect} maps a model's Jinja template to one of these.
 *
 * <p>Rendering yields {@link Segment}s; only an assistant turn's content and its end-of-turn
 * marker are trainable. No template writes the leading BOS: {@link ExampleEncoder} adds the
 * tokenizer's BOS id in front (llama2 and mistral do write later turns' {@code <s>}, as their
 * official formats do). Adjacent segments with the same flag are merged, so each trainable span
 * and each prompt span is tokenized in one piece.
 *
 * <p>Markers such as {@code <|im_end|>} are rendered as text; {@link ExampleEncoder#segments} tokenizes
 * rendered segments with control-token parsing on, so they become the vocabulary's control tokens where
 * it has them. Only {@link #ALPACA} ends an answer with an {@link Segment.EndOfSequence} (the EOS id);
 * the other formats write their end marker as text. Templates are stateless and thread-safe.
 */
public enum ChatTemplate {
    /** {@code <|im_start|>role\ncontent<|im_end|>\n}. */
    CHATML("chatml"),
    /** {@code [INST] <<SYS>>\nsystem\n<</SYS>>\n\nuser [/INST] answer </s><s>[INST] ...} (Llama-2-chat). */
    LLAMA2("llama2"),
    /** {@code <|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>}, content trimmed (Llama 3). */
    LLAMA3("llama3"),
    /** {@code [INST] system\n\nuser [/INST] answer</s>[INST] ...} (Mistral v1-style). */
    MISTRAL("mistral"),
    /** {@code <|role|>\ncontent</s>\n} (Zephyr, TinyLlama-chat). */
    ZEPHYR("zephyr"),
    /** {@code <start_of_turn>user\ncontent<end_of_turn>\n}, "model" for the assistant, system merged into the first user turn. */
    GEMMA("gemma"),
    /** {@code <|role|>\ncontent<|end|>\n} (Phi-3). */
    PHI3("phi3"),
    /** {@code ### Instruction:\nuser\n\n### Response:\nanswer</s>}, the system text as a preamble. */
    ALPACA("alpaca");

    private final String id;

    ChatTemplate(String id) {
        this.id = id;
    }

    /**
     * The template's name, as accepted by {@link #named}.
     *
     * @return the lower-case name, e.g. {@code "chatml"} or {@code "llama3"}
     */
    public String id() {
        return id;
    }

    /**
     * The names of all built-in templates, for messages and help text.
     *
     * @return the names separated by {@code ", "}, in declaration order
     */
    public static String names() {
        return Arrays.stream(values()).map(ChatTemplate::id).collect(Collectors.joining(", "));
    }

    /**
     * The built-in template with this name. Case, surrounding whitespace, {@code '-'} and {@code '_'}
     * are ignored, so {@code "Llama-3"} and {@code "PHI_3"} work.
     *
     * @param name a template name (see {@link #names()}); may be null
     * @return the template
     * @throws IllegalArgumentException if the name is null or matches no built-in template (the message
     *                                  lists the valid names)
     */
    public static ChatTemplate named(String name) {
        String wanted = name == null ? "" : name.toLowerCase(Locale.ROOT).replace("-", "").replace("_", "").strip();
        for (ChatTemplate template : values()) if (template.id.equals(wanted)) return template;
        throw new IllegalArgumentException("unknown chat template '" + name + "'; built-in templates: " + names());
    }

    /**
     * The built-in template that a model's Jinja chat template corresponds to, judged by its
     * characteristic markers as llama.cpp does; empty if none matches (or the text is null/blank).
     * A bare template name (e.g. "chatml") is also accepted.
     *
     * <p>Markers are checked in this order: {@code <|im_start|>} (chatml); {@code [INST]} (llama2 with a
     * {@code <<SYS>>} block, else mistral); {@code <|start_header_id|>} (llama3); {@code <start_of_turn>}
     * (gemma); {@code <|assistant|>} with {@code <|end|>} (phi3); {@code <|user|>} with {@code </s>} or
     * {@code eos_token} (zephyr); {@code ### Instruction} (alpaca).
     *
     * @param jinja the model's {@code tokenizer.chat_template} text, or a template name; may be null
     * @return the matching template, or empty
     */
    public static Optional<ChatTemplate> detect(String jinja) {
        if (jinja == null || jinja.isBlank()) return Optional.empty();
        String bare = jinja.strip().toLowerCase(Locale.ROOT).replace("-", "").replace("_", "");
        for (ChatTemplate template : values()) if (template.id.equals(bare)) return Optional.of(template);
        // Order matters: the later checks would also match some earlier families' templates.
        if (jinja.contains("<|im_start|>")) return Optional.of(CHATML);
        if (jinja.contains("[INST]")) {
            // Llama-2-chat has a <<SYS>> block; Mistral's templates fold the system text into [INST].
            return Optional.of(jinja.contains("<<SYS>>") ? LLAMA2 : MISTRAL);
        }
        if (jinja.contains("<|start_header_id|>")) return Optional.of(LLAMA3);
        if (jinja.contains("<start_of_turn>")) return Optional.of(GEMMA);
        if (jinja.contains("<|assistant|>") && jinja.contains("<|end|>")) return Optional.of(PHI3);
        // Zephyr's Jinja usually writes eos_token rather than a literal "</s>".
        if (jinja.contains("<|user|>") && (jinja.contains("</s>") || jinja.contains("eos_token"))) return Optional.of(ZEPHYR);
        if (jinja.contains("### Instruction")) return Optional.of(ALPACA);
        return Optional.empty();
    }

    /**
     * Picks the template for training on chat data: the explicitly named one if given, else the one
     * detected from the model's Jinja template, else chatml when the model has no template (as
     * llama.cpp defaults); fails if the model's template is not recognized.
     *
     * @param explicitName a template name chosen by the user (see {@link #named}); null or blank for none
     * @param modelJinja   the model's Jinja chat template ({@link io.panlora.tokenizer.Tokenizer#chatTemplate()});
     *                     null or blank if the model has none
     * @return the template to render chat records with
     * @throws IllegalArgumentException if the explicit name is unknown, or no name is given and the model's
     *                                  template matches no built-in one
     */
    public static ChatTemplate resolve(String explicitName, String modelJinja) {
        if (explicitName != null && !explicitName.isBlank()) return named(explicitName);
        if (modelJinja == null || modelJinja.isBlank()) return CHATML;
        return detect(modelJinja).orElseThrow(() -> new IllegalArgumentException(
                "the model's chat template matches none of the built-in templates; choose one of: " + names()));
    }

    /**
     * Renders a conversation for training (no trailing generation prompt); same as
     * {@code render(messages, false)}.
     *
     * @param messages the turns in order; not null
     * @return the rendered segments: assistant content and end markers trainable, everything else not
     * @throws IllegalArgumentException if the conversation cannot be expressed in this format
     */
    public List<Segment> render(List<ChatMessage> messages) {
        return render(messages, false);
    }

    /**
     * Renders a conversation; with {@code addGenerationPrompt} the header of a new assistant turn is
     * appended, as for inference.
     *
     * <p>The list may start with any role and need not alternate; system turns are placed as the format
     * places them (gemma, llama2 and mistral fold them into the next user turn, alpaca writes them as a
     * preamble). An empty list renders as nothing (or only the generation prompt).
     *
     * @param messages            the turns in order; not null
     * @param addGenerationPrompt whether to end with the header of a new assistant turn (for inference)
     * @return the rendered segments, adjacent segments with the same trainable flag merged, empty text dropped;
     *         an unmodifiable list
     * @throws IllegalArgumentException if the conversation cannot be expressed in this format (gemma, llama2,
     *                                  mistral: a system message not followed by a user message)
     */
    public List<Segment> render(List<ChatMessage> messages, boolean addGenerationPrompt) {
        SegmentBuilder out = new SegmentBuilder();
        switch (this) {
            case CHATML -> {
                for (ChatMessage m : messages) {
                    out.prompt("<|im_start|>" + m.role().wireName() + "\n");
                    endTurn(out, m, m.content(), "<|im_end|>", "\n");
                }
                if (addGenerationPrompt) out.prompt("<|im_start|>assistant\n");
            }
            case LLAMA2 -> renderInst(messages, out, true);
            case MISTRAL -> renderInst(messages, out, false);
            case LLAMA3 -> {
                for (ChatMessage m : messages) {
                    out.prompt("<|start_header_id|>" + m.role().wireName() + "<|end_header_id|>\n\n");
                    endTurn(out, m, m.content().strip(), "<|eot_id|>", "");
                }
                if (addGenerationPrompt) out.prompt("<|start_header_id|>assistant<|end_header_id|>\n\n");
            }
            case ZEPHYR -> {
                for (ChatMessage m : messages) {
                    out.prompt("<|" + m.role().wireName() + "|>\n");
                    endTurn(out, m, m.content(), "</s>", "\n");
                }
                if (addGenerationPrompt) out.prompt("<|assistant|>\n");
            }
            case PHI3 -> {
                for (ChatMessage m : messages) {
                    out.prompt("<|" + m.role().wireName() + "|>\n");
                    endTurn(out, m, m.content(), "<|end|>", "\n");
                }
                if (addGenerationPrompt) out.prompt("<|assistant|>\n");
            }
            case GEMMA -> {
                String pendingSystem = null;
                for (ChatMessage m : messages) {
                    switch (m.role()) {
                        case SYSTEM -> pendingSystem = join(pendingSystem, m.content().strip());
                        case USER -> {
                            out.prompt("<start_of_turn>user\n");
                            if (pendingSystem != null) out.prompt(pendingSystem + "\n\n");
                            pendingSystem = null;
                            endTurn(out, m, m.content().strip(), "<end_of_turn>", "\n");
                        }
                        case ASSISTANT -> {
                            out.prompt("<start_of_turn>model\n");
                            endTurn(out, m, m.content().strip(), "<end_of_turn>", "\n");
                        }
                    }
                }
                requireConsumed(pendingSystem);
                if (addGenerationPrompt) out.prompt("<start_of_turn>model\n");
            }
            case ALPACA -> {
                for (ChatMessage m : messages) {
                    switch (m.role()) {
                        case SYSTEM -> out.prompt(m.content() + "\n\n");
                        case USER -> out.prompt("### Instruction:\n" + m.content() + "\n\n");
                        case ASSISTANT -> {
                            out.prompt("### Response:\n");
                            out.trained(m.content());
                            out.endOfSequence(true);
                            out.prompt("\n\n");
                        }
                    }
                }
                if (addGenerationPrompt) out.prompt("### Response:\n");
            }
        }
        return out.build();
    }

    /**
     * The [INST] family. Llama 2 (HF Llama-2-chat template): system in a {@code <<SYS>>} block,
     * contents stripped, {@code " answer </s>"}, and {@code <s>} before every later [INST].
     * Mistral v1-style: system text + "\n\n" in front of the user text, {@code " answer</s>"}.
     */
    private static void renderInst(List<ChatMessage> messages, SegmentBuilder out, boolean llama2) {
        String pendingSystem = null;
        boolean firstUser = true;
        for (ChatMessage m : messages) {
            String content = llama2 ? m.content().strip() : m.content();
            switch (m.role()) {
                case SYSTEM -> pendingSystem = join(pendingSystem, content);
                case USER -> {
                    // The first turn's <s> is the BOS that ExampleEncoder adds.
                    if (llama2 && !firstUser) out.prompt("<s>");
                    String system = pendingSystem == null ? ""
                            : llama2 ? "<<SYS>>\n" + pendingSystem + "\n<</SYS>>\n\n" : pendingSystem + "\n\n";
                    out.prompt("[INST] " + system + content + " [/INST]");
                    pendingSystem = null;
                    firstUser = false;
                }
                case ASSISTANT -> {
                    // The space after [/INST] belongs to the answer: SentencePiece merges it into the answer's first piece.
                    out.trained(llama2 ? " " + content + " " : " " + content);
                    out.trained("</s>");
                }
            }
        }
        requireConsumed(pendingSystem);
    }

    /** A message's content and end marker: trainable for the assistant; the separator after the marker never is. */
    private static void endTurn(SegmentBuilder out, ChatMessage m, String content, String endMarker, String separator) {
        if (m.role() == ChatMessage.Role.ASSISTANT) {
            out.trained(content + endMarker);
            out.prompt(separator);
        } else {
            out.prompt(content + endMarker + separator);
        }
    }

    private static String join(String earlier, String more) {
        return earlier == null ? more : earlier + "\n\n" + more;
    }

    private static void requireConsumed(String pendingSystem) {
        if (pendingSystem != null) {
            throw new IllegalArgumentException("a system message must be followed by a user message in this chat format");
        }
    }

    /**
     * The plain text of rendered segments, e.g. to show or to log what a template produces.
     *
     * @param segments the segments, e.g. from {@link #render(List, boolean)}; not null
     * @param eosText  what to write for each {@link Segment.EndOfSequence} (e.g. {@code "</s>"}, or
     *                 {@code ""}); {@code null} writes {@code "null"}
     * @return the texts concatenated, trainable flags ignored
     */
    public static String text(List<Segment> segments, String eosText) {
        StringBuilder sb = new StringBuilder();
        for (Segment s : segments) {
            switch (s) {
                case Segment.Text t -> sb.append(t.text());
                case Segment.EndOfSequence _ -> sb.append(eosText);
            }
        }
        return sb.toString();
    }

    /** Collects segments, merging adjacent text with the same trainable flag and dropping empty text. */
    private static final class SegmentBuilder {
        private final List<Segment> segments = new ArrayList<>();

        void prompt(String text) {
            add(text, false);
        }

        void trained(String text) {
            add(text, true);
        }

        void endOfSequence(boolean trainable) {
            segments.add(new Segment.EndOfSequence(trainable));
        }

        private void add(String text, boolean trainable) {
            if (text.isEmpty()) return;
            int last = segments.size() - 1;
            if (last >= 0 && segments.get(last) instanceof Segment.Text(String previous, boolean flag) && flag == trainable) {
                segments.set(last, new Segment.Text(previous + text, trainable));
            } else {
                segments.add(new Segment.Text(text, trainable));
            }
        }

        List<Segment> build() {
            return List.copyOf(segments);
        }
    }
}
