// An archetype writes files without their modes: the generated ./mvnw is made executable, as it is in anymap.
def mvnw = new File(request.outputDirectory, request.artifactId + "/mvnw")
if (!mvnw.setExecutable(true, false)) {
    throw new IllegalStateException("could not make " + mvnw + " executable")
}
