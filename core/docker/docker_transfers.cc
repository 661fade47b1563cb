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
      : auth_(std::move(auth)), on_progress_(std::move(on_progress)) {}

  bool Message(const JsonMessage& m) {
    if (!m.error.empty()) {
      error_ = RedactSecrets(m.error, auth_);
      return true;
    }
    Progress p = ToProgress(m);
    if (!p.digest.empty()) last_ = p;
    return on_progress_ == nullptr || on_progress_(p);
  }
  // The end of the stream: the engine's in-stream error, or OK.
  absl::Status Finish() const {
    if (!error_.empty()) return StatusFromStreamError(error_, absl::StatusCode::kUnknown);
    return absl::OkStatus();
  }
  const Progress& last() const { return last_; }

 private:
  const RegistryAuth auth_;
  std::function<bool(const Progress&)> on_progress_;
  std::string error_;
  Progress last_;
};

// Runs an async transfer's messages through a decoder; `done` gets the
// outcome (the stream's status, else the decoder's) and the last event.
struct AsyncTransfer {
  using Done = std::function<void(absl::Status status, const Progress& last)>;
  AsyncTransfer(RegistryAuth auth, DockerManager::AsyncProgressCallback on_progress, Done d)
      : decoder(std::move(auth),
                [this, on_progress = std::move(on_progress)](const Progress& p) {
                  if (!on_progress(p)) want_more = false;
                  return true;  // Whole reads are decoded; pausing stops the next one.
                }),
        done(std::move(d)) {}
  bool OnMessage(const JsonMessage& m) {
    want_more = true;
    decoder.Message(m);
    return want_more;
  }
  void OnEnd(absl::Status status) {
    if (status.ok()) status = decoder.Finish();
    done(std::move(status), decoder.last());
  }
  bool want_more = true;
  TransferDecoder decoder;
  Done done;
};

// A push that reported no digest did not complete.
absl::Status CheckPushedDigest(const std::string& image, const Progress& last) {
  if (!last.digest.empty()) return absl::OkStatus();
  return absl::InternalError(
      absl::StrCat("the engine ended the push of ", image, " without reporting a digest"));
}

}  // namespace

absl::StatusOr<PushOptions> DockerManager::PushRequest(const std::string& image,
                                                       const RegistryAuth& auth) {
  ASSIGN_OR_RETURN(ImageReference ref, ParseImageArg("image", image));
  if (!ref.digest.empty()) return absl::InvalidArgumentError("image: push a tag, not a digest");
  RETURN_IF_ERROR(
      CheckRegistryAllowed(policy().push_registries, ref.domain, "push", "push.registries"));
  PushOptions req;
  req.name = ref.FamiliarName();
  req.tag = ref.tag;
  req.auth_header = EncodeRegistryAuthHeader(auth);
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
  PullOptions& req = out.request;
  req.from_image = ref.FamiliarName();
  req.tag = ref.digest.empty() ? ref.tag : ref.digest;
  req.platform = platform;
  req.auth_header = EncodeRegistryAuthHeader(auth);
  out.tag = ref.digest.empty() ? ref.tag : "";
  return out;
}

absl::StatusOr<std::string> DockerManager::PushOne(const std::string& image,
                                                   const RegistryAuth& auth,
                                                   const ProgressCallback& on_progress,
                                                   CancelToken* cancel, Progress* last) {
  ASSIGN_OR_RETURN(PushOptions req, PushRequest(image, auth));
  TransferDecoder decoder(auth, on_progress);
  RETURN_IF_ERROR(engine_->Push(
      req, [&](const JsonMessage& m) { return decoder.Message(m); }, cancel));
  RETURN_IF_ERROR(decoder.Finish());
  *last = decoder.last();
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
  TransferDecoder decoder(auth, on_progress);
  RETURN_IF_ERROR(engine_->Pull(
      pull.request, [&](const JsonMessage& m) { return decoder.Message(m); }, cancel));
  RETURN_IF_ERROR(decoder.Finish());
  Progress last = decoder.last();
  last.tag = pull.tag;
  return last;
}

absl::StatusOr<std::shared_ptr<AsyncCall>> DockerManager::PushAsync(
    const std::string& image, const RegistryAuth& auth, AsyncProgressCallback on_progress,
    ProgressEndCallback on_end) {
  ASSIGN_OR_RETURN(PushOptions req, PushRequest(image, auth));
  std::shared_ptr<AsyncCall> call = engine_->NewAsyncCall();
  auto transfer = std::make_shared<AsyncTransfer>(
      auth, std::move(on_progress),
      [on_end = std::move(on_end), image](absl::Status s, const Progress& last) {
        if (s.ok()) s = CheckPushedDigest(image, last);
        if (!s.ok()) return on_end(s);
        on_end(last);
      });
  engine_->PushAsync(
      call, req, [transfer](const JsonMessage& m) { return transfer->OnMessage(m); },
      [transfer](absl::Status s) { transfer->OnEnd(std::move(s)); });
  return call;
}

absl::StatusOr<std::shared_ptr<AsyncCall>> DockerManager::PullAsync(
    const std::string& image, const RegistryAuth& auth, const std::string& platform,
    const Owner& owner, AsyncProgressCallback on_progress, ProgressEndCallback on_end) {
  ASSIGN_OR_RETURN(PreparedPull pull, PreparePull(image, auth, platform, owner));
  std::shared_ptr<AsyncCall> call = engine_->NewAsyncCall();
  // The tag stays reserved until the pull ends.
  std::shared_ptr<TagReservations::Hold> hold(std::move(pull.hold));
  auto transfer = std::make_shared<AsyncTransfer>(
      auth, std::move(on_progress),
      [on_end = std::move(on_end), hold, tag = pull.tag](absl::Status s, const Progress& last) {
        if (!s.ok()) return on_end(s);
        Progress out = last;
        out.tag = tag;
        on_end(out);
      });
  engine_->PullAsync(
      call, pull.request, [transfer](const JsonMessage& m) { return transfer->OnMessage(m); },
      [transfer](absl::Status s) { transfer->OnEnd(std::move(s)); });
  return call;
}

}  // namespace dkd::core
