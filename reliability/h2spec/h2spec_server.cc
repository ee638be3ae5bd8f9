// The server h2spec runs against (reliability/h2spec/run): a polyrpc server whose every method
// answers the way h2spec expects an HTTP/2 server to, with response headers, a DATA frame and
// trailers, without waiting for a request message. h2spec's requests are "GET /" without a
// body: a gRPC server answers them at once with a headers-only 405, which ends the stream
// before h2spec's probe frames arrive (not a failure of HTTP/2, but not what h2spec can test),
// so this server lets any request reach its handler (polyrpc.testing_accept_any_request).
//
// Usage: h2spec_server PORT_FILE [--tls CERT_DIR]
//   Listens on 127.0.0.1 (ephemeral port, written to PORT_FILE), serves until SIGTERM or
//   SIGINT, then prints its peak resident memory (VmHWM) and exits.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>

#include "polyrpc++/polyrpc.hpp"

namespace {

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop = true; }

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

std::string PeakResident() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return line.substr(6);
  }
  return "?";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: h2spec_server PORT_FILE [--tls CERT_DIR]\n";
    return 2;
  }
  std::string port_file = argv[1];
  auto creds = polyrpc::ServerCredentials::Insecure();
  if (argc >= 4 && std::string(argv[2]) == "--tls") {
    std::string dir = argv[3];
    creds = polyrpc::ServerCredentials::Tls(ReadFile(dir + "/server.pem"),
                                            ReadFile(dir + "/server.key"));
  }
  polyrpc::Options options;
  options.Set("polyrpc.testing_accept_any_request", 1);
  auto server = polyrpc::Server::Create(options);
  // Answers once the request has ended (a request body is discarded): h2spec's probes on an
  // open stream (window updates, priorities) then meet the stream open, as with any server
  // that reads its request before answering.
  server->SetGenericHandler([](std::shared_ptr<polyrpc::ServerCall> call) {
    auto c = call;
    auto answer = [c] {
      c->SendInitialMetadata({}, [](bool) {});
      c->SendMessage(polyrpc::Slice::Copy("h2spec"), 0, [](bool) {});
      c->SendStatus(polyrpc::Status::Ok(), {}, [c](bool) {});
    };
    auto drain = std::make_shared<std::function<void(bool)>>();
    *drain = [c, drain, answer](bool ok) {
      polyrpc::Slice ignored;
      if (ok && c->TakeMessage(&ignored)) {
        c->RecvMessage(*drain);
        return;
      }
      answer();
      *drain = nullptr;  // breaks the cycle
    };
    c->RecvMessage(*drain);
  });
  std::string err;
  int port = server->AddListener("127.0.0.1:0", creds, &err);
  if (port <= 0 || !server->Start(&err)) {
    std::cerr << "h2spec_server: " << err << "\n";
    return 1;
  }
  {
    std::ofstream f(port_file + ".tmp");
    f << port << "\n";
  }
  std::rename((port_file + ".tmp").c_str(), port_file.c_str());
  signal(SIGTERM, OnSignal);
  signal(SIGINT, OnSignal);
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  server->Shutdown(polyrpc::DeadlineAfter(std::chrono::seconds(2)));
  polyrpc::ServerStats st = server->GetStats();
  std::cout << "h2spec_server: peak resident" << PeakResident() << ", quota peak " << st.memory_peak
            << " bytes, streams refused " << st.streams_refused << std::endl;
  return 0;
}
