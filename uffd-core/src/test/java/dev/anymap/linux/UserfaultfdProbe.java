package dev.anymap.linux;

/**
 * Run as another user by {@link UserfaultfdUnavailableTest}: prints {@code AVAILABLE}, or the
 * message of the error that {@code Anymap.map} would throw.
 */
public final class UserfaultfdProbe {
    public static void main(String[] args) throws Exception {
        try {
            Userfaultfd.availableFeatures();
            System.out.println("AVAILABLE");
        } catch (UserfaultfdUnavailableException e) {
            System.out.println(e.getMessage());
        }
    }
}
