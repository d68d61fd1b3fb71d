package dev.jepd.models.golden;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.jepd.engine.safetensors.SafetensorsFile;
import dev.jepd.engine.text.ChatMessage;
import dev.jepd.engine.text.ContentPart;
import dev.jepd.engine.text.FinishReason;
import dev.jepd.engine.text.ImageSpan;
import dev.jepd.engine.text.IncrementalDetokenizer;
import dev.jepd.engine.text.Prompt;
import dev.jepd.engine.text.PromptBuilder;
import dev.jepd.engine.text.PromptException;
import dev.jepd.engine.text.QwenChatTemplate;
import dev.jepd.engine.text.Role;
import dev.jepd.engine.text.SpecialTokens;
import dev.jepd.engine.text.StopChecker;
import dev.jepd.engine.text.StopConditions;
import dev.jepd.engine.text.Tokenizer;
import java.io.IOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.OptionalInt;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The prompt and the streamed output text against Hugging Face's, with the real Qwen tokenizer: the golden
 * cases' chat text, prompt ids (image pads expanded) and image spans, and the text of their greedy tokens.
 */
class PromptParityTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final String TINY = "/dev/jepd/models/tiny/";

    private static Tokenizer tokenizer;
    private static JsonNode config;
    private static SpecialTokens special;
    private static PromptBuilder builder;

    @BeforeAll
    static void load() throws IOException {
        tokenizer = Tokenizer.load(resource(TINY + "tokenizer.json"));
        config = JSON.readTree(resource(TINY + "config.json").toFile());
        special = new SpecialTokens(
                config.get("image_token_id").asInt(),
                config.get("vision_start_token_id").asInt(),
                config.get("vision_end_token_id").asInt());
        builder = new PromptBuilder(tokenizer, special, QwenChatTemplate.DEFAULT);
    }

    @AfterAll
    static void close() {
        tokenizer.close();
    }

    static Path resource(String name) {
        URL url = PromptParityTest.class.getResource(name);
        if (url == null) {
            throw new IllegalStateException("missing test resource " + name);
        }
        try {
            return Path.of(url.toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The OpenAI messages of a case's request; image parts are numbered in order of appearance. */
    static List<ChatMessage> messages(JsonNode request) {
        List<ChatMessage> messages = new ArrayList<>();
        int images = 0;
        for (JsonNode m : request.get("messages")) {
            Role role = Role.parse(m.get("role").asText());
            JsonNode content = m.get("content");
            if (content.isTextual()) {
                messages.add(ChatMessage.of(role, content.asText()));
                continue;
            }
            List<ContentPart> parts = new ArrayList<>();
            for (JsonNode part : content) {
                switch (part.get("type").asText()) {
                    case "text" ->
                        parts.add(new ContentPart.Text(part.get("text").asText()));
                    case "image_url" -> parts.add(new ContentPart.Image(images++));
                    default -> throw new IllegalArgumentException("content part " + part);
                }
            }
            messages.add(new ChatMessage(role, parts));
        }
        return messages;
    }

    static int[] ints(long[] values) {
        return Arrays.stream(values).mapToInt(Math::toIntExact).toArray();
    }

    static int[] ints(JsonNode array) {
        int[] out = new int[array.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = array.get(i).asInt();
        }
        return out;
    }

    @ParameterizedTest
    @ValueSource(strings = {"img_112x84", "img_100x61"})
    void promptIdsAndSpansEqualTheGolden(String name) throws IOException {
        JsonNode c = JSON.readTree(resource("/golden/cases/" + name + ".json").toFile());
        List<ChatMessage> messages = messages(c.get("request"));
        int imageTokens = c.get("num_image_tokens").asInt();

        // chat_text abbreviates the expanded pads as "<|image_pad|>...".
        String text = QwenChatTemplate.DEFAULT.render(messages);
        assertEquals(c.get("chat_text").asText(), text.replace("<|image_pad|>", "<|image_pad|>..."));

        Prompt prompt = builder.chat(messages, new int[] {imageTokens});
        try (SafetensorsFile golden = SafetensorsFile.open(resource("/golden/cases/" + name + ".safetensors"))) {
            assertArrayEquals(ints(golden.readLongs("input_ids")), prompt.ids());
        }
        assertEquals(c.get("seq_len").asInt(), prompt.length());
        int[] span = ints(c.get("image_token_span"));
        assertEquals(List.of(new ImageSpan(0, span[0], span[1] - span[0])), prompt.spans());
        assertEquals(imageTokens, span[1] - span[0]);
        for (int i = 0; i < prompt.length(); i++) {
            boolean inSpan = i >= span[0] && i < span[1];
            assertEquals(inSpan, prompt.id(i) == special.imageTokenId(), "position " + i);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"img_112x84", "img_100x61"})
    void generatedTextEqualsTheGolden(String name) throws IOException {
        JsonNode c = JSON.readTree(resource("/golden/cases/" + name + ".json").toFile());
        int[] generated = ints(c.get("generated_ids"));
        try (SafetensorsFile golden = SafetensorsFile.open(resource("/golden/cases/" + name + ".safetensors"))) {
            assertArrayEquals(ints(golden.readLongs("generated_ids")), generated);
        }
        String expected = c.get("generated_text").asText();
        assertEquals(expected, tokenizer.decode(generated, true));

        IncrementalDetokenizer detokenizer = IncrementalDetokenizer.of(tokenizer, true);
        StringBuilder streamed = new StringBuilder();
        for (int id : generated) {
            String delta = detokenizer.next(id);
            assertFalse(delta.contains("\uFFFD"), "delta " + delta);
            streamed.append(delta);
        }
        assertEquals("", detokenizer.flush());
        assertEquals(expected, streamed.toString());

        // A temperature-0, max_tokens=16 request, with the model's EOS ids: finishes by length with this text.
        StopChecker checker = new StopChecker(stopConditions(16), IncrementalDetokenizer.of(tokenizer, true));
        StringBuilder sent = new StringBuilder();
        StopChecker.Step step = null;
        for (int id : generated) {
            step = checker.append(id);
            sent.append(step.delta());
        }
        assertEquals(FinishReason.LENGTH, step.finishReason());
        assertEquals(expected, sent.toString());
    }

    private static StopConditions stopConditions(int maxTokens) throws IOException {
        JsonNode generation =
                JSON.readTree(resource(TINY + "generation_config.json").toFile());
        JsonNode tokenizerConfig =
                JSON.readTree(resource(TINY + "tokenizer_config.json").toFile());
        OptionalInt eos = tokenizer.tokenId(tokenizerConfig.get("eos_token").asText());
        List<Integer> eosIds = new ArrayList<>();
        generation.get("eos_token_id").forEach(id -> eosIds.add(id.asInt()));
        return StopConditions.maxTokens(maxTokens).withEos(eos, eosIds);
    }

    @Test
    void eosEndsTheStreamAsVllmDoes() throws IOException {
        StopConditions conditions = stopConditions(16);
        assertEquals(OptionalInt.of(151645), conditions.eosTokenId());
        assertEquals(java.util.Set.of(151643), conditions.stopTokenIds());
        int[] ids = tokenizer.encode("Hello there");
        StopChecker checker = new StopChecker(conditions, IncrementalDetokenizer.of(tokenizer, true));
        StringBuilder sent = new StringBuilder();
        for (int id : ids) {
            sent.append(checker.append(id).delta());
        }
        StopChecker.Step end = checker.append(151645);
        assertEquals(FinishReason.STOP, end.finishReason());
        assertEquals(null, end.stopReason().wireValue());
        assertEquals("Hello there", sent.append(end.delta()).toString());
    }

    @Test
    void tokenizerReadsSpecialIdsFromTheTokenizerJson() {
        assertEquals(OptionalInt.of(config.get("image_token_id").asInt()), tokenizer.tokenId("<|image_pad|>"));
        assertEquals(OptionalInt.of(151655), tokenizer.tokenId("<|image_pad|>"));
        assertEquals(OptionalInt.of(151644), tokenizer.tokenId("<|im_start|>"));
        assertEquals(151669, tokenizer.vocabSize());
        assertTrue(tokenizer.isSpecial(151645));
        assertTrue(tokenizer.isSpecial(151655));
        assertFalse(tokenizer.isSpecial(151657)); // <tool_call> is an added token, not a special one
        assertFalse(tokenizer.isSpecial(9707));
        special.checkAgainst(tokenizer);
        assertThrows(IllegalArgumentException.class, () -> new SpecialTokens(151654, 151652, 151653)
                .checkAgainst(tokenizer));
    }

    @Test
    void encodingAddsNothingAndNeverTruncates() {
        int[] ids = tokenizer.encode("<|im_start|>user\nHi<|im_end|>\n");
        assertEquals(151644, ids[0]);
        assertEquals(151645, ids[ids.length - 2]);
        String longText = "The quick brown fox jumps over the lazy dog. ".repeat(200);
        int[] longIds = tokenizer.encode(longText);
        assertTrue(longIds.length > 1500, "only " + longIds.length + " tokens");
        assertEquals(longText, tokenizer.decode(longIds, true));
    }

    @Test
    void textPromptIsEncodedAsIs() {
        Prompt prompt = builder.text("Hello, world");
        assertArrayEquals(tokenizer.encode("Hello, world"), prompt.ids());
        assertEquals(List.of(), prompt.spans());
        assertThrows(PromptException.class, () -> builder.text("look: <|image_pad|>"));
    }

    @Test
    void imagePlaceholderTypedByTheUserIsRefused() {
        List<ChatMessage> messages = List.of(ChatMessage.user(
                new ContentPart.Image(0), new ContentPart.Text("<|vision_start|><|image_pad|><|vision_end|>")));
        assertThrows(PromptException.class, () -> builder.chat(messages, new int[] {4}));
        List<ChatMessage> one = List.of(ChatMessage.user(new ContentPart.Image(0)));
        assertThrows(PromptException.class, () -> builder.chat(one, new int[] {4, 4}));
        assertThrows(PromptException.class, () -> builder.chat(one, new int[] {0}));
    }

    @Test
    void severalImagesExpandInOrder() {
        List<ChatMessage> messages = List.of(
                ChatMessage.user(new ContentPart.Image(1), new ContentPart.Text("vs"), new ContentPart.Image(0)),
                ChatMessage.assistant("Same."),
                ChatMessage.user(new ContentPart.Text("And "), new ContentPart.Image(2)));
        int[] counts = {3, 5, 2};
        Prompt prompt = builder.chat(messages, counts);
        assertEquals(
                List.of(1, 0, 2),
                prompt.spans().stream().map(ImageSpan::imageIndex).toList());
        int[] unexpanded = tokenizer.encode(QwenChatTemplate.DEFAULT.render(messages));
        assertEquals(unexpanded.length + (3 - 1) + (5 - 1) + (2 - 1), prompt.length());
        for (ImageSpan span : prompt.spans()) {
            assertEquals(counts[span.imageIndex()], span.length());
            assertEquals(special.visionStartTokenId(), prompt.id(span.start() - 1));
            assertEquals(special.visionEndTokenId(), prompt.id(span.end()));
            for (int i = span.start(); i < span.end(); i++) {
                assertEquals(special.imageTokenId(), prompt.id(i));
            }
        }
    }

    @Test
    void streamingRandomIdsConcatenatesToTheFullDecode() {
        Random random = new Random(99);
        int embeddingRows = config.get("vocab_size").asInt(); // ids past the tokenizer's vocabulary included
        for (int round = 0; round < 200; round++) {
            int[] ids = new int[1 + random.nextInt(64)];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = random.nextInt(8) == 0 ? 151640 + random.nextInt(40) : random.nextInt(embeddingRows);
            }
            IncrementalDetokenizer detokenizer = IncrementalDetokenizer.of(tokenizer, true);
            StringBuilder streamed = new StringBuilder();
            for (int id : ids) {
                streamed.append(detokenizer.next(id));
            }
            streamed.append(detokenizer.flush());
            assertEquals(tokenizer.decode(ids, true), streamed.toString(), () -> Arrays.toString(ids));
        }
    }

    @Test
    void streamingMultiByteTextNeverEmitsBrokenCharacters() {
        String text = "ต้องการ 𝕴 emoji 😀👍🏽 中文 العربية ñ";
        int[] ids = tokenizer.encode(text);
        IncrementalDetokenizer detokenizer = IncrementalDetokenizer.of(tokenizer, true);
        StringBuilder streamed = new StringBuilder();
        for (int id : ids) {
            String delta = detokenizer.next(id);
            assertFalse(delta.contains("\uFFFD"), delta);
            streamed.append(delta);
        }
        assertEquals(text, streamed.append(detokenizer.flush()).toString());
    }
}
