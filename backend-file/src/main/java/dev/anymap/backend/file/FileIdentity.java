package dev.anymap.backend.file;

import dev.anymap.spi.ObjectVersion;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.util.Objects;

/**
 * Which file a path named, and in which state, when it was opened: enough to tell, when the channel
 * has to be opened again, whether the path still leads to the same bytes.
 *
 * @param fileKey the device and inode (null where the file system has no such key)
 * @param size the size in bytes
 * @param modified the last modification time
 */
record FileIdentity(Object fileKey, long size, FileTime modified) {

    static FileIdentity of(BasicFileAttributes attributes) {
        return new FileIdentity(attributes.fileKey(), attributes.size(), attributes.lastModifiedTime());
    }

    ObjectVersion version() {
        return ObjectVersion.modified(modified.toInstant(), size);
    }

    /**
     * What differs between this identity and {@code now}, or null if nothing does.
     *
     * @param ignoreModified true for a file this backend writes itself, whose time its own writes move
     */
    String differenceTo(FileIdentity now, boolean ignoreModified) {
        if (fileKey != null && now.fileKey != null && !fileKey.equals(now.fileKey)) {
            return "the path now names another file (it was replaced or moved)";
        }
        if (size != now.size) {
            return "its size went from " + size + " to " + now.size + " bytes";
        }
        if (!ignoreModified && !Objects.equals(modified, now.modified)) {
            return "it was modified at " + now.modified;
        }
        return null;
    }
}
