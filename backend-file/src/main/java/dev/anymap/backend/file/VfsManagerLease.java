package dev.anymap.backend.file;

import java.io.Closeable;
import org.apache.commons.vfs2.FileSystemException;
import org.apache.commons.vfs2.FileSystemManager;
import org.apache.commons.vfs2.VFS;
import org.apache.commons.vfs2.cache.DefaultFilesCache;
import org.apache.commons.vfs2.impl.StandardFileSystemManager;

/**
 * The VFS manager one backend opens its object with.
 *
 * <p>Each backend has a manager of its own, closed with it: VFS keeps every file system it opened
 * (an SSH session, an open zip file, a local copy of a remote archive) until its manager closes, so a
 * manager shared by all backends would hold them for the life of the JVM; and a backend's failures and
 * connections stay its own. A manager costs some milliseconds to start, small beside opening a remote
 * object. It caches files in a plain map rather than VFS's default soft-reference cache, which would
 * start a thread per manager.
 *
 * <p>{@code ram:} is the exception: its files live in a manager, and the one other code can have
 * stored them in is the JVM's shared manager ({@link VFS#getManager()}), which is used and never
 * closed.
 */
final class VfsManagerLease implements Closeable {
    private final FileSystemManager manager;
    private final boolean owned;

    private VfsManagerLease(FileSystemManager manager, boolean owned) {
        this.manager = manager;
        this.owned = owned;
    }

    static VfsManagerLease forScheme(String scheme) throws FileSystemException {
        if (scheme.equals("ram")) {
            return new VfsManagerLease(VFS.getManager(), false);
        }
        StandardFileSystemManager manager = new StandardFileSystemManager();
        manager.setFilesCache(new DefaultFilesCache());
        // Load the providers VFS ships with from VFS's own loader, whatever the thread's context loader is.
        manager.setClassLoader(StandardFileSystemManager.class.getClassLoader());
        manager.init();
        return new VfsManagerLease(manager, true);
    }

    FileSystemManager manager() {
        return manager;
    }

    @Override
    public void close() {
        if (owned) {
            manager.close();
        }
    }
}
