#include "tokenizer/pretokenizer.h"

#include "text/unicode.h"

namespace riglm {
namespace {

// GPT-2's split rule; also the fallback for unknown names.
constexpr const char* kGpt2 = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S))";
// Llama 3 (tokenizer.json's case-insensitive contractions spelled out).
constexpr const char* kLlama3 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// Qwen2: as Llama 3 but one digit at a time.
constexpr const char* kQwen2 =
    R"((?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr const char* kCjk = "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+";
// Mistral's tekken vocabulary (Nemo).
constexpr const char* kTekken =
    R"([^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

struct Family {
  const char* names;  // space-separated `pre` values
  std::vector<std::string> patterns;
};

const std::vector<Family>& Families() {
  static const std::vector<Family> families = {
      {"default gpt-2 gpt2 phi-2 mpt olmo jais roberta-bpe jina-es jina-de jina-v2-es jina-v2-de jina-v2-code trillion "
       "gigachat",
       {kGpt2}},
      {"llama3 llama-bpe llama-v3 dbrx smaug-bpe smaug chatglm-bpe falcon3 pixtral megrez", {kLlama3}},
      {"qwen2 stablelm2 hunyuan deepseek-r1-qwen", {kQwen2}},
      {"starcoder refact command-r smollm codeshell exaone minerva-7b", {R"(\p{N})", kGpt2}},
      {"falcon", {R"([\p{P}\$\+<=>\^~\|`]+)", kGpt2, "[0-9][0-9][0-9]"}},
      {"deepseek-coder",
       {"[\r\n]", R"(\s?\p{L}+)", R"(\s?\p{P}+)", kCjk, R"(\p{N})"}},
      {"deepseek-llm",
       {"[\r\n]",
        "\\s?[A-Za-z\u00b5\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u01ba\u01bc-\u01bf\u01c4-\u0293\u0295-\u02af\u0370-"
        "\u0373\u0376\u0377\u037b-\u037d\u037f\u0386\u0388-\u038a\u038c\u038e-\u03a1\u03a3-\u03f5\u03f7-\u0481"
        "\u048a-\u052f\u0531-\u0556\u10a0-\u10c5\u13a0-\u13f5\u13f8-\u13fd\u1c90-\u1cba\u1cbd-\u1cbf\u1d00-"
        "\u1d2b\u1d6b-\u1d77\u1d79-\u1d9a\u1e00-\u1f15\u1f18-\u1f1d\u1f20-\u1f45\u1f48-\u1f4d\u1f50-\u1f57"
        "\u1f59\u1f5b\u1f5d\u1f5f-\u1f7d\u1f80-\u1fb4\u1fb6-\u1fbc\u1fbe\u1fc2-\u1fc4\u1fc6-\u1fcc\u1fd0-"
        "\u1fd3\u1fd6-\u1fdb\u1fe0-\u1fec\u1ff2-\u1ff4\u1ff6-\u1ffc\u2102\u2107\u210a-\u2113\u2115\u2119-"
        "\u211d\u2124\u2126\u2128\u212a-\u212d\u212f-\u2134\u2139\u213c-\u213f\u2145-\u2149\u214e\u2183\u2184"
        "\u2c00-\u2c7b\u2c7e-\u2ce4\u2ceb-\u2cee\u2cf2\u2cf3\ua640-\ua66d\ua680-\ua69b\ua722-\ua76f\ua771-"
        "\ua787\ua78b-\ua78e\uab70-\uabbf\ufb00-\ufb06\ufb13-\ufb17\uff21-\uff3a\uff41-\uff5a\U00010400-"
        "\U0001044f\U000104b0-\U000104d3\U000104d8-\U000104fb\U00010c80-\U00010cb2\U00010cc0-\U00010cf2"
        "\U000118a0-\U000118df\U0001e900-\U0001e943]+",
        "\\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+", R"(\s+$)", kCjk, R"(\p{N}+)"}},
      {"poro-chat bloom gpt3-finnish", {" ?[^(\\s|.,!?\u2026\u3002\uff0c\u3001\u0964\u06d4\u060c)]+"}},
      {"tekken", {kTekken}},
  };
  return families;
}

}  // namespace

Result<PreTokenizer> PreTokenizer::FromPatterns(const std::vector<std::string>& patterns) {
  PreTokenizer p;
  for (const std::string& pattern : patterns) {
    RIGLM_ASSIGN_OR_RETURN(text::Regex regex, text::Regex::Compile(pattern));
    p.regexes_.push_back(std::move(regex));
  }
  return p;
}

Result<PreTokenizer> PreTokenizer::ForName(std::string_view pre, bool* known) {
  for (const Family& family : Families()) {
    std::string_view names = family.names;
    size_t start = 0;
    while (start < names.size()) {
      size_t end = names.find(' ', start);
      if (end == std::string_view::npos) end = names.size();
      if (names.substr(start, end - start) == pre) {
        *known = true;
        return FromPatterns(family.patterns);
      }
      start = end + 1;
    }
  }
  *known = pre.empty();
  return FromPatterns(Families()[0].patterns);
}

std::vector<std::string> PreTokenizer::Split(std::string_view input) const {
  const std::u32string cps = text::ToCodePoints(input);
  std::vector<std::pair<size_t, size_t>> pieces = {{0, cps.size()}}, next;
  if (cps.empty()) pieces.clear();
  for (const text::Regex& regex : regexes_) {
    next.clear();
    for (auto [begin, end] : pieces) regex.Split(cps.data(), begin, end, &next);
    pieces.swap(next);
  }
  std::vector<std::string> out;
  out.reserve(pieces.size());
  for (auto [begin, end] : pieces) out.push_back(text::ToUtf8(std::u32string_view(cps).substr(begin, end - begin)));
  return out;
}

}  // namespace riglm
