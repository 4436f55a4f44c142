#include "tokenizer/spm_tokenizer.h"

#include <cstdio>
#include <queue>

namespace riglm {
namespace {

constexpr std::string_view kSpaceMarker = "\xe2\x96\x81";  // U+2581, SentencePiece's visible space

// True when the space marker at `at` directly follows another space marker.
bool FollowsMarker(std::string_view text, size_t at) {
  return at >= kSpaceMarker.size() && text.compare(at - kSpaceMarker.size(), kSpaceMarker.size(), kSpaceMarker) == 0;
}

size_t Utf8Length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead & 0xe0) == 0xc0) return 2;
  if ((lead & 0xf0) == 0xe0) return 3;
  if ((lead & 0xf8) == 0xf0) return 4;
  return 1;  // a stray continuation byte stands alone
}

struct Symbol {
  int prev;
  int next;
  size_t start;
  size_t length;  // 0 once merged into its left neighbour
};

struct Bigram {
  int left;
  int right;
  float score;
  size_t length;  // combined length when queued; a mismatch later means the bigram is stale
};

struct BigramOrder {
  bool operator()(const Bigram& a, const Bigram& b) const {
    // Highest score first; among equal scores, the leftmost.
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  }
};

}  // namespace

SpmTokenizer::SpmTokenizer(Vocab vocab) : Tokenizer(std::move(vocab)) {
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    byte_ids_[b] = vocab_.Find(name);
  }
  words_are_independent_ = true;
  for (const std::string& token : vocab_.texts) {
    for (size_t at = token.find(kSpaceMarker, 1); at != std::string::npos; at = token.find(kSpaceMarker, at + 1)) {
      if (!FollowsMarker(token, at)) {
        words_are_independent_ = false;
        return;
      }
    }
  }
}

void SpmTokenizer::EmitSymbol(std::string_view piece, std::vector<int32_t>* out) const {
  int32_t id = vocab_.Find(piece);
  if (id >= 0) {
    out->push_back(id);
    return;
  }
  for (unsigned char c : piece) {
    if (byte_ids_[c] >= 0) {
      out->push_back(byte_ids_[c]);
    } else if (vocab_.unk_id >= 0) {
      out->push_back(vocab_.unk_id);
    }
  }
}

void SpmTokenizer::EncodeText(std::string_view raw, bool at_start, std::vector<int32_t>* out) const {
  if (raw.empty()) return;
  std::string text;
  text.reserve(raw.size() + 3);
  if (at_start && vocab_.add_space_prefix) text += kSpaceMarker;
  for (char c : raw) {
    if (c == ' ') {
      text += kSpaceMarker;
    } else {
      text += c;
    }
  }

  if (!words_are_independent_) {
    EncodeSegment(text, out);
    return;
  }
  // A word starts at a space marker that follows something else; runs of markers stay whole.
  const std::string_view all(text);
  size_t start = 0;
  for (size_t at = all.find(kSpaceMarker, 1); at != std::string_view::npos; at = all.find(kSpaceMarker, at + 1)) {
    if (FollowsMarker(all, at)) continue;
    EncodeSegment(all.substr(start, at - start), out);
    start = at;
  }
  EncodeSegment(all.substr(start), out);
}

void SpmTokenizer::EncodeSegment(std::string_view text, std::vector<int32_t>* out) const {
  if (text.empty()) return;
  std::vector<Symbol> symbols;
  for (size_t pos = 0; pos < text.size();) {
    const size_t len = std::min(Utf8Length(static_cast<unsigned char>(text[pos])), text.size() - pos);
    const int idx = static_cast<int>(symbols.size());
    symbols.push_back({idx - 1, idx + 1, pos, len});
    pos += len;
  }
  symbols.back().next = -1;

  std::priority_queue<Bigram, std::vector<Bigram>, BigramOrder> queue;
  auto try_add = [&](int left, int right) {
    if (left < 0 || right < 0) return;
    const size_t length = symbols[left].length + symbols[right].length;
    int32_t id = vocab_.Find(text.substr(symbols[left].start, length));
    if (id < 0) return;
    queue.push({left, right, vocab_.scores[id], length});
  };
  for (int i = 1; i < static_cast<int>(symbols.size()); ++i) try_add(i - 1, i);

  while (!queue.empty()) {
    const Bigram top = queue.top();
    queue.pop();
    Symbol& left = symbols[top.left];
    Symbol& right = symbols[top.right];
    if (left.length == 0 || right.length == 0 || left.length + right.length != top.length) continue;
    left.length += right.length;
    right.length = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.left;
    try_add(left.prev, top.left);
    try_add(top.left, left.next);
  }

  for (int i = 0; i >= 0; i = symbols[i].next) {
    EmitSymbol(text.substr(symbols[i].start, symbols[i].length), out);
  }
}

std::string SpmTokenizer::TokenToPiece(int32_t id, bool render_special) const {
  if (id < 0 || id >= vocab_.size()) return "";
  const std::string& text = vocab_.texts[id];
  switch (vocab_.types[id]) {
    case TokenType::kControl:
      return render_special ? text : "";
    case TokenType::kByte: {
      unsigned value = 0;
      if (text.size() == 6 && std::sscanf(text.c_str(), "<0x%02X>", &value) == 1) {
        return std::string(1, static_cast<char>(value));
      }
      return text;
    }
    case TokenType::kUserDefined:
    case TokenType::kUnused:
      return text;
    default: {
      std::string out;
      out.reserve(text.size());
      for (size_t pos = 0; pos < text.size();) {
        if (text.compare(pos, kSpaceMarker.size(), kSpaceMarker) == 0) {
          out += ' ';
          pos += kSpaceMarker.size();
        } else {
          out += text[pos++];
        }
      }
      return out;
    }
  }
}

}  // namespace riglm
