// Renders a conversation into a prompt with the model's own chat template, as Hugging Face
// transformers does (trim_blocks, lstrip_blocks, loop controls, tojson without HTML escaping,
// raise_exception and strftime_now). Models without a template fall back to ChatML.
#pragma once

#include <ctime>
#include <string>

#include <nlohmann/json.hpp>

#include "format/gguf.h"
#include "template/template.h"

namespace riglm {

struct ChatTemplateInputs {
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();
  nlohmann::ordered_json tools;      // null: the template sees `tools` undefined
  nlohmann::ordered_json documents;  // null: undefined
  // More variables for the template (llama-server's chat_template_kwargs), e.g. a template's
  // own switches. Must be an object or null.
  nlohmann::ordered_json extra_context;
  bool add_generation_prompt = true;
  std::string bos_token;
  std::string eos_token;
  std::time_t now = 0;  // for strftime_now; 0 is the current time
};

class ChatTemplate {
 public:
  static Result<ChatTemplate> FromSource(std::string source);
  // The fallback: ChatML (<|im_start|>role\ncontent<|im_end|>).
  static ChatTemplate ChatMl();
  // tokenizer.chat_template from the file, or ChatML with *used_fallback set.
  static Result<ChatTemplate> FromGguf(const GgufFile& file, bool* used_fallback);

  // Errors: the template's syntax or evaluation error (with line and column), or the exact
  // message of raise_exception, all as InvalidArgument.
  Result<std::string> Apply(const ChatTemplateInputs& inputs) const;
  const std::string& source() const { return source_; }

 private:
  std::string source_;
  jinja::Template template_;
};

}  // namespace riglm
