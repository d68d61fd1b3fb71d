/**
 * Images from a request to the pixel values a Qwen-VL vision tower eats, exactly as vLLM feeds Hugging
 * Face's slow (PIL) {@code Qwen2VLImageProcessor}: {@link dev.jepd.media.MediaLoader} turns a
 * {@code data:}, {@code file:}, plain-path or http(s) URL into the original bytes (kept, because they are
 * hashed for the encoder-cache key) under size, path and domain limits;
 * {@link dev.jepd.media.ImageDecoder} turns PNG/JPEG/GIF/BMP bytes into 8-bit RGB the way PIL's
 * {@code Image.open} plus vLLM's {@code convert_image_mode("RGB")} do (raw samples, no colour management,
 * RGBA pasted over white); {@link dev.jepd.media.SmartResize} and
 * {@link dev.jepd.media.BicubicResize} reproduce {@code smart_resize} and PIL's fixed-point bicubic
 * bit for bit; {@link dev.jepd.media.QwenImageProcessor} rescales, normalises in float32 as numpy
 * does and lays the patches out as DESIGN §5.2 says. Every failure is one
 * {@link dev.jepd.media.MediaException} whose {@link dev.jepd.media.MediaException.Reason}
 * the serving layer maps to an HTTP status; no decoder exception or allocation failure escapes.
 */
package dev.jepd.media;
