package io.panlora.data;

import java.util.Objects;
import java.util.Optional;

/**
 * One chat turn: who speaks and what they say. In JSONL training data a turn is written as
 * {@code {"role": "user", "content": "..."}} inside a {@code "messages"} array (see {@link DataReader});
 * a {@link ChatTemplate} renders a list of turns into text.
 *
 * @param role    who speaks; not null
 * @param content the turn's text, used as given (some templates strip it); not null, may be empty
 */
public record ChatMessage(Role role, String content) {

    /** The speakers a training conversation may contain. */
    public enum Role {
        /** Instructions or context for the assistant ({@code "system"}); never trained on. */
        SYSTEM,
        /** The person talking to the assistant ({@code "user"}); never trained on. */
        USER,
        /** The model's replies ({@code "assistant"}): the turns that are trained on. */
        ASSISTANT;

        /**
         * The role's name as written in chat data and templates.
         *
         * @return {@code "system"}, {@code "user"} or {@code "assistant"}
         */
        public String wireName() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }

        /**
         * The role with this wire name. Matching is exact: {@code "User"} or {@code " user"} match nothing.
         *
         * @param name a wire name such as {@code "assistant"}; may be null
         * @return the role, or empty if the name is null or not one of the three wire names
         */
        public static Optional<Role> fromWireName(String name) {
            for (Role role : values()) if (role.wireName().equals(name)) return Optional.of(role);
            return Optional.empty();
        }
    }

    /**
     * Checks the components.
     *
     * @throws NullPointerException if {@code role} or {@code content} is null
     */
    public ChatMessage {
        Objects.requireNonNull(role, "role");
        Objects.requireNonNull(content, "content");
    }

    /**
     * A system message.
     *
     * @param content the system text; not null
     * @return a {@link Role#SYSTEM} turn
     * @throws NullPointerException if {@code content} is null
     */
    public static ChatMessage system(String content) {
        return new ChatMessage(Role.SYSTEM, content);
    }

    /**
     * A user message.
     *
     * @param content what the user says; not null
     * @return a {@link Role#USER} turn
     * @throws NullPointerException if {@code content} is null
     */
    public static ChatMessage user(String content) {
        return new ChatMessage(Role.USER, content);
    }

    /**
     * An assistant message (the part a chat example is trained on).
     *
     * @param content the assistant's reply; not null
     * @return a {@link Role#ASSISTANT} turn
     * @throws NullPointerException if {@code content} is null
     */
    public static ChatMessage assistant(String content) {
        return new ChatMessage(Role.ASSISTANT, content);
    }
}
