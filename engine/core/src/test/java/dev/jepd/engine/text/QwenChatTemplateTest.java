package dev.jepd.engine.text;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import org.junit.jupiter.api.Test;

class QwenChatTemplateTest {
    private static final String DEFAULT_SYSTEM = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n";
    private static final String IMAGE = "<|vision_start|><|image_pad|><|vision_end|>";

    @Test
    void goldenRequest() {
        List<ChatMessage> messages =
                List.of(ChatMessage.user(ContentPart.image(0), ContentPart.text("Describe this image.")));
        assertEquals(
                DEFAULT_SYSTEM + "<|im_start|>user\n" + IMAGE + "Describe this image.<|im_end|>\n"
                        + "<|im_start|>assistant\n",
                QwenChatTemplate.DEFAULT.render(messages));
    }

    @Test
    void stringContentAndListContentRenderAlike() {
        String asString = QwenChatTemplate.DEFAULT.render(List.of(ChatMessage.user("Hi there")));
        String asList = QwenChatTemplate.DEFAULT.render(
                List.of(ChatMessage.user(ContentPart.text("Hi"), ContentPart.text(" there"))));
        assertEquals(DEFAULT_SYSTEM + "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n", asString);
        assertEquals(asString, asList);
    }

    @Test
    void textPartsAreConcatenatedWithoutSeparator() {
        String text = QwenChatTemplate.DEFAULT.render(List.of(ChatMessage.user(
                ContentPart.text("a"), ContentPart.image(0), ContentPart.text("b"), ContentPart.text("c"))));
        assertEquals(DEFAULT_SYSTEM + "<|im_start|>user\na" + IMAGE + "bc<|im_end|>\n<|im_start|>assistant\n", text);
    }

    @Test
    void givenSystemMessageReplacesTheDefault() {
        String text =
                QwenChatTemplate.DEFAULT.render(List.of(ChatMessage.system("Be brief."), ChatMessage.user("Hello")));
        assertEquals(
                "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n"
                        + "<|im_start|>assistant\n",
                text);
    }

    @Test
    void systemMessageWithListContentRendersItsParts() {
        String text = QwenChatTemplate.DEFAULT.render(List.of(
                ChatMessage.of(Role.SYSTEM, ContentPart.text("Be "), ContentPart.text("brief.")),
                ChatMessage.user("Hello")));
        assertEquals(
                "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n"
                        + "<|im_start|>assistant\n",
                text);
    }

    @Test
    void systemMessageLaterInTheConversationDoesNotSuppressTheDefault() {
        String text = QwenChatTemplate.DEFAULT.render(List.of(ChatMessage.user("Hi"), ChatMessage.system("S")));
        assertEquals(
                DEFAULT_SYSTEM + "<|im_start|>user\nHi<|im_end|>\n<|im_start|>system\nS<|im_end|>\n"
                        + "<|im_start|>assistant\n",
                text);
    }

    @Test
    void multiTurnWithImagesInSeveralMessages() {
        List<ChatMessage> messages = List.of(
                ChatMessage.user(ContentPart.image(0), ContentPart.image(1), ContentPart.text("Compare.")),
                ChatMessage.assistant("They differ."),
                ChatMessage.user(ContentPart.text("And this? "), ContentPart.image(2)));
        assertEquals(
                DEFAULT_SYSTEM
                        + "<|im_start|>user\n" + IMAGE + IMAGE + "Compare.<|im_end|>\n"
                        + "<|im_start|>assistant\nThey differ.<|im_end|>\n"
                        + "<|im_start|>user\nAnd this? " + IMAGE + "<|im_end|>\n"
                        + "<|im_start|>assistant\n",
                QwenChatTemplate.DEFAULT.render(messages));
        assertEquals(
                DEFAULT_SYSTEM
                        + "<|im_start|>user\nPicture 1: " + IMAGE + "Picture 2: " + IMAGE + "Compare.<|im_end|>\n"
                        + "<|im_start|>assistant\nThey differ.<|im_end|>\n"
                        + "<|im_start|>user\nAnd this? Picture 3: " + IMAGE + "<|im_end|>\n"
                        + "<|im_start|>assistant\n",
                new QwenChatTemplate(true).render(messages));
    }

    @Test
    void withoutGenerationPromptAndEmptyContent() {
        List<ChatMessage> messages = List.of(ChatMessage.user("Q"), new ChatMessage(Role.ASSISTANT, List.of()));
        assertEquals(
                DEFAULT_SYSTEM + "<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n<|im_end|>\n",
                QwenChatTemplate.DEFAULT.render(messages, false));
    }

    @Test
    void noMessagesLeavesOnlyTheGenerationPrompt() {
        assertEquals("<|im_start|>assistant\n", QwenChatTemplate.DEFAULT.render(List.of()));
    }

    @Test
    void rolesParseAndToolRolesAreRefused() {
        assertEquals(Role.SYSTEM, Role.parse("system"));
        assertEquals(Role.USER, Role.parse("user"));
        assertEquals(Role.ASSISTANT, Role.parse("assistant"));
        PromptException tool = assertThrows(PromptException.class, () -> Role.parse("tool"));
        assertEquals("role 'tool' is not supported: tool calling is not implemented", tool.getMessage());
        assertThrows(PromptException.class, () -> Role.parse("developer"));
        assertThrows(PromptException.class, () -> Role.parse(null));
    }
}
