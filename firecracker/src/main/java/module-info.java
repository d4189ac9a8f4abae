/**
 * A Firecracker page-fault handler: serves the snapshot memory of microVMs that Firecracker resumes
 * with {@code mem_backend: {backend_type: "Uffd"}}, from any storage anymap maps. The entry point is
 * {@link dev.anymap.firecracker.FirecrackerHandler}.
 */
module dev.anymap.firecracker {
    requires transitive dev.anymap.core;
    requires com.fasterxml.jackson.databind;

    exports dev.anymap.firecracker;
}
