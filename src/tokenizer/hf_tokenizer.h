// Tokenizers from Hugging Face files (tokenizer.json + tokenizer_config.json), for safetensors
// repositories: byte-level BPE (GPT-2, Llama 3, Qwen2, ...) and SentencePiece-style BPE with
// byte fallback (Llama 2, Mistral), mapped onto the same classes the GGUF vocabularies use.
#pragma once

#include <memory>
#include <string>

#include "tokenizer/tokenizer.h"

namespace riglm {

// `tokenizer_json` and `tokenizer_config_json` are the files' contents; the config may be empty.
// `name` appears in error messages. Unsupported models or pre-tokenizers give Unsupported.
Result<std::unique_ptr<Tokenizer>> LoadHuggingFaceTokenizer(const std::string& tokenizer_json,
                                                            const std::string& tokenizer_config_json,
                                                            const std::string& name);

// The chat template from tokenizer_config.json ("chat_template" as a string, or the entry named
// "default" of a list); NotFound when there is none.
Result<std::string> HuggingFaceChatTemplate(const std::string& tokenizer_config_json, const std::string& name);

}  // namespace riglm
