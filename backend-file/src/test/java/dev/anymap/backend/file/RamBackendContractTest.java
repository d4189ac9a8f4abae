package dev.anymap.backend.file;

import dev.anymap.spi.BackendRegistry;
import dev.anymap.spi.StorageBackend;
import dev.anymap.spi.testkit.StorageBackendContract;
import java.io.OutputStream;
import java.net.URI;
import org.apache.commons.vfs2.FileObject;
import org.apache.commons.vfs2.VFS;

/** ram: files live in the JVM's shared VFS manager, where other code stores them. */
class RamBackendContractTest extends StorageBackendContract {
    @Override
    protected StorageBackend store(String name, byte[] content) throws Exception {
        URI uri = URI.create("ram:///contract/" + name + ".bin");
        FileObject file = VFS.getManager().resolveFile(uri.toString());
        try (OutputStream out = file.getContent().getOutputStream()) {
            out.write(content);
        }
        return BackendRegistry.load().open(uri);
    }
}
