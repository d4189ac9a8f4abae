package dev.anymap.backend.http;

/** HTTP status codes as words for messages, and which of them are worth a retry. */
final class Statuses {
    private Statuses() {}

    static boolean isRedirect(int status) {
        return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
    }

    /** Overload and server trouble that tends to pass; 501 and 505 say something that will not. */
    static boolean isTransient(int status) {
        return status == 408 || status == 429 || (status >= 500 && status != 501 && status != 505);
    }

    static String describe(int status) {
        String reason = switch (status) {
            case 200 -> "OK";
            case 206 -> "Partial Content";
            case 301 -> "Moved Permanently";
            case 302 -> "Found";
            case 303 -> "See Other";
            case 307 -> "Temporary Redirect";
            case 308 -> "Permanent Redirect";
            case 400 -> "Bad Request";
            case 401 -> "Unauthorized";
            case 403 -> "Forbidden";
            case 404 -> "Not Found";
            case 405 -> "Method Not Allowed";
            case 408 -> "Request Timeout";
            case 410 -> "Gone";
            case 412 -> "Precondition Failed";
            case 416 -> "Range Not Satisfiable";
            case 429 -> "Too Many Requests";
            case 500 -> "Internal Server Error";
            case 501 -> "Not Implemented";
            case 502 -> "Bad Gateway";
            case 503 -> "Service Unavailable";
            case 504 -> "Gateway Timeout";
            default -> null;
        };
        return reason == null ? String.valueOf(status) : status + " " + reason;
    }
}
