package dev.jepd.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The content-part grammar, one row per case of {@code src/test/resources/content-part-cases.json}. The
 * proxy's and the nodes' tests read the same file from this module's folder, so the three cannot drift apart.
 */
class ChatContentPartsTest {
    static final String AT = "messages[0].content[0]";

    static Stream<Arguments> cases() throws IOException {
        try (InputStream in = ChatContentPartsTest.class.getResourceAsStream("/content-part-cases.json")) {
            List<Arguments> out = new ArrayList<>();
            for (JsonNode c : Json.MAPPER.readTree(in)) {
                out.add(Arguments.of(c.get("name").asText(), c));
            }
            return out.stream();
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void theGrammarAcceptsAndRejectsAsTheTableSays(String name, JsonNode c) {
        JsonNode part = c.get("part");
        switch (c.get("expect").asText()) {
            case "text" ->
                assertEquals(
                        Optional.of(new ChatContentParts.Text(c.get("text").asText())),
                        ChatContentParts.parse(part, AT));
            case "skip" -> assertEquals(Optional.empty(), ChatContentParts.parse(part, AT));
            case "image" ->
                assertEquals(
                        Optional.of(new ChatContentParts.Image(
                                c.get("url").asText(),
                                c.hasNonNull("uuid") ? c.get("uuid").asText() : null)),
                        ChatContentParts.parse(part, AT));
            case "reject" -> {
                ApiException e = assertThrows(ApiException.class, () -> ChatContentParts.parse(part, AT));
                assertEquals(400, e.status());
                assertEquals(AT + c.get("param").asText(), e.param());
                assertTrue(
                        e.getMessage().contains(c.get("message").asText()),
                        e.getMessage() + " should contain " + c.get("message"));
            }
            default -> throw new IllegalArgumentException("unknown expectation in " + c);
        }
    }
}
