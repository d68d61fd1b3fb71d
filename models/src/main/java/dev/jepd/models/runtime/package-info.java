/**
 * A served model in one object: the snapshot, its architecture from the registry, tokenizer, image
 * processor and engine core, with the steps from a chat request to a ready {@code GenerationRequest}
 * (encode images, build the prompt, expand image pads, compute positions).
 */
package dev.jepd.models.runtime;
