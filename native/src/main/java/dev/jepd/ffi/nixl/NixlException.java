package dev.jepd.ffi.nixl;

/** A NIXL C API call that failed, with the call and NIXL's status named. */
public final class NixlException extends RuntimeException {
    public NixlException(String message) {
        super(message);
    }

    /** The name of a {@code nixl_capi_status_t} value. */
    static String statusName(int status) {
        return switch (status) {
            case 0 -> "SUCCESS";
            case 1 -> "IN_PROG";
            case -1 -> "ERROR_INVALID_PARAM";
            case -2 -> "ERROR_BACKEND";
            case -3 -> "ERROR_INVALID_STATE";
            case -4 -> "ERROR_EXCEPTION";
            case -5 -> "ERROR_NO_TELEMETRY";
            case -6 -> "ERROR_NOT_FOUND";
            default -> "status " + status;
        };
    }
}
