package io.panlora.spark;

import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/**
 * The {@code panlora distributed} command: {@code train} (federated training over shards, merged) and {@code sweep}
 * (a hyperparameter grid), each a Spark job. The {@code panlora} launcher runs it with Spark's jars on the class path; on a
 * cluster, {@code spark-submit --class io.panlora.spark.DistributedMain panlora-spark-app.jar train …}.
 */
@Command(name = "panlora distributed", mixinStandardHelpOptions = true, version = "panlora 0.1.0",
        description = "Adapters trained as Spark tasks (the embedded local[*] on one machine, any Spark cluster beyond it) and merged.",
        subcommands = {DistributedTrain.class, DistributedSweep.class, CommandLine.HelpCommand.class})
public final class DistributedMain implements Runnable {
    /** The root command; picocli makes it. */
    public DistributedMain() {}

    @Override
    public void run() {
        new CommandLine(this).usage(System.out);
    }

    /**
     * The configured command line: an exception is one line on the error writer ({@code panlora distributed train: error: …},
     * a failed Spark task cut to its own message) and exit status 1 (with the stack trace when PANLORA_DEBUG is set); a bad
     * flag is one line and exit status 2.
     *
     * @return the command line
     */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new DistributedMain());
        cl.setExecutionExceptionHandler((ex, cmd, parsed) -> {
            if (System.getenv("PANLORA_DEBUG") != null) ex.printStackTrace(new PrintWriter(cmd.getErr(), true));
            cmd.getErr().println(cmd.getCommandSpec().qualifiedName() + ": error: " + SparkJobs.oneLine(ex));
            cmd.getErr().flush();
            return 1;
        });
        cl.setParameterExceptionHandler((ex, args) -> {
            CommandLine cmd = ex.getCommandLine();
            String msg = ex.getMessage() == null ? ex.toString() : ex.getMessage().strip().replaceAll("\\s*\\R\\s*", "; ");
            cmd.getErr().println(cmd.getCommandSpec().qualifiedName() + ": error: " + msg + " (see --help)");
            cmd.getErr().flush();
            return cmd.getCommandSpec().exitCodeOnInvalidInput();
        });
        return cl;
    }

    /**
     * Runs the command and exits with its status.
     *
     * @param args the arguments after {@code panlora distributed}
     */
    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }
}
