package io.panlora.spark;

import java.io.Serializable;

/**
 * What a training task sends back to the driver.
 *
 * @param index             the task's index
 * @param name              the task's name
 * @param adapter           the trained adapter: a GGUF LoRA file (F32 tensors), as bytes
 * @param steps             the steps the run reached (its configured steps unless cancelled)
 * @param resumedFrom       the step the successful attempt started from: 0 for a fresh run, the checkpoint's step for an
 *                          attempt that resumed
 * @param attempt           Spark's attempt number of the successful attempt (0 the first)
 * @param trainWindows      the training windows of the shard (its size, in windows of {@code ctx} tokens)
 * @param validationWindows the validation windows
 * @param valBefore         the validation loss before training (NaN when resumed or without validation)
 * @param valAfter          the validation loss after training (NaN without validation)
 * @param firstLoss         the training loss of the attempt's first step
 * @param lastLoss          the training loss of the last step
 * @param seconds           the attempt's wall time, loading included
 * @param host              the executor's host name
 */
public record TaskResult(int index, String name, byte[] adapter, int steps, int resumedFrom, int attempt, int trainWindows,
                         int validationWindows, double valBefore, double valAfter, double firstLoss, double lastLoss, double seconds,
                         String host) implements Serializable {
    private static final long serialVersionUID = 1L;
}
