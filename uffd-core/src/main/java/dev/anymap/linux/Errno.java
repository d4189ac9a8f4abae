package dev.anymap.linux;

/** The errno values anymap handles on purpose, with their names for messages (Linux, all architectures). */
public final class Errno {
    public static final int EPERM = 1;
    public static final int ENOENT = 2;
    public static final int ESRCH = 3;
    public static final int EINTR = 4;
    public static final int EBADF = 9;
    public static final int EAGAIN = 11;
    public static final int ENOMEM = 12;
    public static final int EACCES = 13;
    public static final int EFAULT = 14;
    public static final int EEXIST = 17;
    public static final int EINVAL = 22;
    public static final int EPIPE = 32;
    public static final int ENOSYS = 38;
    public static final int ENOTSOCK = 88;
    public static final int ECONNRESET = 104;
    public static final int ECONNREFUSED = 111;
    public static final int EADDRINUSE = 98;
    public static final int EHWPOISON = 133;

    private Errno() {}

    public static String name(int errno) {
        return switch (errno) {
            case EPERM -> "EPERM (operation not permitted)";
            case ENOENT -> "ENOENT (no such file, or no such mapping)";
            case ESRCH -> "ESRCH (the process is exiting)";
            case EINTR -> "EINTR (interrupted)";
            case EBADF -> "EBADF (bad file descriptor)";
            case EAGAIN -> "EAGAIN (try again)";
            case ENOMEM -> "ENOMEM (out of memory)";
            case EACCES -> "EACCES (permission denied)";
            case EFAULT -> "EFAULT (bad address)";
            case EEXIST -> "EEXIST (already exists)";
            case EINVAL -> "EINVAL (invalid argument)";
            case EPIPE -> "EPIPE (the other end closed the connection)";
            case ENOSYS -> "ENOSYS (not implemented by this kernel)";
            case ENOTSOCK -> "ENOTSOCK (not a socket)";
            case EADDRINUSE -> "EADDRINUSE (address in use)";
            case ECONNRESET -> "ECONNRESET (connection reset by the other end)";
            case ECONNREFUSED -> "ECONNREFUSED (connection refused)";
            case EHWPOISON -> "EHWPOISON (memory page has hardware error)";
            default -> "errno " + errno;
        };
    }
}
