// dkctl build, push, pull, images, rmi, login, logout.
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/build_flags.h"
#include "client/build_output.h"
#include "client/cli_flags.h"
#include "client/cli_util.h"
#include "client/dkctl_commands.h"
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
void PrintProgress(const dkd::v1::ProgressEvent& e) { std::cout << ProgressLine(e); }

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
  flags.String("builder", 0, "Builder: auto (BuildKit when the engine has it), buildkit, classic",
               "auto");
  flags.Repeated("secret", 0,
                 "Secret for RUN --mount=type=secret (BuildKit): id=ID,src=PATH or id=ID,env=VAR");
  flags.String("platform", 0, "Target platform, e.g. linux/amd64");
  flags.Repeated("cache-from", 0, "Image to use as build cache: REF or type=registry,ref=REF");
  flags.String("iidfile", 0, "Write the image id to the file");
  flags.String("progress", 0, "Progress output: auto, plain, tty, quiet, rawjson", "auto");
  if (auto rc = ParseCommandLine(flags, args, 1, 1, "PATH")) return *rc;
  const std::string pull = flags.Get("pull");
  if (pull != "true" && pull != "false") {
    std::cerr << "invalid value \"" << pull << "\" for --pull: use true or false\n";
    return 125;
  }
  auto requested = ParseProgressFlag(flags.Get("progress"));
  if (!requested.ok()) return FlagValueError(requested.status());
  const bool err_is_terminal = isatty(STDERR_FILENO);
  auto mode = ResolveProgress(*requested, flags.GetBool("quiet"), err_is_terminal);
  if (!mode.ok()) return FlagValueError(mode.status());
  std::error_code ec;
  const fs::path context_dir = fs::absolute(flags.positionals()[0], ec);
  if (ec || !fs::is_directory(context_dir)) {
    std::cerr << "unable to prepare context: path \"" << flags.positionals()[0]
              << "\" not found or not a directory\n";
    return 1;
  }

  dkd::v1::BuildSpec spec;
  const auto& tags = flags.GetAll("tag");
  if (!tags.empty()) {
    std::string name, tag;
    SplitNameTag(tags[0], &name, &tag);
    spec.mutable_config()->set_image_name(name);
    spec.mutable_config()->set_tag(tag);
    for (size_t i = 1; i < tags.size(); ++i) spec.add_extra_tags(tags[i]);
  }
  if (!KeyValues(flags.GetAll("build-arg"), "--build-arg", true,
                 spec.mutable_config()->mutable_build_args()) ||
      !KeyValues(flags.GetAll("label"), "--label", false,
                 spec.mutable_config()->mutable_labels())) {
    return 125;
  }
  spec.set_target(flags.Get("target"));
  spec.set_no_cache(flags.GetBool("no-cache"));
  spec.set_no_pull(pull == "false");
  spec.set_push(flags.GetBool("push"));
  BuildKitFlags buildkit;
  buildkit.builder = flags.Get("builder");
  buildkit.secrets = flags.GetAll("secret");
  buildkit.platform = flags.Get("platform");
  buildkit.cache_from = flags.GetAll("cache-from");
  if (absl::Status s = ApplyBuildKitFlags(buildkit, ProcessEnv(), &spec); !s.ok()) {
    return FlagValueError(s);
  }
  if (spec.push() && !tags.empty()) {
    auto auth = CredentialsFor(tags[0], flags.Get("username"), flags.GetBool("password-stdin"));
    if (!auth.ok()) return FlagValueError(auth.status());
    *spec.mutable_auth() = *auth;
  }
  // As docker does: no stale id is left behind if this build fails.
  const std::string iidfile = flags.Get("iidfile");
  if (!iidfile.empty() && !fs::remove(iidfile, ec) && ec) {
    std::cerr << "removing --iidfile " << iidfile << ": " << ec.message() << "\n";
    return 1;
  }

  auto context = BuildContext::Open(context_dir.string(), flags.Get("file"));
  if (!context.ok()) {
    std::cerr << "unable to prepare context: " << context.status().message() << "\n";
    return 1;
  }

  auto client = ctx.Client();
  if (!client.ok()) return ReportError(ctx, client.status());
  BuildOutput::Options output_options;
  output_options.err_is_terminal = err_is_terminal;
  if (struct winsize ws; ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) {
    output_options.columns = ws.ws_col;
    output_options.rows = ws.ws_row > 0 ? ws.ws_row : output_options.rows;
  }
  auto output = BuildOutput::Create(*mode, std::cout, std::cerr, output_options);
  DkdClient::BuildCallbacks callbacks;
  // Called on the library's reader thread while the context is sent.
  callbacks.on_event = [&output](const dkd::v1::BuildEvent& e) { output->OnEvent(e); };
  callbacks.on_context = [&output](const core::ContextStats& s) { output->OnContext(s); };
  callbacks.on_context_done = [&output] { output->OnContextDone(); };
  CallCanceller cancel;
  InterruptCancels interrupt(&cancel);
  auto result = (*client)->BuildImage(std::move(spec), *context, callbacks, &cancel);
  output->Finish(result.ok() ? &*result : nullptr);
  if (!result.ok()) {
    if (IsLocalError(result.status())) {
      std::cerr << result.status().message() << "\n";
      return 1;
    }
    if (interrupt.interrupted()) {
      std::cerr << "build cancelled\n";
      return 130;
    }
    return ReportError(ctx, result.status());
  }
  if (!iidfile.empty()) {
    std::ofstream out(iidfile, std::ios::trunc);
    out << result->image_id();
    out.close();
    if (!out) {
      std::cerr << "writing --iidfile " << iidfile << ": " << std::strerror(errno) << "\n";
      return 1;
    }
  }
  return 0;
}

namespace {

// The registry flags push and pull share, after any of their own.
void TransferFlags(FlagSet& flags, const char* quiet_help) {
  flags.String("username", 'u', "Registry username (with --password-stdin)");
  flags.Bool("password-stdin", 0, "Read the registry password from stdin");
  flags.Bool("quiet", 'q', quiet_help);
}

using Transfer = std::function<absl::Status(
    DkdClient& client, const std::string& image, const dkd::v1::RegistryAuth& auth,
    const DkdClient::ProgressCallback& on_progress, CallCanceller* cancel)>;

// A push or pull of the image named on the command line: its credentials,
// then `transfer` with progress printed unless --quiet, Ctrl-C cancelling it.
// Returns the exit code.
int RunTransfer(CliContext& ctx, const FlagSet& flags, const Transfer& transfer) {
  const std::string& image = flags.positionals()[0];
  auto auth = CredentialsFor(image, flags.Get("username"), flags.GetBool("password-stdin"));
  if (!auth.ok()) return FlagValueError(auth.status());
  auto client = ctx.Client();
  if (!client.ok()) return ReportError(ctx, client.status());
  CallCanceller cancel;
  InterruptCancels interrupt(&cancel);
  const bool quiet = flags.GetBool("quiet");
  absl::Status s = transfer(
      **client, image, *auth,
      [&](const dkd::v1::ProgressEvent& e) {
        if (!quiet) PrintProgress(e);
      },
      &cancel);
  if (!s.ok()) return ReportError(ctx, s);
  return 0;
}

}  // namespace

int CmdPush(CliContext& ctx, const std::vector<std::string>& args) {
  FlagSet flags("push", "push [OPTIONS] NAME[:TAG]");
  TransferFlags(flags, "Print only the digest");
  if (auto rc = ParseCommandLine(flags, args, 1, 1, "NAME[:TAG]")) return *rc;
  std::string digest;
  const int rc = RunTransfer(
      ctx, flags,
      [&](DkdClient& client, const std::string& image, const dkd::v1::RegistryAuth& auth,
          const DkdClient::ProgressCallback& on_progress, CallCanceller* cancel) {
        auto pushed = client.PushImage(image, auth, on_progress, cancel);
        if (pushed.ok()) digest = *pushed;
        return pushed.status();
      });
  if (rc == 0 && flags.GetBool("quiet")) std::cout << digest << "\n";
  return rc;
}

int CmdPull(CliContext& ctx, const std::vector<std::string>& args) {
  FlagSet flags("pull", "pull [OPTIONS] NAME[:TAG|@DIGEST]");
  flags.String("platform", 0, "Platform, e.g. linux/amd64");
  TransferFlags(flags, "Suppress progress output");
  if (auto rc = ParseCommandLine(flags, args, 1, 1, "NAME[:TAG|@DIGEST]")) return *rc;
  const int rc = RunTransfer(
      ctx, flags,
      [&](DkdClient& client, const std::string& image, const dkd::v1::RegistryAuth& auth,
          const DkdClient::ProgressCallback& on_progress, CallCanceller* cancel) {
        return client.PullImage(image, flags.Get("platform"), auth, on_progress, cancel);
      });
  if (rc == 0 && flags.GetBool("quiet")) std::cout << flags.positionals()[0] << "\n";
  return rc;
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
  auto resp = (*client)->ListImages(req);
  if (!resp.ok()) return ReportError(ctx, resp.status());
  if (flags.Get("format") == "json") {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& i : resp->images()) {
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
  for (const auto& i : resp->images()) {
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
    auto resp = (*client)->RemoveImage(image, {flags.GetBool("force"), flags.GetBool("no-prune")});
    if (!resp.ok()) {
      rc = ReportError(ctx, resp.status());
      continue;
    }
    for (const auto& u : resp->untagged()) std::cout << "Untagged: " << u << "\n";
    for (const auto& d : resp->deleted()) std::cout << "Deleted: " << d << "\n";
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
