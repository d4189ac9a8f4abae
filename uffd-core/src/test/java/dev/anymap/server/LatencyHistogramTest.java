package dev.anymap.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class LatencyHistogramTest {
    @Test
    void percentilesAreWithinAnEighthOfTheExactOnes() {
        LatencyHistogram histogram = new LatencyHistogram();
        SplittableRandom random = new SplittableRandom(1);
        long[] latencies = new long[100_000];
        for (int i = 0; i < latencies.length; i++) {
            // Spread over five orders of magnitude, as fetches from memory and from a network are.
            latencies[i] = (long) Math.pow(10, 3 + 5 * random.nextDouble());
            histogram.record(latencies[i]);
        }
        Arrays.sort(latencies);
        for (double fraction : new double[] {0.5, 0.9, 0.99}) {
            long exact = latencies[(int) Math.ceil(fraction * latencies.length) - 1];
            long estimate = histogram.percentile(fraction);
            assertTrue(estimate >= exact && estimate <= exact + exact / 8 + 1,
                    "p" + (int) (fraction * 100) + ": estimate " + estimate + ", exact " + exact);
        }
    }

    @Test
    void anEmptyHistogramSaysZero() {
        assertEquals(0, new LatencyHistogram().percentile(0.5));
    }
}
