package dev.anymap.benchmarks;

import java.util.Collections;
import java.util.List;
import java.util.Locale;

/** Medians and spreads of repeated runs. */
final class Stats {
    private Stats() {}

    static double median(List<Double> values) {
        List<Double> sorted = values.stream().sorted().toList();
        int middle = sorted.size() / 2;
        return sorted.size() % 2 == 1 ? sorted.get(middle) : (sorted.get(middle - 1) + sorted.get(middle)) / 2;
    }

    /** The median with the range, {@code "median (min-max)"}, to three significant digits. */
    static String spread(List<Double> values) {
        return number(median(values)) + " (" + number(Collections.min(values)) + "-" + number(Collections.max(values)) + ")";
    }

    /** Three significant digits, no exponent. */
    static String number(double value) {
        double magnitude = Math.abs(value);
        String format = magnitude >= 100 || magnitude == 0 ? "%.0f" : magnitude >= 10 ? "%.1f" : magnitude >= 1 ? "%.2f" : "%.3f";
        return String.format(Locale.ROOT, format, value);
    }

    static String ratio(double value) {
        return String.format(Locale.ROOT, value >= 10 ? "%.1f" : "%.2f", value);
    }
}
