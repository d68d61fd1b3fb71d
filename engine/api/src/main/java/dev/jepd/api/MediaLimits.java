package dev.jepd.api;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * vLLM's {@code --limit-mm-per-prompt}: the most items of each modality one request may carry, e.g.
 * {@code {"image": 4}}. A modality the flag does not name is unbounded (JEPD's default; vLLM defaults to a
 * model-dependent count). The proxy and the nodes take the same flag and refuse the same requests, with vLLM's
 * message naming the limit.
 */
public record MediaLimits(Map<String, Integer> perPrompt) {
    public static final MediaLimits NONE = new MediaLimits(Map.of());

    public MediaLimits {
        perPrompt = Map.copyOf(perPrompt);
    }

    /**
     * The flag's value: a JSON object of non-negative integers ({@code {"image": 4, "video": 0}}), or vLLM's
     * older {@code image=4,video=0}; empty: no limit.
     */
    public static MediaLimits parse(String flag) {
        if (flag == null || flag.isBlank()) {
            return NONE;
        }
        Map<String, Integer> limits = new LinkedHashMap<>();
        String s = flag.strip();
        if (s.startsWith("{")) {
            JsonNode json;
            try {
                json = Json.MAPPER.readTree(s);
            } catch (Exception e) {
                throw new IllegalArgumentException("--limit-mm-per-prompt is not valid JSON: " + flag);
            }
            for (var e : json.properties()) {
                if (!e.getValue().canConvertToInt() || !e.getValue().isIntegralNumber()) {
                    throw new IllegalArgumentException(
                            "--limit-mm-per-prompt: " + e.getKey() + " must be an integer, got " + e.getValue());
                }
                limits.put(e.getKey(), e.getValue().intValue());
            }
        } else {
            for (String pair : s.split(",")) {
                int eq = pair.indexOf('=');
                if (eq <= 0) {
                    throw new IllegalArgumentException(
                            "--limit-mm-per-prompt wants {\"image\": N} (or image=N), got " + flag);
                }
                try {
                    limits.put(
                            pair.substring(0, eq).strip(),
                            Integer.parseInt(pair.substring(eq + 1).strip()));
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException("--limit-mm-per-prompt: not an integer in " + pair);
                }
            }
        }
        limits.forEach((k, v) -> {
            if (v < 0) {
                throw new IllegalArgumentException("--limit-mm-per-prompt: " + k + " must be >= 0, got " + v);
            }
        });
        return new MediaLimits(limits);
    }

    /** A 400 (vLLM's wording) when {@code count} items of {@code modality} exceed the limit. */
    public void check(String modality, int count) {
        Integer limit = perPrompt.get(modality);
        if (limit != null && count > limit) {
            throw ApiException.badRequest("You set '{\"" + modality + "\": " + limit + "}' in `--limit-mm-per-prompt`,"
                    + " but passed " + count + " " + modality + " items in the same prompt.");
        }
    }

    @Override
    public String toString() {
        return perPrompt.isEmpty() ? "none" : Json.MAPPER.valueToTree(perPrompt).toString();
    }
}
