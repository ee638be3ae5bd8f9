// SimpleQueue (call/call_base.h): FIFO order across its inline slots and its overflow vector.
// RawMetadata: request metadata kept as bytes until asked for.
#include <gtest/gtest.h>

#include <deque>
#include <random>

#include "call/call_base.h"

namespace polyrpc {
namespace {

TEST(CallQueue, KeepsFifoOrderAcrossInlineAndOverflow) {
  SimpleQueue<int> q;
  std::deque<int> model;
  std::mt19937 rng(7);
  int next = 0;
  for (int step = 0; step < 20000; ++step) {
    bool push = model.empty() || (rng() % 3 != 0);
    if (push) {
      q.push_back(next);
      model.push_back(next);
      ++next;
    } else {
      ASSERT_EQ(q.front(), model.front()) << "step " << step;
      q.pop_front();
      model.pop_front();
    }
    ASSERT_EQ(q.size(), model.size());
    ASSERT_EQ(q.empty(), model.empty());
    if (step % 5000 == 4999) {
      q.clear();
      model.clear();
    }
  }
  while (!model.empty()) {
    ASSERT_EQ(q.front(), model.front());
    q.pop_front();
    model.pop_front();
  }
  EXPECT_TRUE(q.empty());
}

TEST(CallQueue, NvListGrowsPastItsInlineEntries) {
  NvList l;
  std::vector<std::string> names;
  for (int i = 0; i < 40; ++i) names.push_back("k" + std::to_string(i));
  for (const auto& n : names) l.push_back(NvRef(n, "v"));
  ASSERT_EQ(l.size(), 40u);
  for (size_t i = 0; i < l.size(); ++i) {
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(l.data()[i].name), l.data()[i].namelen),
              names[i]);
  }
}

TEST(RawMetadata, KeepsOrderDuplicatesAndDecodesBinaryValues) {
  RawMetadata raw;
  EXPECT_TRUE(raw.Add("user-agent", "grpc-c++/1.51.1 grpc-c/29.0.0 (linux; chttp2)"));
  EXPECT_TRUE(raw.Add("te", "trailers"));            // reserved: skipped
  EXPECT_TRUE(raw.Add("grpc-timeout", "1S"));        // reserved: skipped
  EXPECT_TRUE(raw.Add("x-dup", "one"));
  EXPECT_TRUE(raw.Add("trace-bin", "AAEC/w"));       // unpadded base64 of 00 01 02 ff
  EXPECT_TRUE(raw.Add("x-dup", "two"));
  EXPECT_TRUE(raw.Add("x-empty", ""));
  EXPECT_EQ(raw.entries(), 5u);
  Metadata md;
  raw.AppendTo(&md);
  Metadata want = {{"user-agent", "grpc-c++/1.51.1 grpc-c/29.0.0 (linux; chttp2)"},
                   {"x-dup", "one"},
                   {"trace-bin", std::string("\x00\x01\x02\xff", 4)},
                   {"x-dup", "two"},
                   {"x-empty", ""}};
  EXPECT_EQ(md, want);
}

TEST(RawMetadata, RejectsInvalidBase64AndSpillsPastItsInlineBuffer) {
  RawMetadata raw;
  EXPECT_FALSE(raw.Add("trace-bin", "not base64!"));
  EXPECT_EQ(raw.entries(), 0u);
  // Far more than the inline buffer holds: every entry must survive the move to the heap.
  Metadata want;
  for (int i = 0; i < 50; ++i) {
    std::string k = "key-" + std::to_string(i);
    std::string v(static_cast<size_t>(i * 7), static_cast<char>('a' + i % 26));
    ASSERT_TRUE(raw.Add(k, v));
    want.emplace_back(k, v);
  }
  Metadata md;
  raw.AppendTo(&md);
  EXPECT_EQ(md, want);
}

}  // namespace
}  // namespace polyrpc
