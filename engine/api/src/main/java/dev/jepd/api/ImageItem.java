package dev.jepd.api;

/**
 * One image content part.
 *
 * @param index position among the request's images (prompt order)
 * @param url the {@code image_url.url}: {@code data:}, {@code file://}, {@code http(s)://}
 * @param uuid the client's (or proxy's) {@code uuid} for the item, or null
 * @param path where it sits in the request, for error messages ({@code messages[0].content[1]})
 */
public record ImageItem(int index, String url, String uuid, String path) {}
