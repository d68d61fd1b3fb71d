/**
 * The multimodal items of an OpenAI chat request as the proxy sees them, without fetching or decoding
 * any media: where they are ({@link dev.jepd.proxy.items.MediaItems}), the {@code uuid} stamped on each so
 * that the encoder and the prefill/decode node agree on the encoder-cache key
 * ({@link dev.jepd.proxy.items.ItemUuids}), and what encoding one will cost, read from the image header
 * alone ({@link dev.jepd.media.ImageDimensions}, {@link dev.jepd.proxy.items.ImageCost}).
 */
package dev.jepd.proxy.items;
