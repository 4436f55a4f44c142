// Every chat template in ../shared/chat-templates against python3-jinja2 (the reference, run as
// a subprocess) on the conversations of tests/golden/chat_conversations.json, plus the
// interpreter's own behaviour: errors with positions, raise_exception, limits.
#include "template/chat_template.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "test_support.h"

namespace riglm {
namespace {

constexpr std::time_t kPinnedNow = 1721995200;  // 2024-07-26 12:00:00 UTC

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string ConversationsPath() { return std::string(RIGLM_SOURCE_DIR) + "/tests/golden/chat_conversations.json"; }

// One line of JSON per conversation from the reference renderer.
std::vector<nlohmann::json> ReferenceRenders(const std::string& template_path) {
  const std::string command = "/usr/bin/python3 " + testing::ShellQuote(std::string(RIGLM_SOURCE_DIR) +
                                                                         "/tests/tools/render_chat_template.py") +
                              " " + testing::ShellQuote(template_path) + " " +
                              testing::ShellQuote(ConversationsPath()) + " " + std::to_string(kPinnedNow);
  std::vector<nlohmann::json> out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  std::string output;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) output.append(buf, n);
  pclose(pipe);
  std::istringstream lines(output);
  std::string line;
  while (std::getline(lines, line)) out.push_back(nlohmann::json::parse(line));
  return out;
}

TEST(ChatTemplateTest, EveryTemplateRendersLikePythonJinja2) {
  const auto document = nlohmann::ordered_json::parse(ReadFile(ConversationsPath()));
  const auto& conversations = document["conversations"];
  std::vector<std::string> paths;
  for (const auto& entry : std::filesystem::directory_iterator(testing::SharedPath("chat-templates"))) {
    if (entry.path().extension() == ".jinja") paths.push_back(entry.path().string());
  }
  std::sort(paths.begin(), paths.end());
  ASSERT_GE(paths.size(), 10u);
  for (const std::string& path : paths) {
    SCOPED_TRACE(path);
    auto tmpl = ChatTemplate::FromSource(ReadFile(path));
    ASSERT_TRUE(tmpl.ok()) << tmpl.status().ToString();
    const std::vector<nlohmann::json> reference = ReferenceRenders(path);
    ASSERT_EQ(reference.size(), conversations.size()) << "is python3-jinja2 installed?";
    int rendered = 0;
    for (size_t i = 0; i < conversations.size(); ++i) {
      const auto& c = conversations[i];
      SCOPED_TRACE(c["name"].get<std::string>());
      ChatTemplateInputs inputs;
      inputs.messages = c["messages"];
      if (c.contains("tools")) inputs.tools = c["tools"];
      inputs.add_generation_prompt = c.value("add_generation_prompt", false);
      inputs.bos_token = "<s>";
      inputs.eos_token = "</s>";
      inputs.now = kPinnedNow;
      inputs.extra_context = document["extra_context"];
      auto ours = tmpl->Apply(inputs);
      if (reference[i]["ok"].get<bool>()) {
        ASSERT_TRUE(ours.ok()) << ours.status().ToString();
        EXPECT_EQ(*ours, reference[i]["text"].get<std::string>());
        ++rendered;
      } else if (reference[i]["raised"].get<bool>()) {
        ASSERT_FALSE(ours.ok()) << "reference raised: " << reference[i]["error"];
        EXPECT_EQ(ours.status().message(), reference[i]["error"].get<std::string>());
      } else {
        EXPECT_FALSE(ours.ok()) << "reference failed with " << reference[i]["error"];
      }
    }
    EXPECT_GE(rendered, 10) << "fewer than 10 conversations rendered";
  }
}

Result<std::string> Render(const std::string& source, const std::string& messages_json = "[]") {
  RIGLM_ASSIGN_OR_RETURN(ChatTemplate t, ChatTemplate::FromSource(source));
  ChatTemplateInputs inputs;
  inputs.messages = nlohmann::ordered_json::parse(messages_json);
  return t.Apply(inputs);
}

TEST(ChatTemplateTest, SyntaxErrorsNameLineAndColumn) {
  auto unclosed = ChatTemplate::FromSource("hello\n{% if x %}\nno end");
  ASSERT_FALSE(unclosed.ok());
  EXPECT_NE(unclosed.status().message().find("missing {% endif %}"), std::string::npos) << unclosed.status().message();
  auto bad = ChatTemplate::FromSource("line one\n  {{ 1 + }}");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("at line 2, column 10"), std::string::npos) << bad.status().message();
  auto unknown = ChatTemplate::FromSource("{% frobnicate %}");
  EXPECT_NE(unknown.status().message().find("unknown statement 'frobnicate' at line 1"), std::string::npos);
}

TEST(ChatTemplateTest, RaiseExceptionSurfacesItsMessage) {
  auto r = Render("{% if messages|length == 0 %}{{ raise_exception('No messages given!') }}{% endif %}");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "No messages given!");
}

TEST(ChatTemplateTest, RuntimeErrorsNameTheirPosition) {
  auto r = Render("ok\n{{ messages[0].content.upper() + 1 }}", R"([{"role":"user","content":"x"}])");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("unsupported operand type(s) for +: 'str' and 'int' at line 2"),
            std::string::npos)
      << r.status().message();
  auto undefined = Render("{{ nothing.attribute }}");
  EXPECT_NE(undefined.status().message().find("'nothing' is undefined"), std::string::npos);
}

TEST(ChatTemplateTest, LimitsStopRunawayTemplates) {
  auto loop = Render("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}");
  ASSERT_FALSE(loop.ok());
  EXPECT_NE(loop.status().message().find("loop iterations exceeded"), std::string::npos);
  auto big = Render("{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}");
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.status().message().find("output exceeded"), std::string::npos);
  auto recursion = Render("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
  ASSERT_FALSE(recursion.ok());
  EXPECT_NE(recursion.status().message().find("nested deeper"), std::string::npos);
}

// Found by the template fuzzer (UBSan): integer arithmetic past 64 bits is an error, never
// undefined behaviour or a trap; what fits keeps Python's answers.
TEST(ChatTemplateTest, IntegerOverflowIsAnErrorAndExactResultsStay) {
  const char* overflowing[] = {"{{ 9223372036854775807 + 888 }}", "{{ -9223372036854775807 - 2 }}",
                               "{{ 4294967296 * 4294967296 }}", "{{ 3 ** 40 }}",
                               "{{ (-9223372036854775807 - 1) // -1 }}", "{{ -(-9223372036854775807 - 1) }}",
                               "{{ (-9223372036854775807 - 1)|abs }}", "{{ [9223372036854775807, 1]|sum }}"};
  for (const char* source : overflowing) {
    auto r = Render(source);
    ASSERT_FALSE(r.ok()) << source << " gave " << *r;
    EXPECT_NE(r.status().message().find("overflow"), std::string::npos) << r.status().message();
  }
  const std::pair<const char*, const char*> exact[] = {
      {"{{ 2 ** 62 }}", "4611686018427387904"}, {"{{ (-1) ** 101 }}", "-1"}, {"{{ 0 ** 0 }}", "1"},
      {"{{ 1 ** 1000000 }}", "1"}, {"{{ (-9223372036854775807 - 1) % -1 }}", "0"}, {"{{ 7 // -2 }}", "-4"},
      {"{{ -7 % 3 }}", "2"}, {"{{ 9223372036854775806 + 1 }}", "9223372036854775807"}};
  for (const auto& [source, want] : exact) {
    auto r = Render(source);
    ASSERT_TRUE(r.ok()) << source << ": " << r.status().ToString();
    EXPECT_EQ(*r, want) << source;
  }
}

// Found by the template fuzzer: a namespace that holds itself must not leak (ASan checks).
TEST(ChatTemplateTest, SelfReferencingNamespaceIsReleased) {
  auto r = Render("{% set ns = namespace(a=1) %}{% set ns.self = [ns] %}{% set ns.again = ns %}{{ ns.a }}");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, "1");
}

TEST(ChatTemplateTest, ChatMlFallback) {
  ChatTemplateInputs inputs;
  inputs.messages = nlohmann::ordered_json::parse(R"([{"role":"user","content":"hi"}])");
  auto text = ChatTemplate::ChatMl().Apply(inputs);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
}

}  // namespace
}  // namespace riglm
