/**
 * Experiments that test the seed papers' claims at small scale with an honest protocol: fixed, seed-independent
 * train/validation/test splits of a corpus; each arm's learning rate chosen on validation from a small grid with one
 * seed; every arm then trained with the same N seeds (same seed: same data order and, for the same slot layout, the
 * same init) and evaluated on test; means, standard deviations and 95 % t-intervals of the paired differences; a
 * verdict per claim from those intervals; results as JSON, a Markdown table and SVG figures.
 *
 * <p>Start with {@link io.panlora.experiment.ExperimentCatalog}; the protocol pieces ({@link io.panlora.experiment.Splits},
 * {@link io.panlora.experiment.Arm}, {@link io.panlora.experiment.Protocol}, {@link io.panlora.experiment.Stats},
 * {@link io.panlora.experiment.Claim}, {@link io.panlora.experiment.Results}) serve any other comparison.
 */
package io.panlora.experiment;
