#include "text/unicode.h"

#include <utf8proc.h>

#include <array>
#include <memory>
#include <mutex>

namespace riglm::text {

size_t Utf8SequenceLength(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead & 0xe0) == 0xc0) return 2;
  if ((lead & 0xf0) == 0xe0) return 3;
  if ((lead & 0xf8) == 0xf0) return 4;
  return 1;
}

char32_t DecodeUtf8(std::string_view text, size_t* pos) {
  const auto lead = static_cast<unsigned char>(text[*pos]);
  const size_t length = Utf8SequenceLength(lead);
  if (length == 1) {
    ++*pos;
    return lead < 0x80 ? lead : 0xfffd;
  }
  if (*pos + length > text.size()) {
    ++*pos;
    return 0xfffd;
  }
  char32_t cp = lead & (0xff >> (length + 1));
  for (size_t i = 1; i < length; ++i) {
    const auto c = static_cast<unsigned char>(text[*pos + i]);
    if ((c & 0xc0) != 0x80) {
      ++*pos;
      return 0xfffd;
    }
    cp = cp << 6 | (c & 0x3f);
  }
  *pos += length;
  return cp;
}

void AppendUtf8(char32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xc0 | cp >> 6));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xe0 | cp >> 12));
    out->push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out->push_back(static_cast<char>(0xf0 | cp >> 18));
    out->push_back(static_cast<char>(0x80 | (cp >> 12 & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

std::u32string ToCodePoints(std::string_view text) {
  std::u32string out;
  out.reserve(text.size());
  for (size_t pos = 0; pos < text.size();) out.push_back(DecodeUtf8(text, &pos));
  return out;
}

std::string ToUtf8(std::u32string_view cps) {
  std::string out;
  out.reserve(cps.size());
  for (char32_t cp : cps) AppendUtf8(cp, &out);
  return out;
}

namespace {

constexpr char32_t kMaxCodePoint = 0x110000;

uint32_t ComputeFlags(char32_t cp) {
  uint32_t f = 0;
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_LU: f = kLetter | kUppercase; break;
    case UTF8PROC_CATEGORY_LL: f = kLetter | kLowercase; break;
    case UTF8PROC_CATEGORY_LT: f = kLetter | kTitlecase; break;
    case UTF8PROC_CATEGORY_LM: f = kLetter | kModifierLetter; break;
    case UTF8PROC_CATEGORY_LO: f = kLetter | kOtherLetter; break;
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME: f = kMark; break;
    case UTF8PROC_CATEGORY_ND: f = kNumber | kDecimalDigit; break;
    case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO: f = kNumber; break;
    case UTF8PROC_CATEGORY_PC: f = kPunctuation | kConnectorPunct; break;
    case UTF8PROC_CATEGORY_PD: case UTF8PROC_CATEGORY_PS: case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI: case UTF8PROC_CATEGORY_PF: case UTF8PROC_CATEGORY_PO: f = kPunctuation; break;
    case UTF8PROC_CATEGORY_SM: case UTF8PROC_CATEGORY_SC: case UTF8PROC_CATEGORY_SK: case UTF8PROC_CATEGORY_SO:
      f = kSymbol;
      break;
    case UTF8PROC_CATEGORY_ZS: case UTF8PROC_CATEGORY_ZL: case UTF8PROC_CATEGORY_ZP: f = kSeparator; break;
    default: f = kOther; break;
  }
  const bool white = (cp >= 0x09 && cp <= 0x0d) || cp == 0x20 || cp == 0x85 || cp == 0xa0 || cp == 0x1680 ||
                     (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f ||
                     cp == 0x205f || cp == 0x3000;
  if (white) f |= kWhitespace;
  return f;
}

const uint16_t* FlagTable() {
  static std::unique_ptr<uint16_t[]> table;
  static std::once_flag once;
  std::call_once(once, [] {
    table = std::make_unique<uint16_t[]>(kMaxCodePoint);
    for (char32_t cp = 0; cp < kMaxCodePoint; ++cp) table[cp] = static_cast<uint16_t>(ComputeFlags(cp));
  });
  return table.get();
}

struct ByteMaps {
  std::array<char32_t, 256> to_unicode{};
  std::array<int, 512> to_byte{};  // every mapped code point is below 512
};

const ByteMaps& GetByteMaps() {
  static const ByteMaps maps = [] {
    ByteMaps m;
    m.to_byte.fill(-1);
    // Printable Latin-1 bytes map to themselves; the rest to 256, 257, ... in byte order.
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
      m.to_unicode[b] = printable ? static_cast<char32_t>(b) : next++;
      m.to_byte[m.to_unicode[b]] = b;
    }
    return m;
  }();
  return maps;
}

}  // namespace

uint32_t Flags(char32_t cp) { return cp < kMaxCodePoint ? uint32_t{FlagTable()[cp]} : uint32_t{kOther}; }

char32_t ByteToUnicode(uint8_t byte) { return GetByteMaps().to_unicode[byte]; }

int UnicodeToByte(char32_t cp) { return cp < 512 ? GetByteMaps().to_byte[cp] : -1; }

}  // namespace riglm::text
