/**
 * The native side of panlora: the engine's C ABI ({@code panlora.h}) and llama.cpp's ({@code llama.h}) as Java 22
 * foreign-function bindings, and the loader that finds the engine library (an explicit directory, or the copy
 * packed in this jar for the running platform). Code outside panlora uses {@code io.panlora.core} instead.
 */
module io.panlora.bindings {
    exports io.panlora.bindings;
    exports io.panlora.bindings.gen to io.panlora.core, io.panlora.cli;
    exports io.panlora.bindings.llama to io.panlora.core, io.panlora.cli;
}
