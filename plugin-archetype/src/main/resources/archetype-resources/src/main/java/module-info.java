/**
 * {@code ${scheme}:} as an anymap storage backend. Declared here for the module path and in
 * {@code META-INF/services/dev.anymap.spi.BackendProvider} for the class path.
 */
module ${package} {
    requires dev.anymap.spi;

    provides dev.anymap.spi.BackendProvider with ${package}.${classPrefix}BackendProvider;
}
