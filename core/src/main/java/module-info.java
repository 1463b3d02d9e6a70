/**
 * panlora: LoRA fine-tuning of LLaMA-architecture GGUF models on a native engine.
 *
 * <p>Start with {@link io.panlora.Panlora}: it loads a base model, trains an adapter (any variant), evaluates,
 * exports, merges, prunes and generates in a few lines. The packages below it are the library's parts for callers that
 * need more control: GGUF files ({@code io.panlora.gguf}), tokenizers, data, the model, LoRA sets, the trainer, the
 * variants, merging, pruning, PEFT conversion, generation and the llama.cpp bridge.
 *
 * <p>Native access: the engine is called through {@link java.lang.foreign}; on the module path run with
 * {@code --enable-native-access=io.panlora.bindings,io.panlora.core} (on the class path,
 * {@code --enable-native-access=ALL-UNNAMED}, or {@code Enable-Native-Access: ALL-UNNAMED} in an executable jar's
 * manifest).
 */
module io.panlora.core {
    requires transitive io.panlora.bindings;
    // PNG figures of the experiments (io.panlora.experiment.Png; headless)
    requires java.desktop;

    // variant plug-ins beyond the built-in ones (io.panlora.variants.Variants)
    uses io.panlora.variants.VariantType;

    exports io.panlora;
    exports io.panlora.convert;
    exports io.panlora.data;
    exports io.panlora.experiment;
    exports io.panlora.generate;
    exports io.panlora.gguf;
    exports io.panlora.llamacpp;
    exports io.panlora.lora;
    exports io.panlora.merge;
    exports io.panlora.model;
    exports io.panlora.prune;
    exports io.panlora.tokenizer;
    exports io.panlora.train;
    exports io.panlora.variants;
    exports io.panlora.variants.cola;
    exports io.panlora.variants.copra;
    exports io.panlora.variants.cora;
    exports io.panlora.variants.lora;
    exports io.panlora.variants.lorasc;

    // internals the panlora command uses (numerics, checkpoint files, run locks); not part of the API
    exports io.panlora.tensor to io.panlora.cli;
    exports io.panlora.train.internal to io.panlora.cli;
}
