#include "template/chat_template.h"

namespace riglm {
namespace {

constexpr const char* kChatMl =
    "{%- for message in messages -%}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' -}}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}";

}  // namespace

Result<ChatTemplate> ChatTemplate::FromSource(std::string source) {
  ChatTemplate t;
  RIGLM_ASSIGN_OR_RETURN(t.template_, jinja::Template::Parse(source));
  t.source_ = std::move(source);
  return t;
}

ChatTemplate ChatTemplate::ChatMl() { return FromSource(kChatMl).value(); }

Result<ChatTemplate> ChatTemplate::FromGguf(const GgufFile& file, bool* used_fallback) {
  *used_fallback = false;
  if (file.Find("tokenizer.chat_template") == nullptr) {
    *used_fallback = true;
    return ChatMl();
  }
  RIGLM_ASSIGN_OR_RETURN(std::string source, file.GetString("tokenizer.chat_template"));
  return FromSource(std::move(source));
}

Result<std::string> ChatTemplate::Apply(const ChatTemplateInputs& inputs) const {
  jinja::Object context;
  if (inputs.extra_context.is_object()) {
    for (const auto& [k, v] : inputs.extra_context.items()) context.Set(k, jinja::Value::FromJson(v));
  }
  context.Set("messages", jinja::Value::FromJson(inputs.messages));
  context.Set("add_generation_prompt", jinja::Value(inputs.add_generation_prompt));
  context.Set("bos_token", jinja::Value(inputs.bos_token));
  context.Set("eos_token", jinja::Value(inputs.eos_token));
  if (!inputs.tools.is_null()) context.Set("tools", jinja::Value::FromJson(inputs.tools));
  if (!inputs.documents.is_null()) context.Set("documents", jinja::Value::FromJson(inputs.documents));
  return template_.Render(jinja::Value(std::move(context)), inputs.now);
}

}  // namespace riglm
