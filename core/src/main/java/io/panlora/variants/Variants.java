package io.panlora.variants;

import io.panlora.variants.cola.ColaVariant;
import io.panlora.variants.copra.CopraVariant;
import io.panlora.variants.cora.CoraVariant;
import io.panlora.variants.lora.LoraVariant;
import io.panlora.variants.lorasc.LorascVariant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.ServiceLoader;

/**
 * The variant registry: the built-in variants, then any found by {@link ServiceLoader} for {@link VariantType}. Names and
 * aliases are unique (a plug-in whose name is taken is ignored).
 */
public final class Variants {
    private Variants() {}

    private static final class Holder {
        static final Map<String, VariantType> BY_NAME = load();
        static final List<VariantType> ALL = List.copyOf(new LinkedHashMap<>(primaries()).values());

        private static Map<String, VariantType> primaries() {
            Map<String, VariantType> m = new LinkedHashMap<>();
            for (VariantType t : BY_NAME.values()) m.putIfAbsent(t.name(), t);
            return m;
        }
    }

    private static Map<String, VariantType> load() {
        List<VariantType> all = new ArrayList<>(List.of(new LoraVariant(), new CopraVariant(), new ColaVariant(), new CoraVariant(),
                new LorascVariant()));
        for (VariantType t : ServiceLoader.load(VariantType.class, Variants.class.getClassLoader())) all.add(t);
        Map<String, VariantType> m = new LinkedHashMap<>();
        for (VariantType t : all) {
            if (m.containsKey(t.name())) continue;
            m.put(t.name(), t);
            for (String a : t.aliases()) m.putIfAbsent(a, t);
        }
        return m;
    }

    /**
     * Returns every variant, built-ins first.
     *
     * @return every variant, built-ins first
     */
    public static List<VariantType> all() {
        return Holder.ALL;
    }

    /**
     * Returns the variants' names, for help texts and errors.
     *
     * @return the variants' names, for help texts and errors
     */
    public static List<String> names() {
        return all().stream().map(VariantType::name).toList();
    }

    /**
     * The variant of a name or alias, case-insensitively.
     *
     * @param name the name
     * @return the variant
     * @throws IllegalArgumentException naming the known variants when there is none of that name
     */
    public static VariantType named(String name) {
        VariantType t = Holder.BY_NAME.get(name == null ? "" : name.trim().toLowerCase(Locale.ROOT));
        if (t == null) throw new IllegalArgumentException("unknown variant '" + name + "' (" + String.join(", ", names()) + ")");
        return t;
    }

    /**
     * Every variant's options, each with the variant it belongs to (for a command line that offers them all).
     *
     * @return option name → its variant, in registry order
     */
    public static Map<String, VariantType> optionOwners() {
        Map<String, VariantType> m = new LinkedHashMap<>();
        for (VariantType t : all())
            for (VariantOption o : t.options())
                if (m.putIfAbsent(o.name(), t) != null && m.get(o.name()) != t)
                    throw new IllegalStateException("variant option --" + o.name() + " is declared by two variants");
        return m;
    }
}
