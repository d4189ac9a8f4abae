/** http: and https: range sources as anymap storage backends (in progress: see the HTTP issue). */
module dev.anymap.backend.http {
    requires dev.anymap.spi;
}
