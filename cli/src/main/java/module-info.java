/** The {@code panlora} command line (picocli) over {@code io.panlora.core}. */
module io.panlora.cli {
    requires io.panlora.core;
    requires info.picocli;

    opens io.panlora.cli to info.picocli;
}
