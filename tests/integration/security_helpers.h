// Helpers shared by the security integration tests: a throw-away PKI made
// with the openssl CLI, bearer tokens, channels, and a generic caller that
// can invoke any RPC by name with an empty request.
#pragma once

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <stdlib.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "dkd/v1/docker_manager.grpc.pb.h"
#include "server/config.h"
#include "tests/support/daemon_fixture.h"

namespace dkd::testing {

inline std::string MakeTempDir() {
  char tmpl[] = "/tmp/dkds.XXXXXX";
  return mkdtemp(tmpl);
}

inline std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A CA, a server certificate for 127.0.0.1, client certificates by CN, and a
// second, unrelated CA with a client certificate of its own.
class TestPki {
 public:
  explicit TestPki(const std::vector<std::string>& client_names) : dir_(MakeTempDir()) {
    Ca("ca");
    Ca("otherca");
    Leaf("server", "ca", "dkd-server", "subjectAltName=IP:127.0.0.1,DNS:localhost");
    for (const auto& n : client_names) Leaf(n, "ca", n, "extendedKeyUsage=clientAuth");
    Leaf("mallory", "otherca", "alice", "extendedKeyUsage=clientAuth");
  }
  ~TestPki() { RunCommand({"rm", "-rf", dir_}); }
  // Another client certificate signed by the CA, with any subject
  // ("/CN=nobody", "/O=no-cn") and extensions, one per line
  // ("subjectAltName=DNS:ops-admin").
  void AddClient(const std::string& file, const std::string& subject, const std::string& ext) {
    Leaf(file, "ca", subject, ext + "\nextendedKeyUsage=clientAuth", /*full_subject=*/true);
  }
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }
  std::string Cert(const std::string& name) const { return Path(name + ".pem"); }
  std::string Key(const std::string& name) const { return Path(name + ".key"); }
  bool ok() const { return ok_; }

 private:
  void Openssl(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"openssl"};
    argv.insert(argv.end(), args.begin(), args.end());
    CommandResult r = RunCommand(argv);
    if (r.exit_code != 0) {
      ok_ = false;
      ADD_FAILURE() << "openssl failed: " << r.err;
    }
  }
  void Ca(const std::string& name) {
    Openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", Key(name), "-out", Cert(name), "-days", "2", "-subj",
             "/CN=" + name + "-test"});
  }
  void Leaf(const std::string& file, const std::string& ca, const std::string& cn,
            const std::string& ext, bool full_subject = false) {
    std::ofstream(Path(file + ".ext")) << ext << "\n";
    Openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", Key(file), "-out", Path(file + ".csr"), "-subj",
             full_subject ? cn : "/CN=" + cn});
    Openssl({"x509", "-req", "-in", Path(file + ".csr"), "-CA", Cert(ca), "-CAkey", Key(ca),
             "-CAcreateserial", "-out", Cert(file), "-days", "2", "-extfile", Path(file + ".ext")});
  }
  std::string dir_;
  bool ok_ = true;
};

// A dkd for a security test: engine ("" = the test engine), extra flags and
// the JSON config ("" = none).
struct SecurityDaemon {
  std::string engine;
  std::vector<std::string> args;
  std::string config;
};

inline absl::StatusOr<std::unique_ptr<DaemonProcess>> StartDaemon(const SecurityDaemon& d) {
  return DaemonProcess::Start({d.engine, d.args}, d.config);
}

inline std::shared_ptr<grpc::Channel> PlainChannel(const std::string& target) {
  return grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
}

// A TLS channel trusting `ca`; with `cert`/`key` for mutual TLS.
inline std::shared_ptr<grpc::Channel> TlsChannel(const std::string& target, const std::string& ca,
                                                 const std::string& cert = "",
                                                 const std::string& key = "") {
  grpc::SslCredentialsOptions o;
  o.pem_root_certs = Slurp(ca);
  if (!cert.empty()) {
    o.pem_cert_chain = Slurp(cert);
    o.pem_private_key = Slurp(key);
  }
  grpc::ChannelArguments args;
  // A fresh connection per channel, so one test's handshake never serves another.
  args.SetInt("grpc.use_local_subchannel_pool", 1);
  return grpc::CreateCustomChannel(target, grpc::SslCredentials(o), args);
}

// Calls `method` ("/dkd.v1.DockerManager/Ping") with one request message of
// raw bytes `payload` (which need not be a valid message), reads every
// response, and returns the final status.
inline grpc::Status CallWithPayload(const std::shared_ptr<grpc::Channel>& channel,
                                    const std::string& method, const std::string& payload,
                                    const std::string& token = "",
                                    std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
  ctx.set_deadline(std::chrono::system_clock::now() + timeout);
  auto call = stub.PrepareCall(&ctx, method, &cq);
  void* tag = nullptr;
  bool ok = false;
  call->StartCall(reinterpret_cast<void*>(1));
  cq.Next(&tag, &ok);
  grpc::Slice bytes(payload);
  grpc::ByteBuffer request(&bytes, 1);
  call->WriteLast(request, grpc::WriteOptions(), reinterpret_cast<void*>(2));
  cq.Next(&tag, &ok);
  grpc::ByteBuffer response;
  do {
    call->Read(&response, reinterpret_cast<void*>(3));
    cq.Next(&tag, &ok);
  } while (ok);
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(4));
  cq.Next(&tag, &ok);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return status;
}

// Calls `method` with one empty request message (see CallWithPayload).
inline grpc::Status CallByName(const std::shared_ptr<grpc::Channel>& channel,
                               const std::string& method, const std::string& token = "",
                               std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  return CallWithPayload(channel, method, "", token, timeout);
}

// Config JSON with one token per (identity, role); token text is
// "tok-<identity>-<suffix>".
inline std::string TokenConfig(const std::vector<std::pair<std::string, std::string>>& ids,
                               const std::string& suffix, const std::string& extra = "") {
  std::string tokens, roles;
  for (const auto& [id, role] : ids) {
    absl::StrAppend(&tokens, tokens.empty() ? "" : ",", R"({"identity":")", id, R"(","sha256":")",
                    server::Sha256Hex(absl::StrCat("tok-", id, "-", suffix)), R"("})");
    if (role != "none")
      absl::StrAppend(&roles, roles.empty() ? "" : ",", "\"", id, "\":\"", role, "\"");
  }
  return absl::StrCat(R"({"auth":{"tokens":[)", tokens, R"(],"roles":{)", roles, "}}",
                      extra.empty() ? "" : ",", extra, "}");
}

inline std::string TokenFor(const std::string& id, const std::string& suffix) {
  return absl::StrCat("tok-", id, "-", suffix);
}

// How many waits dkd has registered so far (one debug line each).
inline size_t WaitsRegistered(const DaemonProcess& d) {
  const std::string log = d.Log();
  size_t n = 0;
  for (size_t at = log.find("waiting for container "); at != std::string::npos;
       at = log.find("waiting for container ", at + 1)) {
    ++n;
  }
  return n;
}

// Concurrent WaitContainer calls through one completion queue.
class AsyncWaits {
 public:
  AsyncWaits(dkd::v1::DockerManager::Stub* stub, const std::string& id, const std::string& token,
             int n, const std::string& condition = "",
             std::chrono::seconds deadline = std::chrono::seconds(120))
      : calls_(n) {
    for (int i = 0; i < n; ++i) {
      Call& c = calls_[i];
      c.ctx.AddMetadata("authorization", "Bearer " + token);
      c.ctx.set_deadline(std::chrono::system_clock::now() + deadline);
      dkd::v1::WaitContainerRequest req;
      req.set_id(id);
      req.set_condition(condition);
      c.reader = stub->AsyncWaitContainer(&c.ctx, req, &cq_);
      c.reader->Finish(&c.response, &c.status, reinterpret_cast<void*>(static_cast<intptr_t>(i)));
    }
  }
  ~AsyncWaits() {
    for (auto& c : calls_) c.ctx.TryCancel();
    void* tag;
    bool ok;
    while (done_ < static_cast<int>(calls_.size()) && cq_.Next(&tag, &ok)) ++done_;
    cq_.Shutdown();
    while (cq_.Next(&tag, &ok)) {
    }
  }
  // Waits for every call to end; returns {status, exit code} per call.
  std::vector<std::pair<grpc::Status, int>> All() {
    void* tag;
    bool ok;
    while (done_ < static_cast<int>(calls_.size()) && cq_.Next(&tag, &ok)) ++done_;
    std::vector<std::pair<grpc::Status, int>> out;
    for (auto& c : calls_) out.emplace_back(c.status, c.response.exit_code());
    return out;
  }

 private:
  struct Call {
    grpc::ClientContext ctx;
    dkd::v1::WaitContainerResponse response;
    grpc::Status status;
    std::unique_ptr<grpc::ClientAsyncResponseReader<dkd::v1::WaitContainerResponse>> reader;
  };
  grpc::CompletionQueue cq_;
  std::vector<Call> calls_;
  int done_ = 0;
};

// Runs the docker CLI against the test engine; its stdout, trimmed.
inline std::string Docker(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"docker", "-H", TestEngineHost()};
  argv.insert(argv.end(), args.begin(), args.end());
  return std::string(absl::StripAsciiWhitespace(RunCommand(argv).out));
}

// Streams a build of `context` as image `tag`:1; collects every event.
inline grpc::Status Build(dkd::v1::DockerManager::Stub* stub, grpc::ClientContext* ctx,
                          const std::string& tag, const std::string& context,
                          std::vector<dkd::v1::BuildEvent>* events) {
  auto stream = stub->BuildImage(ctx);
  dkd::v1::BuildImageRequest first;
  first.mutable_spec()->mutable_config()->set_image_name(tag);
  first.mutable_spec()->mutable_config()->set_tag("1");
  first.mutable_spec()->set_no_pull(true);
  stream->Write(first);
  for (size_t off = 0; off < context.size(); off += 4096) {
    dkd::v1::BuildImageRequest chunk;
    chunk.set_context_chunk(context.substr(off, 4096));
    if (!stream->Write(chunk)) break;
  }
  stream->WritesDone();
  dkd::v1::BuildEvent e;
  while (stream->Read(&e)) events->push_back(e);
  return stream->Finish();
}

}  // namespace dkd::testing
