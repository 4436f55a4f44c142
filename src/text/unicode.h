// UTF-8 <-> code points and the Unicode properties that tokenizers and regexes ask about.
// Categories come from utf8proc (Debian's libutf8proc), cached in a table on first use.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace riglm::text {

// Decodes one code point at `text[*pos]` and advances *pos. Invalid bytes decode as U+FFFD and
// advance by one, so every input makes progress.
char32_t DecodeUtf8(std::string_view text, size_t* pos);
void AppendUtf8(char32_t cp, std::string* out);
std::u32string ToCodePoints(std::string_view text);
std::string ToUtf8(std::u32string_view cps);
size_t Utf8SequenceLength(unsigned char lead);  // 1..4 from the lead byte; 1 for a stray byte

// Property bits, combinable.
enum CodePointFlag : uint32_t {
  kLetter = 1u << 0,        // L*
  kMark = 1u << 1,          // M*
  kNumber = 1u << 2,        // N*
  kPunctuation = 1u << 3,   // P*
  kSymbol = 1u << 4,        // S*
  kSeparator = 1u << 5,     // Z*
  kOther = 1u << 6,         // C*
  kWhitespace = 1u << 7,    // the White_Space property, what regex \s matches
  kUppercase = 1u << 8,     // Lu
  kLowercase = 1u << 9,     // Ll
  kTitlecase = 1u << 10,    // Lt
  kModifierLetter = 1u << 11,  // Lm
  kOtherLetter = 1u << 12,  // Lo
  kDecimalDigit = 1u << 13, // Nd
  kConnectorPunct = 1u << 14,  // Pc
};

uint32_t Flags(char32_t cp);
inline bool Is(char32_t cp, uint32_t flags) { return (Flags(cp) & flags) != 0; }

// GPT-2's byte-level alphabet: every byte maps to a printable code point.
char32_t ByteToUnicode(uint8_t byte);
// Inverse; returns -1 for code points outside the alphabet.
int UnicodeToByte(char32_t cp);

}  // namespace riglm::text
