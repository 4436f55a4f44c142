// libFuzzer entry point: arbitrary bytes as a chat template, parsed and rendered against a small
// conversation. Errors are expected; crashes, hangs and sanitizer reports are bugs. The render
// limits keep each input's work bounded.
#include <cstddef>
#include <cstdint>
#include <string>

#include "template/chat_template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto tmpl = riglm::ChatTemplate::FromSource(std::string(reinterpret_cast<const char*>(data), size));
  if (!tmpl.ok()) return 0;
  static const auto messages = nlohmann::ordered_json::parse(
      R"([{"role":"system","content":"Be brief."},{"role":"user","content":"Hi \u00e9 {{x}}"},
          {"role":"assistant","content":"","tool_calls":[{"type":"function","function":{"name":"f","arguments":{"a":1.5}}}]}])");
  riglm::ChatTemplateInputs inputs;
  inputs.messages = messages;
  inputs.tools = nlohmann::ordered_json::parse(R"([{"type":"function","function":{"name":"f","parameters":{}}}])");
  inputs.now = 1721995200;
  (void)tmpl->Apply(inputs);
  return 0;
}
