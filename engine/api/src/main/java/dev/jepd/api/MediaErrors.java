package dev.jepd.api;

import dev.jepd.media.MediaException;

/** Maps image-loading failures to HTTP statuses: the client's input is at fault, so 4xx. */
public final class MediaErrors {
    private MediaErrors() {}

    public static ApiException toApi(MediaException e, String param) {
        int status =
                switch (e.reason()) {
                    case TOO_LARGE -> 413;
                    case FORBIDDEN_PATH, FORBIDDEN_DOMAIN -> 403;
                    case EMPTY,
                            BAD_URL,
                            BAD_DATA_URL,
                            NOT_FOUND,
                            FETCH_FAILED,
                            UNSUPPORTED_FORMAT,
                            UNDECODABLE,
                            TOO_SMALL,
                            BAD_ASPECT_RATIO -> 400;
                };
        return new ApiException(status, e.getMessage(), param);
    }
}
