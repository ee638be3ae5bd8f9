// The C++ side of the cross-language end-to-end test (e2e_cpp_python.py): RouteGuide from
// route_guide.proto through the generated C++ stubs, as a server or as a client. The Python side
// implements the same behaviour with the generated Python stubs, so each client checks either
// server the same way:
//   GetFeature(p)    -> Feature{name "f:<lat>,<lon>", location p}; lat < 0: INVALID_ARGUMENT
//                       "negative latitude"; echoes request metadata x-echo as initial metadata
//                       and sends trailer x-trailer: done
//   ListFeatures(r)  -> Feature{name "n<lat>"} for lat in [r.lo.latitude, r.hi.latitude)
//   RecordRoute(ps)  -> RouteSummary{point_count: count, feature_count: sum of latitudes}
//   RouteChat(notes) -> one note per note, message "echo:<message>"
//   Describe(tag)    -> Detail{text "<key>=<value>"}
//   Ping             -> UNIMPLEMENTED (left to the generated default)
//
//   codegen_e2e_peer server PORT     serves until stdin closes
//   codegen_e2e_peer client PORT     runs the checks; exit 0, or 1 with the failed check
#include <cstdio>
#include <iostream>
#include <string>

#include "cgtest/routes/route_guide.polyrpc.h"
#include "polyrpc++/polyrpc.hpp"

namespace {

using polyrpc::test::common::Feature;
using polyrpc::test::common::Feature_Tag;
using polyrpc::test::common::Point;
using polyrpc::test::routes::v1::Rectangle;
using polyrpc::test::routes::v1::RouteGuideClient;
using polyrpc::test::routes::v1::RouteNote;
using polyrpc::test::routes::v1::RouteSummary;
using polyrpc::test::routes::v1::RouteSummary_Detail;
using polyrpc::Status;

class RouteGuideImpl : public polyrpc::test::routes::v1::RouteGuideService {
 public:
  Status GetFeature(polyrpc::ServerContext& ctx, const Point& p, Feature* f) override {
    if (p.latitude() < 0) return Status(polyrpc::StatusCode::INVALID_ARGUMENT, "negative latitude");
    if (const std::string* v = polyrpc::FindMetadata(ctx.client_metadata(), "x-echo")) {
      ctx.AddInitialMetadata("x-echo", *v);
    }
    ctx.AddTrailingMetadata("x-trailer", "done");
    f->set_name("f:" + std::to_string(p.latitude()) + "," + std::to_string(p.longitude()));
    *f->mutable_location() = p;
    return Status::Ok();
  }
  Status ListFeatures(polyrpc::ServerContext&, const Rectangle& r,
                      polyrpc::ServerWriter<Feature>* w) override {
    for (int lat = r.lo().latitude(); lat < r.hi().latitude(); ++lat) {
      Feature f;
      f.set_name("n" + std::to_string(lat));
      if (!w->Write(f)) break;
    }
    return Status::Ok();
  }
  Status RecordRoute(polyrpc::ServerContext&, polyrpc::ServerReader<Point>* r,
                     RouteSummary* s) override {
    Point p;
    while (r->Read(&p)) {
      s->set_point_count(s->point_count() + 1);
      s->set_feature_count(s->feature_count() + p.latitude());
    }
    return Status::Ok();
  }
  Status RouteChat(polyrpc::ServerContext&,
                   polyrpc::ServerReaderWriter<RouteNote, RouteNote>* stream) override {
    RouteNote n;
    while (stream->Read(&n)) {
      n.set_message("echo:" + n.message());
      if (!stream->Write(n)) break;
    }
    return Status::Ok();
  }
  Status Describe(polyrpc::ServerContext&, const Feature_Tag& t,
                  RouteSummary_Detail* d) override {
    d->set_text(t.key() + "=" + t.value());
    return Status::Ok();
  }
};

int Serve(int port) {
  polyrpc::ThreadPool pool;
  RouteGuideImpl impl;
  auto server = polyrpc::Server::Create();
  std::string error;
  if (server->AddListener("127.0.0.1:" + std::to_string(port),
                          polyrpc::ServerCredentials::Insecure(), &error) != port) {
    std::fprintf(stderr, "bind failed: %s\n", error.c_str());
    return 1;
  }
  impl.Register(*server, pool);
  if (!server->Start(&error)) {
    std::fprintf(stderr, "start failed: %s\n", error.c_str());
    return 1;
  }
  std::printf("ready\n");
  std::fflush(stdout);
  std::string line;
  while (std::getline(std::cin, line)) {
  }
  server->Shutdown(polyrpc::DeadlineAfter(std::chrono::seconds(1)));
  pool.Shutdown();
  return 0;
}

struct Failure {
  std::string what;
};
void Check(bool ok, const std::string& what) {
  if (!ok) throw Failure{what};
}

polyrpc::CallOptions Opts() {
  polyrpc::CallOptions o;
  o.deadline = polyrpc::DeadlineAfter(std::chrono::seconds(10));
  return o;
}

void RunClient(int port) {
  auto channel = polyrpc::Channel::Create("127.0.0.1:" + std::to_string(port),
                                          polyrpc::ChannelCredentials::Insecure());
  RouteGuideClient client(channel);

  Point p;
  p.set_latitude(3);
  p.set_longitude(4);
  Feature f;
  polyrpc::CallOptions o = Opts();
  o.metadata.emplace_back("x-echo", "hi");
  polyrpc::Metadata initial, trailing;
  Status st = client.GetFeature(p, &f, o, &initial, &trailing);
  Check(st.ok(), "GetFeature: " + st.ToString());
  Check(f.name() == "f:3,4" && f.location().longitude() == 4, "GetFeature: wrong feature");
  const std::string* echo = polyrpc::FindMetadata(initial, "x-echo");
  Check(echo && *echo == "hi", "GetFeature: x-echo not in initial metadata");
  const std::string* trailer = polyrpc::FindMetadata(trailing, "x-trailer");
  Check(trailer && *trailer == "done", "GetFeature: x-trailer missing");

  p.set_latitude(-1);
  st = client.GetFeature(p, &f, Opts());
  Check(st.code() == polyrpc::StatusCode::INVALID_ARGUMENT && st.message() == "negative latitude",
        "GetFeature(-1): " + st.ToString());

  Rectangle r;
  r.mutable_lo()->set_latitude(2);
  r.mutable_hi()->set_latitude(6);
  auto reader = client.ListFeatures(r, Opts());
  std::string names;
  while (reader->Read(&f)) names += f.name() + " ";
  st = reader->Finish();
  Check(st.ok() && names == "n2 n3 n4 n5 ", "ListFeatures: '" + names + "' " + st.ToString());

  RouteSummary summary;
  auto writer = client.RecordRoute(&summary, Opts());
  for (int i = 1; i <= 4; ++i) {
    Point q;
    q.set_latitude(i * 10);
    Check(writer->Write(q), "RecordRoute: Write failed");
  }
  st = writer->Finish();
  Check(st.ok() && summary.point_count() == 4 && summary.feature_count() == 100,
        "RecordRoute: " + summary.ShortDebugString() + " " + st.ToString());

  auto chat = client.RouteChat(Opts());
  for (const char* m : {"a", "b", "c"}) {
    RouteNote n;
    n.set_message(m);
    Check(chat->Write(n), "RouteChat: Write failed");
    Check(chat->Read(&n) && n.message() == std::string("echo:") + m, "RouteChat: bad echo");
  }
  chat->WritesDone();
  RouteNote extra;
  Check(!chat->Read(&extra), "RouteChat: extra note");
  st = chat->Finish();
  Check(st.ok(), "RouteChat: " + st.ToString());

  Feature_Tag tag;
  tag.set_key("k");
  tag.set_value("v");
  RouteSummary_Detail detail;
  st = client.Describe(tag, &detail, Opts());
  Check(st.ok() && detail.text() == "k=v", "Describe: " + st.ToString());

  google::protobuf::Empty empty;
  st = client.Ping(empty, &empty, Opts());
  Check(st.code() == polyrpc::StatusCode::UNIMPLEMENTED, "Ping: " + st.ToString());
  channel->Close();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s server|client PORT\n", argv[0]);
    return 2;
  }
  std::string mode = argv[1];
  int port = std::atoi(argv[2]);
  if (mode == "server") return Serve(port);
  try {
    RunClient(port);
  } catch (const Failure& f) {
    std::fprintf(stderr, "FAIL: %s\n", f.what.c_str());
    return 1;
  }
  std::printf("PASS\n");
  return 0;
}
