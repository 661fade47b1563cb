// DockerManager's pushes and pulls, blocking and async.
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "core/base/status_macros.h"
#include "core/docker/docker_internal.h"
#include "core/docker/docker_manager.h"
#include "core/engine/registry_auth.h"

namespace dkd::core {
namespace {

using internal::JsonMessageStream;
using internal::ParseImageArg;
using internal::ToProgress;
using internal::ValidateSimpleName;

// What a push or pull stream says: progress for the caller, the last event
// carrying a digest, and the error the engine reported in the stream
// (redacted of the credentials).
class TransferDecoder {
 public:
  // `on_progress` returns whether more is wanted (its meaning is the
  // caller's: stop for the blocking form, pause for the async one).
  TransferDecoder(RegistryAuth auth, std::function<bool(const Progress&)> on_progress)
      : auth_(std::move(auth)),
        on_progress_(std::move(on_progress)),
        messages_([this](const JsonMessage& m) { return Message(m); }) {}

  bool Feed(absl::string_view data) { return messages_.Feed(data); }
  // The end of the stream: the engine's in-stream error, a malformed
  // message, or OK.
  absl::Status Finish() {
    messages_.Finish();
    RETURN_IF_ERROR(messages_.status());
    if (!error_.empty()) return StatusFromStreamError(error_, absl::StatusCode::kUnknown);
    return absl::OkStatus();
  }
  const Progress& last() const { return last_; }

 private:
  bool Message(const JsonMessage& m) {
    if (!m.error.empty()) {
      error_ = RedactSecrets(m.error, auth_);
      return true;
    }
    Progress p = ToProgress(m);
    if (!p.digest.empty()) last_ = p;
    return on_progress_ == nullptr || on_progress_(p);
  }

  const RegistryAuth auth_;
  std::function<bool(const Progress&)> on_progress_;
  JsonMessageStream messages_;
  std::string error_;
  Progress last_;
};

// Feeds an async transfer's body to its decoder; `done` gets the outcome.
class TransferSink final : public StreamSink {
 public:
  using Done = std::function<void(absl::Status status, const Progress& last)>;
  TransferSink(std::shared_ptr<AsyncCall> call, RegistryAuth auth,
               DockerManager::AsyncProgressCallback on_progress, Done done)
      : call_(std::move(call)),
        decoder_(std::move(auth),
                 [this, on_progress = std::move(on_progress)](const Progress& p) {
                   if (!on_progress(p)) want_more_ = false;
                   return true;  // Whole reads are decoded; pausing stops the next one.
                 }),
        done_(std::move(done)) {}

  bool OnData(absl::string_view data) override {
    if (broken_) return true;
    want_more_ = true;
    if (!decoder_.Feed(data)) {
      broken_ = true;  // A malformed message: Finish reports it.
      call_->Cancel();
      return true;
    }
    return want_more_;
  }
  void OnEnd(absl::Status status) override {
    absl::Status end = decoder_.Finish();
    if (broken_ || (status.ok() && !end.ok())) status = end;
    done_(std::move(status), decoder_.last());
  }

 private:
  std::shared_ptr<AsyncCall> call_;
  bool want_more_ = true;
  bool broken_ = false;
  TransferDecoder decoder_;
  Done done_;
};

// Runs a blocking push or pull: the engine's stream through a decoder, to
// its last event with a digest (empty when none came).
absl::StatusOr<Progress> RunTransfer(EngineClient& engine, const EngineRequest& req,
                                     const RegistryAuth& auth, const ProgressCallback& on_progress,
                                     CancelToken* cancel) {
  TransferDecoder decoder(auth, on_progress);
  RETURN_IF_ERROR(engine.Stream(
      req, [&](absl::string_view d) { return decoder.Feed(d); }, cancel));
  RETURN_IF_ERROR(decoder.Finish());
  return decoder.last();
}

// Starts an async push or pull on `loop`; `done` gets the outcome.
std::shared_ptr<AsyncCall> StartTransfer(EngineStreamLoop& loop, EngineRequest req,
                                         const RegistryAuth& auth,
                                         DockerManager::AsyncProgressCallback on_progress,
                                         TransferSink::Done done) {
  auto call = std::make_shared<AsyncCall>(&loop);
  auto sink = std::make_shared<TransferSink>(call, auth, std::move(on_progress), std::move(done));
  call->Attach(loop.Start(std::move(req), std::move(sink)));
  return call;
}

// A push ends with the digest it pushed; Internal when the engine named none.
absl::Status CheckPushedDigest(const std::string& image, const Progress& last) {
  if (!last.digest.empty()) return absl::OkStatus();
  return absl::InternalError(
      absl::StrCat("the engine ended the push of ", image, " without reporting a digest"));
}

}  // namespace

absl::StatusOr<EngineRequest> DockerManager::PushRequest(const std::string& image,
                                                         const RegistryAuth& auth) {
  ASSIGN_OR_RETURN(ImageReference ref, ParseImageArg("image", image));
  if (!ref.digest.empty()) return absl::InvalidArgumentError("image: push a tag, not a digest");
  RETURN_IF_ERROR(
      CheckRegistryAllowed(policy().push_registries, ref.domain, "push", "push.registries"));
  EngineRequest req;
  req.method = "POST";
  req.path = absl::StrCat("/images/", UrlEncode(ref.FamiliarName()), "/push");
  req.query.emplace_back("tag", ref.tag);
  req.headers.emplace_back("X-Registry-Auth", EncodeRegistryAuthHeader(auth));
  // A large layer may take long between progress lines (core/engine/engine_client.h).
  req.read_timeout = absl::Hours(6);
  return req;
}

absl::StatusOr<DockerManager::PreparedPull> DockerManager::PreparePull(const std::string& image,
                                                                       const RegistryAuth& auth,
                                                                       const std::string& platform,
                                                                       const Owner& owner) {
  ASSIGN_OR_RETURN(ImageReference ref, ParseImageArg("image", image));
  if (!platform.empty())
    RETURN_IF_ERROR(ValidateSimpleName("platform", absl::StrReplaceAll(platform, {{"/", ""}})));
  PreparedPull out;
  // A tag pull re-points the local tag; a digest pull adds no tag.
  if (owner.enforced && ref.digest.empty()) {
    ASSIGN_OR_RETURN(out.hold, tags_being_written_.Reserve({ref.FamiliarString()}, owner.identity));
    RETURN_IF_ERROR(CheckTagWritable(*engine_, "image", ref.FamiliarString(), owner,
                                     /*allow_unowned=*/true));
  }
  EngineRequest& req = out.request;
  req.method = "POST";
  req.path = "/images/create";
  req.query.emplace_back("fromImage", ref.FamiliarName());
  req.query.emplace_back("tag", ref.digest.empty() ? ref.tag : ref.digest);
  if (!platform.empty()) req.query.emplace_back("platform", platform);
  req.headers.emplace_back("X-Registry-Auth", EncodeRegistryAuthHeader(auth));
  req.read_timeout = absl::Hours(6);
  out.tag = ref.digest.empty() ? ref.tag : "";
  return out;
}

absl::StatusOr<std::string> DockerManager::PushOne(const std::string& image,
                                                   const RegistryAuth& auth,
                                                   const ProgressCallback& on_progress,
                                                   CancelToken* cancel, Progress* last) {
  ASSIGN_OR_RETURN(EngineRequest req, PushRequest(image, auth));
  ASSIGN_OR_RETURN(*last, RunTransfer(*engine_, req, auth, on_progress, cancel));
  RETURN_IF_ERROR(CheckPushedDigest(image, *last));
  return last->digest;
}

absl::StatusOr<Progress> DockerManager::Push(const std::string& image, const RegistryAuth& auth,
                                             const ProgressCallback& on_progress,
                                             CancelToken* cancel) {
  Progress last;
  RETURN_IF_ERROR(PushOne(image, auth, on_progress, cancel, &last).status());
  return last;
}

absl::StatusOr<Progress> DockerManager::Pull(const std::string& image, const RegistryAuth& auth,
                                             const std::string& platform,
                                             const ProgressCallback& on_progress,
                                             CancelToken* cancel, const Owner& owner) {
  ASSIGN_OR_RETURN(PreparedPull pull, PreparePull(image, auth, platform, owner));
  ASSIGN_OR_RETURN(Progress last, RunTransfer(*engine_, pull.request, auth, on_progress, cancel));
  last.tag = pull.tag;
  return last;
}

absl::StatusOr<std::shared_ptr<AsyncCall>> DockerManager::PushAsync(
    const std::string& image, const RegistryAuth& auth, AsyncProgressCallback on_progress,
    ProgressEndCallback on_end) {
  ASSIGN_OR_RETURN(EngineRequest req, PushRequest(image, auth));
  return StartTransfer(stream_loop(), std::move(req), auth, std::move(on_progress),
                       [on_end = std::move(on_end), image](absl::Status s, const Progress& last) {
                         if (s.ok()) s = CheckPushedDigest(image, last);
                         if (!s.ok()) return on_end(s);
                         on_end(last);
                       });
}

absl::StatusOr<std::shared_ptr<AsyncCall>> DockerManager::PullAsync(
    const std::string& image, const RegistryAuth& auth, const std::string& platform,
    const Owner& owner, AsyncProgressCallback on_progress, ProgressEndCallback on_end) {
  ASSIGN_OR_RETURN(PreparedPull pull, PreparePull(image, auth, platform, owner));
  // The tag stays reserved until the pull ends.
  std::shared_ptr<TagReservations::Hold> hold(std::move(pull.hold));
  return StartTransfer(
      stream_loop(), std::move(pull.request), auth, std::move(on_progress),
      [on_end = std::move(on_end), hold, tag = pull.tag](absl::Status s, const Progress& last) {
        if (!s.ok()) return on_end(s);
        Progress out = last;
        out.tag = tag;
        on_end(out);
      });
}

}  // namespace dkd::core
