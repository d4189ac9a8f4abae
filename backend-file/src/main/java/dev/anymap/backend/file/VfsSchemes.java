package dev.anymap.backend.file;

import java.io.IOException;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import org.apache.commons.vfs2.FileSystemManager;

/**
 * The schemes the {@code vfs} backend claims, each with the class that Commons VFS's own
 * providers.xml requires before it registers the scheme, so that no scheme is claimed that the jars
 * present cannot serve. Worked out without starting a VFS manager, which would cost a tenth of a
 * second on the first look-up of any scheme, by any backend.
 *
 * <p>Claimed: the remote file systems whose libraries this module brings (sftp through JSch, ftp and
 * ftps through Commons Net); every archive and compression layer (zip and its Java aliases jar, war,
 * ear, sar, par, ejb3; tar, tgz, tbz2; gz, bz2); {@code ram} (the in-memory file system of the JVM's
 * shared VFS manager) and {@code res} (class path resources).
 *
 * <p>Not claimed: {@code file}, which the {@code file} backend serves faster; {@code http},
 * {@code https} and VFS's {@code http3/http4/http5} variants, which belong to the http backend and
 * would need HttpClient jars; {@code webdav*} and {@code hdfs}, whose libraries are not here; and
 * {@code tmp}, a directory private to one VFS manager that names nothing outside it.
 */
final class VfsSchemes {
    private static final String ALWAYS = "";

    /** Scheme to the class VFS requires for it, or {@link #ALWAYS}. */
    private static final Map<String, String> CLAIMED = Map.ofEntries(
            Map.entry("sftp", "com.jcraft.jsch.JSch"),
            Map.entry("ftp", "org.apache.commons.net.ftp.FTPFile"),
            Map.entry("ftps", "org.apache.commons.net.ftp.FTPFile"),
            Map.entry("zip", ALWAYS),
            Map.entry("jar", ALWAYS),
            Map.entry("war", ALWAYS),
            Map.entry("ear", ALWAYS),
            Map.entry("sar", ALWAYS),
            Map.entry("par", ALWAYS),
            Map.entry("ejb3", ALWAYS),
            Map.entry("tar", "org.apache.commons.compress.archivers.tar.TarArchiveOutputStream"),
            Map.entry("tgz", "org.apache.commons.compress.archivers.tar.TarArchiveOutputStream"),
            Map.entry("tbz2", "org.apache.commons.compress.compressors.bzip2.BZip2CompressorInputStream"),
            Map.entry("bz2", "org.apache.commons.compress.compressors.bzip2.BZip2CompressorInputStream"),
            Map.entry("gz", ALWAYS),
            Map.entry("ram", ALWAYS),
            Map.entry("res", ALWAYS));

    /** Layers over another file: their URI is {@code scheme:OUTER-URI!/path}. */
    static final Set<String> LAYERED = Set.of("zip", "jar", "war", "ear", "sar", "par", "ejb3", "tar", "tgz", "tbz2", "gz", "bz2");

    /** Single-file compression layers, whose one child is the uncompressed content. */
    static final Set<String> COMPRESSED = Set.of("gz", "bz2");

    /** Servers reached over the network: their URI is {@code scheme://[user@]host[:port]/path}. */
    static final Set<String> REMOTE = Set.of("sftp", "ftp", "ftps");

    private VfsSchemes() {}

    /** Every claimed scheme whose library is present. */
    static Set<String> available() {
        ClassLoader loader = VfsSchemes.class.getClassLoader();
        return CLAIMED.entrySet().stream()
                .filter(e -> e.getValue().equals(ALWAYS) || present(e.getValue(), loader))
                .map(Map.Entry::getKey)
                .collect(Collectors.toCollection(TreeSet::new));
    }

    /** Every scheme that would be claimed if all the libraries were present. */
    static Set<String> claimed() {
        return new TreeSet<>(CLAIMED.keySet());
    }

    /**
     * Fails with the JVM option that fixes it if VFS, as a named module, cannot read the library that
     * {@code scheme} needs: VFS 2.10 reads JSch only under the automatic module name {@code jsch} of
     * the old com.jcraft:jsch jar, and the maintained fork is the module {@code com.jcraft.jsch}.
     */
    static void checkReadableByVfs(String scheme, String name) throws IOException {
        String className = CLAIMED.get(scheme);
        if (className == null || className.equals(ALWAYS)) {
            return;
        }
        Module vfs = FileSystemManager.class.getModule();
        Module library;
        try {
            library = Class.forName(className, false, VfsSchemes.class.getClassLoader()).getModule();
        } catch (ClassNotFoundException | LinkageError absent) {
            return;
        }
        if (vfs.isNamed() && !vfs.canRead(library)) {
            throw new IOException("cannot open " + name + ": on the module path, module " + vfs.getName() + " does not read module "
                    + library.getName() + ", which " + scheme + " needs; run java with --add-reads " + vfs.getName() + "="
                    + library.getName());
        }
    }

    private static boolean present(String className, ClassLoader loader) {
        try {
            Class.forName(className, false, loader);
            return true;
        } catch (ClassNotFoundException | LinkageError absent) {
            return false;
        }
    }
}
