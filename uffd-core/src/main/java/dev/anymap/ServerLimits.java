package dev.anymap;

import java.util.ArrayList;
import java.util.List;

/**
 * What a page server takes from its clients: past a limit a client is refused with an error that
 * names it and the option of {@code anymap serve} (and {@code PageServerMain}) that raises it, and
 * the other clients are served as before.
 *
 * @param connections connections open at once, of all processes ({@value #CONNECTIONS})
 * @param connectionsPerProcess connections open at once of one process ({@value #CONNECTIONS_PER_PROCESS})
 * @param regionsPerProcess regions one process has mapped at once ({@value #REGIONS_PER_PROCESS})
 */
public record ServerLimits(int connections, int connectionsPerProcess, int regionsPerProcess) {
    /** The default of {@code --max-connections}: an anymap process holds one connection, a tool one more. */
    public static final int CONNECTIONS = 4096;
    /** The default of {@code --max-connections-per-process}. */
    public static final int CONNECTIONS_PER_PROCESS = 64;
    /** The default of {@code --max-regions-per-process}: each region mapped costs the server a thread while it is attached. */
    public static final int REGIONS_PER_PROCESS = 4096;
    public static final ServerLimits DEFAULTS = new ServerLimits(CONNECTIONS, CONNECTIONS_PER_PROCESS, REGIONS_PER_PROCESS);

    public ServerLimits {
        if (connections < 1 || connectionsPerProcess < 1 || regionsPerProcess < 1) {
            throw new IllegalArgumentException("every limit of a page server is at least 1: " + connections + " connections, "
                    + connectionsPerProcess + " per process, " + regionsPerProcess + " regions per process");
        }
    }

    /** The options that give these limits to a server, those that differ from the defaults. */
    public List<String> arguments() {
        List<String> arguments = new ArrayList<>();
        if (connections != CONNECTIONS) {
            arguments.addAll(List.of("--max-connections", Integer.toString(connections)));
        }
        if (connectionsPerProcess != CONNECTIONS_PER_PROCESS) {
            arguments.addAll(List.of("--max-connections-per-process", Integer.toString(connectionsPerProcess)));
        }
        if (regionsPerProcess != REGIONS_PER_PROCESS) {
            arguments.addAll(List.of("--max-regions-per-process", Integer.toString(regionsPerProcess)));
        }
        return arguments;
    }

    public ServerLimits withConnections(int value) {
        return new ServerLimits(value, connectionsPerProcess, regionsPerProcess);
    }

    public ServerLimits withConnectionsPerProcess(int value) {
        return new ServerLimits(connections, value, regionsPerProcess);
    }

    public ServerLimits withRegionsPerProcess(int value) {
        return new ServerLimits(connections, connectionsPerProcess, value);
    }
}
