package dev.anymap.lucene;

import java.io.Closeable;
import java.io.IOException;
import java.util.SortedMap;

/** How the files of an index are found where storage can list them: their names and sizes. */
interface IndexListing extends Closeable {
    /** The index's files, by name, with their sizes; sorted by name, as {@code Directory.listAll} must be. */
    SortedMap<String, Long> list() throws IOException;

    @Override
    default void close() throws IOException {}
}
