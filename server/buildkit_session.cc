// BuildKitSession (buildkit_session.h): the Auth and Secrets services and the
// hijacked `POST /session` they are served on.
#include "server/buildkit_session.h"

#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/server_posix.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "core/base/status_macros.h"
#include "core/engine/engine_hijack.h"
#include "moby/buildkit/secrets/v1/secrets.grpc.pb.h"
#include "moby/filesync/v1/auth.grpc.pb.h"
#include "moby/filesync/v1/filesync.grpc.pb.h"
#include "server/filesync_sender.h"
#include "spdlog/spdlog.h"

namespace dkd::server {

namespace auth = ::moby::filesync::v1;
namespace secrets = ::moby::buildkit::secrets::v1;

std::string RegistryHostOf(absl::string_view server_address) {
  absl::string_view s = absl::StripAsciiWhitespace(server_address);
  if (size_t scheme = s.find("://"); scheme != absl::string_view::npos) s.remove_prefix(scheme + 3);
  if (size_t slash = s.find('/'); slash != absl::string_view::npos) s = s.substr(0, slash);
  std::string host = absl::AsciiStrToLower(s);
  if (host.empty() || host == "index.docker.io" || host == "registry-1.docker.io" ||
      host == "registry.hub.docker.com") {
    return "docker.io";
  }
  return host;
}

class BuildKitSession::Services {
 public:
  explicit Services(BuildKitSessionOptions options) : options_(std::move(options)) {
    for (const core::RegistryAuth& a : options_.credentials) {
      by_host_.emplace(RegistryHostOf(a.server_address), a);
    }
  }

  class Auth final : public auth::Auth::Service {
   public:
    explicit Auth(const Services* s) : s_(s) {}
    grpc::Status Credentials(grpc::ServerContext* /*context*/,
                             const auth::CredentialsRequest* request,
                             auth::CredentialsResponse* response) override {
      const std::string host = RegistryHostOf(request->host());
      auto it = s_->by_host_.find(host);
      if (it != s_->by_host_.end()) {
        // Docker's rule: an identity token is the secret, without a user name.
        if (!it->second.identity_token.empty()) {
          response->set_secret(it->second.identity_token);
        } else {
          response->set_username(it->second.username);
          response->set_secret(it->second.password);
        }
      }
      spdlog::debug("build session: credentials for {} {}", host,
                    it != s_->by_host_.end() ? "given" : "not held (anonymous)");
      return grpc::Status::OK;
    }

   private:
    const Services* s_;
  };

  class Secrets final : public secrets::Secrets::Service {
   public:
    explicit Secrets(const Services* s) : s_(s) {}
    grpc::Status GetSecret(grpc::ServerContext* /*context*/,
                           const secrets::GetSecretRequest* request,
                           secrets::GetSecretResponse* response) override {
      auto it = s_->options_.secrets.find(request->id());
      if (it == s_->options_.secrets.end()) {
        return grpc::Status(grpc::StatusCode::NOT_FOUND,
                            absl::StrCat("secret ", request->id(), " not found"));
      }
      response->set_data(it->second);
      spdlog::debug("build session: secret {} given", request->id());
      return grpc::Status::OK;
    }

   private:
    const Services* s_;
  };

  // The build context, as the "context" and "dockerfile" directories.
  class FileSync final : public auth::FileSync::Service {
   public:
    explicit FileSync(const Services* s) : s_(s) {}
    grpc::Status DiffCopy(
        grpc::ServerContext* context,
        grpc::ServerReaderWriter<fsutil::types::Packet, fsutil::types::Packet>* stream) override {
      std::vector<std::pair<std::string, std::string>> md;
      for (const auto& [k, v] : context->client_metadata()) {
        md.emplace_back(std::string(k.data(), k.size()), std::string(v.data(), v.size()));
      }
      const FileSyncRequest request = ParseFileSyncMetadata(md);
      const core::ContextStore* store = s_->options_.context.get();
      if (store == nullptr || (request.dir_name != "context" && request.dir_name != "dockerfile")) {
        return grpc::Status(grpc::StatusCode::NOT_FOUND,
                            absl::StrCat("no access allowed to dir \"", request.dir_name, "\""));
      }
      auto selected = store->Select(request.filter);
      if (!selected.ok()) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            std::string(selected.status().message()));
      }
      class Stream final : public PacketStream {
       public:
        explicit Stream(grpc::ServerReaderWriter<fsutil::types::Packet, fsutil::types::Packet>* s)
            : s_(s) {}
        bool Read(fsutil::types::Packet* p) override { return s_->Read(p); }
        bool Write(const fsutil::types::Packet& p) override { return s_->Write(p); }

       private:
        grpc::ServerReaderWriter<fsutil::types::Packet, fsutil::types::Packet>* s_;
      } packets(stream);
      absl::Status served = ServeDiffCopy(*store, *selected, packets);
      spdlog::debug("build session: file sync of {}: {} of {} entries, {}", request.dir_name,
                    selected->size(), store->entries().size(), served.ToString());
      if (!served.ok()) {
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, std::string(served.message()));
      }
      return grpc::Status::OK;
    }

   private:
    const Services* s_;
  };

  Auth auth{this};
  Secrets secrets{this};
  FileSync filesync{this};
  bool has_context() const { return options_.context != nullptr; }

 private:
  const BuildKitSessionOptions options_;
  std::map<std::string, core::RegistryAuth> by_host_;
};

namespace {

std::string RandomId() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
    // OpenSSL's generator does not fail on Linux; fall back to /dev/urandom.
    FILE* f = std::fopen("/dev/urandom", "rb");
    if (f != nullptr) {
      (void)std::fread(bytes, 1, sizeof(bytes), f);
      std::fclose(f);
    }
  }
  // BuildKit's ids are 25 base-36 characters; any unique string will do.
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)));
}

}  // namespace

BuildKitSession::BuildKitSession(std::string id, std::unique_ptr<Services> services)
    : id_(std::move(id)), services_(std::move(services)) {}

BuildKitSession::~BuildKitSession() { Close(); }

void BuildKitSession::Close() {
  if (server_ == nullptr) return;
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  server_->Wait();
  server_.reset();
}

absl::StatusOr<std::unique_ptr<BuildKitSession>> BuildKitSession::Start(
    core::EngineClient& engine, BuildKitSessionOptions options) {
  const std::string name = options.name;
  auto services = std::make_unique<Services>(std::move(options));
  std::unique_ptr<BuildKitSession> session(new BuildKitSession(RandomId(), std::move(services)));

  core::EngineRequest req;
  req.method = "POST";
  req.path = "/session";
  req.headers = {
      {"X-Docker-Expose-Session-Uuid", session->id_},
      {"X-Docker-Expose-Session-Name", name},
      {"X-Docker-Expose-Session-Sharedkey", session->id_},
      {"X-Docker-Expose-Session-Grpc-Method", "/moby.filesync.v1.Auth/Credentials"},
      {"X-Docker-Expose-Session-Grpc-Method", "/moby.buildkit.secrets.v1.Secrets/GetSecret"},
      {"X-Docker-Expose-Session-Grpc-Method", "/grpc.health.v1.Health/Check"},
  };
  if (session->services_->has_context()) {
    req.headers.emplace_back("X-Docker-Expose-Session-Grpc-Method",
                             "/moby.filesync.v1.FileSync/DiffCopy");
  }

  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  builder.RegisterService(&session->services_->auth);
  builder.RegisterService(&session->services_->secrets);
  if (session->services_->has_context()) builder.RegisterService(&session->services_->filesync);
  // The engine's health checks come every second with nothing else on the
  // connection: never count them as abusive pings.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 0);
  // Served by one polling thread of the session's own: a server with only
  // callback methods polls no descriptor added with AddInsecureChannelFromFd.
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::NUM_CQS, 1);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MIN_POLLERS, 1);
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, 2);
  session->server_ = builder.BuildAndStart();
  if (session->server_ == nullptr) {
    return absl::InternalError("could not start the build session's gRPC server");
  }
  auto fd = core::HijackEngineConnection(engine, req, "h2c");
  if (!fd.ok()) {
    session->Close();
    return fd.status();
  }
  // gRPC owns the descriptor from here and closes it with the server; its
  // endpoint reads until EAGAIN, so the descriptor must not block.
  ::fcntl(*fd, F_SETFL, ::fcntl(*fd, F_GETFL) | O_NONBLOCK);
  grpc::AddInsecureChannelFromFd(session->server_.get(), *fd);
  return session;
}

core::BuildSessionFactory BuildKitSessionFactory(std::shared_ptr<core::EngineClient> engine) {
  return [engine](const core::BuildSessionOptions& so)
             -> absl::StatusOr<std::unique_ptr<core::BuildSession>> {
    BuildKitSessionOptions options;
    options.credentials = so.credentials;
    options.secrets = so.secrets;
    options.context = so.context;
    ASSIGN_OR_RETURN(std::unique_ptr<BuildKitSession> session,
                     BuildKitSession::Start(*engine, std::move(options)));
    return std::unique_ptr<core::BuildSession>(std::move(session));
  };
}

}  // namespace dkd::server
