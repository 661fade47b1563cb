// dkctl build, push, pull, images, rmi, login, logout.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/cli_flags.h"
#include "client/cli_util.h"
#include "client/dkctl_commands.h"
#include "core/context_tar.h"
#include "nlohmann/json.hpp"

namespace dkd::client {
namespace {

namespace fs = std::filesystem;

// Splits "K=V" flags into a map; a missing '=' takes the value from the
// environment, as docker does for --build-arg.
bool KeyValues(const std::vector<std::string>& items, const char* flag, bool env_fallback,
               google::protobuf::Map<std::string, std::string>* out) {
  for (const auto& kv : items) {
    const size_t eq = kv.find('=');
    if (eq == 0) {
      std::cerr << "invalid " << flag << " \"" << kv << "\": expected KEY=VALUE\n";
      return false;
    }
    if (eq == std::string::npos) {
      if (!env_fallback) {
        (*out)[kv] = "";
        continue;
      }
      const char* v = std::getenv(kv.c_str());
      if (v != nullptr) (*out)[kv] = v;
      continue;
    }
    (*out)[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  return true;
}

// Prints progress the way docker does, one line per change.
void PrintProgress(const dkd::v1::ProgressEvent& e) {
  if (!e.id().empty()) {
    std::cout << e.id() << ": " << e.status();
    if (e.total() > 0) std::cout << " " << HumanSize(e.current()) << "/" << HumanSize(e.total());
    std::cout << "\n";
  } else if (!e.status().empty()) {
    std::cout << e.status() << "\n";
  }
}

void SplitNameTag(const std::string& ref, std::string* name, std::string* tag) {
  const size_t slash = ref.rfind('/');
  const size_t colon = ref.rfind(':');
  if (colon != std::string::npos && (slash == std::string::npos || colon > slash) &&
      ref.find('@') == std::string::npos) {
    *name = ref.substr(0, colon);
    *tag = ref.substr(colon + 1);
  } else {
    *name = ref;
    tag->clear();
  }
}

}  // namespace

int CmdBuild(CliContext& ctx, const std::vector<std::string>& args) {
  FlagSet flags("build", "build [OPTIONS] PATH");
  flags.Repeated("tag", 't', "Name and optionally a tag (name:tag); repeatable");
  flags.String("file", 'f', "Name of the Dockerfile (default: PATH/Dockerfile)");
  flags.Repeated("build-arg", 0, "Set build-time variables");
  flags.Repeated("label", 0, "Set metadata for the image");
  flags.String("target", 0, "Set the target build stage to build");
  flags.Bool("no-cache", 0, "Do not use cache when building the image");
  flags.String("pull", 0, "Always attempt to pull newer base images (true|false)", "true");
  flags.Bool("push", 0, "Push every tag after a successful build");
  flags.String("username", 'u', "Registry username for --push (with --password-stdin)");
  flags.Bool("password-stdin", 0, "Read the registry password from stdin");
  flags.Bool("quiet", 'q', "Print only the image id on success");
  if (auto rc = ParseCommandLine(flags, args, 1, 1, "PATH")) return *rc;
  const std::string pull = flags.Get("pull");
  if (pull != "true" && pull != "false") {
    std::cerr << "invalid value \"" << pull << "\" for --pull: use true or false\n";
    return 125;
  }
  std::error_code ec;
  const fs::path context_dir = fs::absolute(flags.positionals()[0], ec);
  if (ec || !fs::is_directory(context_dir)) {
    std::cerr << "unable to prepare context: path \"" << flags.positionals()[0]
              << "\" not found or not a directory\n";
    return 1;
  }

  dkd::v1::BuildImageRequest first;
  auto* spec = first.mutable_spec();
  const auto& tags = flags.GetAll("tag");
  if (!tags.empty()) {
    std::string name, tag;
    SplitNameTag(tags[0], &name, &tag);
    spec->mutable_config()->set_image_name(name);
    spec->mutable_config()->set_tag(tag);
    for (size_t i = 1; i < tags.size(); ++i) spec->add_extra_tags(tags[i]);
  }
  if (!KeyValues(flags.GetAll("build-arg"), "--build-arg", true,
                 spec->mutable_config()->mutable_build_args()) ||
      !KeyValues(flags.GetAll("label"), "--label", false,
                 spec->mutable_config()->mutable_labels())) {
    return 125;
  }
  spec->set_target(flags.Get("target"));
  spec->set_no_cache(flags.GetBool("no-cache"));
  spec->set_no_pull(pull == "false");
  spec->set_push(flags.GetBool("push"));
  if (spec->push() && !tags.empty()) {
    auto auth = CredentialsFor(tags[0], flags.Get("username"), flags.GetBool("password-stdin"));
    if (!auth.ok()) return FlagValueError(auth.status());
    *spec->mutable_auth() = *auth;
  }

  // The Dockerfile: inside the context -> its relative path; outside -> sent
  // along under a generated name, as docker does.
  core::ContextPackOptions pack_options;
  std::string external_dockerfile;
  if (!flags.Get("file").empty()) {
    const fs::path df = fs::absolute(flags.Get("file"), ec);
    const fs::path rel = fs::relative(df, context_dir, ec);
    if (!fs::is_regular_file(df)) {
      std::cerr << "unable to prepare context: Cannot locate specified Dockerfile: "
                << flags.Get("file") << "\n";
      return 1;
    }
    if (!ec && !rel.empty() && !absl::StartsWith(rel.string(), "..")) {
      pack_options.dockerfile = rel.string();
    } else {
      std::ifstream in(df);
      std::stringstream ss;
      ss << in.rdbuf();
      external_dockerfile = ss.str();
    }
  } else if (!fs::is_regular_file(context_dir / "Dockerfile")) {
    std::cerr << "unable to prepare context: Cannot locate specified Dockerfile: "
              << (context_dir / "Dockerfile").string() << "\n";
    return 1;
  }
  auto packer = core::ContextPacker::Create(context_dir.string(), pack_options);
  if (!packer.ok()) {
    std::cerr << "unable to prepare context: " << packer.status().message() << "\n";
    return 1;
  }
  std::string dockerfile_name = pack_options.dockerfile;
  if (!external_dockerfile.empty()) {
    dockerfile_name = packer->AddExternalDockerfile(external_dockerfile);
  }
  spec->mutable_config()->set_dockerfile_path(dockerfile_name);

  auto client = ctx.Client();
  if (!client.ok()) return ReportError(ctx, client.status());
  grpc::ClientContext call;
  InterruptCancels interrupt(&call);
  auto stream = (*client)->docker().BuildImage(&call);
  if (!stream->Write(first)) return ReportError(ctx, FromGrpcStatus(stream->Finish()));

  const bool quiet = flags.GetBool("quiet");
  const bool tty = isatty(STDERR_FILENO);
  // Events are read on their own thread while the context is being sent.
  dkd::v1::BuildResult result;
  std::thread reader([&] {
    dkd::v1::BuildEvent e;
    while (stream->Read(&e)) {
      if (e.has_log() && !quiet) {
        std::cout << e.log().text() << std::flush;
      } else if (e.has_pull_progress() && !quiet) {
        PrintProgress(e.pull_progress());
      } else if (e.has_push_progress() && !quiet) {
        PrintProgress(e.push_progress());
      } else if (e.has_queued() && !quiet) {
        std::cerr << "waiting for a build slot (" << e.queued().position() << " ahead)\n";
      } else if (e.has_result()) {
        result = e.result();
      }
    }
  });
  auto stats = packer->Pack(
      [&](const char* data, size_t len) {
        dkd::v1::BuildImageRequest chunk;
        chunk.set_context_chunk(data, len);
        return stream->Write(chunk);
      },
      [&](const core::ContextStats& s) {
        if (!quiet && tty) {
          std::cerr << "\rSending build context to dkd  " << HumanSize(s.tar_bytes) << "   "
                    << std::flush;
        }
      });
  if (!quiet && tty) std::cerr << "\n";
  stream->WritesDone();
  reader.join();
  grpc::Status status = stream->Finish();
  if (!stats.ok() && status.ok()) {
    std::cerr << "error sending the build context: " << stats.status().message() << "\n";
    return 1;
  }
  if (!status.ok()) {
    if (interrupt.interrupted()) {
      std::cerr << "build cancelled\n";
      return 130;
    }
    return ReportError(ctx, FromGrpcStatus(status));
  }
  if (quiet) std::cout << result.image_id() << "\n";
  return 0;
}

int CmdPush(CliContext& ctx, const std::vector<std::string>& args) {
  FlagSet flags("push", "push [OPTIONS] NAME[:TAG]");
  flags.String("username", 'u', "Registry username (with --password-stdin)");
  flags.Bool("password-stdin", 0, "Read the registry password from stdin");
  flags.Bool("quiet", 'q', "Print only the digest");
  if (auto rc = ParseCommandLine(flags, args, 1, 1, "NAME[:TAG]")) return *rc;
  const std::string image = flags.positionals()[0];
  auto auth = CredentialsFor(image, flags.Get("username"), flags.GetBool("password-stdin"));
  if (!auth.ok()) return FlagValueError(auth.status());
  auto client = ctx.Client();
  if (!client.ok()) return ReportError(ctx, client.status());
  dkd::v1::PushImageRequest req;
  req.set_image(image);
  *req.mutable_auth() = *auth;
  grpc::ClientContext call;
  InterruptCancels interrupt(&call);
  auto reader = (*client)->docker().PushImage(&call, req);
  dkd::v1::ProgressEvent e, last;
  while (reader->Read(&e)) {
    if (!flags.GetBool("quiet")) PrintProgress(e);
    if (!e.digest().empty()) last = e;
  }
  grpc::Status s = reader->Finish();
  if (!s.ok()) return ReportError(ctx, FromGrpcStatus(s));
  if (flags.GetBool("quiet")) std::cout << last.digest() << "\n";
  return 0;
}

int CmdPull(CliContext& ctx, const std::vector<std::string>& args) {
  FlagSet flags("pull", "pull [OPTIONS] NAME[:TAG|@DIGEST]");
  flags.String("platform", 0, "Platform, e.g. linux/amd64");
  flags.String("username", 'u', "Registry username (with --password-stdin)");
  flags.Bool("password-stdin", 0, "Read the registry password from stdin");
  flags.Bool("quiet", 'q', "Suppress progress output");
  if (auto rc = ParseCommandLine(flags, args, 1, 1, "NAME[:TAG|@DIGEST]")) return *rc;
  const std::string image = flags.positionals()[0];
  auto auth = CredentialsFor(image, flags.Get("username"), flags.GetBool("password-stdin"));
  if (!auth.ok()) return FlagValueError(auth.status());
  auto client = ctx.Client();
  if (!client.ok()) return ReportError(ctx, client.status());
  dkd::v1::PullImageRequest req;
  req.set_image(image);
  req.set_platform(flags.Get("platform"));
  *req.mutable_auth() = *auth;
  grpc::ClientContext call;
  InterruptCancels interrupt(&call);
  auto reader = (*client)->docker().PullImage(&call, req);
  dkd::v1::ProgressEvent e;
  while (reader->Read(&e)) {
    if (!flags.GetBool("quiet")) PrintProgress(e);
  }
  grpc::Status s = reader->Finish();
  if (!s.ok()) return ReportError(ctx, FromGrpcStatus(s));
  if (flags.GetBool("quiet")) std::cout << image << "\n";
  return 0;
}

int CmdImages(CliContext& ctx, const std::vector<std::string>& args) {
  FlagSet flags("images", "images [OPTIONS] [REPOSITORY[:TAG]]");
  flags.Bool("all", 'a', "Show all images (default hides intermediate images)");
  flags.Bool("quiet", 'q', "Only show image IDs");
  flags.Repeated("filter", 0, "Filter: label=K[=V], dangling=true");
  flags.String("format", 0, "\"json\" for machines");
  if (auto rc = ParseCommandLine(flags, args, 0, kAnyNumber, "")) return *rc;
  dkd::v1::ListImagesRequest req;
  req.set_all(flags.GetBool("all"));
  if (!flags.positionals().empty()) req.set_reference(flags.positionals()[0]);
  for (const auto& f : flags.GetAll("filter")) {
    if (absl::StartsWith(f, "label=")) {
      req.add_label_filters(f.substr(6));
    } else if (f == "dangling=true") {
      req.set_dangling(true);
    } else {
      std::cerr << "unsupported filter \"" << f << "\": use label=K[=V] or dangling=true\n";
      return 125;
    }
  }
  auto client = ctx.Client();
  if (!client.ok()) return ReportError(ctx, client.status());
  grpc::ClientContext call;
  dkd::v1::ListImagesResponse resp;
  grpc::Status s = (*client)->docker().ListImages(&call, req, &resp);
  if (!s.ok()) return ReportError(ctx, FromGrpcStatus(s));
  if (flags.Get("format") == "json") {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& i : resp.images()) {
      out.push_back(
          {{"Id", i.id()},
           {"RepoTags", std::vector<std::string>(i.repo_tags().begin(), i.repo_tags().end())},
           {"RepoDigests",
            std::vector<std::string>(i.repo_digests().begin(), i.repo_digests().end())},
           {"Size", i.size()},
           {"Created", i.created()}});
    }
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  if (!flags.GetBool("quiet")) rows.push_back({"REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"});
  for (const auto& i : resp.images()) {
    std::string id = i.id();
    if (absl::StartsWith(id, "sha256:")) id = id.substr(7);
    id = id.substr(0, 12);
    if (flags.GetBool("quiet")) {
      rows.push_back({id});
      continue;
    }
    std::vector<std::string> names(i.repo_tags().begin(), i.repo_tags().end());
    if (names.empty()) names.push_back("<none>:<none>");
    for (const auto& n : names) {
      const size_t colon = n.rfind(':');
      rows.push_back({n.substr(0, colon),
                      colon == std::string::npos ? "<none>" : n.substr(colon + 1), id,
                      HumanAgo(i.created()), HumanSize(i.size())});
    }
  }
  PrintTable(rows);
  return 0;
}

int CmdRmi(CliContext& ctx, const std::vector<std::string>& args) {
  FlagSet flags("rmi", "rmi [OPTIONS] IMAGE [IMAGE...]");
  flags.Bool("force", 'f', "Force removal of the image");
  flags.Bool("no-prune", 0, "Do not delete untagged parents");
  if (auto rc = ParseCommandLine(flags, args, 1, kAnyNumber, "")) return *rc;
  auto client = ctx.Client();
  if (!client.ok()) return ReportError(ctx, client.status());
  int rc = 0;
  for (const auto& image : flags.positionals()) {
    dkd::v1::RemoveImageRequest req;
    req.set_image(image);
    req.set_force(flags.GetBool("force"));
    req.set_no_prune(flags.GetBool("no-prune"));
    grpc::ClientContext call;
    dkd::v1::RemoveImageResponse resp;
    grpc::Status s = (*client)->docker().RemoveImage(&call, req, &resp);
    if (!s.ok()) {
      rc = ReportError(ctx, FromGrpcStatus(s));
      continue;
    }
    for (const auto& u : resp.untagged()) std::cout << "Untagged: " << u << "\n";
    for (const auto& d : resp.deleted()) std::cout << "Deleted: " << d << "\n";
  }
  return rc;
}

int CmdLogin(CliContext& ctx, const std::vector<std::string>& args) {
  FlagSet flags("login", "login [OPTIONS] SERVER");
  flags.String("username", 'u', "Username");
  flags.Bool("password-stdin", 0, "Take the password from stdin");
  if (auto rc = ParseCommandLine(flags, args, 0, kAnyNumber, "")) return *rc;
  if (flags.positionals().size() != 1 || flags.Get("username").empty() ||
      !flags.GetBool("password-stdin")) {
    std::cerr << "usage: dkctl login -u USER --password-stdin SERVER (the password is read from "
                 "stdin, never taken on the command line)\n";
    return 125;
  }
  std::string password;
  std::getline(std::cin, password);
  if (!password.empty() && password.back() == '\r') password.pop_back();
  if (password.empty()) {
    std::cerr << "password on stdin is empty\n";
    return 1;
  }
  if (absl::Status s = SaveCredentials(flags.positionals()[0], flags.Get("username"), password);
      !s.ok()) {
    std::cerr << s.message() << "\n";
    return 1;
  }
  std::cout << "Credentials for " << flags.positionals()[0] << " stored in " << CredentialsPath()
            << " (mode 0600); they are checked on the next push or pull.\n";
  return 0;
}

int CmdLogout(CliContext& ctx, const std::vector<std::string>& args) {
  FlagSet flags("logout", "logout SERVER");
  if (auto rc = ParseCommandLine(flags, args, 1, 1, "SERVER")) return *rc;
  if (absl::Status s = RemoveCredentials(flags.positionals()[0]); !s.ok()) {
    std::cerr << s.message() << "\n";
    return 1;
  }
  std::cout << "Removing login credentials for " << flags.positionals()[0] << "\n";
  return 0;
}

}  // namespace dkd::client
