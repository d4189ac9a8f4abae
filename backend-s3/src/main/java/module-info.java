/**
 * {@code s3://bucket/key} objects as anymap storage backends, through the AWS SDK for Java v2: AWS S3
 * and S3-compatible stores.
 */
module dev.anymap.backend.s3 {
    requires transitive dev.anymap.spi;
    requires software.amazon.awssdk.services.s3;
    requires software.amazon.awssdk.awscore;
    requires software.amazon.awssdk.core;
    requires software.amazon.awssdk.auth;
    requires software.amazon.awssdk.regions;
    requires software.amazon.awssdk.profiles;
    requires software.amazon.awssdk.retries;
    requires software.amazon.awssdk.retries.api;
    requires software.amazon.awssdk.http;
    requires software.amazon.awssdk.http.apache5;
    requires software.amazon.awssdk.identity.spi;
    requires software.amazon.awssdk.utils;
    // Not used here: the SDK and Apache HttpClient, automatic modules that declare nothing, log through
    // it, and on the module path a named module is resolved only when some module requires it.
    requires org.slf4j;
    // Not used here either: Apache HttpClient 5 sets TCP keep-alive options through jdk.net.Sockets.
    requires jdk.net;

    exports dev.anymap.backend.s3;

    provides dev.anymap.spi.BackendProvider with dev.anymap.backend.s3.S3BackendProvider;
}
