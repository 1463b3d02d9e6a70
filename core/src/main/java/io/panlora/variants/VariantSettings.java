package io.panlora.variants;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * The settings a variant is made with: its own options' values (every option present, defaults filled in), and the run's
 * step count and seed. Typed getters parse the text values and name the option in their errors. Immutable.
 */
public final class VariantSettings {
    private final VariantType type;
    private final Map<String, String> values;
    private final int steps;
    private final long seed;

    private VariantSettings(VariantType type, Map<String, String> values, int steps, long seed) {
        this.type = type;
        this.values = values;
        this.steps = steps;
        this.seed = seed;
    }

    /**
     * The settings of a variant from the values given (by option name, without dashes), the defaults for the others.
     *
     * @param type   the variant
     * @param given  option values; every name must be one of the variant's options
     * @param steps  the run's optimizer steps, at least 1
     * @param seed   the run's seed
     * @return the settings
     * @throws IllegalArgumentException for a name the variant does not have, naming the variant's options
     */
    public static VariantSettings of(VariantType type, Map<String, String> given, int steps, long seed) {
        if (steps < 1) throw new IllegalArgumentException("steps must be >= 1, got " + steps);
        Map<String, String> v = new LinkedHashMap<>();
        for (VariantOption o : type.options()) v.put(o.name(), o.defaultValue());
        for (var e : given.entrySet()) {
            if (!v.containsKey(e.getKey())) {
                List<String> names = new ArrayList<>();
                for (VariantOption o : type.options()) names.add("--" + o.name());
                throw new IllegalArgumentException("--" + e.getKey() + " is not an option of --variant " + type.name()
                        + (names.isEmpty() ? " (it has none)" : " (its options: " + String.join(", ", names) + ")"));
            }
            v.put(e.getKey(), e.getValue() == null ? "" : e.getValue().trim());
        }
        return new VariantSettings(type, Collections.unmodifiableMap(v), steps, seed);
    }

    /**
     * Returns the variant these settings are for.
     *
     * @return the variant these settings are for
     */
    public VariantType type() { return type; }

    /**
     * Returns the run's optimizer steps.
     *
     * @return the run's optimizer steps
     */
    public int steps() { return steps; }

    /**
     * Returns the run's seed.
     *
     * @return the run's seed
     */
    public long seed() { return seed; }

    /**
     * Returns every option's value by name, defaults included, in the variant's order.
     *
     * @return every option's value by name, defaults included, in the variant's order
     */
    public Map<String, String> values() { return values; }

    /**
     * The text value of an option.
     *
     * @param name the option's name
     * @return its value; empty when the option has no value
     */
    public String text(String name) {
        String s = values.get(name);
        if (s == null) throw new IllegalArgumentException("variant " + type.name() + " has no option --" + name);
        return s;
    }

    /**
     * An integer option.
     *
     * @param name the option's name
     * @return its value
     * @throws IllegalArgumentException if the value is not an integer
     */
    public int integer(String name) {
        try {
            return Integer.parseInt(text(name));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--" + name + " must be an integer, got '" + text(name) + "'");
        }
    }

    /**
     * A numeric option.
     *
     * @param name the option's name
     * @return its value (finite)
     * @throws IllegalArgumentException if the value is not a finite number
     */
    public double number(String name) {
        try {
            double d = Double.parseDouble(text(name));
            if (!Double.isFinite(d)) throw new NumberFormatException();
            return d;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--" + name + " must be a number, got '" + text(name) + "'");
        }
    }

    /**
     * A flag or boolean option.
     *
     * @param name the option's name
     * @return true for {@code true}, false for {@code false} (case-insensitive)
     * @throws IllegalArgumentException for any other value
     */
    public boolean bool(String name) {
        String s = text(name).toLowerCase(Locale.ROOT);
        if (s.equals("true")) return true;
        if (s.equals("false")) return false;
        throw new IllegalArgumentException("--" + name + " must be true or false, got '" + text(name) + "'");
    }

    /**
     * A comma-separated list of files.
     *
     * @param name the option's name
     * @return the paths, empty when the value is empty
     */
    public List<Path> paths(String name) {
        List<Path> out = new ArrayList<>();
        for (String p : text(name).split(",")) if (!p.isBlank()) out.add(Path.of(p.trim()));
        return List.copyOf(out);
    }

    /**
     * A key that names these settings exactly, for checkpoints: the variant's name and every option's value, sorted by
     * name, e.g. {@code copra(copra-p0=0.1,copra-p1=1.0,…)}. Two settings with the same key make the same strategy.
     *
     * @return the key
     */
    public String key() {
        StringBuilder b = new StringBuilder(type.name()).append('(');
        boolean first = true;
        for (var e : new TreeMap<>(values).entrySet()) {
            if (!first) b.append(',');
            b.append(e.getKey()).append('=').append(e.getValue());
            first = false;
        }
        return b.append(')').toString();
    }

    @Override
    public String toString() {
        return key();
    }
}
