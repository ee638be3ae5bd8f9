// Connection-level flow-control credit comes back when a call ends before its application has
// read everything. A receiver holds back the credit of messages its application has not taken
// yet (so that a slow reader pushes back on a fast writer); a call that is cancelled, fails or
// closes with such messages queued must give that credit back to the connection, whose window
// every stream shares. The soak (soak/soak.cc) found the opposite: each cancelled call kept up
// to a stream window (4 MiB) of the connection's 16 MiB, and after a few of them every call on
// a long-lived connection stalled for good, in the client's direction or the server's.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <thread>

#include "polyrpc++/polyrpc.hpp"

using namespace polyrpc;
using namespace std::chrono_literals;

namespace {

constexpr size_t kMessage = 1000000;  // four fit in the 4 MiB stream window, with their prefixes

class FlowCredit : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = Server::Create();
    // Streams as many 1 MB messages as the request says, each sent from the previous one's
    // completion.
    server_->RegisterMethod("/test.Credit/Download", [](std::shared_ptr<ServerCall> call) {
      struct Chain : std::enable_shared_from_this<Chain> {
        std::shared_ptr<ServerCall> call;
        int left = 0;
        void Next() {
          if (left-- == 0) {
            call->SendStatus(Status::Ok(), {}, [](bool) {});
            return;
          }
          auto self = shared_from_this();
          call->SendMessage(Slice::Copy(std::string(kMessage, 'd')), 0, [self](bool ok) {
            if (ok) self->Next();
          });
        }
      };
      call->RecvMessage([call](bool ok) {
        Slice m;
        if (!ok || !call->TakeMessage(&m)) return;
        auto chain = std::make_shared<Chain>();
        chain->call = call;
        chain->left = std::atoi(m.ToString().c_str());
        chain->Next();
      });
    });
    // Never reads: what the client sends stays queued until the call ends.
    server_->RegisterMethod("/test.Credit/Ignore", [](std::shared_ptr<ServerCall> call) {
      call->OnDone([call](bool) {});
    });
    server_->RegisterMethod("/test.Credit/Echo", [](std::shared_ptr<ServerCall> call) {
      call->RecvMessage([call](bool ok) {
        Slice m;
        if (!ok || !call->TakeMessage(&m)) return;
        call->SendMessage(m, 0, [](bool) {});
        call->SendStatus(Status::Ok(), {}, [](bool) {});
      });
    });
    std::string err;
    port_ = server_->AddListener("127.0.0.1:0", ServerCredentials::Insecure(), &err);
    ASSERT_GT(port_, 0) << err;
    ASSERT_TRUE(server_->Start(&err)) << err;
    channel_ =
        Channel::Create("127.0.0.1:" + std::to_string(port_), ChannelCredentials::Insecure());
  }
  void TearDown() override {
    channel_.reset();
    if (server_) server_->Shutdown(Clock::now() + 2s);
  }
  // A 2 MB echo on the same connection: it needs credit both ways.
  void ExpectEchoStillFlows() {
    CallOptions o;
    o.deadline = DeadlineAfter(5s);
    Slice resp;
    Status st = BlockingUnaryCall(*channel_, "/test.Credit/Echo",
                                  Slice::Copy(std::string(2000000, 'e')), &resp, o);
    EXPECT_TRUE(st.ok()) << st.ToString() << " (the connection's window was used up)";
    EXPECT_EQ(resp.size(), 2000000u);
  }

  std::unique_ptr<Server> server_;
  int port_ = 0;
  std::shared_ptr<Channel> channel_;
};

// The client reads one message of a download, lets the stream window's worth pile up behind it,
// and cancels; six times on one connection (24 MB held back in all, more than its window).
TEST_F(FlowCredit, ClientCancellingWithMessagesQueuedGivesTheCreditBack) {
  for (int i = 0; i < 6; ++i) {
    CallOptions o;
    o.deadline = DeadlineAfter(5s);  // a stalled connection fails the test instead of hanging it
    auto call = channel_->CreateCall("/test.Credit/Download", o);
    ASSERT_TRUE(SendBlocking(*call, Slice::Copy("8"), kWriteLast));
    Slice m;
    ASSERT_TRUE(RecvBlocking(*call, &m)) << "call " << i << ": the download stalled";
    std::this_thread::sleep_for(100ms);  // the rest of the window arrives and queues
    call->Cancel();
    EXPECT_EQ(FinishBlocking(*call).code(), StatusCode::CANCELLED);
  }
  // A whole download still flows, then an echo.
  CallOptions o;
  o.deadline = DeadlineAfter(5s);
  auto call = channel_->CreateCall("/test.Credit/Download", o);
  ASSERT_TRUE(SendBlocking(*call, Slice::Copy("8"), kWriteLast));
  Slice m;
  int n = 0;
  while (RecvBlocking(*call, &m)) ++n;
  Status st = FinishBlocking(*call);
  EXPECT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(n, 8);
  ExpectEchoStillFlows();
}

// A download that fits in the stream window: its status arrives while the messages the client
// has not read are still queued, the stream closes normally, and the client drops the call
// unread. The credit of what it never read is owed too; eight times (2 MB each).
TEST_F(FlowCredit, ClientDroppingAFinishedCallUnreadGivesTheCreditBack) {
  for (int i = 0; i < 8; ++i) {
    CallOptions o;
    o.deadline = DeadlineAfter(5s);
    auto call = channel_->CreateCall("/test.Credit/Download", o);
    ASSERT_TRUE(SendBlocking(*call, Slice::Copy("3"), kWriteLast));
    Slice m;
    ASSERT_TRUE(RecvBlocking(*call, &m)) << "call " << i << ": the download stalled";
    EXPECT_TRUE(FinishBlocking(*call).ok()) << "call " << i;
  }
  ExpectEchoStillFlows();
}

// The server's side: a handler that never reads, a client that sends four 1 MB messages and
// cancels; eight times (the server holds back about 3 MB of each).
TEST_F(FlowCredit, ServerCallEndingWithMessagesQueuedGivesTheCreditBack) {
  for (int i = 0; i < 8; ++i) {
    CallOptions o;
    o.deadline = DeadlineAfter(5s);
    auto call = channel_->CreateCall("/test.Credit/Ignore", o);
    for (int k = 0; k < 4; ++k) {
      ASSERT_TRUE(SendBlocking(*call, Slice::Copy(std::string(kMessage, 'u'))))
          << "call " << i << ", message " << k << ": the upload stalled";
    }
    call->Cancel();
    EXPECT_EQ(FinishBlocking(*call).code(), StatusCode::CANCELLED);
  }
  ExpectEchoStillFlows();
  auto end = Clock::now() + 5s;
  while (server_->GetStats().calls > 0 && Clock::now() < end) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(server_->GetStats().calls, 0u);
}

}  // namespace
