package dev.anymap.benchmarks;

import java.util.ArrayList;
import java.util.List;

/** A Markdown table: the first column left-aligned, the others right-aligned. */
final class Table {
    private final List<String> header;
    private final List<List<String>> rows = new ArrayList<>();

    Table(String... header) {
        this.header = List.of(header);
    }

    void row(Object... cells) {
        if (cells.length != header.size()) {
            throw new IllegalArgumentException(cells.length + " cells in a table of " + header.size() + " columns");
        }
        List<String> row = new ArrayList<>();
        for (Object cell : cells) {
            row.add(String.valueOf(cell));
        }
        rows.add(row);
    }

    @Override
    public String toString() {
        StringBuilder text = new StringBuilder("| " + String.join(" | ", header) + " |\n|");
        for (int i = 0; i < header.size(); i++) {
            text.append(i == 0 ? " --- |" : " ---: |");
        }
        text.append('\n');
        for (List<String> row : rows) {
            text.append("| ").append(String.join(" | ", row)).append(" |\n");
        }
        return text.toString();
    }
}
