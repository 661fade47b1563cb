// DockerManager's image operations: build (streamed or daemon-local context),
// push, pull, list, inspect, remove.
#include <atomic>
#include <chrono>
#include <optional>
#include <random>
#include <thread>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/base/byte_pipe.h"
#include "core/base/digest.h"
#include "core/base/status_macros.h"
#include "core/base/validation.h"
#include "core/context/context_canon.h"
#include "core/context/context_path.h"
#include "core/context/context_store.h"
#include "core/context/context_tar.h"
#include "core/docker/container_spec.h"
#include "core/docker/docker_internal.h"
#include "core/docker/docker_manager.h"
#include "core/engine/engine_streams.h"
#include "core/policy/base_image_check.h"
#include "core/policy/remote_add_check.h"
#include "spdlog/spdlog.h"

namespace dkd::core {
namespace {

using internal::ParseImageArg;
using internal::ToProgress;
using internal::ValidateSimpleName;

// "Step 3/5 : RUN make" -> step 3 of 5, "RUN make".
bool ParseStepLine(const std::string& text, int* step, int* total, std::string* instruction) {
  absl::string_view t = text;
  if (!absl::ConsumePrefix(&t, "Step ")) return false;
  const size_t slash = t.find('/');
  const size_t colon = t.find(" : ");
  if (slash == absl::string_view::npos || colon == absl::string_view::npos || slash > colon) {
    return false;
  }
  if (!absl::SimpleAtoi(t.substr(0, slash), step) ||
      !absl::SimpleAtoi(t.substr(slash + 1, colon - slash - 1), total)) {
    return false;
  }
  *instruction = std::string(absl::StripTrailingAsciiWhitespace(t.substr(colon + 3)));
  return true;
}

absl::Status ValidateDockerfilePath(const std::string& p) {
  if (p.empty()) return absl::OkStatus();
  for (char c : p) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      return absl::InvalidArgumentError(
          "config.dockerfile_path: must not contain control characters");
    }
  }
  if (p[0] == '/') {
    return absl::InvalidArgumentError(
        "config.dockerfile_path: must be relative to the build context");
  }
  for (absl::string_view part : absl::StrSplit(p, '/')) {
    if (part == "..") {
      return absl::InvalidArgumentError(
          "config.dockerfile_path: must stay inside the build context (no \"..\")");
    }
  }
  return absl::OkStatus();
}

// A BuildKit build id: unique, so a cancel stops this build only.
std::string NewBuildId() {
  static std::atomic<uint64_t> counter{0};
  std::random_device rd;
  return absl::StrCat("dkd-", absl::Hex(rd(), absl::kZeroPad8), absl::Hex(rd(), absl::kZeroPad8),
                      "-", counter.fetch_add(1) + 1);
}

}  // namespace

std::string CacheMountNamespace(const std::string& identity) {
  return absl::StrCat("dkd-owner-", Sha256Hex(identity).substr(0, 32));
}

bool BuildKitByDefault(const EnginePing& ping) {
  return ping.os_type == "linux" && ParseApiVersion(ping.api_version) >= std::make_pair(1, 39) &&
         ping.builder_version != "1";
}

absl::StatusOr<BuildResult> DockerManager::Build(const BuildRequest& r,
                                                 const ContextReader& context,
                                                 const BuildCallback& on_event,
                                                 CancelToken* cancel) {
  const auto started = absl::Now();
  const RunPolicy pol = policy();
  ASSIGN_OR_RETURN(ImageReference main_ref, ConfigImageReference(r.config));
  if (!main_ref.digest.empty()) {
    return absl::InvalidArgumentError(
        "config.image_name: a build result cannot be named by digest");
  }
  std::vector<std::string> tags = {main_ref.FamiliarString()};
  std::vector<ImageReference> refs = {main_ref};
  for (size_t i = 0; i < r.extra_tags.size(); ++i) {
    ASSIGN_OR_RETURN(ImageReference ref,
                     ParseImageArg(absl::StrCat("extra_tags[", i, "]"), r.extra_tags[i]));
    if (!ref.digest.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("extra_tags[", i, "]: must be a tag, not a digest"));
    }
    tags.push_back(ref.FamiliarString());
    refs.push_back(ref);
  }
  RETURN_IF_ERROR(ValidateDockerfilePath(r.config.dockerfile_path));
  std::map<std::string, std::string> build_args;
  for (const auto& [k, v] : r.config.build_args) {
    const std::string field = absl::StrCat("config.build_args[\"", k, "\"]");
    RETURN_IF_ERROR(ValidateBuildArgKey(field, k));
    RETURN_IF_ERROR(ValidateEnvValue(field, v));
    build_args[k] = v;
  }
  std::map<std::string, std::string> labels;
  for (const auto& [k, v] : r.config.labels) {
    const std::string field = absl::StrCat("config.labels[\"", k, "\"]");
    RETURN_IF_ERROR(ValidateLabelKey(field, k));
    RETURN_IF_ERROR(ValidateLabelValue(field, v));
    labels[k] = v;
  }
  RETURN_IF_ERROR(ValidateSimpleName("target", r.target));
  if (r.builder == BuildRequest::Builder::kClassic && !r.secrets.empty()) {
    return absl::InvalidArgumentError(
        "secrets: secrets need the BuildKit builder (builder: BUILDER_BUILDKIT or AUTO)");
  }
  for (const auto& [id, data] : r.secrets) {
    const std::string field = absl::StrCat("secrets[\"", id, "\"]");
    if (id.empty()) return absl::InvalidArgumentError("secrets: a secret needs an id");
    RETURN_IF_ERROR(ValidateSimpleName(field, id));
    // BuildKit refuses larger secrets mid-build; refuse them before it starts.
    if (data.size() > kMaxBuildSecretBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": a secret is at most ", kMaxBuildSecretBytes / 1024,
                       " KiB (BuildKit's limit); this one has ", data.size(), " bytes"));
    }
  }
  if (!r.platform.empty()) {
    RETURN_IF_ERROR(ValidateSimpleName("platform", absl::StrReplaceAll(r.platform, {{"/", ""}})));
  }
  for (size_t i = 0; i < r.cache_from.size(); ++i) {
    const std::string field = absl::StrCat("cache_from[", i, "]");
    ASSIGN_OR_RETURN(ImageReference ref, ParseImageArg(field, r.cache_from[i]));
    // A cache source is an image the engine pulls, as a base is.
    absl::Status allowed = CheckRegistryAllowed(pol.base_registries, ref.domain,
                                                "build cache source", "build.base_registries");
    if (!allowed.ok()) {
      return absl::PermissionDeniedError(absl::StrCat(field, ": ", allowed.message()));
    }
  }
  // The builder: named by the caller, or chosen for auto once the request
  // is known to be well-formed (asking the engine is the first contact).
  bool buildkit = r.builder == BuildRequest::Builder::kBuildKit;
  if (r.builder == BuildRequest::Builder::kAuto) {
    if (!r.secrets.empty()) {
      buildkit = true;
    } else if (build_sessions_) {
      ASSIGN_OR_RETURN(EnginePing ping, engine_->LastPing());
      buildkit = BuildKitByDefault(ping);
    }
  }
  if (buildkit && !build_sessions_) {
    return absl::FailedPreconditionError("this dkd cannot open BuildKit build sessions");
  }
  const BuilderKind kind = buildkit ? BuilderKind::kBuildKit : BuilderKind::kClassic;
  // BuildKit's cache mounts persist on the engine under their id, shared by
  // every build. With ownership on, dkd scopes them to the identity: the
  // frontend prefixes each cache id with this namespace ("<ns>/<id>"), and
  // the namespace is a fixed-length digest, so no identity's keys are a
  // prefix of another's. The caller may not choose it.
  if (buildkit && r.owner.enforced) {
    if (build_args.count(kCacheMountNamespaceArg)) {
      return absl::PermissionDeniedError(
          absl::StrCat("config.build_args[\"", kCacheMountNamespaceArg,
                       "\"]: with ownership on, dkd sets the cache-mount namespace to the "
                       "caller's identity (ownership.enabled); remove the build arg"));
    }
    build_args[kCacheMountNamespaceArg] = CacheMountNamespace(r.owner.identity);
  }
  // The owner label is dkd's: build labels are applied after the Dockerfile's.
  if (r.owner.identity.empty()) {
    labels.erase(kOwnerLabel);
  } else {
    labels[kOwnerLabel] = r.owner.identity;
  }
  std::unique_ptr<TagReservations::Hold> tag_hold;
  if (r.owner.enforced) {
    ASSIGN_OR_RETURN(tag_hold, tags_being_written_.Reserve(tags, r.owner.identity));
    for (size_t i = 0; i < tags.size(); ++i) {
      RETURN_IF_ERROR(CheckTagWritable(
          *engine_, i == 0 ? "config.image_name" : absl::StrCat("extra_tags[", i - 1, "]"), tags[i],
          r.owner, /*allow_unowned=*/false));
    }
  }
  if (r.push) {
    for (const auto& ref : refs) {
      RETURN_IF_ERROR(
          CheckRegistryAllowed(pol.push_registries, ref.domain, "push", "push.registries"));
    }
  }

  // Daemon-local context: pack it here, streaming through a bounded pipe.
  std::string daemon_dir;
  if (r.daemon_path) {
    auto dir = ResolveContextDirectory(r.config.build_context, pol.context_roots);
    if (!dir.ok()) {
      return absl::Status(dir.status().code(),
                          absl::StrCat("config.build_context: ", dir.status().message()));
    }
    daemon_dir = *dir;
  }
  BytePipe pipe;
  std::thread packer;
  ContextReader reader = context;
  if (r.daemon_path) {
    ContextPackOptions opts;
    if (!r.config.dockerfile_path.empty()) opts.dockerfile = r.config.dockerfile_path;
    ASSIGN_OR_RETURN(ContextPacker p, ContextPacker::Create(daemon_dir, opts));
    packer = std::thread([&pipe, p = std::move(p)] {
      auto stats = p.Pack([&pipe](const char* d, size_t n) { return pipe.Write(d, n); });
      pipe.CloseWrite(stats.ok() ? absl::OkStatus() : stats.status());
    });
    reader = [&pipe](char* buf, size_t n) { return pipe.Read(buf, n); };
  }
  auto join_packer = [&] {
    if (packer.joinable()) {
      pipe.CloseRead();
      packer.join();
    }
  };
  // Whatever way the build ends, the packer is stopped and joined.
  absl::Cleanup packer_joined = [&] { join_packer(); };

  BuildOptions build;
  build.tags = tags;
  build.build_args = build_args;
  build.labels = labels;
  build.target = r.target;
  build.no_cache = r.no_cache;
  build.pull = r.pull;
  build.registry_config = EncodeRegistryConfigHeader(r.auth, main_ref.domain);
  // The engine gets the canonical re-serialization of the context, never the
  // caller's bytes: the Dockerfile checked below is the one it will read,
  // and the limit counts what it unpacks. The classic builder runs it
  // (POST /build without version=2).
  CanonicalContextOptions canon_opts;
  canon_opts.dockerfile = r.config.dockerfile_path;
  canon_opts.max_bytes = r.max_context_bytes;
  // BuildResult.context_bytes: what the client sent (0 for daemon-local).
  int64_t received = 0;
  auto counted = [&reader, &received](char* buf, size_t n) -> absl::StatusOr<size_t> {
    auto got = reader(buf, n);
    if (got.ok()) received += static_cast<int64_t>(*got);
    return got;
  };
  // With pull on, the engine re-pulls every image the build reaches, which
  // re-points those tags: an enforced owner may not move another identity's.
  std::vector<std::unique_ptr<TagReservations::Hold>> base_holds;
  CanonicalContext canon(counted, canon_opts, [&](const std::string&, const std::string& text) {
    if (!pol.allow_remote_add) RETURN_IF_ERROR(CheckNoRemoteSources(text, kind));
    RETURN_IF_ERROR(CheckBaseImages(text, r.config.build_args, pol.base_registries, kind));
    if (buildkit) {
      RETURN_IF_ERROR(CheckBuildKitRunOptions(text, pol.allow_host_network, pol.allow_privileged));
    }
    if (!r.owner.enforced) return absl::OkStatus();
    ASSIGN_OR_RETURN(std::vector<ReachableImage> images,
                     ReachableImages(text, r.config.build_args, kind));
    // A frontend image writes the build graph itself, cache ids included, so
    // the cache-mount namespace above would bind it to nothing.
    for (const ReachableImage& image : images) {
      if (image.where == "# syntax" || image.where == "build arg BUILDKIT_SYNTAX") {
        return absl::PermissionDeniedError(absl::StrCat(
            "ownership: ", image.where, " ", image.image,
            ": with ownership on, builds use the engine's built-in Dockerfile frontend, since "
            "a frontend image could reach other identities' cache mounts (ownership.enabled); "
            "remove the syntax line (the built-in frontend has cache, secret and ssh mounts)"));
      }
    }
    if (!r.pull) return absl::OkStatus();
    for (const ReachableImage& image : images) {
      if (image.image == "scratch") continue;
      auto ref = ParseImageArg("Dockerfile", image.image);
      if (!ref.ok() || !ref->digest.empty()) continue;  // A digest pull moves no tag.
      const std::string tag = ref->FamiliarString();
      ASSIGN_OR_RETURN(auto hold, tags_being_written_.Reserve({tag}, r.owner.identity));
      base_holds.push_back(std::move(hold));
      absl::Status writable =
          CheckTagWritable(*engine_, image.where, tag, r.owner, /*allow_unowned=*/true);
      if (writable.code() == absl::StatusCode::kPermissionDenied) {
        return absl::PermissionDeniedError(absl::StrCat(
            "ownership: ", image.where, " ", image.image, " (line ", image.line,
            "): pulling it would re-point a tag another identity built (ownership.enabled); "
            "build with pull off (dkctl build --pull=false) to use the local image"));
      }
      RETURN_IF_ERROR(writable);
    }
    return absl::OkStatus();
  });
  build.dockerfile = canon.requested_dockerfile();
  build.platform = r.platform;
  build.cache_from = r.cache_from;
  // BuildKit: a session of this build's own gives the engine the request's
  // credentials (for bases and cache sources) and secrets, nothing else.
  // The context reaches BuildKit through the session too: dkd reads the
  // whole canonical context first (every check above has then passed before
  // the engine hears of the build) and the engine fetches only the files
  // the build uses, from what dkd checked.
  std::unique_ptr<BuildSession> session;
  if (buildkit) {
    BuildSessionOptions so;
    if (!r.auth.empty()) {
      RegistryAuth a = r.auth;
      if (a.server_address.empty()) a.server_address = main_ref.domain;
      so.credentials.push_back(std::move(a));
    }
    so.secrets = r.secrets;
    if (!context_spool_dir_.empty()) {
      auto store = ContextStore::Load([&canon](char* buf, size_t n) { return canon.Read(buf, n); },
                                      context_spool_dir_);
      RETURN_IF_ERROR(store.status());
      so.context = std::move(*store);
      // BuildKit's frontend has no "dockerfile" fallback of its own.
      build.dockerfile = canon.checked_dockerfile();
      build.context_from_session = true;
    }
    ASSIGN_OR_RETURN(session, build_sessions_(so));
    build.buildkit = true;
    build.build_id = NewBuildId();
    build.session_id = session->id();
  }

  BuildResult result;
  result.builder = buildkit ? BuildRequest::Builder::kBuildKit : BuildRequest::Builder::kClassic;
  std::string error;
  int step = 0, total = 0;
  std::string instruction;
  // Leftover step containers are the classic builder's; BuildKit runs its
  // steps without engine containers.
  auto steps = build_leftovers_ && !buildkit ? build_leftovers_->Begin() : nullptr;
  DockerEngine::BodyReader body = nullptr;
  if (!build.context_from_session) {
    body = [&canon](char* buf, size_t n) { return canon.Read(buf, n); };
  }
  absl::Status s = engine_->Build(
      build, body,
      [&](const JsonMessage& m) {
        if (steps) steps->Observe(m.stream);
        if (!m.error.empty()) {
          error = RedactSecrets(m.error, r.auth);
          return true;
        }
        if (m.has_aux_id) result.image_id = m.aux_id;
        if (m.id == "moby.buildkit.trace") {
          BuildEvent trace;
          trace.kind = BuildEvent::Kind::kTrace;
          trace.text = m.aux_text;
          return on_event(trace);
        }
        if (!m.stream.empty()) {
          BuildEvent step_event;
          if (ParseStepLine(m.stream, &step_event.step, &step_event.total,
                            &step_event.instruction)) {
            step = step_event.step;
            total = step_event.total;
            instruction = step_event.instruction;
            step_event.kind = BuildEvent::Kind::kStep;
            if (!on_event(step_event)) return false;
          }
          BuildEvent log;
          log.kind = BuildEvent::Kind::kLog;
          log.text = m.stream;
          return on_event(log);
        }
        if (!m.status.empty()) {
          BuildEvent pull;
          pull.kind = BuildEvent::Kind::kPullProgress;
          pull.progress = ToProgress(m);
          return on_event(pull);
        }
        return true;
      },
      cancel);
  if (steps) steps->End(s);
  if (buildkit && cancel != nullptr && cancel->IsCancelled()) {
    // Closing the connection stops the build; the explicit cancel makes sure.
    if (absl::Status c = engine_->CancelBuild(build.build_id); !c.ok()) {
      spdlog::warn("cancelling BuildKit build {}: {}", build.build_id, c.ToString());
    }
  }
  session.reset();
  join_packer();
  result.context_bytes = r.daemon_path ? 0 : received;
  RETURN_IF_ERROR(s);
  if (!error.empty()) {
    const std::string where =
        step > 0 ? absl::StrCat("build failed at step ", step, "/", total, " (", instruction, "): ")
                 : "build failed: ";
    return StatusFromStreamError(absl::StrCat(where, error), absl::StatusCode::kFailedPrecondition);
  }
  if (result.image_id.empty()) {
    return absl::InternalError("the engine ended the build without reporting an image id");
  }
  result.tags = tags;
  if (r.push) {
    for (const auto& t : tags) {
      Progress last;
      auto digest = PushOne(
          t, r.auth,
          [&](const Progress& p) {
            BuildEvent e;
            e.kind = BuildEvent::Kind::kPushProgress;
            e.progress = p;
            return on_event(e);
          },
          cancel, &last);
      if (!digest.ok()) {
        return absl::Status(digest.status().code(),
                            absl::StrCat("built ", result.image_id, " but pushing ", t,
                                         " failed: ", digest.status().message()));
      }
      result.pushed_digests.push_back(*digest);
    }
  }
  result.duration_ms = absl::ToInt64Milliseconds(absl::Now() - started);
  return result;
}

absl::StatusOr<std::vector<ImageSummary>> DockerManager::ListImages(const ListImagesRequest& r) {
  EngineFilters filters;
  for (size_t i = 0; i < r.label_filters.size(); ++i) {
    const std::string key = r.label_filters[i].substr(0, r.label_filters[i].find('='));
    RETURN_IF_ERROR(ValidateLabelKey(absl::StrCat("label_filters[", i, "]"), key));
    filters["label"].push_back(r.label_filters[i]);
  }
  if (!r.reference.empty()) filters["reference"].push_back(r.reference);
  if (r.dangling) filters["dangling"].push_back("true");
  ImageListOptions options;
  options.all = r.all;
  options.filters = filters;
  return engine_->ListImages(options);
}

absl::StatusOr<ImageDetails> DockerManager::InspectImage(const std::string& image) {
  if (image.empty()) return absl::InvalidArgumentError("image: required");
  if (!IsImageId(image)) RETURN_IF_ERROR(ParseImageField("image", image).status());
  return engine_->InspectImage(image);
}

absl::StatusOr<RemoveImageResult> DockerManager::RemoveImage(const std::string& image, bool force,
                                                             bool no_prune) {
  if (image.empty()) return absl::InvalidArgumentError("image: required");
  if (!IsImageId(image)) RETURN_IF_ERROR(ParseImageField("image", image).status());
  return engine_->RemoveImage(image, force, no_prune);
}

}  // namespace dkd::core
