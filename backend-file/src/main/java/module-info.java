/**
 * {@code file:} URIs through {@link java.nio.channels.FileChannel}, and the archive, compression and
 * remote schemes of Apache Commons VFS (sftp, ftp, zip, tar, gz, ...) as a generic fallback.
 *
 * <p>On the module path, Commons VFS 2.10 reads JSch only under the module name {@code jsch} of the
 * old com.jcraft:jsch jar, while the maintained fork used here is the module {@code com.jcraft.jsch}:
 * sftp there needs {@code --add-reads org.apache.commons.vfs2=com.jcraft.jsch}.
 */
module dev.anymap.backend.file {
    requires transitive dev.anymap.spi;
    requires org.apache.commons.vfs2;
    // Not used here: required so that they are resolved on the module path, where VFS, which requires
    // them static, then reads them and can offer the schemes they serve.
    requires org.apache.commons.compress;
    requires org.apache.commons.net;
    requires com.jcraft.jsch;

    exports dev.anymap.backend.file;

    provides dev.anymap.spi.BackendProvider with
            dev.anymap.backend.file.FileBackendProvider,
            dev.anymap.backend.file.VfsBackendProvider;
}
