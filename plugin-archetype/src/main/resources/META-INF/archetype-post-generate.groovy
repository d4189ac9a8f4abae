// Runs after the files are written. archetype-metadata.xml's validationRegex is only asked in interactive mode, so a
// scheme or class prefix that cannot make class names is refused here too, and what was generated is removed.
def project = new File(request.outputDirectory, request.artifactId)
def properties = request.properties
def problems = []
if (!(properties.getProperty("scheme") ==~ /[a-z][a-z0-9]*/)) {
    problems << "-Dscheme=" + properties.getProperty("scheme") + " is not a scheme this archetype takes: lower case, a letter then letters and digits (blob, redis, s3x)"
}
if (!(properties.getProperty("classPrefix") ==~ /[A-Z][A-Za-z0-9]*/)) {
    problems << "-DclassPrefix=" + properties.getProperty("classPrefix") + " cannot start a class name: a capital letter then letters and digits"
}
if (!problems.isEmpty()) {
    project.deleteDir()
    throw new IllegalArgumentException(problems.join("; ") + ". Nothing was generated.")
}
// An archetype writes files without their modes: the generated ./mvnw is made executable, as it is in anymap.
def mvnw = new File(project, "mvnw")
if (!mvnw.setExecutable(true, false)) {
    throw new IllegalStateException("could not make " + mvnw + " executable")
}
