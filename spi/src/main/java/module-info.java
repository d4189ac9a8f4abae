/**
 * The contract between anymap and its storage backends.
 *
 * <p>A backend plugin implements {@link dev.anymap.spi.BackendProvider} and declares it both with
 * {@code provides dev.anymap.spi.BackendProvider with ...} in its own module descriptor and in
 * {@code META-INF/services/dev.anymap.spi.BackendProvider}, so that it is found on the module path
 * and on the class path alike.
 */
module dev.anymap.spi {
    exports dev.anymap.spi;

    uses dev.anymap.spi.BackendProvider;
}
