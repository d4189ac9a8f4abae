package dev.anymap.lucene;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.util.SortedMap;
import java.util.TreeMap;
import java.util.stream.Stream;

/** The regular files of a local directory, as {@code FSDirectory} lists them. */
record LocalListing(Path directory) implements IndexListing {
    LocalListing {
        if (!Files.isDirectory(directory)) {
            throw Files.exists(directory)
                    ? new IllegalArgumentException(directory + " is not a directory: give the directory that holds the index")
                    : new IllegalArgumentException(directory + " does not exist: give the directory that holds the index");
        }
    }

    @Override
    public SortedMap<String, Long> list() throws IOException {
        SortedMap<String, Long> files = new TreeMap<>();
        try (Stream<Path> entries = Files.list(directory)) {
            for (Path entry : (Iterable<Path>) entries::iterator) {
                try {
                    if (Files.isRegularFile(entry)) {
                        files.put(entry.getFileName().toString(), Files.size(entry));
                    }
                } catch (NoSuchFileException deletedMeanwhile) {
                    // a writer's old file, gone between the listing and its size
                }
            }
        } catch (NotDirectoryException | NoSuchFileException gone) {
            throw new NoSuchFileException(directory.toString(), null, "the index directory is gone");
        }
        return files;
    }
}
