/** anymap's samples and its command line. */
module dev.anymap.samples {
    requires dev.anymap.core;
    requires dev.anymap.firecracker;
    requires dev.anymap.backend.memory;
    requires dev.anymap.backend.file;
    requires dev.anymap.backend.http;
    requires dev.anymap.backend.s3;
    requires dev.anymap.s3server;
    requires dev.anymap.lucene;
    requires software.amazon.awssdk.services.s3;
    requires software.amazon.awssdk.core;
    requires software.amazon.awssdk.regions;
    requires software.amazon.awssdk.awscore;
    requires software.amazon.awssdk.auth;
    requires software.amazon.awssdk.identity.spi;
    requires info.picocli;
    requires java.desktop;

    opens dev.anymap.samples to info.picocli;
}
