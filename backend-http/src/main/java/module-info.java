/**
 * {@code http:} and {@code https:} resources that serve byte ranges (a file on a web server, a CDN
 * object, a presigned S3 URL) as anymap storage backends, through {@link java.net.http.HttpClient}.
 */
module dev.anymap.backend.http {
    requires transitive dev.anymap.spi;
    requires java.net.http;

    exports dev.anymap.backend.http;

    provides dev.anymap.spi.BackendProvider with dev.anymap.backend.http.HttpBackendProvider;
}
