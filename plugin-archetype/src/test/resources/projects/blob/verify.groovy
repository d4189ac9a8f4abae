// What the build of the generated project does not show: the files a user runs and commits, and the jar's registration.
import java.util.jar.JarFile

def project = context.projectDir
assert new File(project, "mvnw").canExecute() : "./mvnw is executable"
assert new File(project, ".mvn/jdk.sh").isFile() : ".mvn/jdk.sh, the JDK discovery of ./mvnw"
assert new File(project, ".gitignore").isFile() : ".gitignore"
def jar = new JarFile(new File(project, "target/anymap-blob-0.1.0-SNAPSHOT.jar"))
try {
    def services = jar.getEntry("META-INF/services/dev.anymap.spi.BackendProvider")
    assert services != null : "the jar registers its provider for ServiceLoader"
    assert jar.getInputStream(services).text.trim() == "com.example.anymap.blob.BlobBackendProvider"
    assert jar.getEntry("module-info.class") != null : "the jar is a module"
} finally {
    jar.close()
}
