#include "text/regex.h"

#include <utf8proc.h>

#include <cctype>
#include <memory>

#include "text/unicode.h"

namespace riglm::text {

bool Regex::CharClass::Matches(char32_t cp) const {
  bool hit = false;
  for (const ClassItem& item : items) {
    if (item.flags != 0) {
      hit = ((Flags(cp) & item.flags) != 0) != item.negated;
    } else {
      hit = cp >= item.lo && cp <= item.hi;
    }
    if (hit) break;
  }
  return hit != negated;
}

namespace {

struct Node {
  enum Kind { kEmpty, kClass, kSeq, kAlt, kRepeat, kBegin, kEnd, kWordBoundary, kLook } kind = kEmpty;
  std::vector<Node> kids;
  int32_t class_idx = 0;
  int min = 0, max = -1;  // kRepeat; max -1 is unbounded
  bool greedy = true;
  bool negative = false;  // kLook
};

constexpr int kMaxRepeat = 1000;
constexpr uint64_t kMaxSteps = 50'000'000;  // a runaway pattern fails instead of hanging

}  // namespace

class RegexCompiler {
 public:
  RegexCompiler(std::string_view pattern, Regex* regex) : regex_(regex) {
    regex_->pattern_ = std::string(pattern);
    cps_ = ToCodePoints(pattern);
  }

  Status Compile() {
    Node root;
    RIGLM_RETURN_IF_ERROR(ParseAlternation(&root, false));
    if (pos_ != cps_.size()) return Error("unbalanced ')'");
    Emit(root);
    regex_->program_.push_back({Regex::Op::kMatch});
    // Lookahead bodies are emitted after the main program, each ending in its own kMatch.
    for (size_t i = 0; i < pending_looks_.size(); ++i) {
      auto [inst_idx, node] = pending_looks_[i];
      regex_->program_[inst_idx].x = static_cast<int32_t>(regex_->program_.size());
      Emit(*node);
      regex_->program_.push_back({Regex::Op::kMatch});
    }
    return Status::Ok();
  }

 private:
  Status Error(const std::string& what) const {
    return InvalidArgument("regex '" + regex_->pattern_ + "': " + what + " at character " + std::to_string(pos_));
  }
  bool AtEnd() const { return pos_ >= cps_.size(); }
  char32_t Peek() const { return cps_[pos_]; }

  Status ParseAlternation(Node* out, bool ignore_case) {
    Node alt;
    alt.kind = Node::kAlt;
    while (true) {
      Node seq;
      seq.kind = Node::kSeq;
      RIGLM_RETURN_IF_ERROR(ParseSequence(&seq, ignore_case));
      alt.kids.push_back(std::move(seq));
      if (!AtEnd() && Peek() == '|') {
        ++pos_;
        continue;
      }
      break;
    }
    *out = alt.kids.size() == 1 ? std::move(alt.kids[0]) : std::move(alt);
    return Status::Ok();
  }

  Status ParseSequence(Node* seq, bool ignore_case) {
    while (!AtEnd() && Peek() != '|' && Peek() != ')') {
      Node atom;
      RIGLM_RETURN_IF_ERROR(ParseAtom(&atom, ignore_case));
      RIGLM_RETURN_IF_ERROR(ParseQuantifier(&atom));
      seq->kids.push_back(std::move(atom));
    }
    return Status::Ok();
  }

  Status ParseQuantifier(Node* atom) {
    while (!AtEnd()) {
      int min = 0, max = -1;
      const char32_t c = Peek();
      if (c == '*') {
        ++pos_;
      } else if (c == '+') {
        min = 1;
        ++pos_;
      } else if (c == '?') {
        max = 1;
        ++pos_;
      } else if (c == '{') {
        const size_t save = pos_;
        ++pos_;
        if (!ReadNumber(&min)) {  // a literal '{'
          pos_ = save;
          return Status::Ok();
        }
        max = min;
        if (!AtEnd() && Peek() == ',') {
          ++pos_;
          max = -1;
          if (!AtEnd() && Peek() != '}' && !ReadNumber(&max)) return Error("bad {n,m}");
        }
        if (AtEnd() || Peek() != '}') return Error("unterminated {n,m}");
        ++pos_;
        if (min > kMaxRepeat || max > kMaxRepeat || (max >= 0 && max < min)) return Error("bad repeat bounds");
      } else {
        return Status::Ok();
      }
      if (atom->kind == Node::kBegin || atom->kind == Node::kEnd || atom->kind == Node::kLook) {
        return Error("nothing to repeat");
      }
      Node repeat;
      repeat.kind = Node::kRepeat;
      repeat.min = min;
      repeat.max = max;
      if (!AtEnd() && Peek() == '?') {
        repeat.greedy = false;
        ++pos_;
      } else if (!AtEnd() && Peek() == '+') {
        ++pos_;  // possessive: treated as greedy
      }
      repeat.kids.push_back(std::move(*atom));
      *atom = std::move(repeat);
    }
    return Status::Ok();
  }

  bool ReadNumber(int* out) {
    int value = 0, digits = 0;
    while (!AtEnd() && Peek() >= '0' && Peek() <= '9' && digits < 6) {
      value = value * 10 + static_cast<int>(Peek() - '0');
      ++pos_;
      ++digits;
    }
    *out = value;
    return digits > 0;
  }

  int32_t AddClass(Regex::CharClass c) {
    regex_->classes_.push_back(std::move(c));
    return static_cast<int32_t>(regex_->classes_.size() - 1);
  }

  void AddCaseVariants(Regex::CharClass* c, char32_t lo, char32_t hi) {
    c->items.push_back({lo, hi});
    if (hi - lo > 256) return;
    for (char32_t cp = lo; cp <= hi; ++cp) {
      const auto lower = static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(cp)));
      const auto upper = static_cast<char32_t>(utf8proc_toupper(static_cast<utf8proc_int32_t>(cp)));
      if (lower != cp) c->items.push_back({lower, lower});
      if (upper != cp) c->items.push_back({upper, upper});
    }
  }

  Status ParseAtom(Node* atom, bool ignore_case) {
    const char32_t c = Peek();
    ++pos_;
    switch (c) {
      case '(': return ParseGroup(atom, ignore_case);
      case '[': return ParseClass(atom, ignore_case);
      case '^': atom->kind = Node::kBegin; return Status::Ok();
      case '$': atom->kind = Node::kEnd; return Status::Ok();
      case '.': {
        Regex::CharClass any;
        any.items.push_back({'\n', '\n'});
        any.negated = true;
        atom->kind = Node::kClass;
        atom->class_idx = AddClass(std::move(any));
        return Status::Ok();
      }
      case '\\': {
        if (!AtEnd() && Peek() == 'b') {
          ++pos_;
          atom->kind = Node::kWordBoundary;
          return Status::Ok();
        }
        Regex::CharClass cls;
        RIGLM_RETURN_IF_ERROR(ParseEscape(&cls, ignore_case));
        atom->kind = Node::kClass;
        atom->class_idx = AddClass(std::move(cls));
        return Status::Ok();
      }
      case ')': return Error("unexpected ')'");
      case '*': case '+': case '?': return Error("nothing to repeat");
      default: {
        Regex::CharClass cls;
        if (ignore_case) {
          AddCaseVariants(&cls, c, c);
        } else {
          cls.items.push_back({c, c});
        }
        atom->kind = Node::kClass;
        atom->class_idx = AddClass(std::move(cls));
        return Status::Ok();
      }
    }
  }

  Status ParseGroup(Node* atom, bool ignore_case) {
    bool look = false, negative = false;
    if (!AtEnd() && Peek() == '?') {
      ++pos_;
      if (AtEnd()) return Error("unterminated group");
      const char32_t kind = Peek();
      ++pos_;
      if (kind == ':') {
      } else if (kind == '=' || kind == '!') {
        look = true;
        negative = kind == '!';
      } else if (kind == 'i' && !AtEnd() && Peek() == ':') {
        ++pos_;
        ignore_case = true;
      } else {
        return Error("unsupported group syntax");
      }
    }
    Node body;
    RIGLM_RETURN_IF_ERROR(ParseAlternation(&body, ignore_case));
    if (AtEnd() || Peek() != ')') return Error("missing ')'");
    ++pos_;
    if (look) {
      atom->kind = Node::kLook;
      atom->negative = negative;
      atom->kids.push_back(std::move(body));
    } else {
      *atom = std::move(body);
    }
    return Status::Ok();
  }

  Status ParseProperty(bool negated, Regex::CharClass* cls) {
    if (AtEnd() || Peek() != '{') return Error("expected {name} after \\p");
    ++pos_;
    std::string name;
    while (!AtEnd() && Peek() != '}') name += static_cast<char>(Peek()), ++pos_;
    if (AtEnd()) return Error("unterminated \\p{");
    ++pos_;
    uint32_t flags = 0;
    if (name == "L" || name == "Letter") flags = kLetter;
    else if (name == "N" || name == "Number") flags = kNumber;
    else if (name == "P" || name == "Punctuation") flags = kPunctuation;
    else if (name == "S" || name == "Symbol") flags = kSymbol;
    else if (name == "M" || name == "Mark") flags = kMark;
    else if (name == "Z" || name == "Separator") flags = kSeparator;
    else if (name == "C" || name == "Other") flags = kOther;
    else if (name == "Lu") flags = kUppercase;
    else if (name == "Ll") flags = kLowercase;
    else if (name == "Lt") flags = kTitlecase;
    else if (name == "Lm") flags = kModifierLetter;
    else if (name == "Lo") flags = kOtherLetter;
    else if (name == "Nd") flags = kDecimalDigit;
    else if (name == "Pc") flags = kConnectorPunct;
    else return Error("unsupported property \\p{" + name + "}");
    cls->items.push_back({0, 0, flags, negated});
    return Status::Ok();
  }

  // An escape, after the backslash, added to `cls`.
  Status ParseEscape(Regex::CharClass* cls, bool ignore_case) {
    if (AtEnd()) return Error("trailing backslash");
    const char32_t c = Peek();
    ++pos_;
    auto literal = [&](char32_t cp) {
      if (ignore_case) {
        AddCaseVariants(cls, cp, cp);
      } else {
        cls->items.push_back({cp, cp});
      }
      return Status::Ok();
    };
    switch (c) {
      case 's': cls->items.push_back({0, 0, kWhitespace, false}); return Status::Ok();
      case 'S': cls->items.push_back({0, 0, kWhitespace, true}); return Status::Ok();
      case 'd': cls->items.push_back({0, 0, kDecimalDigit, false}); return Status::Ok();
      case 'D': cls->items.push_back({0, 0, kDecimalDigit, true}); return Status::Ok();
      case 'w': cls->items.push_back({0, 0, kLetter | kMark | kDecimalDigit | kConnectorPunct, false}); return Status::Ok();
      case 'W': cls->items.push_back({0, 0, kLetter | kMark | kDecimalDigit | kConnectorPunct, true}); return Status::Ok();
      case 'p': return ParseProperty(false, cls);
      case 'P': return ParseProperty(true, cls);
      case 'r': return literal('\r');
      case 'n': return literal('\n');
      case 't': return literal('\t');
      case 'f': return literal('\f');
      case 'v': return literal('\v');
      case '0': return literal(0);
      case 'x': case 'u': {
        const int digits = c == 'x' ? 2 : 4;
        char32_t value = 0;
        for (int i = 0; i < digits; ++i) {
          if (AtEnd() || !std::isxdigit(static_cast<int>(Peek() < 128 ? Peek() : 0))) return Error("bad hex escape");
          const char32_t h = Peek();
          value = value * 16 + (h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
          ++pos_;
        }
        return literal(value);
      }
      default:
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '1' && c <= '9')) {
          return Error(std::string("unsupported escape \\") + static_cast<char>(c));
        }
        return literal(c);
    }
  }

  Status ParseClass(Node* atom, bool ignore_case) {
    Regex::CharClass cls;
    if (!AtEnd() && Peek() == '^') {
      cls.negated = true;
      ++pos_;
    }
    bool first = true;
    while (true) {
      if (AtEnd()) return Error("unterminated [");
      char32_t c = Peek();
      if (c == ']' && !first) {
        ++pos_;
        break;
      }
      first = false;
      ++pos_;
      char32_t lo = c;
      if (c == '\\') {
        if (AtEnd()) return Error("trailing backslash");
        const char32_t e = Peek();
        // Single-character escapes may start a range; class escapes may not.
        if (e == 's' || e == 'S' || e == 'd' || e == 'D' || e == 'w' || e == 'W' || e == 'p' || e == 'P') {
          RIGLM_RETURN_IF_ERROR(ParseEscape(&cls, ignore_case));
          continue;
        }
        Regex::CharClass single;
        RIGLM_RETURN_IF_ERROR(ParseEscape(&single, false));
        lo = single.items[0].lo;
      }
      char32_t hi = lo;
      if (pos_ + 1 < cps_.size() && Peek() == '-' && cps_[pos_ + 1] != ']') {
        ++pos_;
        hi = Peek();
        ++pos_;
        if (hi == '\\') {
          Regex::CharClass single;
          RIGLM_RETURN_IF_ERROR(ParseEscape(&single, false));
          if (single.items.empty() || single.items[0].flags != 0) return Error("bad range end");
          hi = single.items[0].lo;
        }
        if (hi < lo) return Error("range out of order");
      }
      if (ignore_case) {
        AddCaseVariants(&cls, lo, hi);
      } else {
        cls.items.push_back({lo, hi});
      }
    }
    atom->kind = Node::kClass;
    atom->class_idx = AddClass(std::move(cls));
    return Status::Ok();
  }

  int32_t Here() const { return static_cast<int32_t>(regex_->program_.size()); }
  int32_t Push(Regex::Inst inst) {
    regex_->program_.push_back(inst);
    return Here() - 1;
  }

  void EmitOptional(const Node& body, bool greedy) {
    const int32_t split = Push({Regex::Op::kSplit});
    const int32_t body_start = Here();
    Emit(body);
    const int32_t after = Here();
    regex_->program_[split].x = greedy ? body_start : after;
    regex_->program_[split].y = greedy ? after : body_start;
  }

  void Emit(const Node& node) {
    switch (node.kind) {
      case Node::kEmpty: return;
      case Node::kClass: Push({Regex::Op::kClass, false, node.class_idx}); return;
      case Node::kBegin: Push({Regex::Op::kBegin}); return;
      case Node::kEnd: Push({Regex::Op::kEnd}); return;
      case Node::kWordBoundary: Push({Regex::Op::kWordBoundary}); return;
      case Node::kSeq:
        for (const Node& kid : node.kids) Emit(kid);
        return;
      case Node::kLook: {
        const int32_t inst = Push({Regex::Op::kLookahead, node.negative});
        pending_looks_.emplace_back(inst, &node.kids[0]);
        return;
      }
      case Node::kAlt: {
        std::vector<int32_t> jumps;
        for (size_t i = 0; i < node.kids.size(); ++i) {
          if (i + 1 < node.kids.size()) {
            const int32_t split = Push({Regex::Op::kSplit});
            regex_->program_[split].x = Here();
            Emit(node.kids[i]);
            jumps.push_back(Push({Regex::Op::kJump}));
            regex_->program_[split].y = Here();
          } else {
            Emit(node.kids[i]);
          }
        }
        for (int32_t j : jumps) regex_->program_[j].x = Here();
        return;
      }
      case Node::kRepeat: {
        const Node& body = node.kids[0];
        for (int i = 0; i < node.min; ++i) Emit(body);
        if (node.max < 0) {
          const int32_t loop = Push({Regex::Op::kSplit});
          const int32_t body_start = Here();
          Emit(body);
          Push({Regex::Op::kJump, false, loop});
          const int32_t after = Here();
          regex_->program_[loop].x = node.greedy ? body_start : after;
          regex_->program_[loop].y = node.greedy ? after : body_start;
        } else {
          // x{0,k}: each further copy is tried only after the one before it matched.
          std::vector<int32_t> splits;
          for (int i = node.min; i < node.max; ++i) {
            splits.push_back(Push({Regex::Op::kSplit}));
            regex_->program_[splits.back()].x = Here();
            Emit(body);
          }
          for (int32_t s : splits) {
            Regex::Inst& inst = regex_->program_[s];
            inst.y = Here();
            if (!node.greedy) std::swap(inst.x, inst.y);
          }
        }
        return;
      }
    }
  }

  Regex* regex_;
  std::u32string cps_;
  size_t pos_ = 0;
  std::vector<std::pair<int32_t, const Node*>> pending_looks_;
  // Lookahead bodies are referenced until Compile() finishes; the AST lives that long.
};

Result<Regex> Regex::Compile(std::string_view pattern) {
  Regex regex;
  RegexCompiler compiler(pattern, &regex);
  RIGLM_RETURN_IF_ERROR(compiler.Compile());
  return regex;
}

bool Regex::Run(int32_t start_pc, const char32_t* text, size_t begin, size_t end, size_t start_pos,
                size_t* match_end, std::vector<Thread>& stack) const {
  const size_t base = stack.size();  // lookahead runs nest on the same stack
  stack.push_back({start_pc, start_pos});
  uint64_t steps = 0;
  while (stack.size() > base) {
    auto [pc, pos] = stack.back();
    stack.pop_back();
    while (true) {
      if (++steps > kMaxSteps) {
        stack.resize(base);
        return false;
      }
      const Inst& inst = program_[pc];
      bool ok = true;
      switch (inst.op) {
        case Op::kClass:
          ok = pos < end && classes_[inst.x].Matches(text[pos]);
          if (ok) {
            ++pos;
            ++pc;
          }
          break;
        case Op::kSplit:
          stack.push_back({inst.y, pos});
          pc = inst.x;
          break;
        case Op::kJump:
          pc = inst.x;
          break;
        case Op::kMatch:
          *match_end = pos;
          stack.resize(base);
          return true;
        case Op::kBegin:
          ok = pos == begin;
          ++pc;
          break;
        case Op::kEnd:
          ok = pos == end;
          ++pc;
          break;
        case Op::kWordBoundary: {
          const uint32_t word = kLetter | kMark | kDecimalDigit | kConnectorPunct;
          const bool before = pos > begin && Is(text[pos - 1], word);
          const bool after = pos < end && Is(text[pos], word);
          ok = before != after;
          ++pc;
          break;
        }
        case Op::kLookahead: {
          size_t ignored;
          ok = Run(inst.x, text, begin, end, pos, &ignored, stack) != inst.negative;
          ++pc;
          break;
        }
      }
      if (!ok) break;
    }
  }
  return false;
}

bool Regex::Search(const char32_t* text, size_t begin, size_t end, size_t from, size_t* match_begin,
                   size_t* match_end) const {
  thread_local std::vector<Thread> stack;
  for (size_t start = from; start <= end; ++start) {
    stack.clear();
    if (Run(0, text, begin, end, start, match_end, stack)) {
      *match_begin = start;
      return true;
    }
  }
  return false;
}

void Regex::Split(const char32_t* text, size_t begin, size_t end, std::vector<std::pair<size_t, size_t>>* pieces) const {
  size_t pos = begin, search_from = begin;
  while (search_from < end) {
    size_t mb = 0, me = 0;
    if (!Search(text, begin, end, search_from, &mb, &me)) break;
    if (me == mb) {  // an empty match splits nothing; look further on
      search_from = mb + 1;
      continue;
    }
    if (mb > pos) pieces->emplace_back(pos, mb);
    pieces->emplace_back(mb, me);
    pos = search_from = me;
  }
  if (pos < end) pieces->emplace_back(pos, end);
}

}  // namespace riglm::text
