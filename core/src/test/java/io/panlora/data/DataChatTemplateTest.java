package io.panlora.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

class DataChatTemplateTest {

    private static final List<ChatMessage> CONVERSATION = List.of(ChatMessage.system("S"), ChatMessage.user("U1"),
            ChatMessage.assistant("A1"), ChatMessage.user("U2"), ChatMessage.assistant("A2"));

    private static Segment.Text prompt(String text) {
        return new Segment.Text(text, false);
    }

    private static Segment.Text trained(String text) {
        return new Segment.Text(text, true);
    }

    private static final Segment EOS = new Segment.EndOfSequence(true);

    @Test
    void chatml() {
        assertEquals(List.of(
                prompt("<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU1<|im_end|>\n<|im_start|>assistant\n"), trained("A1<|im_end|>"),
                prompt("\n<|im_start|>user\nU2<|im_end|>\n<|im_start|>assistant\n"), trained("A2<|im_end|>"), prompt("\n")),
                ChatTemplate.CHATML.render(CONVERSATION));
    }

    @Test
    void llama2() {
        assertEquals(List.of(
                prompt("[INST] <<SYS>>\nS\n<</SYS>>\n\nU1 [/INST]"), trained(" A1 </s>"),
                prompt("<s>[INST] U2 [/INST]"), trained(" A2 </s>")),
                ChatTemplate.LLAMA2.render(CONVERSATION));
        assertEquals(List.of(prompt("[INST] hi [/INST]"), trained(" yo </s>")),
                ChatTemplate.LLAMA2.render(List.of(ChatMessage.user(" hi "), ChatMessage.assistant("yo\n"))));
    }

    @Test
    void llama3() {
        assertEquals(List.of(
                prompt("<|start_header_id|>system<|end_header_id|>\n\nS<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nU1<|eot_id|>"
                        + "<|start_header_id|>assistant<|end_header_id|>\n\n"), trained("A1<|eot_id|>"),
                prompt("<|start_header_id|>user<|end_header_id|>\n\nU2<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"),
                trained("A2<|eot_id|>")),
                ChatTemplate.LLAMA3.render(CONVERSATION));
    }

    @Test
    void mistral() {
        assertEquals(List.of(prompt("[INST] S\n\nU1 [/INST]"), trained(" A1</s>"), prompt("[INST] U2 [/INST]"), trained(" A2</s>")),
                ChatTemplate.MISTRAL.render(CONVERSATION));
    }

    @Test
    void zephyr() {
        assertEquals(List.of(prompt("<|system|>\nS</s>\n<|user|>\nU1</s>\n<|assistant|>\n"), trained("A1</s>"),
                prompt("\n<|user|>\nU2</s>\n<|assistant|>\n"), trained("A2</s>"), prompt("\n")),
                ChatTemplate.ZEPHYR.render(CONVERSATION));
    }

    @Test
    void gemmaMergesSystemIntoTheFirstUserTurn() {
        assertEquals(List.of(prompt("<start_of_turn>user\nS\n\nU1<end_of_turn>\n<start_of_turn>model\n"), trained("A1<end_of_turn>"),
                prompt("\n<start_of_turn>user\nU2<end_of_turn>\n<start_of_turn>model\n"), trained("A2<end_of_turn>"), prompt("\n")),
                ChatTemplate.GEMMA.render(CONVERSATION));
    }

    @Test
    void phi3() {
        assertEquals(List.of(prompt("<|system|>\nS<|end|>\n<|user|>\nU1<|end|>\n<|assistant|>\n"), trained("A1<|end|>"),
                prompt("\n<|user|>\nU2<|end|>\n<|assistant|>\n"), trained("A2<|end|>"), prompt("\n")),
                ChatTemplate.PHI3.render(CONVERSATION));
    }

    @Test
    void alpaca() {
        assertEquals(List.of(prompt("S\n\n### Instruction:\nU1\n\n### Response:\n"), trained("A1"), EOS,
                prompt("\n\n### Instruction:\nU2\n\n### Response:\n"), trained("A2"), EOS, prompt("\n\n")),
                ChatTemplate.ALPACA.render(CONVERSATION));
        assertEquals("S\n\n### Instruction:\nU1\n\n### Response:\nA1</s>\n\n### Instruction:\nU2\n\n### Response:\nA2</s>\n\n",
                ChatTemplate.text(ChatTemplate.ALPACA.render(CONVERSATION), "</s>"));
    }

    @Test
    void generationPrompt() {
        List<ChatMessage> question = List.of(ChatMessage.user("Q"));
        assertEquals("<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n", ChatTemplate.text(ChatTemplate.CHATML.render(question, true), ""));
        assertEquals("<|start_header_id|>user<|end_header_id|>\n\nQ<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
                ChatTemplate.text(ChatTemplate.LLAMA3.render(question, true), ""));
        assertEquals("<start_of_turn>user\nQ<end_of_turn>\n<start_of_turn>model\n", ChatTemplate.text(ChatTemplate.GEMMA.render(question, true), ""));
        assertEquals("[INST] Q [/INST]", ChatTemplate.text(ChatTemplate.LLAMA2.render(question, true), ""));
    }

    @ParameterizedTest
    @EnumSource(ChatTemplate.class)
    void onlyAssistantTextIsTrainable(ChatTemplate template) {
        String trainedText = ChatTemplate.text(template.render(CONVERSATION).stream().filter(Segment::trainable).toList(), "<eos>");
        assertEquals(List.of(), List.of(trainedText.split("A1|A2|<\\|im_end\\|>|<\\|eot_id\\|>|<end_of_turn>|<\\|end\\|>|</s>|<eos>| ")).stream()
                .filter(s -> !s.isEmpty()).toList(), template + ": " + trainedText);
    }

    @Test
    void chatTokensMaskOnlyAssistantContentAndEndMarker() {
        ByteTokenizer tokenizer = new ByteTokenizer();
        Example e = new ExampleEncoder(tokenizer, true).chat(List.of(ChatMessage.user("U"), ChatMessage.assistant("A")), ChatTemplate.CHATML);
        Example expected = new TokenSeq().id(1, false).special("<|im_start|>", false).text("user\nU", false).special("<|im_end|>", false)
                .text("\n", false).special("<|im_start|>", false).text("assistant\n", false).text("A", true).special("<|im_end|>", true)
                .text("\n", false).example();
        assertEquals(expected, e);
    }

    static final String QWEN2 = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
            + "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' "
            + "+ message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
    static final String LLAMA2_CHAT = "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
            + "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}"
            + "{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
            + "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
            + "{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' "
            + "+ message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}"
            + "{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
            + "{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";
    static final String LLAMA3_INSTRUCT = "{% set loop_messages = messages %}{% for message in loop_messages %}"
            + "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}"
            + "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
            + "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";
    static final String MISTRAL_INSTRUCT = "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != "
            + "(loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
            + "{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
            + "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}"
            + "{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}";
    static final String GEMMA_IT = "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
            + "{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
            + "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
            + "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}"
            + "{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}"
            + "{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}";
    static final String PHI3_MINI = "{% for message in messages %}{% if message['role'] == 'system' %}"
            + "{{'<|system|>\\n' + message['content'] + '<|end|>\\n'}}{% elif message['role'] == 'user' %}"
            + "{{'<|user|>\\n' + message['content'] + '<|end|>\\n'}}{% elif message['role'] == 'assistant' %}"
            + "{{'<|assistant|>\\n' + message['content'] + '<|end|>\\n'}}{% endif %}{% endfor %}"
            + "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% else %}{{ eos_token }}{% endif %}";
    static final String ZEPHYR_BETA = "{% for message in messages %}\n{% if message['role'] == 'user' %}\n"
            + "{{ '<|user|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n"
            + "{{ '<|system|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' %}\n"
            + "{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n"
            + "{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}";
    static final String ZEPHYR_LITERAL = "{% for message in messages %}{% if message['role'] == 'user' %}"
            + "{{ '<|user|>\\n' + message['content'] + '</s>\\n' }}{% elif message['role'] == 'assistant' %}"
            + "{{ '<|assistant|>\\n' + message['content'] + '</s>\\n' }}{% endif %}{% endfor %}";
    static final String ALPACA_JINJA = "{% for message in messages %}{% if message['role'] == 'user' %}"
            + "{{ '### Instruction:\\n' + message['content'] + '\\n\\n' }}{% elif message['role'] == 'assistant' %}"
            + "{{ '### Response:\\n' + message['content'] + eos_token + '\\n\\n' }}{% endif %}{% endfor %}";

    @Test
    void detectsFamiliesFromJinja() {
        assertEquals(Optional.of(ChatTemplate.CHATML), ChatTemplate.detect(QWEN2));
        assertEquals(Optional.of(ChatTemplate.LLAMA2), ChatTemplate.detect(LLAMA2_CHAT));
        assertEquals(Optional.of(ChatTemplate.LLAMA3), ChatTemplate.detect(LLAMA3_INSTRUCT));
        assertEquals(Optional.of(ChatTemplate.MISTRAL), ChatTemplate.detect(MISTRAL_INSTRUCT));
        assertEquals(Optional.of(ChatTemplate.GEMMA), ChatTemplate.detect(GEMMA_IT));
        assertEquals(Optional.of(ChatTemplate.PHI3), ChatTemplate.detect(PHI3_MINI));
        assertEquals(Optional.of(ChatTemplate.ZEPHYR), ChatTemplate.detect(ZEPHYR_BETA));
        assertEquals(Optional.of(ChatTemplate.ZEPHYR), ChatTemplate.detect(ZEPHYR_LITERAL));
        assertEquals(Optional.of(ChatTemplate.ALPACA), ChatTemplate.detect(ALPACA_JINJA));
    }

    @Test
    void detectsBareNamesAndNothingElse() {
        assertEquals(Optional.of(ChatTemplate.LLAMA3), ChatTemplate.detect("llama3"));
        assertEquals(Optional.of(ChatTemplate.CHATML), ChatTemplate.detect(" ChatML\n"));
        assertEquals(Optional.empty(), ChatTemplate.detect(null));
        assertEquals(Optional.empty(), ChatTemplate.detect("  "));
        assertEquals(Optional.empty(), ChatTemplate.detect("{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"));
    }

    @Test
    void namedLookup() {
        for (ChatTemplate t : ChatTemplate.values()) assertEquals(t, ChatTemplate.named(t.id()));
        assertEquals(ChatTemplate.LLAMA3, ChatTemplate.named("Llama-3"));
        assertEquals(ChatTemplate.PHI3, ChatTemplate.named("PHI_3"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ChatTemplate.named("vicuna"));
        assertEquals("unknown chat template 'vicuna'; built-in templates: chatml, llama2, llama3, mistral, zephyr, gemma, phi3, alpaca",
                e.getMessage());
    }

    @Test
    void resolvePrefersExplicitThenModelThenChatml() {
        assertEquals(ChatTemplate.GEMMA, ChatTemplate.resolve("gemma", LLAMA3_INSTRUCT));
        assertEquals(ChatTemplate.LLAMA3, ChatTemplate.resolve(null, LLAMA3_INSTRUCT));
        assertEquals(ChatTemplate.CHATML, ChatTemplate.resolve(null, null));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ChatTemplate.resolve("", "{{ x }}"));
        assertEquals("the model's chat template matches none of the built-in templates; choose one of: "
                + "chatml, llama2, llama3, mistral, zephyr, gemma, phi3, alpaca", e.getMessage());
    }
}
