package io.panlora.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code panlora} command line: a llama.cpp-like tool for LoRA fine-tuning of GGUF models. */
@Command(name = "panlora", mixinStandardHelpOptions = true, version = "panlora 0.1.0",
        description = "LoRA fine-tuning of LLaMA-architecture GGUF models on a native engine.",
        subcommands = {InspectCommand.class, GenerateCommand.class, PerplexityCommand.class, EvalCommand.class, InitCommand.class, TrainCommand.class,
                ExportCommand.class, MergeCommand.class, PruneCommand.class, ConvertCommand.class, DemoCommand.class,
                BenchCommand.class, ExperimentCommand.class, GpuCheckCommand.class, VerifyCommand.class, CommandLine.HelpCommand.class})
public final class Main implements Runnable {
    @Override
    public void run() {
        new CommandLine(this).usage(System.out);
    }

    /**
     * The configured command line: exceptions become one clear line on its error writer ({@code panlora CMD: error: …}) and
     * exit status 1 (stack traces with PANLORA_DEBUG=1); a bad flag value is one line too ({@code panlora CMD: error: Invalid
     * value …}, usage with {@code --help}) with exit status 2; an OutOfMemoryError is caught and reported the same way.
     */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Main());
        VariantFlags.install(cl.getSubcommands().get("train").getCommandSpec());
        cl.setExecutionExceptionHandler((ex, cmd, parsed) -> {
            Throwable t = ex instanceof CommandLine.ExecutionException && ex.getCause() != null ? ex.getCause() : ex;
            if (debug()) t.printStackTrace(new java.io.PrintWriter(cmd.getErr(), true));
            cmd.getErr().println("panlora " + cmd.getCommandName() + ": error: " + message(t));
            cmd.getErr().flush();
            return 1;
        });
        cl.setParameterExceptionHandler((ex, args) -> {
            CommandLine cmd = ex.getCommandLine();
            if (debug()) ex.printStackTrace(new java.io.PrintWriter(cmd.getErr(), true));
            String msg = ex.getMessage() == null ? ex.toString() : ex.getMessage().strip().replaceAll("\\s*\\R\\s*", "; ");
            cmd.getErr().println("panlora " + cmd.getCommandName() + ": error: " + msg + " (see panlora "
                    + (cmd.getParent() == null ? "" : cmd.getCommandName() + " ") + "--help)");
            cmd.getErr().flush();
            return cmd.getCommandSpec().exitCodeOnInvalidInput();
        });
        CommandLine.IExecutionStrategy run = new CommandLine.RunLast();
        cl.setExecutionStrategy(parsed -> {
            try {
                return run.execute(parsed);
            } catch (OutOfMemoryError e) { // an Error passes picocli's handler by: make it one line too
                CommandLine cmd = parsed.asCommandLineList().getLast();
                throw new CommandLine.ExecutionException(cmd, message(e), e);
            } finally {
                CommonOptions.endCommand();
            }
        });
        return cl;
    }

    /** Whether stack traces are asked for: PANLORA_DEBUG set in the environment, or -Dpanlora.debug. */
    static boolean debug() {
        return System.getenv("PANLORA_DEBUG") != null || Boolean.getBoolean("panlora.debug");
    }

    /** One sentence for an exception; file-system errors name their file (a bare {@code NoSuchFileException} is just the path). */
    static String message(Throwable ex) {
        if (ex instanceof java.nio.file.NoSuchFileException e && e.getReason() == null) return e.getFile() + ": no such file or directory";
        if (ex instanceof java.nio.file.AccessDeniedException e && e.getReason() == null) return e.getFile() + ": permission denied";
        if (ex instanceof java.nio.file.FileSystemException e && e.getFile() != null)
            return e.getFile() + ": " + (e.getReason() != null ? e.getReason() : e.getClass().getSimpleName());
        if (ex instanceof OutOfMemoryError) return "out of memory (" + ex.getMessage() + "); use a smaller --batch or --ctx, or see --max-memory";
        String m = ex.getMessage() != null ? ex.getMessage() : ex.toString();
        return m.strip().replaceAll("\\s*\\R\\s*", "; ");
    }

    /** Runs the CLI and exits with its status. */
    public static void main(String[] args) {
        // llama.cpp's log is captured by the library, not printed; PANLORA_LLAMA_LOG=1 prints it here, in the CLI
        if ("1".equals(System.getenv("PANLORA_LLAMA_LOG"))) io.panlora.llamacpp.LlamaCpp.setLogSink(System.err::print);
        System.exit(commandLine().execute(args));
    }
}
