package io.panlora;

/**
 * The result of {@link Panlora#evaluate}.
 *
 * @param loss       the mean negative log-likelihood per counted token, in nats
 * @param perplexity {@code exp(loss)}
 * @param tokens     how many tokens were scored
 */
public record Evaluation(double loss, double perplexity, long tokens) {}
