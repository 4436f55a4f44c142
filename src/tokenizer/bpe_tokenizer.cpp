#include "tokenizer/bpe_tokenizer.h"

#include <queue>

#include "text/unicode.h"

namespace riglm {

Result<std::unique_ptr<BpeTokenizer>> BpeTokenizer::Create(Vocab vocab, const std::vector<std::string>& merges,
                                                            PreTokenizer pre_tokenizer, bool ignore_merges) {
  std::unique_ptr<BpeTokenizer> t(new BpeTokenizer(std::move(vocab), std::move(pre_tokenizer)));
  t->ignore_merges_ = ignore_merges;
  t->ranks_.reserve(merges.size());
  for (size_t i = 0; i < merges.size(); ++i) {
    const std::string& m = merges[i];
    // Tokens never contain a plain space in byte-level vocabularies, but be lenient about
    // where it is: split at the first space that is not the first character.
    const size_t space = m.find(' ', 1);
    if (space == std::string::npos) return Corruption("BPE merge #" + std::to_string(i) + " '" + m + "' has no space");
    std::string key = m.substr(0, space);
    key += '\0';
    key += m.substr(space + 1);
    t->ranks_.emplace(std::move(key), static_cast<int>(i));
  }
  return t;
}

int BpeTokenizer::Rank(std::string_view left, std::string_view right) const {
  thread_local std::string key;
  key.clear();
  key += left;
  key += '\0';
  key += right;
  auto it = ranks_.find(key);
  return it == ranks_.end() ? -1 : it->second;
}

void BpeTokenizer::EncodeText(std::string_view text, bool /*at_start*/, std::vector<int32_t>* out) const {
  std::string word;
  for (const std::string& piece : pre_.Split(text)) {
    word.clear();
    for (unsigned char byte : piece) text::AppendUtf8(text::ByteToUnicode(byte), &word);
    EncodeWord(word, out);
  }
}

void BpeTokenizer::EncodeWord(const std::string& word, std::vector<int32_t>* out) const {
  if (ignore_merges_) {
    if (int32_t id = vocab_.Find(word); id >= 0) {
      out->push_back(id);
      return;
    }
  }
  struct Symbol {
    int prev, next;
    size_t start, length;
  };
  std::vector<Symbol> symbols;
  for (size_t pos = 0; pos < word.size();) {
    const size_t len = std::min(text::Utf8SequenceLength(static_cast<unsigned char>(word[pos])), word.size() - pos);
    const int idx = static_cast<int>(symbols.size());
    symbols.push_back({idx - 1, idx + 1, pos, len});
    pos += len;
  }
  if (symbols.empty()) return;
  symbols.back().next = -1;

  struct Bigram {
    int left, right, rank;
    size_t length;
  };
  auto worse = [](const Bigram& a, const Bigram& b) { return a.rank > b.rank || (a.rank == b.rank && a.left > b.left); };
  std::priority_queue<Bigram, std::vector<Bigram>, decltype(worse)> queue(worse);
  const std::string_view w(word);
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const int rank = Rank(w.substr(symbols[left].start, symbols[left].length),
                          w.substr(symbols[right].start, symbols[right].length));
    if (rank >= 0) queue.push({left, right, rank, symbols[left].length + symbols[right].length});
  };
  for (int i = 1; i < static_cast<int>(symbols.size()); ++i) try_add(i - 1, i);
  while (!queue.empty()) {
    const Bigram top = queue.top();
    queue.pop();
    Symbol& left = symbols[top.left];
    Symbol& right = symbols[top.right];
    // A bigram is stale once either side has changed since it was queued.
    if (left.length == 0 || right.length == 0 || left.next != top.right || left.length + right.length != top.length) {
      continue;
    }
    left.length += right.length;
    right.length = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.left;
    try_add(left.prev, top.left);
    try_add(top.left, left.next);
  }
  for (int i = 0; i >= 0; i = symbols[i].next) {
    const std::string_view piece = w.substr(symbols[i].start, symbols[i].length);
    if (int32_t id = vocab_.Find(piece); id >= 0) {
      out->push_back(id);
      continue;
    }
    // Not in the vocabulary: fall back to one token per character if possible.
    for (size_t pos = 0; pos < piece.size();) {
      const size_t len = std::min(text::Utf8SequenceLength(static_cast<unsigned char>(piece[pos])), piece.size() - pos);
      if (int32_t id = vocab_.Find(piece.substr(pos, len)); id >= 0) {
        out->push_back(id);
      } else if (vocab_.unk_id >= 0) {
        out->push_back(vocab_.unk_id);
      }
      pos += len;
    }
  }
}

std::string BpeTokenizer::TokenToPiece(int32_t id, bool render_special) const {
  if (id < 0 || id >= vocab_.size()) return "";
  const std::string& token = vocab_.texts[id];
  switch (vocab_.types[id]) {
    case TokenType::kControl:
      return render_special ? token : "";
    case TokenType::kUserDefined:
    case TokenType::kUnknown:
      return token;
    default: {
      std::string out;
      out.reserve(token.size());
      for (size_t pos = 0; pos < token.size();) {
        const char32_t cp = text::DecodeUtf8(token, &pos);
        const int byte = text::UnicodeToByte(cp);
        if (byte >= 0) {
          out.push_back(static_cast<char>(byte));
        } else {
          text::AppendUtf8(cp, &out);
        }
      }
      return out;
    }
  }
}

}  // namespace riglm
