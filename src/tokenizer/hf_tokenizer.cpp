#include "tokenizer/hf_tokenizer.h"

#include <nlohmann/json.hpp>

#include "tokenizer/bpe_tokenizer.h"
#include "tokenizer/spm_tokenizer.h"

namespace riglm {
namespace {

using Json = nlohmann::json;

constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";

Result<Json> ParseJson(const std::string& text, const std::string& what) {
  try {
    return Json::parse(text);
  } catch (const Json::exception& e) {
    return Corruption(what + ": not valid JSON: " + e.what());
  }
}

// A special token in tokenizer_config.json is either a string or {"content": ...}.
std::string TokenText(const Json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return "";
}

struct PreTokenizerPlan {
  std::vector<std::string> patterns;
  bool byte_level = false;
  bool metaspace = false;  // SentencePiece-style: spaces become U+2581
  bool add_prefix_space = false;
};

Status ReadPreTokenizer(const Json& node, PreTokenizerPlan* plan, const std::string& name) {
  if (node.is_null()) return Status::Ok();
  const std::string type = node.value("type", "");
  if (type == "Sequence") {
    for (const Json& child : node.value("pretokenizers", Json::array())) {
      RIGLM_RETURN_IF_ERROR(ReadPreTokenizer(child, plan, name));
    }
    return Status::Ok();
  }
  if (type == "ByteLevel") {
    plan->byte_level = true;
    plan->add_prefix_space = node.value("add_prefix_space", false);
    if (node.value("use_regex", true)) plan->patterns.push_back(kGpt2Pattern);
    return Status::Ok();
  }
  if (type == "Split") {
    const Json& pattern = node["pattern"];
    const std::string behavior = node.value("behavior", "Isolated");
    if (behavior != "Isolated") return Unsupported(name + ": Split pre-tokenizer behavior '" + behavior + "'");
    if (node.value("invert", false)) return Unsupported(name + ": inverted Split pre-tokenizer");
    if (pattern.contains("Regex")) {
      plan->patterns.push_back(pattern["Regex"].get<std::string>());
    } else if (pattern.contains("String")) {
      std::string escaped;
      for (char c : pattern["String"].get<std::string>()) {
        if (std::string_view("\\^$.|?*+()[]{}").find(c) != std::string_view::npos) escaped += '\\';
        escaped += c;
      }
      plan->patterns.push_back(escaped);
    }
    return Status::Ok();
  }
  if (type == "Digits") {
    plan->patterns.push_back(node.value("individual_digits", false) ? R"(\p{N})" : R"(\p{N}+)");
    return Status::Ok();
  }
  if (type == "Metaspace") {
    plan->metaspace = true;
    plan->add_prefix_space = node.value("add_prefix_space", true) || node.value("prepend_scheme", "") == "always" ||
                             node.value("prepend_scheme", "") == "first";
    return Status::Ok();
  }
  return Unsupported(name + ": pre-tokenizer '" + type + "' is not supported");
}

// Llama 2 / Mistral style: a normalizer that prepends U+2581 and replaces spaces by it.
bool IsSentencePieceNormalizer(const Json& normalizer) {
  if (normalizer.is_null()) return false;
  const std::string dumped = normalizer.dump();
  return dumped.find("\xe2\x96\x81") != std::string::npos;
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> LoadHuggingFaceTokenizer(const std::string& tokenizer_json,
                                                            const std::string& tokenizer_config_json,
                                                            const std::string& name) {
  RIGLM_ASSIGN_OR_RETURN(Json doc, ParseJson(tokenizer_json, name + "/tokenizer.json"));
  Json config = Json::object();
  if (!tokenizer_config_json.empty()) {
    RIGLM_ASSIGN_OR_RETURN(config, ParseJson(tokenizer_config_json, name + "/tokenizer_config.json"));
  }
  try {
    const Json& model = doc.at("model");
    const std::string type = model.value("type", "BPE");
    if (type != "BPE") {
      return Unsupported(name + ": tokenizer.json model type '" + type + "' is not supported (supported: BPE)");
    }
    Vocab vocab;
    const Json& entries = model.at("vocab");
    int32_t max_id = -1;
    for (const auto& [text, id] : entries.items()) max_id = std::max(max_id, id.get<int32_t>());
    for (const Json& added : doc.value("added_tokens", Json::array())) max_id = std::max(max_id, added.at("id").get<int32_t>());
    if (max_id < 0 || max_id > (1 << 24)) return Corruption(name + ": tokenizer.json has no usable vocabulary");
    vocab.texts.assign(max_id + 1, "");
    vocab.types.assign(max_id + 1, TokenType::kUnused);
    vocab.scores.assign(max_id + 1, 0.0f);
    for (const auto& [text, id] : entries.items()) {
      vocab.texts[id.get<int32_t>()] = text;
      vocab.types[id.get<int32_t>()] = TokenType::kNormal;
    }
    for (const Json& added : doc.value("added_tokens", Json::array())) {
      const int32_t id = added.at("id").get<int32_t>();
      vocab.texts[id] = added.at("content").get<std::string>();
      vocab.types[id] = added.value("special", false) ? TokenType::kControl : TokenType::kUserDefined;
    }
    for (int32_t id = 0; id <= max_id; ++id) vocab.ids.emplace(vocab.texts[id], id);

    std::vector<std::string> merges;
    for (const Json& m : model.value("merges", Json::array())) {
      if (m.is_string()) {
        merges.push_back(m.get<std::string>());
      } else if (m.is_array() && m.size() == 2) {  // newer files store pairs
        merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
      }
    }

    // Special tokens named by tokenizer_config.json.
    auto find = [&](const char* key) {
      return config.contains(key) ? vocab.Find(TokenText(config[key])) : -1;
    };
    vocab.bos_id = find("bos_token");
    vocab.eos_id = find("eos_token");
    vocab.pad_id = find("pad_token");
    vocab.unk_id = model.contains("unk_token") && model["unk_token"].is_string()
                       ? vocab.Find(model["unk_token"].get<std::string>())
                       : find("unk_token");
    if (vocab.unk_id >= 0) vocab.types[vocab.unk_id] = TokenType::kUnknown;
    // BOS: the config's flag, else whether the post-processor puts a special token first.
    vocab.add_bos = config.value("add_bos_token", false);
    if (!config.contains("add_bos_token") && doc.contains("post_processor") && doc["post_processor"].is_object()) {
      const Json& single = doc["post_processor"].value("single", Json::array());
      if (!single.empty() && single[0].contains("SpecialToken")) {
        const int32_t id = vocab.Find(single[0]["SpecialToken"].value("id", ""));
        if (id >= 0) {
          vocab.add_bos = true;
          vocab.bos_id = id;
        }
      }
    }
    vocab.add_eos = config.value("add_eos_token", false);
    for (int32_t id : {vocab.eos_id}) {
      if (id >= 0) vocab.end_of_generation.push_back(id);
    }
    for (const char* text : {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>"}) {
      const int32_t id = vocab.Find(text);
      if (id >= 0 && vocab.types[id] == TokenType::kControl && !vocab.IsEndOfGeneration(id)) {
        vocab.end_of_generation.push_back(id);
      }
    }

    PreTokenizerPlan plan;
    RIGLM_RETURN_IF_ERROR(ReadPreTokenizer(doc.value("pre_tokenizer", Json()), &plan, name));
    std::unique_ptr<Tokenizer> tokenizer;
    if (plan.metaspace || IsSentencePieceNormalizer(doc.value("normalizer", Json()))) {
      // SentencePiece BPE: merging by rank is merging the best-scored piece first.
      vocab.model = "llama";
      vocab.add_space_prefix = plan.metaspace ? plan.add_prefix_space : true;
      for (size_t rank = 0; rank < merges.size(); ++rank) {
        const std::string& m = merges[rank];
        const size_t space = m.find(' ', 1);
        if (space == std::string::npos) continue;
        const int32_t id = vocab.Find(m.substr(0, space) + m.substr(space + 1));
        if (id >= 0 && vocab.scores[id] == 0.0f) vocab.scores[id] = -static_cast<float>(rank) - 1.0f;
      }
      for (int32_t id = 0; id <= max_id; ++id) {
        const std::string& t = vocab.texts[id];
        if (t.size() == 6 && t.rfind("<0x", 0) == 0 && t.back() == '>') vocab.types[id] = TokenType::kByte;
      }
      tokenizer = std::make_unique<SpmTokenizer>(std::move(vocab));
    } else {
      if (!plan.byte_level) return Unsupported(name + ": BPE without a ByteLevel pre-tokenizer is not supported");
      if (plan.add_prefix_space) return Unsupported(name + ": ByteLevel add_prefix_space is not supported");
      vocab.model = "gpt2";
      vocab.add_space_prefix = false;
      RIGLM_ASSIGN_OR_RETURN(PreTokenizer pre, PreTokenizer::FromPatterns(plan.patterns));
      RIGLM_ASSIGN_OR_RETURN(tokenizer, BpeTokenizer::Create(std::move(vocab), merges, std::move(pre),
                                                             model.value("ignore_merges", false)));
    }
    tokenizer->IndexSpecialTokens();
    return tokenizer;
  } catch (const Json::exception& e) {
    return Corruption(name + "/tokenizer.json: unexpected structure: " + e.what());
  }
}

Result<std::string> HuggingFaceChatTemplate(const std::string& tokenizer_config_json, const std::string& name) {
  RIGLM_ASSIGN_OR_RETURN(Json config, ParseJson(tokenizer_config_json, name + "/tokenizer_config.json"));
  if (!config.contains("chat_template")) return NotFound(name + ": tokenizer_config.json has no chat_template");
  const Json& t = config["chat_template"];
  if (t.is_string()) return t.get<std::string>();
  if (t.is_array()) {
    for (const Json& entry : t) {
      if (entry.value("name", "") == "default" && entry.contains("template")) return entry["template"].get<std::string>();
    }
  }
  return NotFound(name + ": tokenizer_config.json has no default chat_template");
}

}  // namespace riglm
