// SimpleQueue (call/call_base.h): FIFO order across its inline slots and its overflow vector.
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

}  // namespace
}  // namespace polyrpc
