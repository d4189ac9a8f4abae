package dev.anymap.server;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The command line that runs a main class of this module in a new JVM: this JVM's {@code java},
 * class path and module path, so that the child has the same classes and backends.
 */
public final class JavaCommand {
    private JavaCommand() {}

    public static List<String> of(Class<?> main, List<String> jvmOptions, List<String> arguments) {
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        command.addAll(jvmOptions);
        String modulePath = System.getProperty("jdk.module.path");
        Module engine = main.getModule();
        if (engine.isNamed() && modulePath != null) {
            command.add("--enable-native-access=" + engine.getName());
            command.add("--module-path");
            command.add(modulePath);
            command.add("--add-modules");
            command.add("ALL-MODULE-PATH");
            addClassPath(command);
            command.add("--module");
            command.add(engine.getName() + "/" + main.getName());
        } else {
            command.add("--enable-native-access=ALL-UNNAMED");
            addClassPath(command);
            command.add(main.getName());
        }
        command.addAll(arguments);
        return command;
    }

    private static void addClassPath(List<String> command) {
        String classPath = System.getProperty("java.class.path");
        if (classPath != null && !classPath.isEmpty()) {
            command.add("-cp");
            command.add(classPath);
        }
    }
}
