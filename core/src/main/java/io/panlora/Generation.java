package io.panlora;

import io.panlora.generate.Generator;
import io.panlora.generate.Sampler;
import java.util.List;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * A text generation from a prompt on the base model, with adapters at chosen scales. The sampling defaults are
 * llama.cpp's: temperature 0.8, top-k 40, top-p 0.95, min-p 0.05, no repetition penalty, a random seed.
 */
public final class Generation {
    private final Panlora base;
    private final String prompt;
    private List<Adapter.Scaled> adapters = List.of();
    private int maxTokens = 128;
    private int ctx;
    private float temperature = 0.8f, topP = 0.95f, minP = 0.05f, repeatPenalty = 1f;
    private int topK = 40, repeatLastN = 64;
    private long seed = -1;
    private Consumer<String> onText;

    Generation(Panlora base, String prompt) {
        this.base = base;
        this.prompt = prompt;
    }

    /**
     * The adapters to apply, each at its scale (replacing any given before).
     *
     * @param scaled the adapters, e.g. {@code a.scaled(1), b.scaled(0.5)}
     * @return this generation
     */
    public Generation adapters(Adapter.Scaled... scaled) {
        for (Adapter.Scaled a : scaled) Objects.requireNonNull(a, "adapter");
        adapters = List.of(scaled);
        return this;
    }

    /**
     * Sets the most tokens to generate (generation also stops at an end-of-generation token or a full context); at least 1.
     *
     * @param n the most tokens to generate (generation also stops at an end-of-generation token or a full context); at least 1
     * @return this generation
     */
    public Generation maxTokens(int n) {
        if (n < 1) throw new IllegalArgumentException("maxTokens must be >= 1, got " + n);
        maxTokens = n;
        return this;
    }

    /**
     * Sets the context length in tokens (prompt plus generated text); 0, the default, is the model's training context, at most 4096.
     *
     * @param n the context length in tokens (prompt plus generated text); 0, the default, is the model's training context,
     *          at most 4096
     * @return this generation
     */
    public Generation context(int n) {
        if (n < 0) throw new IllegalArgumentException("context must be >= 0, got " + n);
        ctx = n;
        return this;
    }

    /**
     * Sets the sampling temperature; 0 picks the most likely token every time (deterministic).
     *
     * @param t the sampling temperature; 0 picks the most likely token every time (deterministic)
     * @return this generation
     */
    public Generation temperature(double t) {
        if (!(t >= 0)) throw new IllegalArgumentException("temperature must be >= 0, got " + t);
        temperature = (float) t;
        return this;
    }

    /**
     * Sets the top-k, top-p and min-p filters applied before sampling.
     *
     * @param k top-k: sample among the k most likely tokens; 0 turns it off
     * @param p top-p: the smallest set of tokens whose probabilities add to p; 1 turns it off
     * @param min min-p: drop tokens below {@code min} times the most likely one's probability; 0 turns it off
     * @return this generation
     */
    public Generation topKPMin(int k, double p, double min) {
        topK = k;
        topP = (float) p;
        minP = (float) min;
        return this;
    }

    /**
     * Sets the repetition penalty and how far back it looks.
     *
     * @param penalty the repetition penalty (1 turns it off)
     * @param lastN   how many recent tokens it looks back over
     * @return this generation
     */
    public Generation repeatPenalty(double penalty, int lastN) {
        repeatPenalty = (float) penalty;
        repeatLastN = lastN;
        return this;
    }

    /**
     * Sets the sampling seed; -1 (the default) draws one.
     *
     * @param s the sampling seed; -1 (the default) draws one
     * @return this generation
     */
    public Generation seed(long s) {
        seed = s;
        return this;
    }

    /**
     * Streams the generated text as it is produced, piece by piece (whole UTF-8 characters).
     *
     * @param consumer called on the generating thread with each new piece
     * @return this generation
     */
    public Generation onText(Consumer<String> consumer) {
        onText = Objects.requireNonNull(consumer, "consumer");
        return this;
    }

    /**
     * Generates.
     *
     * @return the text (without the prompt), the token counts and the time taken
     * @throws IllegalArgumentException if the prompt does not fit the context
     */
    public Generator.Result run() {
        Sampler sampler = new Sampler(temperature, topK, topP, minP, repeatPenalty, repeatLastN,
                seed >= 0 ? seed : System.nanoTime());
        int n = ctx > 0 ? ctx : (int) Math.min(4096, base.config().nCtxTrain());
        return base.withAdapters(adapters, set -> Generator.run(base.engine(), base.tokenizer(), prompt, maxTokens, n, sampler, onText));
    }

    /**
     * Generates and returns only the text.
     *
     * @return the generated text, without the prompt
     */
    public String text() {
        return run().text();
    }
}
