package io.panlora.variants;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.panlora.Variant;
import io.panlora.lora.LoraSet;
import io.panlora.train.LoraInit;
import io.panlora.train.TrainConfig;
import io.panlora.train.TrainHook;
import io.panlora.train.TrainingStrategy;
import io.panlora.variants.cora.CoraVariant;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The variant registry: the built-ins and a plug-in found by ServiceLoader (this class's {@link HalfLora}, listed in the
 * test resources' META-INF/services), lookup by name and alias, every variant's options and defaults, errors that name
 * the option, settings keys, and the CoRA subspace default (shared with basis adapters, principal without).
 */
class VariantsTest {
    @TempDir
    Path dir;

    /** A plug-in: plain LoRA at half the scale, with one option. */
    public static final class HalfLora implements VariantType {
        /** Made by ServiceLoader. */
        public HalfLora() {}

        @Override
        public String name() { return "test-half"; }

        @Override
        public String summary() { return "test plug-in: LoRA at a share of the scale"; }

        @Override
        public List<VariantOption> options() { return List.of(VariantOption.of("test-half-share", "0.5", "share of the scale")); }

        @Override
        public TrainingStrategy create(VariantSettings s) {
            double share = s.number("test-half-share");
            return new TrainingStrategy() {
                @Override
                public String name() { return "test-half"; }

                @Override
                public void addSlots(LoraSet set, TrainConfig cfg) {
                    LoraInit.addStandard(set, cfg.rank(), (float) (share * cfg.scale()), cfg.targets(), cfg.seed());
                }

                @Override
                public List<TrainHook> hooks() { return List.of(); }
            };
        }
    }

    @Test
    void builtInsAndAPlugInAreRegistered() {
        assertEquals(List.of("lora", "copra", "cola", "cora", "lorasc", "test-half"), Variants.names());
        assertSame(Variants.named("copra"), Variants.named("CoTo"), "alias, case-insensitive");
        var e = assertThrows(IllegalArgumentException.class, () -> Variants.named("dora"));
        assertTrue(e.getMessage().contains("lora, copra, cola, cora, lorasc"), e.getMessage());
        for (VariantType t : Variants.all()) {
            TrainingStrategy s = t.create(VariantSettings.of(t, Map.of(), 30, 1));
            assertEquals(t.name(), s.name(), "the strategy names its variant");
            for (VariantOption o : t.options()) assertTrue(Variants.optionOwners().get(o.name()) == t);
        }
        assertEquals("test-half", Variant.named("test-half", Map.of("test-half-share", "0.25")).name());
    }

    @Test
    void settingsFillDefaultsCheckNamesAndValuesAndMakeAStableKey() {
        VariantType copra = Variants.named("copra");
        VariantSettings s = VariantSettings.of(copra, Map.of("copra-rho", "0.5"), 100, 7);
        assertEquals("0.1", s.text("copra-p0"));
        assertEquals(0.5, s.number("copra-rho"));
        assertEquals("copra(copra-p0=0.1,copra-p1=1.0,copra-rho=0.5,shapley-permutations=0)", s.key());
        var unknown = assertThrows(IllegalArgumentException.class, () -> VariantSettings.of(copra, Map.of("cola-links", "2"), 10, 1));
        assertTrue(unknown.getMessage().contains("--cola-links") && unknown.getMessage().contains("--copra-p0"), unknown.getMessage());
        var bad = assertThrows(IllegalArgumentException.class,
                () -> copra.create(VariantSettings.of(copra, Map.of("copra-p0", "x"), 10, 1)));
        assertTrue(bad.getMessage().contains("--copra-p0"), bad.getMessage());
        assertThrows(IllegalArgumentException.class, () -> copra.create(VariantSettings.of(copra, Map.of("copra-p0", "1.5"), 10, 1)));
        VariantType cola = Variants.named("cola");
        assertThrows(IllegalArgumentException.class, () -> cola.create(VariantSettings.of(cola, Map.of("cola-links", "0"), 10, 1)));
        VariantType lorasc = Variants.named("lorasc");
        assertThrows(IllegalArgumentException.class, () -> lorasc.create(VariantSettings.of(lorasc, Map.of("lorasc-every", "-1"), 10, 1)));
    }

    @Test
    void coraDefaultsToSharedWithBasisAdaptersAndSaysSo() throws Exception {
        VariantType cora = Variants.named("cora");
        VariantSettings plain = VariantSettings.of(cora, Map.of(), 10, 1);
        assertEquals("principal", CoraVariant.subspace(plain));
        assertTrue(cora.describe(plain).contains("principal (the default without --cora-basis)"), cora.describe(plain));
        Path a = Files.writeString(dir.resolve("a.gguf"), "x"), b = Files.writeString(dir.resolve("b.gguf"), "x");
        VariantSettings basis = VariantSettings.of(cora, Map.of("cora-basis", a + "," + b), 10, 1);
        assertEquals("shared", CoraVariant.subspace(basis));
        assertTrue(cora.describe(basis).contains("shared (the default with --cora-basis: 2 basis adapters)"), cora.describe(basis));
        VariantSettings asked = VariantSettings.of(cora, Map.of("cora-basis", a.toString(), "cora-subspace", "minor"), 10, 1);
        assertEquals("minor", CoraVariant.subspace(asked));
        var missing = assertThrows(IllegalArgumentException.class,
                () -> cora.create(VariantSettings.of(cora, Map.of("cora-basis", dir.resolve("none.gguf").toString()), 10, 1)));
        assertTrue(missing.getMessage().contains("none.gguf"), missing.getMessage());
        assertFalse(cora.describe(VariantSettings.of(cora, Map.of("cora-mode", "init"), 10, 1)).contains("frozen"));
    }
}
