// Turns a stream of token pieces into text that is safe to show as it arrives: never part of a
// UTF-8 character, never the start of a stop string that may yet complete, nothing past a stop.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace riglm {

class TextStream {
 public:
  explicit TextStream(std::vector<std::string> stop_strings = {});

  // Adds a piece; returns the text that can be shown now.
  std::string Push(std::string_view piece);
  // Returns whatever is still held back (at the end of generation).
  std::string Flush();
  // True once a stop string has been seen; later pushes return nothing.
  bool stopped() const { return stopped_; }
  const std::string& matched_stop() const { return matched_stop_; }

 private:
  std::vector<std::string> stops_;
  std::string pending_;
  bool stopped_ = false;
  std::string matched_stop_;
};

// Bytes at the end of `text` that begin a UTF-8 character not yet complete (0 to 3).
size_t IncompleteUtf8Tail(std::string_view text);

}  // namespace riglm
