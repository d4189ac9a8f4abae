package dev.anymap.samples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.anymap.MapOptions;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

class MappingOptionsTest {
    private static MappingOptions parse(String... args) {
        MappingOptions options = new MappingOptions();
        new CommandLine(options).parseArgs(args);
        return options;
    }

    @Test
    void fetchDeadlineIsTakenInSecondsAndDefaultsToTheLibrarys() {
        assertEquals(Duration.ofMillis(1500), parse("--fetch-deadline", "1.5").mapOptions().fetchDeadline());
        assertEquals(MapOptions.DEFAULT_FETCH_DEADLINE, parse().mapOptions().fetchDeadline());
    }

    @Test
    void aFetchDeadlineOutsideItsRangeIsABadArgumentNamingTheFlag() {
        for (String seconds : new String[] {"0", "-3", "NaN", "86401"}) {
            IllegalArgumentException error = assertThrows(IllegalArgumentException.class,
                    () -> parse("--fetch-deadline", seconds).mapOptions());
            assertTrue(error.getMessage().startsWith("--fetch-deadline ") && error.getMessage().contains("seconds"), error.getMessage());
        }
    }
}
