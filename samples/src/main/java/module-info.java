/** anymap's samples and its command line. */
module dev.anymap.samples {
    requires dev.anymap.core;
    requires dev.anymap.backend.memory;
    requires dev.anymap.backend.file;
    requires dev.anymap.backend.http;
    requires dev.anymap.backend.s3;
    requires info.picocli;
    requires java.desktop;

    opens dev.anymap.samples to info.picocli;
}
