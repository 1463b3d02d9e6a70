/**
 * Tokenizers built from GGUF tokenizer metadata, behaving like llama.cpp's {@code llama_vocab}.
 *
 * <ul>
 *   <li>{@link io.panlora.tokenizer.TokenizerSpec}: the {@code tokenizer.*} keys as a plain record;
 *       {@link io.panlora.tokenizer.Tokenizer#of} builds the tokenizer.</li>
 *   <li>{@code "llama"}: SentencePiece merges by score with byte fallback ({@code SpmTokenizer}).</li>
 *   <li>{@code "gpt2"}: byte-level BPE by merge rank ({@code BpeTokenizer}) after the
 *       {@link io.panlora.tokenizer.PreTokenizer} named by {@code tokenizer.ggml.pre}, over
 *       {@link io.panlora.tokenizer.ByteLevel}'s byte-to-character table.</li>
 *   <li>{@link io.panlora.tokenizer.BpeTrainer}: trains a byte-level BPE vocabulary from text.</li>
 *   <li>{@link io.panlora.tokenizer.Llama2cTokenizerFile}: reads llama2.c {@code tokenizer.bin} files.</li>
 *   <li>{@link io.panlora.tokenizer.TokenStreamDecoder}: text from generated ids as they come.</li>
 * </ul>
 *
 * <p>Checked against llama.cpp itself: {@code TokLlamaCppReferenceTest} holds ids and detokenized text that
 * llama.cpp produced for the same vocabularies. Known differences: a merged BPE piece missing from the vocabulary
 * falls back to each byte's own token (llama.cpp drops non-ASCII bytes there); a BPE normal token holding a
 * character outside the byte table decodes to that character's UTF-8 (llama.cpp writes an {@code [UNK_BYTE_..]}
 * marker); special tokens of equal length are tried in id order (llama.cpp's sort is unstable); the per-model
 * lstrip/rstrip token attributes llama.cpp sets by model name (jina, phi-3) are not applied; and
 * {@code <|end_of_text|>} always ends generation.
 */
package io.panlora.tokenizer;
