package io.panlora.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code panlora} command line: a llama.cpp-like tool for LoRA fine-tuning of GGUF models. */
@Command(name = "panlora", mixinStandardHelpOptions = true, version = "panlora 0.1.0",
        description = "LoRA fine-tuning of LLaMA-architecture GGUF models on a native engine.",
        subcommands = {InspectCommand.class, GenerateCommand.class, PerplexityCommand.class, EvalCommand.class, InitCommand.class, TrainCommand.class,
                ExportCommand.class, MergeCommand.class, PruneCommand.class, ConvertCommand.class, DemoCommand.class,
                BenchCommand.class, GpuCheckCommand.class, CommandLine.HelpCommand.class})
public final class Main implements Runnable {
    @Override
    public void run() {
        new CommandLine(this).usage(System.out);
    }

    /**
     * The configured command line: exceptions become one clear line on its error writer ({@code panlora CMD: error: …}) and
     * exit status 1 (stack traces with PANLORA_DEBUG=1).
     */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Main());
        cl.setExecutionExceptionHandler((ex, cmd, parsed) -> {
            if (System.getenv("PANLORA_DEBUG") != null) ex.printStackTrace();
            String msg = ex.getMessage() != null ? ex.getMessage() : ex.toString();
            cmd.getErr().println("panlora " + cmd.getCommandName() + ": error: " + msg);
            cmd.getErr().flush();
            return 1;
        });
        return cl;
    }

    /** Runs the CLI and exits with its status. */
    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }
}
