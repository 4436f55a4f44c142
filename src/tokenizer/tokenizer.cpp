#include "tokenizer/tokenizer.h"

#include <algorithm>

#include "tokenizer/spm_tokenizer.h"

namespace riglm {

Result<std::unique_ptr<Tokenizer>> Tokenizer::FromGguf(const GgufFile& file) {
  RIGLM_ASSIGN_OR_RETURN(Vocab vocab, Vocab::FromGguf(file));
  std::unique_ptr<Tokenizer> tokenizer;
  if (vocab.model == "llama") {
    tokenizer = std::make_unique<SpmTokenizer>(std::move(vocab));
  } else {
    return Unsupported(file.name() + ": tokenizer model '" + vocab.model + "' is not supported yet (supported: llama)");
  }
  const Vocab& v = tokenizer->vocab_;
  for (int32_t id = 0; id < v.size(); ++id) {
    if ((v.types[id] == TokenType::kControl || v.types[id] == TokenType::kUserDefined) && !v.texts[id].empty()) {
      tokenizer->special_ids_.push_back(id);
    }
  }
  std::stable_sort(tokenizer->special_ids_.begin(), tokenizer->special_ids_.end(),
                   [&](int32_t a, int32_t b) { return v.texts[a].size() > v.texts[b].size(); });
  return tokenizer;
}

std::vector<int32_t> Tokenizer::Encode(std::string_view text, const EncodeOptions& options) const {
  std::vector<int32_t> out;
  if (options.add_bos && vocab_.bos_id >= 0) out.push_back(vocab_.bos_id);
  if (!options.parse_special) {
    EncodeText(text, true, &out);
  } else {
    // Split on the longest special-token text at each position; the text between is plain.
    size_t plain_start = 0, pos = 0;
    bool at_start = true;
    while (pos < text.size()) {
      int32_t match = -1;
      for (int32_t id : special_ids_) {
        const std::string& s = vocab_.texts[id];
        if (text.compare(pos, s.size(), s) == 0) {
          match = id;
          break;
        }
      }
      if (match < 0) {
        ++pos;
        continue;
      }
      if (pos > plain_start) EncodeText(text.substr(plain_start, pos - plain_start), at_start, &out);
      out.push_back(match);
      at_start = false;
      pos += vocab_.texts[match].size();
      plain_start = pos;
    }
    if (plain_start < text.size()) EncodeText(text.substr(plain_start), at_start, &out);
  }
  if (options.add_eos && vocab_.eos_id >= 0) out.push_back(vocab_.eos_id);
  return out;
}

std::string Tokenizer::Decode(const std::vector<int32_t>& ids, bool render_special) const {
  std::string out;
  for (int32_t id : ids) out += TokenToPiece(id, render_special);
  return out;
}

}  // namespace riglm
