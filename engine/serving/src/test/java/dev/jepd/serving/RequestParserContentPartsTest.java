package dev.jepd.serving;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jepd.api.ApiException;
import dev.jepd.api.Json;
import dev.jepd.engine.text.ContentPart;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The node side of the content-part grammar: every case of engine/api's {@code content-part-cases.json} (the
 * table the proxy's test reads too) as one chat request through {@link RequestParser#chat}.
 */
class RequestParserContentPartsTest {
    static final Path CASES = Path.of("../api/src/test/resources/content-part-cases.json");

    static Stream<Arguments> cases() throws IOException {
        List<Arguments> out = new ArrayList<>();
        for (JsonNode c : Json.MAPPER.readTree(Files.readString(CASES))) {
            out.add(Arguments.of(c.get("name").asText(), c));
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void theNodeAcceptsAndRejectsAsTheTableSays(String name, JsonNode c) {
        ObjectNode body = Json.MAPPER.createObjectNode();
        body.put("model", "m");
        ObjectNode msg = body.putArray("messages").addObject();
        msg.put("role", "user");
        msg.putArray("content").add(c.get("part"));
        String expect = c.get("expect").asText();
        if (expect.equals("reject")) {
            ApiException e = assertThrows(ApiException.class, () -> RequestParser.chat(body));
            assertEquals(400, e.status());
            assertEquals("messages[0].content[0]" + c.get("param").asText(), e.param());
            assertTrue(e.getMessage().contains(c.get("message").asText()), e.getMessage());
            return;
        }
        RequestParser.Chat chat = RequestParser.chat(body);
        List<ContentPart> parts = chat.messages().getFirst().content();
        switch (expect) {
            case "text" ->
                assertEquals(List.of(new ContentPart.Text(c.get("text").asText())), parts);
            case "skip" -> assertEquals(List.of(), parts);
            case "image" -> {
                assertEquals(List.of(new ContentPart.Image(0)), parts);
                assertEquals(1, chat.images().size());
                assertEquals(c.get("url").asText(), chat.images().getFirst().url());
                if (c.hasNonNull("uuid")) {
                    assertEquals(
                            c.get("uuid").asText(), chat.images().getFirst().uuid());
                } else {
                    assertNull(chat.images().getFirst().uuid());
                }
                assertEquals("messages[0].content[0]", chat.images().getFirst().path());
            }
            default -> throw new IllegalArgumentException("unknown expectation in " + c);
        }
    }
}
