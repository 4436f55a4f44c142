// Pulling from a fake Hugging Face Hub into a huggingface_hub-compatible cache: selection by
// quant, split GGUFs, sharded safetensors, resume, corruption, concurrency, errors, offline.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <thread>

#include "fake_hub.h"
#include "hf_repo_writer.h"
#include "hub/hub_pull.h"
#include "loader/model_loader.h"
#include "test_support.h"
#include "util/files.h"

namespace riglm {
namespace {

namespace fs = std::filesystem;

constexpr const char* kCommit = "0123456789abcdef0123456789abcdef01234567";

std::string Pattern(size_t n, int seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + seed * 7 + i / 251) & 0xff);
  return s;
}

class HubTest : public ::testing::Test {
 protected:
  void SetUp() override {
    options_.endpoint = hub_.endpoint();
    options_.cache_dir = cache_.path() + "/hub";
    options_.source.retry_base_ms = 1;
    stories_ = testing::ReadFileBytes(testing::Stories260KPath());
    hub_.AddRepo("tiny/stories-GGUF", {kCommit,
                                       {{"README.md", {"# tiny stories\n", false}},
                                        {"stories-Q4_K_M.gguf", {Pattern(300000, 1)}},
                                        {"stories-Q4_K.gguf", {Pattern(1000, 4)}},
                                        {"stories-Q8_0.gguf", {stories_}},
                                        {"mmproj-stories-F16.gguf", {Pattern(1000, 5)}}}});
  }
  Result<PulledModel> Pull(const std::string& ref) {
    RIGLM_ASSIGN_OR_RETURN(ModelRef parsed, ParseModelRef(ref));
    return PullModel(parsed, options_);
  }

  testing::FakeHub hub_;
  testing::TempDir cache_;
  HubOptions options_;
  std::string stories_;
};

// The acceptance case "pull of a GGUF repo by quant", checked against huggingface_hub's layout.
TEST_F(HubTest, PullsTheRequestedQuantIntoTheSharedCacheLayout) {
  auto pulled = Pull("tiny/stories-GGUF:Q8_0");
  ASSERT_TRUE(pulled.ok()) << pulled.status().ToString();
  const std::string repo_dir = options_.cache_dir + "/models--tiny--stories-GGUF";
  const std::string sha = testing::Sha256Hex(stories_);
  EXPECT_EQ(pulled->location, repo_dir + "/snapshots/" + kCommit + "/stories-Q8_0.gguf");
  EXPECT_EQ(fs::read_symlink(pulled->location).string(), "../../blobs/" + sha);
  EXPECT_EQ(testing::ReadFileBytes(repo_dir + "/blobs/" + sha), stories_);
  EXPECT_EQ(*ReadTextFile(repo_dir + "/refs/main"), kCommit);
  EXPECT_TRUE(fs::exists(options_.cache_dir + "/.locks/models--tiny--stories-GGUF/" + sha + ".lock"));
  EXPECT_FALSE(fs::exists(repo_dir + "/snapshots/" + kCommit + "/stories-Q4_K_M.gguf"));  // only what was asked
  EXPECT_EQ(pulled->bytes, stories_.size());

  // The pulled file runs.
  auto model = LoadModelFrom(pulled->location);
  ASSERT_TRUE(model.ok()) << model.status().ToString();

  // Found again without the network; a second pull downloads nothing.
  const uint64_t served = hub_.bytes_served();
  auto cached = FindCachedModel(*ParseModelRef("tiny/stories-GGUF:Q8_0"), options_);
  ASSERT_TRUE(cached.ok()) << cached.status().ToString();
  EXPECT_EQ(cached->location, pulled->location);
  auto again = Pull("tiny/stories-GGUF:q8_0");
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(hub_.bytes_served(), served);
}

TEST_F(HubTest, QuantSelectionIsExactAndDefaultsToQ4KM) {
  auto by_default = Pull("hf.co/tiny/stories-GGUF");
  ASSERT_TRUE(by_default.ok()) << by_default.status().ToString();
  EXPECT_TRUE(by_default->location.ends_with("/stories-Q4_K_M.gguf"));
  auto q4k = Pull("tiny/stories-GGUF:Q4_K");  // not Q4_K_M
  ASSERT_TRUE(q4k.ok()) << q4k.status().ToString();
  EXPECT_TRUE(q4k->location.ends_with("/stories-Q4_K.gguf"));
  auto by_file = Pull("tiny/stories-GGUF:stories-Q8_0.gguf");
  ASSERT_TRUE(by_file.ok()) << by_file.status().ToString();
  EXPECT_TRUE(by_file->location.ends_with("/stories-Q8_0.gguf"));
  auto missing = Pull("tiny/stories-GGUF:Q6_K");
  ASSERT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("it has: Q4_K, Q4_K_M, Q8_0"), std::string::npos) << missing.status().ToString();
}

TEST_F(HubTest, PullsEveryPartOfASplitGguf) {
  const std::string p1 = Pattern(200000, 2), p2 = Pattern(150000, 3);
  hub_.AddRepo("big/model-GGUF", {kCommit,
                                  {{"Q4_K_M/model-Q4_K_M-00001-of-00002.gguf", {p1}},
                                   {"Q4_K_M/model-Q4_K_M-00002-of-00002.gguf", {p2}},
                                   {"model-Q8_0.gguf", {Pattern(100, 9)}}}});
  auto pulled = Pull("big/model-GGUF:Q4_K_M");
  ASSERT_TRUE(pulled.ok()) << pulled.status().ToString();
  EXPECT_EQ(pulled->files, 2);
  EXPECT_TRUE(pulled->location.ends_with("/snapshots/" + std::string(kCommit) + "/Q4_K_M/model-Q4_K_M-00001-of-00002.gguf"));
  EXPECT_EQ(testing::ReadFileBytes(pulled->location), p1);
  const std::string second = pulled->location.substr(0, pulled->location.size() - 19) + "00002-of-00002.gguf";
  EXPECT_EQ(testing::ReadFileBytes(second), p2);
  EXPECT_EQ(fs::read_symlink(second).string(), "../../../blobs/" + testing::Sha256Hex(p2));  // one level deeper
}

// A sharded safetensors repository pulled whole, then run: same output as the GGUF.
TEST_F(HubTest, PullsAndRunsAShardedSafetensorsRepository) {
  testing::TempDir source;
  auto gguf_model = LlamaModel::Load(testing::Stories260KPath());
  ASSERT_TRUE(gguf_model.ok());
  auto written = testing::WriteHfRepoFromGguf((*gguf_model)->gguf(), reinterpret_cast<const uint8_t*>(stories_.data()),
                                              source.path(), {.dtype = DType::kF32, .shards = 2});
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  testing::FakeHub::Repo repo{kCommit, {}};
  for (const std::string& name : *written) {
    repo.files[name] = {testing::ReadFileBytes(source.File(name)), name.ends_with(".safetensors")};
  }
  repo.files["README.md"] = {"readme", false};
  repo.files["original/consolidated.pth"] = {"not wanted", true};
  hub_.AddRepo("tiny/stories-hf", repo);
  auto pulled = Pull("tiny/stories-hf");
  ASSERT_TRUE(pulled.ok()) << pulled.status().ToString();
  EXPECT_EQ(pulled->location, options_.cache_dir + "/models--tiny--stories-hf/snapshots/" + kCommit);
  EXPECT_EQ(pulled->files, static_cast<int>(written->size()));
  EXPECT_FALSE(fs::exists(pulled->location + "/original"));
  EXPECT_FALSE(fs::exists(pulled->location + "/README.md"));
  auto model = LoadModelFrom(pulled->location);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_EQ(testing::GreedyText(**model, "Once upon a time", 32), testing::GreedyText(**gguf_model, "Once upon a time", 32));
  auto with_quant = Pull("tiny/stories-hf:Q4_K_M");
  EXPECT_EQ(with_quant.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(with_quant.status().message().find("--quant"), std::string::npos);
}

// A connection cut mid-file resumes from the bytes received; a partial file an earlier run left
// is continued, not fetched again.
TEST_F(HubTest, ResumesAfterTheConnectionIsCutAndAfterAnInterruptedRun) {
  hub_.CutNextTransfers(2);
  auto pulled = Pull("tiny/stories-GGUF:Q4_K_M");
  ASSERT_TRUE(pulled.ok()) << pulled.status().ToString();
  const std::string content = Pattern(300000, 1);
  EXPECT_EQ(testing::ReadFileBytes(pulled->location), content);
  std::vector<uint64_t> starts = hub_.range_starts();
  EXPECT_TRUE(std::any_of(starts.begin(), starts.end(), [](uint64_t s) { return s > 0; }));

  // An interrupted earlier run: a third of the file waits as .incomplete.
  const std::string sha = testing::Sha256Hex(stories_);
  const std::string blob = options_.cache_dir + "/models--tiny--stories-GGUF/blobs/" + sha;
  fs::create_directories(fs::path(blob).parent_path());
  ASSERT_TRUE(WriteFileAtomically(blob + ".incomplete", stories_.substr(0, stories_.size() / 3)).ok());
  const uint64_t before = hub_.bytes_served();
  pulled = Pull("tiny/stories-GGUF:Q8_0");
  ASSERT_TRUE(pulled.ok()) << pulled.status().ToString();
  EXPECT_EQ(testing::ReadFileBytes(blob), stories_);
  EXPECT_FALSE(fs::exists(blob + ".incomplete"));
  EXPECT_LT(hub_.bytes_served() - before, stories_.size() - stories_.size() / 3 + 16);
  starts = hub_.range_starts();
  EXPECT_EQ(starts.back(), stories_.size() / 3);
}

TEST_F(HubTest, ACorruptedByteIsCaughtByTheSha256AndNothingIsKept) {
  const std::string sha = testing::Sha256Hex(stories_);
  hub_.CorruptFile(sha);
  auto pulled = Pull("tiny/stories-GGUF:Q8_0");
  ASSERT_EQ(pulled.status().code(), StatusCode::kCorruption) << pulled.status().ToString();
  EXPECT_NE(pulled.status().message().find("sha256"), std::string::npos);
  const std::string repo_dir = options_.cache_dir + "/models--tiny--stories-GGUF";
  EXPECT_FALSE(fs::exists(repo_dir + "/blobs/" + sha));
  EXPECT_FALSE(fs::exists(repo_dir + "/blobs/" + sha + ".incomplete"));
  EXPECT_FALSE(fs::exists(repo_dir + "/snapshots/" + kCommit + "/stories-Q8_0.gguf"));
  hub_.CorruptFile("");
  ASSERT_TRUE(Pull("tiny/stories-GGUF:Q8_0").ok());  // and a clean retry works
}

TEST_F(HubTest, SmallFilesAreCheckedAgainstTheirGitObjectId) {
  hub_.AddRepo("tiny/bad-readme", {kCommit, {{"a.gguf", {"gguf bytes", false}}}});
  auto ok = Pull("tiny/bad-readme");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_TRUE(fs::is_regular_file(options_.cache_dir + "/models--tiny--bad-readme/blobs/" + testing::GitBlobId("gguf bytes")));
}

// Two pulls of one file at once: one downloads, the other waits on the lock and finds it done.
TEST_F(HubTest, ConcurrentPullsOfOneFileShareOneDownload) {
  std::vector<Result<PulledModel>> results(2, Status(Internal("not run")));
  std::thread a([&] { results[0] = Pull("tiny/stories-GGUF:Q8_0"); });
  std::thread b([&] { results[1] = Pull("tiny/stories-GGUF:Q8_0"); });
  a.join();
  b.join();
  for (const auto& r : results) ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(testing::ReadFileBytes(results[0]->location), stories_);
  EXPECT_LE(hub_.bytes_served(), stories_.size() + 1);  // the 1-byte probe of one download
}

// Two riglm processes pulling the same file into the same cache.
TEST_F(HubTest, TwoProcessesPullingTheSameFileBothSucceed) {
  const std::string env = "HF_ENDPOINT=" + testing::ShellQuote(hub_.endpoint()) + " HF_HUB_CACHE=" +
                          testing::ShellQuote(options_.cache_dir) + " ";
  std::vector<testing::CommandResult> results(2);
  std::thread a([&] { results[0] = testing::RunRiglm("pull tiny/stories-GGUF:Q8_0", env); });
  std::thread b([&] { results[1] = testing::RunRiglm("pull tiny/stories-GGUF:Q8_0", env); });
  a.join();
  b.join();
  for (const auto& r : results) ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string blob = options_.cache_dir + "/models--tiny--stories-GGUF/blobs/" + testing::Sha256Hex(stories_);
  EXPECT_EQ(testing::ReadFileBytes(blob), stories_);
  EXPECT_LE(hub_.bytes_served(), stories_.size() + 1);
}

TEST_F(HubTest, MissingGatedAndUnauthorizedRepositoriesExplainThemselves) {
  auto missing = Pull("nobody/nothing");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("was not found"), std::string::npos) << missing.status().ToString();
  EXPECT_NE(missing.status().message().find("HF_TOKEN"), std::string::npos);

  hub_.AddRepo("meta/gated", {kCommit, {{"m-Q8_0.gguf", {stories_}}}, /*gated=*/true});
  auto gated = Pull("meta/gated");
  EXPECT_NE(gated.status().message().find("is gated"), std::string::npos) << gated.status().ToString();
  EXPECT_NE(gated.status().message().find(hub_.endpoint() + "/meta/gated"), std::string::npos);

  options_.token = "hf_bad";
  auto bad_token = Pull("tiny/stories-GGUF");
  EXPECT_NE(bad_token.status().message().find("refused HF_TOKEN"), std::string::npos) << bad_token.status().ToString();

  options_.token = "hf_good";
  auto allowed = Pull("meta/gated");
  EXPECT_TRUE(allowed.ok()) << allowed.status().ToString();

  auto revision = Pull("tiny/stories-GGUF@v9");
  EXPECT_NE(revision.status().message().find("no revision 'v9'"), std::string::npos) << revision.status().ToString();
  EXPECT_EQ(ParseModelRef("not a repo").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseModelRef("a/b/c").status().code(), StatusCode::kInvalidArgument);
}

TEST_F(HubTest, OfflineUsesTheCacheOnlyAndListsAndRemovesModels) {
  options_.offline = true;
  auto offline = Pull("tiny/stories-GGUF:Q8_0");
  EXPECT_EQ(offline.status().code(), StatusCode::kNotFound);
  EXPECT_NE(offline.status().message().find("offline"), std::string::npos) << offline.status().ToString();
  options_.offline = false;
  ASSERT_TRUE(Pull("tiny/stories-GGUF:Q8_0").ok());
  ASSERT_TRUE(Pull("tiny/stories-GGUF:Q4_K_M").ok());
  options_.offline = true;
  const int before = hub_.requests();
  auto cached = Pull("tiny/stories-GGUF:Q8_0");
  ASSERT_TRUE(cached.ok()) << cached.status().ToString();
  EXPECT_EQ(hub_.requests(), before);

  HubCache cache(options_.cache_dir);
  std::vector<CachedSnapshot> listed = cache.List();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].repo, "tiny/stories-GGUF");
  EXPECT_EQ(listed[0].refs, std::vector<std::string>{"main"});
  ASSERT_EQ(listed[0].files.size(), 2u);
  EXPECT_EQ(listed[0].files[1].path, "stories-Q8_0.gguf");
  EXPECT_EQ(listed[0].files[1].size, stories_.size());

  auto freed = cache.Remove("tiny/stories-GGUF", kCommit, {"stories-Q8_0.gguf"});
  ASSERT_TRUE(freed.ok()) << freed.status().ToString();
  EXPECT_EQ(*freed, stories_.size());
  EXPECT_EQ(cache.List()[0].files.size(), 1u);
  ASSERT_TRUE(cache.Remove("tiny/stories-GGUF", kCommit, {}).ok());
  EXPECT_TRUE(cache.List().empty());
  EXPECT_FALSE(fs::exists(options_.cache_dir + "/models--tiny--stories-GGUF"));
}

}  // namespace
}  // namespace riglm

namespace riglm {
namespace {

// The path a new user takes: run a Hub id (pulled on first use), list it, run it offline, remove it.
TEST_F(HubTest, CommandLineRunsListsAndRemovesHubModels) {
  const std::string env = "HF_ENDPOINT=" + testing::ShellQuote(hub_.endpoint()) + " HF_HUB_CACHE=" +
                          testing::ShellQuote(options_.cache_dir) + " HF_TOKEN= ";
  const std::string expected = testing::GreedyText(*LlamaModel::Load(testing::Stories260KPath()).value(), "Once upon a time", 16);
  auto run = testing::RunRiglm("run -m tiny/stories-GGUF:Q8_0 -p 'Once upon a time' -n 16 --temp 0", env);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.err.find("pulling"), std::string::npos) << run.err;
  EXPECT_NE(run.out.find(expected), std::string::npos) << run.out;

  auto list = testing::RunRiglm("list", env);
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find("tiny/stories-GGUF:Q8_0"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("gguf"), std::string::npos) << list.out;

  auto offline = testing::RunRiglm("run -m tiny/stories-GGUF:Q8_0 -p 'Once upon a time' -n 16 --temp 0 --offline", env);
  ASSERT_EQ(offline.exit_code, 0) << offline.err;
  EXPECT_EQ(offline.err.find("pulling"), std::string::npos) << offline.err;
  auto missing = testing::RunRiglm("run -m tiny/stories-GGUF:Q4_K_M -n 4", "HF_HUB_OFFLINE=1 " + env);
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("HF_HUB_OFFLINE"), std::string::npos) << missing.err;

  auto plan = testing::RunRiglm("plan -m tiny/stories-GGUF:Q8_0 --devices cpu", env);
  EXPECT_EQ(plan.exit_code, 0) << plan.err;

  auto rm = testing::RunRiglm("rm tiny/stories-GGUF:Q8_0", env);
  ASSERT_EQ(rm.exit_code, 0) << rm.err;
  EXPECT_NE(rm.out.find("removed tiny/stories-GGUF:Q8_0"), std::string::npos) << rm.out;
  list = testing::RunRiglm("list", env);
  EXPECT_NE(list.out.find("no models"), std::string::npos) << list.out;
  auto rm_again = testing::RunRiglm("rm tiny/stories-GGUF:Q8_0", env);
  EXPECT_NE(rm_again.exit_code, 0);
  auto bad = testing::RunRiglm("pull nobody/nothing", env);
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("was not found"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace riglm
