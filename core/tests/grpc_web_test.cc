// gRPC-Web served natively (web/grpc_web.h, PROTOCOL-WEB.md): the protocol pieces byte for byte,
// then raw requests against a polyrpc server over HTTP/2 (raw_h2.h) and HTTP/1.1 (a plain
// socket on the same port): unary, server streaming, text mode, CORS preflight, bad input.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "polyrpc++/polyrpc.hpp"
#include "protocol/base64.h"
#include "raw_h2.h"
#include "web/grpc_web.h"

namespace {

using namespace std::chrono_literals;
using namespace polyrpc;
using polyrpc_test::FindHeader;
using polyrpc_test::GrpcFrame;
using polyrpc_test::GrpcPrefix;
using polyrpc_test::Headers;
using polyrpc_test::RawH2Client;
using polyrpc_test::RawStream;

// ---- protocol pieces ----

TEST(GrpcWebProtocol, ContentTypes) {
  bool other = true;
  EXPECT_EQ(web::ParseContentType("application/grpc-web", &other), web::Mode::kBinary);
  EXPECT_FALSE(other);
  EXPECT_EQ(web::ParseContentType("application/grpc-web+proto", &other), web::Mode::kBinary);
  EXPECT_EQ(web::ParseContentType("application/grpc-web-text", &other), web::Mode::kText);
  EXPECT_EQ(web::ParseContentType("application/grpc-web-text+proto; charset=utf-8", &other),
            web::Mode::kText);
  EXPECT_EQ(web::ParseContentType("Application/GRPC-Web", &other), web::Mode::kBinary);
  EXPECT_FALSE(other);
  EXPECT_EQ(web::ParseContentType("application/grpc-web+json", &other), web::Mode::kBinary);
  EXPECT_TRUE(other);
  EXPECT_EQ(web::ParseContentType("application/grpc", &other), web::Mode::kNone);
  EXPECT_EQ(web::ParseContentType("application/grpc-webx", &other), web::Mode::kNone);
  EXPECT_EQ(web::ParseContentType("text/plain", &other), web::Mode::kNone);
}

TEST(GrpcWebProtocol, TrailersFrameBytes) {
  std::string f = web::TrailersFrame(5, "not%20found", {{"x-a", "1"}});
  std::string body = "grpc-status: 5\r\ngrpc-message: not%20found\r\nx-a: 1\r\n";
  ASSERT_EQ(f.size(), 5 + body.size());
  EXPECT_EQ(static_cast<uint8_t>(f[0]), 0x80);
  EXPECT_EQ(f.substr(1, 4), GrpcPrefix(0, static_cast<uint32_t>(body.size())).substr(1, 4));
  EXPECT_EQ(f.substr(5), body);
  EXPECT_EQ(web::TrailersFrame(0, "", {}).substr(5), "grpc-status: 0\r\n");
}

TEST(GrpcWebProtocol, Base64StreamDecoderAcrossChunksAndPadding) {
  // Two separately padded chunks ("ab" and "cde"), split at every point.
  std::string in = web::EncodeText("ab") + web::EncodeText("cde");
  ASSERT_EQ(in, "YWI=Y2Rl");
  for (size_t cut = 0; cut <= in.size(); cut++) {
    web::Base64StreamDecoder d;
    std::string out;
    ASSERT_TRUE(d.Feed(reinterpret_cast<const uint8_t*>(in.data()), cut, &out));
    ASSERT_TRUE(d.Feed(reinterpret_cast<const uint8_t*>(in.data()) + cut, in.size() - cut, &out));
    EXPECT_EQ(out, "abcde") << cut;
    EXPECT_TRUE(d.AtQuantumBoundary());
  }
  web::Base64StreamDecoder bad;
  std::string out;
  EXPECT_FALSE(bad.Feed(reinterpret_cast<const uint8_t*>("a*cd"), 4, &out));
  web::Base64StreamDecoder partial;
  EXPECT_TRUE(partial.Feed(reinterpret_cast<const uint8_t*>("YWJj" "YW"), 6, &out));
  EXPECT_FALSE(partial.AtQuantumBoundary());
}

// ---- a server ----

// A gRPC-Web response body cut into its frames.
struct WebBody {
  std::vector<std::string> messages;
  std::string trailers;  // the 0x80 frame's text
  int trailer_frames = 0;
  bool well_formed = true;
};

WebBody ParseWebBody(const std::string& b) {
  WebBody r;
  size_t i = 0;
  while (i < b.size()) {
    if (b.size() - i < 5) {
      r.well_formed = false;
      break;
    }
    uint8_t flags = static_cast<uint8_t>(b[i]);
    uint32_t n = (uint32_t(uint8_t(b[i + 1])) << 24) | (uint32_t(uint8_t(b[i + 2])) << 16) |
                 (uint32_t(uint8_t(b[i + 3])) << 8) | uint32_t(uint8_t(b[i + 4]));
    if (b.size() - i - 5 < n || r.trailer_frames > 0) {
      r.well_formed = false;  // truncated, or something after the trailers
      break;
    }
    std::string payload = b.substr(i + 5, n);
    if (flags & 0x80) {
      r.trailers = payload;
      r.trailer_frames++;
    } else {
      r.messages.push_back(payload);
    }
    i += 5 + n;
  }
  return r;
}

// Text mode: the body is a series of padded base64 chunks.
std::string DecodeTextBody(const std::string& b) {
  web::Base64StreamDecoder d;
  std::string out;
  EXPECT_TRUE(d.Feed(reinterpret_cast<const uint8_t*>(b.data()), b.size(), &out));
  EXPECT_TRUE(d.AtQuantumBoundary());
  return out;
}

class GrpcWeb : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = Server::Create();
    server_->RegisterMethod("/test.Web/Echo", [](std::shared_ptr<ServerCall> call) {
      auto c = call;
      c->RecvMessage([c](bool ok) {
        Slice msg;
        if (!ok || !c->TakeMessage(&msg)) {
          c->SendStatus(Status(StatusCode::INTERNAL, "no request"), {}, [](bool) {});
          return;
        }
        Metadata md;
        md.emplace_back("x-echo-initial", "yes");
        c->SendInitialMetadata(md, [](bool) {});
        c->SendMessage(msg, 0, [](bool) {});
        Metadata tr;
        tr.emplace_back("x-echo-trailer", "done");
        c->SendStatus(Status::Ok(), tr, [](bool) {});
      });
    });
    // Count: the request is a decimal N; answers N messages "0".."N-1".
    server_->RegisterMethod("/test.Web/Count", [](std::shared_ptr<ServerCall> call) {
      std::thread([call] {
        Slice msg;
        if (!RecvBlocking(*call, &msg)) {
          call->SendStatus(Status(StatusCode::INTERNAL, "no request"), {}, [](bool) {});
          return;
        }
        int n = std::atoi(msg.ToString().c_str());
        for (int i = 0; i < n; i++) SendBlocking(*call, Slice::Copy(std::to_string(i)));
        call->SendStatus(Status::Ok(), {}, [](bool) {});
      }).detach();
    });
    server_->RegisterMethod("/test.Web/Fail", [](std::shared_ptr<ServerCall> call) {
      call->SendStatus(Status(StatusCode::NOT_FOUND, "no such thing: 100%"), {}, [](bool) {});
    });
    std::string err;
    port_ = server_->AddListener("127.0.0.1:0", ServerCredentials::Insecure(), &err);
    ASSERT_GT(port_, 0) << err;
    ASSERT_TRUE(server_->Start(&err)) << err;
  }
  void TearDown() override { server_->Shutdown(DeadlineAfter(2s)); }

  static Headers WebHeaders(const std::string& path, const std::string& ct) {
    return {{":method", "POST"},       {":scheme", "http"},
            {":path", path},           {":authority", "localhost"},
            {"content-type", ct},      {"x-grpc-web", "1"},
            {"origin", "http://page.example"}};
  }

  std::shared_ptr<Server> server_;
  int port_ = 0;
};

// ---- HTTP/2 ----

TEST_F(GrpcWeb, Http2UnaryBinary) {
  RawH2Client c(port_);
  ASSERT_TRUE(c.connected());
  int32_t id = c.Request(WebHeaders("/test.Web/Echo", "application/grpc-web+proto"),
                         GrpcFrame("hello"));
  ASSERT_TRUE(c.WaitStreamClosed(id, 5s));
  RawStream& s = c.stream(id);
  EXPECT_EQ(s.header_blocks, 1) << "trailers belong in the body, not in HTTP trailers";
  ASSERT_NE(FindHeader(s.headers, ":status"), nullptr);
  EXPECT_EQ(*FindHeader(s.headers, ":status"), "200");
  EXPECT_EQ(*FindHeader(s.headers, "content-type"), "application/grpc-web+proto");
  EXPECT_EQ(*FindHeader(s.headers, "x-echo-initial"), "yes");
  ASSERT_NE(FindHeader(s.headers, "access-control-allow-origin"), nullptr);
  EXPECT_EQ(*FindHeader(s.headers, "access-control-allow-origin"), "http://page.example");
  const std::string* expose = FindHeader(s.headers, "access-control-expose-headers");
  ASSERT_NE(expose, nullptr);
  EXPECT_NE(expose->find("grpc-status"), std::string::npos);
  EXPECT_NE(expose->find("grpc-message"), std::string::npos);
  EXPECT_NE(expose->find("x-echo-initial"), std::string::npos);
  WebBody b = ParseWebBody(s.data);
  ASSERT_TRUE(b.well_formed);
  ASSERT_EQ(b.messages.size(), 1u);
  EXPECT_EQ(b.messages[0], "hello");
  EXPECT_EQ(b.trailer_frames, 1);
  EXPECT_EQ(b.trailers, "grpc-status: 0\r\nx-echo-trailer: done\r\n");
  EXPECT_EQ(s.close_error, 0u);
}

TEST_F(GrpcWeb, Http2ServerStreamingText) {
  RawH2Client c(port_);
  // Request body in text mode, in two separately padded chunks sent as two DATA frames.
  std::string frame = GrpcFrame("5");
  int32_t id = c.Request(WebHeaders("/test.Web/Count", "application/grpc-web-text"),
                         web::EncodeText(frame.substr(0, 2)), /*end_stream=*/false);
  c.Send(id, web::EncodeText(frame.substr(2)), /*end_stream=*/true);
  ASSERT_TRUE(c.WaitStreamClosed(id, 5s));
  RawStream& s = c.stream(id);
  EXPECT_EQ(*FindHeader(s.headers, "content-type"), "application/grpc-web-text");
  EXPECT_EQ(s.header_blocks, 1);
  WebBody b = ParseWebBody(DecodeTextBody(s.data));
  ASSERT_TRUE(b.well_formed);
  ASSERT_EQ(b.messages.size(), 5u);
  for (int i = 0; i < 5; i++) EXPECT_EQ(b.messages[i], std::to_string(i));
  EXPECT_EQ(b.trailers, "grpc-status: 0\r\n");
}

TEST_F(GrpcWeb, Http2ErrorStatusIsInTheTrailersFrame) {
  RawH2Client c(port_);
  int32_t id = c.Request(WebHeaders("/test.Web/Fail", "application/grpc-web"), GrpcFrame("x"));
  ASSERT_TRUE(c.WaitStreamClosed(id, 5s));
  RawStream& s = c.stream(id);
  EXPECT_EQ(*FindHeader(s.headers, ":status"), "200");
  EXPECT_EQ(FindHeader(s.headers, "grpc-status"), nullptr);
  WebBody b = ParseWebBody(s.data);
  ASSERT_TRUE(b.well_formed);
  EXPECT_TRUE(b.messages.empty());
  EXPECT_EQ(b.trailers, "grpc-status: 5\r\ngrpc-message: no such thing: 100%25\r\n");
}

TEST_F(GrpcWeb, Http2UnknownMethodIsUnimplemented) {
  RawH2Client c(port_);
  int32_t id = c.Request(WebHeaders("/test.Web/Nope", "application/grpc-web"), GrpcFrame("x"));
  ASSERT_TRUE(c.WaitStreamClosed(id, 5s));
  RawStream& s = c.stream(id);
  // Answered before any handler: a trailers-only response (PROTOCOL-WEB.md allows it), with
  // the CORS headers that let a page read grpc-status.
  EXPECT_EQ(*FindHeader(s.headers, "content-type"), "application/grpc-web");
  ASSERT_NE(FindHeader(s.headers, "grpc-status"), nullptr);
  EXPECT_EQ(*FindHeader(s.headers, "grpc-status"), "12");
  EXPECT_NE(FindHeader(s.headers, "access-control-expose-headers")->find("grpc-status"),
            std::string::npos);
  EXPECT_TRUE(s.data.empty());
}

TEST_F(GrpcWeb, Http2Preflight) {
  RawH2Client c(port_);
  Headers h = {{":method", "OPTIONS"},
               {":scheme", "http"},
               {":path", "/test.Web/Echo"},
               {":authority", "localhost"},
               {"origin", "http://page.example"},
               {"access-control-request-method", "POST"},
               {"access-control-request-headers", "content-type,x-grpc-web,x-custom"}};
  int32_t id = c.Request(h, "", true, /*with_body=*/false);
  ASSERT_TRUE(c.WaitStreamClosed(id, 5s));
  RawStream& s = c.stream(id);
  EXPECT_EQ(*FindHeader(s.headers, ":status"), "204");
  EXPECT_EQ(*FindHeader(s.headers, "access-control-allow-origin"), "http://page.example");
  EXPECT_EQ(*FindHeader(s.headers, "access-control-allow-headers"),
            "content-type,x-grpc-web,x-custom");
  EXPECT_NE(FindHeader(s.headers, "access-control-allow-methods")->find("POST"),
            std::string::npos);
  EXPECT_NE(FindHeader(s.headers, "access-control-max-age"), nullptr);
  EXPECT_TRUE(s.data.empty());
}

TEST_F(GrpcWeb, Http2BadBase64IsAnError) {
  RawH2Client c(port_);
  int32_t id =
      c.Request(WebHeaders("/test.Web/Echo", "application/grpc-web-text"), "AAAA*AAA");
  ASSERT_TRUE(c.WaitStreamClosed(id, 5s));
  RawStream& s = c.stream(id);
  WebBody b = ParseWebBody(DecodeTextBody(s.data));
  ASSERT_TRUE(b.well_formed);
  EXPECT_EQ(b.trailers.rfind("grpc-status: 13\r\n", 0), 0u) << b.trailers;
  EXPECT_NE(b.trailers.find("base64"), std::string::npos) << b.trailers;
}

TEST_F(GrpcWeb, Http2TruncatedFrameIsAnError) {
  RawH2Client c(port_);
  int32_t id = c.Request(WebHeaders("/test.Web/Echo", "application/grpc-web"),
                         GrpcPrefix(0, 10) + "abc");
  ASSERT_TRUE(c.WaitStreamClosed(id, 5s));
  RawStream& s = c.stream(id);
  WebBody b = ParseWebBody(s.data);
  ASSERT_TRUE(b.well_formed);
  ASSERT_EQ(b.trailer_frames, 1);
  EXPECT_NE(b.trailers.rfind("grpc-status: 0", 0), 0u) << b.trailers;
}

TEST_F(GrpcWeb, Http2JsonSubtypeIsUnimplemented) {
  RawH2Client c(port_);
  int32_t id = c.Request(WebHeaders("/test.Web/Echo", "application/grpc-web+json"),
                         GrpcFrame("{}"));
  ASSERT_TRUE(c.WaitStreamClosed(id, 5s));
  RawStream& s = c.stream(id);
  ASSERT_NE(FindHeader(s.headers, "grpc-status"), nullptr);
  EXPECT_EQ(*FindHeader(s.headers, "grpc-status"), "12");
  EXPECT_EQ(*FindHeader(s.headers, "access-control-allow-origin"), "http://page.example");
}

// Plain gRPC on the same connection is untouched: HTTP trailers, no CORS headers.
TEST_F(GrpcWeb, Http2PlainGrpcUnchanged) {
  RawH2Client c(port_);
  int32_t id = c.Request(polyrpc_test::GrpcRequestHeaders("/test.Web/Echo"), GrpcFrame("hi"));
  ASSERT_TRUE(c.WaitStreamClosed(id, 5s));
  RawStream& s = c.stream(id);
  EXPECT_EQ(*FindHeader(s.headers, "content-type"), "application/grpc");
  EXPECT_EQ(FindHeader(s.headers, "access-control-allow-origin"), nullptr);
  EXPECT_EQ(s.header_blocks, 2);
  EXPECT_EQ(*FindHeader(s.trailers, "grpc-status"), "0");
  EXPECT_EQ(s.data, GrpcFrame("hi"));
}

// ---- HTTP/1.1 (a plain socket on the same port) ----

namespace http1 {

struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;                            // de-chunked
  bool complete = false;
};

class Client {
 public:
  explicit Client(int port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~Client() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool connected() const { return connected_; }
  bool Send(const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      ssize_t n = ::send(fd_, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }
  // Reads one response (content-length, chunked, or no body for 204), within 5 s.
  Response Read() {
    Response r;
    size_t head_end;
    while ((head_end = buf_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return r;
    }
    std::string head = buf_.substr(0, head_end);
    buf_.erase(0, head_end + 4);
    size_t line_end = head.find("\r\n");
    std::string status_line = head.substr(0, line_end);
    if (status_line.rfind("HTTP/1.1 ", 0) != 0) return r;
    r.status = std::atoi(status_line.c_str() + 9);
    size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      size_t e = head.find("\r\n", pos);
      if (e == std::string::npos) e = head.size();
      std::string line = head.substr(pos, e - pos);
      size_t colon = line.find(':');
      std::string k = line.substr(0, colon);
      for (char& ch : k) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      std::string v = colon == std::string::npos ? "" : line.substr(colon + 1);
      while (!v.empty() && v[0] == ' ') v.erase(0, 1);
      r.headers[k] = v;
      pos = e + 2;
    }
    if (r.headers.count("transfer-encoding") && r.headers["transfer-encoding"] == "chunked") {
      for (;;) {
        size_t e;
        while ((e = buf_.find("\r\n")) == std::string::npos) {
          if (!Fill()) return r;
        }
        size_t len = std::strtoul(buf_.substr(0, e).c_str(), nullptr, 16);
        while (buf_.size() < e + 2 + len + 2) {
          if (!Fill()) return r;
        }
        r.body += buf_.substr(e + 2, len);
        buf_.erase(0, e + 2 + len + 2);
        if (len == 0) break;
      }
    } else if (r.headers.count("content-length")) {
      size_t len = std::strtoul(r.headers["content-length"].c_str(), nullptr, 10);
      while (buf_.size() < len) {
        if (!Fill()) return r;
      }
      r.body = buf_.substr(0, len);
      buf_.erase(0, len);
    }
    r.complete = true;
    return r;
  }
  // Whether the server closes the connection within 5 s (reading and dropping what comes).
  bool WaitClosed() {
    for (;;) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 5000) <= 0) return false;
      char b[4096];
      ssize_t n = ::recv(fd_, b, sizeof b, 0);
      if (n <= 0) return true;
    }
  }

 private:
  bool Fill() {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 5000) <= 0) return false;
    char b[4096];
    ssize_t n = ::recv(fd_, b, sizeof b, 0);
    if (n <= 0) return false;
    buf_.append(b, static_cast<size_t>(n));
    return true;
  }
  int fd_ = -1;
  bool connected_ = false;
  std::string buf_;
};

std::string Post(const std::string& path, const std::string& ct, const std::string& body,
                 const std::string& extra = "") {
  return "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " + ct +
         "\r\nX-Grpc-Web: 1\r\nOrigin: http://page.example\r\n" + extra +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

}  // namespace http1

TEST_F(GrpcWeb, Http1UnaryBinary) {
  http1::Client c(port_);
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.Send(http1::Post("/test.Web/Echo", "application/grpc-web+proto", GrpcFrame("hello"))));
  http1::Response r = c.Read();
  ASSERT_TRUE(r.complete);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-type"], "application/grpc-web+proto");
  EXPECT_EQ(r.headers["x-echo-initial"], "yes");
  EXPECT_EQ(r.headers["access-control-allow-origin"], "http://page.example");
  EXPECT_NE(r.headers["access-control-expose-headers"].find("grpc-status"), std::string::npos);
  WebBody b = ParseWebBody(r.body);
  ASSERT_TRUE(b.well_formed);
  ASSERT_EQ(b.messages.size(), 1u);
  EXPECT_EQ(b.messages[0], "hello");
  EXPECT_EQ(b.trailer_frames, 1);
  EXPECT_EQ(b.trailers, "grpc-status: 0\r\nx-echo-trailer: done\r\n");
}

// Server streaming in text mode, then a second call (an error status) on the same connection;
// the first request's body is sent chunked.
TEST_F(GrpcWeb, Http1ServerStreamingTextThenErrorOnOneConnection) {
  http1::Client c(port_);
  ASSERT_TRUE(c.connected());
  std::string body = web::EncodeText(GrpcFrame("4"));
  char hex[16];
  std::snprintf(hex, sizeof hex, "%zx", body.size());
  ASSERT_TRUE(c.Send(
      "POST /test.Web/Count HTTP/1.1\r\nHost: 127.0.0.1\r\n"
      "Content-Type: application/grpc-web-text\r\nOrigin: http://page.example\r\n"
      "Transfer-Encoding: chunked\r\n\r\n" +
      std::string(hex) + "\r\n" + body + "\r\n0\r\n\r\n"));
  http1::Response r = c.Read();
  ASSERT_TRUE(r.complete);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-type"], "application/grpc-web-text");
  WebBody b = ParseWebBody(DecodeTextBody(r.body));
  ASSERT_TRUE(b.well_formed);
  ASSERT_EQ(b.messages.size(), 4u);
  for (int i = 0; i < 4; i++) EXPECT_EQ(b.messages[i], std::to_string(i));
  EXPECT_EQ(b.trailers, "grpc-status: 0\r\n");

  ASSERT_TRUE(c.Send(http1::Post("/test.Web/Fail", "application/grpc-web", GrpcFrame("x"))));
  http1::Response r2 = c.Read();
  ASSERT_TRUE(r2.complete);
  EXPECT_EQ(r2.status, 200);
  WebBody b2 = ParseWebBody(r2.body);
  ASSERT_TRUE(b2.well_formed);
  EXPECT_TRUE(b2.messages.empty());
  EXPECT_EQ(b2.trailers, "grpc-status: 5\r\ngrpc-message: no such thing: 100%25\r\n");
}

TEST_F(GrpcWeb, Http1Preflight) {
  http1::Client c(port_);
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.Send(
      "OPTIONS /test.Web/Echo HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://page.example\r\n"
      "Access-Control-Request-Method: POST\r\n"
      "Access-Control-Request-Headers: content-type,x-grpc-web\r\n\r\n"));
  http1::Response r = c.Read();
  ASSERT_TRUE(r.complete);
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.headers["access-control-allow-origin"], "http://page.example");
  EXPECT_EQ(r.headers["access-control-allow-headers"], "content-type,x-grpc-web");
  EXPECT_NE(r.headers["access-control-allow-methods"].find("POST"), std::string::npos);
  EXPECT_TRUE(r.body.empty());
  // The connection goes on: a call after the preflight.
  ASSERT_TRUE(c.Send(http1::Post("/test.Web/Echo", "application/grpc-web", GrpcFrame("again"))));
  http1::Response r2 = c.Read();
  ASSERT_TRUE(r2.complete);
  WebBody b = ParseWebBody(r2.body);
  ASSERT_EQ(b.messages.size(), 1u);
  EXPECT_EQ(b.messages[0], "again");
}

TEST_F(GrpcWeb, Http1OtherContentTypeIs415AndUnknownMethodIsUnimplemented) {
  http1::Client c(port_);
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.Send(http1::Post("/test.Web/Echo", "application/json", "{}")));
  http1::Response r = c.Read();
  ASSERT_TRUE(r.complete);
  EXPECT_EQ(r.status, 415);
  EXPECT_EQ(r.headers["access-control-allow-origin"], "http://page.example");
  ASSERT_TRUE(c.Send(http1::Post("/test.Web/Nope", "application/grpc-web", GrpcFrame("x"))));
  http1::Response r2 = c.Read();
  ASSERT_TRUE(r2.complete);
  EXPECT_EQ(r2.status, 200);
  // Trailers-only over HTTP/2 becomes grpc-status in the HTTP/1.1 headers.
  const std::string status = r2.headers.count("grpc-status") ? r2.headers["grpc-status"]
                                                              : ParseWebBody(r2.body).trailers;
  EXPECT_NE(status.find("12"), std::string::npos) << status;
}

TEST_F(GrpcWeb, Http1MalformedRequestIs400AndClosed) {
  http1::Client c(port_);
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.Send("POST /test.Web/Echo HTTP/1.1\r\nContent-Length: zz\r\n\r\n"));
  http1::Response r = c.Read();
  ASSERT_TRUE(r.complete);
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(c.WaitClosed());
}

}  // namespace
