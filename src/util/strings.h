// Small formatting helpers for messages: byte sizes, shapes, hex dumps.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace riglm {

std::string FormatBytes(uint64_t bytes);                  // "4.1 GiB", "512 B"
std::string ShapeString(std::span<const uint64_t> dims);  // "[4096, 32000]"
std::string HexBytes(const uint8_t* data, size_t size);   // "47 47 55 46"
std::vector<std::string_view> SplitString(std::string_view text, char separator);
bool StartsWith(std::string_view text, std::string_view prefix);
bool EndsWith(std::string_view text, std::string_view suffix);
std::string ToLower(std::string_view text);  // ASCII letters only
// The last component of a '/'-separated path, trailing slashes ignored: "a/b/" -> "b".
std::string BaseName(std::string_view path);

}  // namespace riglm
