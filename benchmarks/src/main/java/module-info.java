/**
 * anymap against its baselines: see benchmarks/run. It runs on the class path: the S3 server and its
 * client baselines come from jars that are not modules (see the compiler's --add-reads in the pom).
 */
module dev.anymap.benchmarks {
    requires dev.anymap.core;
    requires dev.anymap.lucene;
    requires java.net.http;
    requires java.desktop;
    requires jdk.httpserver;
    requires org.jfree.jfreechart;
}
