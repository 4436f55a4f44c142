#include "engine/text_stream.h"

#include <gtest/gtest.h>

namespace riglm {
namespace {

TEST(TextStreamTest, HoldsBackPartialUtf8) {
  TextStream s;
  EXPECT_EQ(s.Push("a\xe2"), "a");
  EXPECT_EQ(s.Push("\x96"), "");
  EXPECT_EQ(s.Push("\x81" "b"), "\xe2\x96\x81" "b");
  EXPECT_EQ(s.Push("\xf0\x9f"), "");
  EXPECT_EQ(s.Flush(), "\xf0\x9f");  // at the end, whatever is left goes out
}

TEST(TextStreamTest, StopStringAcrossPieces) {
  TextStream s({"</answer>", "STOP"});
  EXPECT_EQ(s.Push("Hello </an"), "Hello ");
  EXPECT_FALSE(s.stopped());
  EXPECT_EQ(s.Push("swer> tail"), "");
  EXPECT_TRUE(s.stopped());
  EXPECT_EQ(s.matched_stop(), "</answer>");
  EXPECT_EQ(s.Push("more"), "");
  EXPECT_EQ(s.Flush(), "");
}

TEST(TextStreamTest, ReleasesAPrefixThatDidNotBecomeAStop) {
  TextStream s({"STOP"});
  EXPECT_EQ(s.Push("ST"), "");
  EXPECT_EQ(s.Push("ORM"), "STORM");
  EXPECT_EQ(s.Push("xSTO"), "x");
  EXPECT_EQ(s.Flush(), "STO");
}

TEST(TextStreamTest, EarliestStopWins) {
  TextStream s({"b", "a"});
  EXPECT_EQ(s.Push("xxab"), "xx");
  EXPECT_EQ(s.matched_stop(), "a");
}

TEST(TextStreamTest, IncompleteTailLengths) {
  EXPECT_EQ(IncompleteUtf8Tail(""), 0u);
  EXPECT_EQ(IncompleteUtf8Tail("abc"), 0u);
  EXPECT_EQ(IncompleteUtf8Tail("\xc3"), 1u);
  EXPECT_EQ(IncompleteUtf8Tail("\xc3\xa9"), 0u);
  EXPECT_EQ(IncompleteUtf8Tail("\xf0\x9f\x98"), 3u);
  EXPECT_EQ(IncompleteUtf8Tail("\xf0\x9f\x98\x80"), 0u);
}

}  // namespace
}  // namespace riglm
