// A parsed Jinja template and its renderer: the subset of Jinja2 that chat templates use, with
// Python semantics, and hard limits so that a hostile template cannot hang or exhaust a worker.
#pragma once

#include <cstdint>
#include <ctime>
#include <memory>
#include <string>
#include <string_view>

#include "template/ast.h"
#include "template/value.h"

namespace riglm::jinja {

struct RenderLimits {
  size_t max_output_bytes = 1 << 20;
  uint64_t max_loop_iterations = 1'000'000;
  int max_call_depth = 64;
};

class Template {
 public:
  // Syntax errors give InvalidArgument naming the line and column.
  static Result<Template> Parse(std::string_view source);

  // `context` is an object whose entries become the template's variables. `now` is what
  // strftime_now() formats (UTC); 0 means the current time.
  // Errors: InvalidArgument naming the line and column; raise_exception('msg') gives an
  // InvalidArgument whose message is exactly 'msg'.
  Result<std::string> Render(const Value& context, std::time_t now = 0, const RenderLimits& limits = {}) const;

 private:
  std::shared_ptr<const Body> body_;
};

}  // namespace riglm::jinja
