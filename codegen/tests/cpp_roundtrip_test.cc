// The C++ stubs protoc-gen-polyrpc generates, used for real: a server built on the generated
// FooService bases and clients built on the generated FooClient classes, over loopback, for every
// streaming kind, the callback form, statuses, metadata and deadlines.
#include <chrono>
#include <future>
#include <thread>

#include <gtest/gtest.h>

#include "cgtest/routes/route_guide.polyrpc.h"
#include "keywords.polyrpc.h"
#include "polyrpc++/polyrpc.hpp"

namespace {

using polyrpc::test::common::Feature;
using polyrpc::test::common::Feature_Tag;
using polyrpc::test::common::Point;
using polyrpc::test::routes::v1::AdminClient;
using polyrpc::test::routes::v1::Rectangle;
using polyrpc::test::routes::v1::RouteGuideClient;
using polyrpc::test::routes::v1::RouteGuideService;
using polyrpc::test::routes::v1::RouteNote;
using polyrpc::test::routes::v1::RouteSummary;
using polyrpc::test::routes::v1::RouteSummary_Detail;

class RouteGuideImpl : public RouteGuideService {
 public:
  polyrpc::Status GetFeature(polyrpc::ServerContext& context, const Point& request,
                             Feature* response) override {
    if (request.latitude() < 0) {
      return polyrpc::Status(polyrpc::StatusCode::INVALID_ARGUMENT, "negative latitude");
    }
    if (const std::string* v = polyrpc::FindMetadata(context.client_metadata(), "x-echo")) {
      context.AddInitialMetadata("x-echo", *v);
    }
    context.AddTrailingMetadata("x-trailer", "done");
    response->set_name("f:" + std::to_string(request.latitude()) + "," +
                       std::to_string(request.longitude()));
    *response->mutable_location() = request;
    return polyrpc::Status::Ok();
  }

  polyrpc::Status ListFeatures(polyrpc::ServerContext& context, const Rectangle& request,
                               polyrpc::ServerWriter<Feature>* writer) override {
    for (int lat = request.lo().latitude(); lat < request.hi().latitude(); ++lat) {
      Feature f;
      f.set_name("n" + std::to_string(lat));
      f.mutable_location()->set_latitude(lat);
      if (!writer->Write(f)) break;
    }
    return polyrpc::Status::Ok();
  }

  polyrpc::Status RecordRoute(polyrpc::ServerContext& context,
                              polyrpc::ServerReader<Point>* reader,
                              RouteSummary* response) override {
    Point p;
    int count = 0, sum = 0;
    while (reader->Read(&p)) {
      ++count;
      sum += p.latitude();
    }
    response->set_point_count(count);
    response->set_feature_count(sum);
    return polyrpc::Status::Ok();
  }

  polyrpc::Status RouteChat(polyrpc::ServerContext& context,
                            polyrpc::ServerReaderWriter<RouteNote, RouteNote>* stream) override {
    RouteNote note;
    while (stream->Read(&note)) {
      note.set_message("echo:" + note.message());
      if (!stream->Write(note)) break;
    }
    return polyrpc::Status::Ok();
  }

  // Ping is left unimplemented on purpose.

  polyrpc::Status Describe(polyrpc::ServerContext& context, const Feature_Tag& request,
                           RouteSummary_Detail* response) override {
    if (request.key() == "sleep") {
      // Blocks a pool thread, never the I/O thread; the client's deadline ends the call first.
      for (int i = 0; i < 100 && !context.IsCancelled(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    }
    response->set_text(request.key() + "=" + request.value());
    return polyrpc::Status::Ok();
  }
};

class KeywordImpl : public ::classService {
 public:
  polyrpc::Status delete_(polyrpc::ServerContext&, const ::del& request,
                          ::delete_* response) override {
    response->set_value("deleted " + request.value());
    return polyrpc::Status::Ok();
  }
};

class RoundTripTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = polyrpc::Server::Create();
    std::string error;
    int port = server_->AddListener("127.0.0.1:0", polyrpc::ServerCredentials::Insecure(), &error);
    ASSERT_GT(port, 0) << error;
    routes_.Register(*server_, pool_);
    keywords_.Register(*server_, pool_);
    ASSERT_TRUE(server_->Start(&error)) << error;
    channel_ = polyrpc::Channel::Create("127.0.0.1:" + std::to_string(port),
                                        polyrpc::ChannelCredentials::Insecure());
    ASSERT_NE(channel_, nullptr);
  }
  void TearDown() override {
    if (channel_) channel_->Close();
    if (server_) server_->Shutdown(polyrpc::DeadlineAfter(std::chrono::seconds(2)));
    pool_.Shutdown();
  }

  static polyrpc::CallOptions WithTimeout(std::chrono::milliseconds ms = std::chrono::seconds(10)) {
    polyrpc::CallOptions o;
    o.deadline = polyrpc::DeadlineAfter(ms);
    return o;
  }

  RouteGuideImpl routes_;
  KeywordImpl keywords_;
  polyrpc::ThreadPool pool_;
  std::unique_ptr<polyrpc::Server> server_;
  std::shared_ptr<polyrpc::Channel> channel_;
};

TEST_F(RoundTripTest, UnaryWithMetadata) {
  RouteGuideClient client(channel_);
  Point p;
  p.set_latitude(3);
  p.set_longitude(4);
  Feature f;
  polyrpc::CallOptions options = WithTimeout();
  options.metadata.emplace_back("x-echo", "hello");
  polyrpc::Metadata initial, trailing;
  polyrpc::Status st = client.GetFeature(p, &f, options, &initial, &trailing);
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(f.name(), "f:3,4");
  EXPECT_EQ(f.location().longitude(), 4);
  ASSERT_NE(polyrpc::FindMetadata(initial, "x-echo"), nullptr);
  EXPECT_EQ(*polyrpc::FindMetadata(initial, "x-echo"), "hello");
  ASSERT_NE(polyrpc::FindMetadata(trailing, "x-trailer"), nullptr);
  EXPECT_EQ(*polyrpc::FindMetadata(trailing, "x-trailer"), "done");
}

TEST_F(RoundTripTest, UnaryErrorStatus) {
  RouteGuideClient client(channel_);
  Point p;
  p.set_latitude(-1);
  Feature f;
  polyrpc::Status st = client.GetFeature(p, &f, WithTimeout());
  EXPECT_EQ(st.code(), polyrpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(st.message(), "negative latitude");
}

TEST_F(RoundTripTest, UnimplementedMethodAndService) {
  RouteGuideClient client(channel_);
  google::protobuf::Empty req, resp;
  EXPECT_EQ(client.Ping(req, &resp, WithTimeout()).code(), polyrpc::StatusCode::UNIMPLEMENTED);
  AdminClient admin(channel_);  // never registered on the server
  RouteSummary summary;
  EXPECT_EQ(admin.Reset(req, &summary, WithTimeout()).code(),
            polyrpc::StatusCode::UNIMPLEMENTED);
}

TEST_F(RoundTripTest, ServerStreaming) {
  RouteGuideClient client(channel_);
  Rectangle r;
  r.mutable_lo()->set_latitude(10);
  r.mutable_hi()->set_latitude(15);
  auto reader = client.ListFeatures(r, WithTimeout());
  Feature f;
  std::vector<std::string> names;
  while (reader->Read(&f)) names.push_back(f.name());
  polyrpc::Status st = reader->Finish();
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(names, (std::vector<std::string>{"n10", "n11", "n12", "n13", "n14"}));
}

TEST_F(RoundTripTest, ClientStreaming) {
  RouteGuideClient client(channel_);
  RouteSummary summary;
  auto writer = client.RecordRoute(&summary, WithTimeout());
  for (int i = 1; i <= 10; ++i) {
    Point p;
    p.set_latitude(i);
    ASSERT_TRUE(writer->Write(p));
  }
  polyrpc::Status st = writer->Finish();
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(summary.point_count(), 10);
  EXPECT_EQ(summary.feature_count(), 55);
}

TEST_F(RoundTripTest, BidiPingPong) {
  RouteGuideClient client(channel_);
  auto stream = client.RouteChat(WithTimeout());
  for (int i = 0; i < 3; ++i) {
    RouteNote note;
    note.set_message("m" + std::to_string(i));
    ASSERT_TRUE(stream->Write(note));
    RouteNote reply;
    ASSERT_TRUE(stream->Read(&reply));
    EXPECT_EQ(reply.message(), "echo:m" + std::to_string(i));
  }
  ASSERT_TRUE(stream->WritesDone());
  RouteNote extra;
  EXPECT_FALSE(stream->Read(&extra));
  polyrpc::Status st = stream->Finish();
  EXPECT_TRUE(st.ok()) << st.ToString();
}

TEST_F(RoundTripTest, AsyncUnary) {
  RouteGuideClient client(channel_);
  Feature_Tag tag;
  tag.set_key("k");
  tag.set_value("v");
  std::promise<std::pair<polyrpc::Status, std::string>> done;
  client.DescribeAsync(
      tag,
      [&done](polyrpc::Status st, RouteSummary_Detail d) {
        done.set_value({st, d.text()});
      },
      WithTimeout());
  auto future = done.get_future();
  ASSERT_EQ(future.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  auto [st, text] = future.get();
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(text, "k=v");
}

TEST_F(RoundTripTest, DeadlineWhileHandlerBlocks) {
  RouteGuideClient client(channel_);
  Feature_Tag tag;
  tag.set_key("sleep");
  RouteSummary_Detail d;
  auto start = std::chrono::steady_clock::now();
  polyrpc::Status st = client.Describe(tag, &d, WithTimeout(std::chrono::milliseconds(200)));
  EXPECT_EQ(st.code(), polyrpc::StatusCode::DEADLINE_EXCEEDED) << st.ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1500));
  // The blocked handler does not stop other calls.
  tag.set_key("a");
  EXPECT_TRUE(client.Describe(tag, &d, WithTimeout()).ok());
}

TEST_F(RoundTripTest, KeywordNamedService) {
  ::classClient client(channel_);
  ::del req;
  req.set_value("x");
  ::delete_ resp;
  polyrpc::Status st = client.delete_(req, &resp, WithTimeout());
  ASSERT_TRUE(st.ok()) << st.ToString();
  EXPECT_EQ(resp.value(), "deleted x");
  EXPECT_EQ(client.import_(req, &resp, WithTimeout()).code(), polyrpc::StatusCode::UNIMPLEMENTED);
}

}  // namespace
