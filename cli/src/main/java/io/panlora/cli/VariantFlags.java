package io.panlora.cli;

import io.panlora.variants.VariantOption;
import io.panlora.variants.VariantSettings;
import io.panlora.variants.VariantType;
import io.panlora.variants.Variants;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * The variants' own options on a command: every registered variant's options become flags ({@code --NAME}) of the
 * command, and the chosen variant's settings are read back from what was given. A flag of another variant than the one
 * chosen is an error naming both.
 */
final class VariantFlags {
    private VariantFlags() {}

    /** Adds every variant's options to a command (before it parses anything). */
    static void install(CommandSpec spec) {
        for (VariantType t : Variants.all())
            for (VariantOption o : t.options()) {
                String def = o.defaultValue().isEmpty() ? "" : " (default: " + o.defaultValue() + ")";
                OptionSpec.Builder b = OptionSpec.builder("--" + o.name()).description(o.description() + (o.flag() ? "" : def));
                if (o.flag()) b.arity("0").type(boolean.class);
                else b.arity("1").type(String.class).paramLabel("<" + o.name().substring(o.name().lastIndexOf('-') + 1) + ">");
                spec.addOption(b.build());
            }
    }

    /** The flag names of every variant option, with their dashes. */
    static List<String> names() {
        return Variants.optionOwners().keySet().stream().map(n -> "--" + n).toList();
    }

    /**
     * The chosen variant's settings from the options given on the command line.
     *
     * @throws IllegalArgumentException for an unknown variant, or an option of another variant
     */
    static VariantSettings settings(CommandSpec spec, String variant, int steps, long seed) {
        VariantType type;
        try {
            type = Variants.named(variant);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--variant: " + e.getMessage());
        }
        CommandLine.ParseResult pr = spec.commandLine().getParseResult();
        Map<String, String> given = new LinkedHashMap<>();
        for (var e : Variants.optionOwners().entrySet()) {
            String flag = "--" + e.getKey();
            if (!pr.hasMatchedOption(flag)) continue;
            if (e.getValue() != type)
                throw new IllegalArgumentException(flag + " is an option of --variant " + e.getValue().name() + ", not of --variant " + type.name());
            OptionSpec o = pr.matchedOption(flag);
            given.put(e.getKey(), o.arity().max() == 0 ? "true" : String.valueOf((Object) o.getValue()));
        }
        return VariantSettings.of(type, given, steps, seed);
    }
}
