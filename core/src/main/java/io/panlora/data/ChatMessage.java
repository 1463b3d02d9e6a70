package io.panlora.data;

import java.util.Objects;
import java.util.Optional;

/** One chat turn: who speaks and what they say. */
public record ChatMessage(Role role, String content) {

    /** The speakers a training conversation may contain. */
    public enum Role {
        SYSTEM, USER, ASSISTANT;

        /** The role's name as written in chat data and templates: "system", "user", "assistant". */
        public String wireName() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }

        /** The role with this wire name, if any. */
        public static Optional<Role> fromWireName(String name) {
            for (Role role : values()) if (role.wireName().equals(name)) return Optional.of(role);
            return Optional.empty();
        }
    }

    /** Rejects nulls. */
    public ChatMessage {
        Objects.requireNonNull(role, "role");
        Objects.requireNonNull(content, "content");
    }

    /** A system message. */
    public static ChatMessage system(String content) {
        return new ChatMessage(Role.SYSTEM, content);
    }

    /** A user message. */
    public static ChatMessage user(String content) {
        return new ChatMessage(Role.USER, content);
    }

    /** An assistant message. */
    public static ChatMessage assistant(String content) {
        return new ChatMessage(Role.ASSISTANT, content);
    }
}
