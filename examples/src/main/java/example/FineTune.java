package example;

import io.panlora.Adapter;
import io.panlora.Data;
import io.panlora.Evaluation;
import io.panlora.Panlora;
import io.panlora.Variant;
import io.panlora.gguf.GgmlType;
import io.panlora.train.TrainListener;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Fine-tunes a base model on a text file with the panlora facade. 10 % of the file's paragraphs are held out; the rest is
 * split in two. First a full-parameter fine-tune on the first part (every weight trains; the result is a complete GGUF
 * model), then a CopRA LoRA adapter on that model and the second part, exported as a Q8_0 adapter and as an F16 merged
 * model and used for generation. Both steps must lower the held-out loss.
 *
 * <pre>java -jar panlora-example.jar BASE.gguf TEXT.txt [OUT_DIR]</pre>
 */
public final class FineTune {
    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: java -jar panlora-example.jar BASE.gguf TEXT.txt [OUT_DIR]");
            System.exit(2);
        }
        Path basePath = Path.of(args[0]), text = Path.of(args[1]), out = Path.of(args.length > 2 ? args[2] : "example-out");

        List<String> paragraphs = new ArrayList<>();
        for (String p : Files.readString(text).split("\\n\\s*\\n")) if (p.strip().length() > 80) paragraphs.add(p.strip());
        int held = Math.max(1, paragraphs.size() / 10), half = held + (paragraphs.size() - held) / 2;
        Data validation = Data.texts(paragraphs.subList(0, held));
        Data first = Data.texts(paragraphs.subList(held, half)), second = Data.texts(paragraphs.subList(half, paragraphs.size()));

        // 1. full-parameter fine-tune: a new base model
        Path tuned;
        Evaluation initial;
        try (Panlora base = Panlora.base(basePath).threads(2).load()) {
            System.out.println(base.deviceDescription());
            initial = base.evaluate(validation);
            var full = base.fullFineTune().learningRate(3e-3).steps(200).batch(8, 64, 1).validation(validation)
                    .train(first, out.resolve("full"));
            tuned = full.model();
            System.out.printf("full fine-tune: %d steps, %,d parameters, model %s%n", full.steps(), full.parameters(), tuned);
        }

        // 2. a LoRA adapter on the fine-tuned model
        try (Panlora base = Panlora.base(tuned).threads(2).load()) {
            Evaluation before = base.evaluate(validation);
            System.out.printf("full fine-tune held-out loss: %.4f -> %.4f%n", initial.loss(), before.loss());
            if (!(before.loss() < initial.loss() - 0.5)) fail("the full fine-tune did not lower the held-out loss by 0.5 nats");

            Adapter adapter = base.lora()
                    .rank(8).alpha(16).targets("all")
                    .variant(Variant.copra())
                    .learningRate(3e-3).steps(60).batch(4, 64, 1)
                    .validation(validation)
                    .listener(new TrainListener() {
                        @Override
                        public void stepped(int step, int steps, double loss, double lr, double gradNorm, double tokensPerSecond) {
                            if (step % 20 == 0) System.out.printf("step %d/%d: loss %.4f, lr %.2e, %.0f tokens/s%n", step, steps, loss, lr, tokensPerSecond);
                        }
                    })
                    .train(second, out.resolve("lora"));

            Evaluation after = base.evaluate(validation, adapter.scaled(1));
            Adapter q8 = base.exportAdapter(adapter, GgmlType.Q8_0, out.resolve("adapter-q8_0.gguf"));
            Path merged = base.exportMerged(GgmlType.F16, out.resolve("merged-f16.gguf"), adapter.scaled(1));
            String sample = base.generate("ROMEO:").adapters(adapter.scaled(1)).maxTokens(32).temperature(0).text();

            System.out.printf("LoRA held-out loss: %.4f -> %.4f (perplexity %.2f -> %.2f)%n", before.loss(), after.loss(),
                    before.perplexity(), after.perplexity());
            System.out.printf("adapter: %s (%s), %s (%s)%n", adapter.file(), adapter.types(), q8.file(), q8.types());
            System.out.println("merged model: " + merged);
            System.out.println("sample: ROMEO:" + sample.replace('\n', ' '));
            if (!(after.loss() < before.loss())) fail("the adapter did not lower the held-out loss");
            System.out.println("example: OK");
        }
    }

    private static void fail(String why) {
        System.out.println("example: FAILED (" + why + ")");
        System.exit(1);
    }
}
