package io.panlora.variants;

import java.util.Objects;

/**
 * One setting of a variant, as the command line shows it ({@code --NAME VALUE}, or {@code --NAME} alone for a flag) and as
 * {@link VariantSettings} holds it: a text value parsed by the variant.
 *
 * @param name         the option's name without dashes, prefixed by the variant's name by convention ({@code copra-p0})
 * @param defaultValue the value when the option is not given, as text; empty for "none" (the variant decides what that
 *                     means, and says so in {@code description})
 * @param description  one line for the help text, with the unit and range
 * @param flag         true for a switch without a value ({@code --cora-unscaled}); its value is {@code true} or
 *                     {@code false}
 */
public record VariantOption(String name, String defaultValue, String description, boolean flag) {
    /** Checks the name (lower-case letters, digits and dashes) and that nothing is null. */
    public VariantOption {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(defaultValue, "defaultValue");
        Objects.requireNonNull(description, "description");
        if (!name.matches("[a-z][a-z0-9-]*")) throw new IllegalArgumentException("bad variant option name '" + name + "'");
        if (flag && !defaultValue.equals("false")) throw new IllegalArgumentException("a flag's default is false: " + name);
    }

    /**
     * An option with a value.
     *
     * @param name         the name without dashes
     * @param defaultValue the default, as text
     * @param description  the help line
     * @return the option
     */
    public static VariantOption of(String name, String defaultValue, String description) {
        return new VariantOption(name, defaultValue, description, false);
    }

    /**
     * A switch, off by default.
     *
     * @param name        the name without dashes
     * @param description the help line
     * @return the option
     */
    public static VariantOption flag(String name, String description) {
        return new VariantOption(name, "false", description, true);
    }
}
