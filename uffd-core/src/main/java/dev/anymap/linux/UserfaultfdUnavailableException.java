package dev.anymap.linux;

import java.io.IOException;

/** Neither the userfaultfd syscall nor /dev/userfaultfd gave this process a userfaultfd. */
public final class UserfaultfdUnavailableException extends IOException {
    private static final long serialVersionUID = 1L;

    public UserfaultfdUnavailableException(int syscallErrno, int deviceErrno) {
        super(message(syscallErrno, deviceErrno));
    }

    private static String message(int syscallErrno, int deviceErrno) {
        if (syscallErrno == Errno.ENOSYS) {
            return "this kernel has no userfaultfd (ENOSYS): anymap needs Linux 4.11 or later built with CONFIG_USERFAULTFD";
        }
        return "userfaultfd is not available to this process: the syscall failed with " + Errno.name(syscallErrno)
                + " and /dev/userfaultfd with " + Errno.name(deviceErrno) + ". Fix one of: give the user access to"
                + " /dev/userfaultfd (for example a group with read-write access), or set the sysctl"
                + " vm.unprivileged_userfaultfd=1, or run with CAP_SYS_PTRACE.";
    }
}
